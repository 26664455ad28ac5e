"""All GPU measurements in one short run (a few minutes on one GPU), prepared so a lent device is spent measuring.

    python benchmarks/gpu_check.py                 # GPU: ResNet-50, crop 512, batch 16; targets checked
    python benchmarks/gpu_check.py --tiny          # CPU smoke mode (tiny net, tiny sizes): proves the script starts
    python benchmarks/gpu_check.py --no-compile    # skip the torch.compile variant (saves its compile minute)

1. Training end to end (data loading included): ResNet-50 OS16 (random init), crop 512, batch 16, through
   `wsss.train.fit` with bf16 autocast, channels_last, pinned memory, persistent workers decoding JPEGs
   (random-content 500x375 JPEGs held as bytes, decoded + augmented in the workers), then the same with
   `torch.compile`. Throughput from the per-step log after the warm-up steps. Target >= 800 images/s.
2. CAM inference, 4 scales + flip on 500x375 images: `make_cams` batched (bf16, channels_last) and, for the
   ratio, the official one-image fp32 geometry. Target >= 300 images/s.
3. Backbones side by side: one CamNet training step (bf16 autocast, channels_last; crop 512, batch 16) and the CAM
   of one 500x375 image, for ResNet-50 (the paper profile) and the ImageNet EfficientNet-Lite0 of the real-photo
   quick profile (random init for both: speed does not depend on the weights).
4. fp32 vs bf16 agreement: a ResNet-50 CAM net trained briefly on the synthetic benchmark (quick profile data), one
   checkpoint, CAMs made in fp32 and in bf16, both scored with eval_cams. Target |delta mIoU| <= 0.01.
Writes benchmarks/results/gpu_check.json (device, versions, settings, every number, pass/fail per target).
"""
import io, json, os, sys, tempfile, time
from pathlib import Path
import numpy as np
from _common import environment, parser

TARGETS = dict(train_images_per_s=800, cam_images_per_s=300, miou_abs_diff=0.01)


