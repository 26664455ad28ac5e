"""The quick profile's classifier curve (issue 8): val mAP / F1 and CAM quality of the `cam` method against training time.

    python benchmarks/quick_profile_curve.py [--out runs/quick_profile_curve] [--arms NAME,...]
    python benchmarks/quick_profile_curve.py --method sipe --set seed_feature='"stage4"'   # one variant of a method

Each arm trains the `cam` method on the quick synthetic data (seed 0) with the quick profile plus the arm's changes, then
writes CAMs for the train split and scores: val mAP and macro F1 (`wsss.cam.eval_classification`), CAM mIoU at the best
background threshold and coverage (`eval_cams`), and where the CAM mass lies (`cam_part_shares`). One JSON line per arm
is printed and appended to `<out>/curve.jsonl`; finished arms are reused. About a minute per arm on 2 cores.
Backbone arms (zero padding, 1x1 convs) change `wsss.nets.TinyBackbone` for this process only.
"""
import argparse, json, os, sys, time
from pathlib import Path

ARMS = {  # name -> (quick-profile overrides, backbone change, training seed)
    'zeros_e16': (dict(epochs=16), dict(padding_mode='zeros'), 0),
    'zeros_1x1_stages34_e16': (dict(epochs=16), dict(padding_mode='zeros', pointwise_stages=(3, 4)), 0),
    'replicate_e16': (dict(epochs=16), dict(padding_mode='replicate'), 0),
    'reflect_e8': (dict(epochs=8), {}, 0),
    'reflect_e16': (dict(epochs=16), {}, 0),
    'reflect_e24 (quick profile)': ({}, {}, 0),
    'reflect_e32': (dict(epochs=32), {}, 0),
    'reflect_e24_seed1': ({}, {}, 1),
    'reflect_e24_lr2e-3': (dict(lr=0.002), {}, 0),
    'reflect_e24_lr2e-3_seed1': (dict(lr=0.002), {}, 1),
}

def patch_backbone(padding_mode='reflect', pointwise_stages=()):
    "Make every TinyBackbone built from now on use `padding_mode` and 1x1 convs in `pointwise_stages`."
    import torch.nn as nn, wsss.nets as N
    init = N.TinyBackbone.__init__
    def patched(self, strides=(2, 2, 2, 1), width=32, *_, **__):
        init(self, strides, width, padding_mode)
        for i in pointwise_stages:
            block = getattr(self, f'layer{i}')
            for name in ('conv1', 'conv2'):
                c = getattr(block, name)
                setattr(block, name, nn.Conv2d(c.in_channels, c.out_channels, 1, c.stride, 0, bias=False))
    N.TinyBackbone.__init__ = patched

def run_arm(name, out, over:dict, backbone:dict, seed:int=0, method:str='cam'):
    "Train `method` (quick profile + `over`) on the quick synthetic data in `out/name`, make and score its CAMs; one result row."
    from wsss.repro import resolve_data_root, stage_data
    from wsss.method import get_method, train_method, load_trained
    from wsss.cam import make_cams, eval_cams, eval_classification, cam_part_shares
    if backbone: patch_backbone(**backbone)
    d = out/name.split(' ')[0]
    root = resolve_data_root('synthetic', '', 'quick', 0, out=out)
    spec = get_method(method)
    cfg = spec.Config.for_profile('quick', **over)
    extra = {'saliency': 'auto'} if 'saliency' in spec.needs else {}
    data = stage_data('synthetic', root, 'quick', purpose='train', **extra)
    t0, c0 = time.time(), time.process_time()
    train_method(method, data.dataset, d/'train', cfg=cfg, device='cpu', seed=seed, progress=False)
    train_s, train_cpu = time.time() - t0, time.process_time() - c0
    cams = stage_data('synthetic', root, 'quick', purpose='cam')
    spec, model = load_trained(d/'train')
    make_cams(spec, model, cams.dataset, d/'cams', scales=cfg.cam_scales, flip=cfg.cam_flip, device='cpu', batch_size=32,
              geometry=cfg.cam_geometry, progress=False)
    ev = eval_cams(d/'cams', cams.dataset, progress=False)
    cls = eval_classification(spec, model, stage_data('synthetic', root, 'quick', purpose='cam', split='val').dataset, device='cpu')
    parts = cam_part_shares(d/'cams', cams.dataset)
    return dict(arm=name, method=method, overrides=over, backbone=backbone, seed=seed, epochs=cfg.epochs, train_s=round(train_s, 1),
                train_cpu_s=round(train_cpu, 1), cls_map=round(cls['cls_map'], 3), cls_f1=round(cls['cls_f1'], 3),
                cam_miou=round(ev['best_miou'], 3), threshold=ev['best_threshold'], coverage=round(ev['coverage'], 3),
                mass_share={k: round(v, 3) for k, v in parts['mass_share'].items()},
                area_share={k: round(v, 3) for k, v in parts['area_share'].items()}, peak_on_part=round(parts['peak_share']['part'], 3))

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', default='runs/quick_profile_curve', help='work folder (data, one run per arm, curve.jsonl)')
    ap.add_argument('--arms', default='', help=f"comma-separated arm names (default all: {', '.join(ARMS)})")
    ap.add_argument('--method', default='', help='instead of the arms: one run of this method (quick profile + --set)')
    ap.add_argument('--set', nargs='*', default=[], metavar='FIELD=JSON', help='config overrides of --method, e.g. seed_feature=\'"stage4"\'')
    a = ap.parse_args(argv)
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    if a.method:
        over = {k: json.loads(v) for k, v in (kv.split('=', 1) for kv in a.set)}
        name = a.method + ''.join(f'_{k}={v}' for k, v in over.items())
        ARMS[name] = (over, {}, 0)
    names = [name] if a.method else [n for n in ARMS if not a.arms or n.split(' ')[0] in a.arms.split(',')]
    done = {json.loads(l)['arm'] for l in (out/'curve.jsonl').read_text().splitlines()} if (out/'curve.jsonl').is_file() else set()
    for name in names:
        if name in done: continue
        # every arm in a fresh process: backbone patches and thread pools do not leak between arms
        if os.fork() == 0:
            over, backbone, seed = ARMS[name]
            row = run_arm(name, out, over, backbone, seed, a.method or 'cam')
            with open(out/'curve.jsonl', 'a') as f: f.write(json.dumps(row) + '\n')
            print(json.dumps(row), flush=True); os._exit(0)
        _, status = os.wait()
        if status: print(f'arm {name} failed (status {status})', file=sys.stderr); return 1
    return 0

if __name__ == '__main__': sys.exit(main())
