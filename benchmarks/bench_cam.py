"""CAM inference speed (make_cam stage): images/s with 4 scales + flip, random-init weights.

    python benchmarks/bench_cam.py                    # CPU: quick-profile tiny net at 96x96, ResNet-50 at 512x512
    python benchmarks/bench_cam.py --device cuda      # the same on a GPU (AMP + channels_last)

Measures `wsss.cam.make_cams` end to end (normalisation, batched multi-scale + flip forward, max-normalisation,
atomic float16 .npz writes) on in-memory random images, so JPEG decoding is not part of the number.
"""
import argparse, json, platform, tempfile, time
import numpy as np
import torch
from wsss.cam import make_cams

class RandomImages:
    "n random uint8 images of one size with a random multi-hot label (the dataset item contract)."
    def __init__(self, n, size, C, seed=0):
        g = np.random.default_rng(seed)
        self.ids = [f'b{i:04d}' for i in range(n)]
        self.items = [dict(id=i, image=g.integers(0, 256, (size, size, 3), dtype=np.uint8),
                           label=(g.random(C) < 0.3).astype(np.float32)) for i in self.ids]
        for it in self.items: it['label'][g.integers(C)] = 1
    def __len__(self): return len(self.items)
    def __getitem__(self, i): return self.items[i]

def build(arch, C):
    "The model the `cam` method builds (wsss.methods.cam); ResNet-50 via the method config with random weights."
    from wsss.methods.cam import CamMethod
    method = CamMethod(profile='quick') if arch == 'quick' else CamMethod(profile='paper', weights='random')
    return method, method.build_model(C, weights='random')

def bench(arch, size, n, batch_size, device, scales=(1.0, 0.5, 1.5, 2.0), C=20, warmup=1):
    method, model = build(arch, C)
    with tempfile.TemporaryDirectory() as d:
        make_cams(method, model, RandomImages(warmup, size, C, seed=1), d + '/w', scales, True, device, 'auto', batch_size, progress=False, workers=0)
        st = make_cams(method, model, RandomImages(n, size, C), d + '/cams', scales, True, device, 'auto', batch_size, progress=False, workers=0)
    return dict(model=arch if arch != 'quick' else f"quick profile ({method.cfg.backbone}, width {method.cfg.width})",
                image=f'{size}x{size}', n_images=n, batch_size=batch_size, scales=list(scales), flip=True,
                device=st['device'], amp=st['amp'], images_per_s=round(st['images_per_s'], 3), seconds=st['seconds'])

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--quick-n', type=int, default=64, help='images for the quick-profile net')
    ap.add_argument('--r50-n', type=int, default=2, help='images for ResNet-50 at 512x512')
    ap.add_argument('--quick-size', type=int, default=96, help="synthetic 'quick' image side (wsss.data.SYNTHETIC_PROFILES)")
    a = ap.parse_args()
    torch.manual_seed(0)
    print(json.dumps(dict(torch=torch.__version__, threads=torch.get_num_threads(), machine=platform.processor() or platform.machine())))
    runs = [('quick', a.quick_size, a.quick_n, 1), ('quick', a.quick_size, a.quick_n, 16), ('resnet50', 512, a.r50_n, 1)]
    for arch, size, n, bs in runs: print(json.dumps(bench(arch, size, n, bs, a.device)), flush=True)
