"""Training-step throughput (images/s) and peak memory per registered method.

    python benchmarks/bench_train.py --quick          # CPU: each method's quick profile (tiny net, its crop and batch)
    python benchmarks/bench_train.py --device cuda    # the paper profile: ResNet-50 (random init), crop 512, batch 16

Ours: `wsss.train.fit` end to end (seeded loader with per-item augmentation from `make_loader`, bf16 autocast and
channels_last on CUDA, pinned memory) over `--steps` steps after one warm-up step. Official style: a plain fp32
loop written by us (DataLoader in the main process, `loss.backward(); opt.step()`), same model, loss and data.
Data: in-memory random images at the profile's training size, so file decoding is not part of the number
(bench_data.py measures loading).
"""
import tempfile
import numpy as np
import torch
from _common import Clock, parser, peak_rss_mb, report, row


class Items(torch.utils.data.Dataset):
    "n random 3-class items (image uint8, label, mask, saliency) of size hw."
    def __init__(self, n, hw, C=20, seed=0):
        from wsss.method import RandomDataset
        self.ds = RandomDataset(n, C, hw, seed=seed)
        self.class_names, self.num_classes, self.ids = self.ds.class_names, self.ds.num_classes, self.ds.ids
    def __len__(self): return len(self.ds)
    def __getitem__(self, i): return self.ds[i]


def measure(key, profile, steps, device):
    from wsss.data import collate
    from wsss.method import TransformedDataset, get_method, RoundContext
    from wsss.train import fit, make_loader
    cls = get_method(key)
    over = dict(weights='random') if profile == 'paper' else {}
    method = cls(profile=profile, **over)
    c = method.cfg
    side = c.crop_size if profile != 'paper' else 512
    ds = Items(c.batch_size * (steps + 1), (side * 3 // 4, side))
    ctx_dir = tempfile.mkdtemp()
    from pathlib import Path
    ctx = RoundContext(dataset=ds, out_dir=Path(ctx_dir), round_dir=Path(ctx_dir) / 'r0', round_index=0, num_rounds=1,
                       num_classes=20, class_names=ds.class_names, device=torch.device(device), seed=0)
    ctx.round_dir.mkdir(parents=True)
    method.before_round(0, ctx)
    data = TransformedDataset(ctx.dataset, method.train_transform())
    dev = torch.device(device)
    from wsss.data import collate as _c
    warm = method.round_model(0, ctx).to(dev).train()  # warm-up step: one-off allocations and kernel selection
    b = _c([data[i] for i in range(c.batch_size)])
    method.loss(warm, {k: v.to(dev) if torch.is_tensor(v) else v for k, v in b.items()})['loss'].backward(); del warm
    # ours
    torch.manual_seed(0); model = method.round_model(0, ctx)
    loader = make_loader(data, c.batch_size, seed=0, collate_fn=collate, num_workers=0)
    if dev.type == 'cuda': torch.cuda.reset_peak_memory_stats()
    with Clock(device) as t:
        fit(model, loader, method.loss, method.param_groups(model), epochs=1, out_dir=ctx_dir + '/ours', lr=c.lr, device=device,
            progress=False, log_every=10**6)
    ours = len(loader) * c.batch_size / t.wall
    mem = torch.cuda.max_memory_allocated() / 2**20 if dev.type == 'cuda' else peak_rss_mb()
    # official style: fp32, plain loop
    torch.manual_seed(0); model = method.round_model(0, ctx).to(dev).train()
    opt = torch.optim.SGD([dict(params=g['params'], lr=c.lr * g.get('lr_mult', 1)) for g in method.param_groups(model)], lr=c.lr, momentum=c.weight_decay, weight_decay=c.weight_decay)
    plain = torch.utils.data.DataLoader(data, batch_size=c.batch_size, shuffle=True, drop_last=True, collate_fn=collate)
    def to(b): return {k: v.to(dev) if torch.is_tensor(v) else v for k, v in b.items()}
    with Clock(device) as t2:
        for b in plain:
            loss = method.loss(model, to(b))['loss']
            opt.zero_grad(); loss.backward(); opt.step()
    base = len(plain) * c.batch_size / t2.wall
    unit_mem = 'MiB (CUDA peak allocated)' if dev.type == 'cuda' else 'MiB (process peak RSS)'
    return row(f'train {key} ({profile}: {c.backbone}, crop {side}, batch {c.batch_size})', ours, base, steps=len(loader),
               peak_memory_mb=round(mem, 1), memory_unit=unit_mem, cpu_s=round(t.cpu, 2))


if __name__ == '__main__':
    ap = parser(__doc__)
    ap.add_argument('--steps', type=int, default=None, help='measured steps per method')
    ap.add_argument('--methods', default=None, help='comma-separated keys (default: every registered method)')
    ap.add_argument('--profile', default=None, help='quick or paper (default: quick with --quick or on CPU, else paper)')
    a = ap.parse_args()
    from wsss.method import available_methods
    keys = a.methods.split(',') if a.methods else available_methods()
    profile = a.profile or ('quick' if a.quick or not a.device.startswith('cuda') else 'paper')
    steps = a.steps or (4 if a.quick else 10)
    rows, notes = [], []
    for k in keys:
        try: rows.append(measure(k, profile, steps, a.device))
        except Exception as e: notes.append(f'{k}: not measured ({type(e).__name__}: {e})')
    report('bench_train', rows, dict(profile=profile, steps=steps, methods=keys), a.device, a.out,
           notes=notes + ['random-init weights, in-memory random images; the first epoch includes one-off allocation'])