class JpegItems:
    "n random-content JPEGs (bytes in memory) decoded on access: dict(id, image uint8 H x W x 3, label float32[20])."
    def __init__(self, n, hw=(375, 500), C=20, seed=0):
        from PIL import Image
        g = np.random.default_rng(seed)
        self.ids, self.class_names, self.num_classes, self.blobs, self.labels = [f'j{i:05d}' for i in range(n)], tuple(f'c{i}' for i in range(C)), C + 1, [], []
        base = [np.kron(g.integers(0, 256, (hw[0] // 8 + 1, hw[1] // 8 + 1, 3)), np.ones((8, 8, 1)))[:hw[0], :hw[1]].astype(np.uint8) for _ in range(8)]
        for i in range(n):
            b = io.BytesIO(); Image.fromarray(base[i % 8]).save(b, format='JPEG', quality=90); self.blobs.append(b.getvalue())
            lab = np.zeros(C, np.float32); lab[g.choice(C, 1 + i % 2, replace=False)] = 1; self.labels.append(lab)
    def __len__(self): return len(self.ids)
    def __getitem__(self, i):
        from PIL import Image
        return dict(id=self.ids[i], image=np.array(Image.open(io.BytesIO(self.blobs[i])).convert('RGB')), label=self.labels[i])


def train_throughput(a, dev, compile_model, log):
    import torch
    from wsss.data import collate
    from wsss.method import TransformedDataset
    from wsss.methods.cam import CamMethod
    from wsss.train import fit, make_loader
    m = CamMethod(profile='quick', weights='random') if a.tiny else CamMethod(profile='paper', weights='random')
    bs, crop = (4, 64) if a.tiny else (16, 512)
    m.cfg = m.cfg.replace(batch_size=bs, crop_size=crop, resize_long=(crop * 5 // 8, crop * 5 // 4))
    warm, steps = (1, 3) if a.tiny else (a.warmup, a.steps)
    data = TransformedDataset(JpegItems(bs * (warm + steps), (48, 64) if a.tiny else (375, 500)), m.train_transform())
    workers = 0 if a.tiny else min(16, os.cpu_count() or 1)
    loader = make_loader(data, bs, seed=0, num_workers=workers, collate_fn=collate, persistent_workers=True, pin_memory=dev.type == 'cuda',
                         prefetch_factor=4 if workers else None)
    torch.manual_seed(0); model = m.build_model(20, weights='random')
    net = torch.compile(model) if compile_model else model
    if dev.type == 'cuda': torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        fit(net, loader, m.loss, m.param_groups(model), epochs=1, out_dir=d, lr=0.01, device=str(dev), amp='bf16', channels_last=True,
            progress=False, log_every=1)
        total = time.perf_counter() - t0
        secs = [json.loads(l)['seconds'] for l in open(f'{d}/train_log.jsonl')]
    ips = bs * steps / (secs[-1] - secs[warm - 1])
    mem = torch.cuda.max_memory_allocated() / 2**30 if dev.type == 'cuda' else None
    log(f"train {'compiled' if compile_model else 'eager'}: {ips:.1f} images/s (steps {warm + 1}..{warm + steps}), {total:.1f} s in all"
        + (f", peak {mem:.1f} GiB" if mem else ''))
    return dict(images_per_s=ips, batch=bs, crop=crop, steps=steps, warmup=warm, workers=workers, compiled=compile_model, peak_gib=mem, total_s=total)


def cam_throughput(a, dev, log):
    import torch
    from wsss.cam import make_cams
    from wsss.methods.cam import CamMethod
    m = CamMethod(profile='quick') if a.tiny else CamMethod(profile='paper', weights='random')
    model = m.build_model(20, weights='random')
    n, hw = (2, (48, 64)) if a.tiny else (a.cam_images, (375, 500))
    data = JpegItems(n, hw, seed=1)
    scales = (1.0, 0.5, 1.5, 2.0)
    out = {}
    with tempfile.TemporaryDirectory() as d:
        make_cams(m, model, JpegItems(2, hw, seed=2), f'{d}/w', scales, True, str(dev), 'bf16', 16, progress=False, workers=0)
        for name, geo, bs, amp, k in (('batched bf16', 'aligned', 16, 'bf16', n), ('official fp32 one image', 'irn', 1, 'off', min(n, 32))):
            sub = JpegItems(k, hw, seed=1)
            if dev.type == 'cuda': torch.cuda.synchronize()
            t0 = time.perf_counter()
            st = make_cams(m, model, sub, f'{d}/{geo}', scales, True, str(dev), amp, bs, progress=False, workers=0 if a.tiny else 8, geometry=geo)
            if dev.type == 'cuda': torch.cuda.synchronize()
            out[name] = k / (time.perf_counter() - t0)
            log(f"CAM {name}: {out[name]:.1f} images/s ({k} images {hw[1]}x{hw[0]}, 4 scales + flip)")
    return dict(images_per_s=out['batched bf16'], official_images_per_s=out['official fp32 one image'],
                ratio=out['batched bf16'] / out['official fp32 one image'], n_images=n)


def backbones(a, dev, log):
    import statistics
    import torch
    from wsss.nets import CamNet, multilabel_loss
    crop, batch, hw, reps = (64, 2, (48, 64), 2) if a.tiny else (512, 16, (375, 500), 10)
    bf16 = dev.type == 'cuda'
    out = {}
    for arch, kw in (('resnet50', dict(strides=(2, 2, 2, 1), frozen_stages=0)), ('efficientnet_lite0', dict(strides=(2, 2, 2, 1), frozen_stages=2))):
        net = CamNet(20, arch, weights='random', **kw).to(dev).to(memory_format=torch.channels_last).train()
        opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=1e-3, momentum=0.9)
        x = torch.randn(batch, 3, crop, crop, device=dev).contiguous(memory_format=torch.channels_last)
        y = (torch.rand(batch, 20, device=dev) > 0.9).float()
        def timed(fn, k):
            fn()  # warm-up: allocations, kernel choice
            times = []
            for _ in range(k):
                if dev.type == 'cuda': torch.cuda.synchronize()
                t = time.perf_counter(); fn()
                if dev.type == 'cuda': torch.cuda.synchronize()
                times.append(time.perf_counter() - t)
            return statistics.median(times)
        def step():
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16): loss = multilabel_loss(net(x), y)
            opt.zero_grad(); loss.backward(); opt.step()
        img = torch.randn(1, 3, *hw, device=dev).contiguous(memory_format=torch.channels_last)
        def infer():
            with torch.inference_mode(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16): net.eval().cam(img)
            net.train()
        out[arch] = dict(train_images_per_s=batch / timed(step, reps), cam_images_per_s=1 / timed(infer, reps))
        log(f"backbone {arch}: training {out[arch]['train_images_per_s']:.1f} images/s (crop {crop}, batch {batch}), "
            f"CAM {out[arch]['cam_images_per_s']:.1f} images/s ({hw[1]}x{hw[0]}, one scale)")
    return out


def agreement(a, dev, log):
    from wsss.cam import eval_cams, make_cams
    from wsss.data import make_synthetic, open_dataset
    from wsss.method import train_method
    from wsss.methods.cam import CamMethod
    with tempfile.TemporaryDirectory() as d:
        root = make_synthetic(f'{d}/syn', seed=0, profile='smoke' if a.tiny else 'quick')
        train, val = open_dataset('synthetic', root, 'train'), open_dataset('synthetic', root, 'val')
        over = {} if a.tiny else dict(backbone='resnet50', weights='random', strides=(2, 2, 1, 1), frozen_stages=0, epochs=a.agree_epochs, lr=0.05)
        m = CamMethod(profile='smoke' if a.tiny else 'quick', **over)
        res = train_method(m, train, f'{d}/train', device=str(dev), seed=0, progress=False, num_workers=0 if a.tiny else 8)
        miou = {}
        for amp in ('off', 'bf16'):
            make_cams(m, res['model'], val, f'{d}/cams_{amp}', m.cfg.cam_scales, m.cfg.cam_flip, str(dev), amp, 32, progress=False, workers=0)
            miou[amp] = eval_cams(f'{d}/cams_{amp}', val)['best_miou']
    diff = abs(miou['off'] - miou['bf16'])
    log(f"mIoU fp32 {miou['off']:.4f}, bf16 {miou['bf16']:.4f}: |delta| {diff:.4f}" + ('' if dev.type == 'cuda' else ' (CPU: autocast is off, both fp32)'))
    return dict(miou_fp32=miou['off'], miou_bf16=miou['bf16'], miou_abs_diff=diff, n_val=len(val), backbone=m.cfg.backbone)


def main():
    ap = parser(__doc__)
    ap.add_argument('--tiny', action='store_true', help='CPU smoke mode: tiny net and sizes (seconds), no targets')
    ap.add_argument('--no-compile', action='store_true')
    ap.add_argument('--steps', type=int, default=40, help='measured training steps (after --warmup)')
    ap.add_argument('--warmup', type=int, default=8)
    ap.add_argument('--cam-images', type=int, default=256)
    ap.add_argument('--agree-epochs', type=int, default=8)
    ap.add_argument('--only', default='train,cam,backbones,agree', help='comma-separated subset of train,cam,backbones,agree')
    a = ap.parse_args()
    import torch
    if a.device == 'cpu' and torch.cuda.is_available() and not a.tiny: a.device = 'cuda'
    dev = torch.device(a.device if torch.cuda.is_available() or a.device == 'cpu' else 'cpu')
    if dev.type == 'cuda':
        torch.backends.cudnn.benchmark = True; torch.backends.cuda.matmul.allow_tf32 = True; torch.backends.cudnn.allow_tf32 = True
    lines = []
    def log(s): print(s, flush=True); lines.append(s)
    only = set(a.only.split(','))
    res, t0 = dict(environment=environment(dev), tiny=a.tiny, targets=TARGETS), time.time()
    if 'train' in only:
        res['train_eager'] = train_throughput(a, dev, False, log)
        if dev.type == 'cuda' and not a.no_compile:
            try: res['train_compiled'] = train_throughput(a, dev, True, log)
            except Exception as e: log(f"train compiled: failed ({type(e).__name__}: {e})")
    if 'cam' in only: res['cam'] = cam_throughput(a, dev, log)
    if 'backbones' in only: res['backbones'] = backbones(a, dev, log)
    if 'agree' in only: res['agreement'] = agreement(a, dev, log)
    best_train = max([res[k]['images_per_s'] for k in ('train_eager', 'train_compiled') if k in res] or [0])
    res['pass'] = {} if a.tiny or dev.type != 'cuda' else dict(
        train=best_train >= TARGETS['train_images_per_s'] if 'train' in only else None,
        cam=res['cam']['images_per_s'] >= TARGETS['cam_images_per_s'] if 'cam' in only else None,
        agreement=res['agreement']['miou_abs_diff'] <= TARGETS['miou_abs_diff'] if 'agree' in only else None)
    res['seconds'] = round(time.time() - t0, 1); res['log'] = lines
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    (out / ('gpu_check_tiny.json' if a.tiny else 'gpu_check.json')).write_text(json.dumps(res, indent=2, default=str) + '\n')
    print(f"gpu_check: {res['seconds']} s on {res['environment'].get('gpu', dev)}; pass: {res['pass'] or 'n/a (no GPU / tiny mode)'}")
    return 0


if __name__ == '__main__': sys.exit(main())
