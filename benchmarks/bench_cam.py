"""CAM inference (make_cam stage): images/s with 4 scales + flip on 500x375 images, random-init weights.

    python benchmarks/bench_cam.py --quick            # CPU: the quick profiles' nets (tiny; EfficientNet-Lite0), a few images
    python benchmarks/bench_cam.py --device cuda      # + ResNet-50 (paper profile net), bf16 + channels_last

Ours: `wsss.cam.make_cams` end to end (batched multi-scale + flip forward, loader workers, max-normalisation, atomic
float16 .npz writes). Official style: a plain loop written by us after IRN's make_cam: one image at a time, fp32,
PIL rescale per scale, forward of the image and its flip, upsample, sum, normalise, np.save. Images are random
uint8 arrays held in memory, so JPEG decoding is not part of either number.
"""
import tempfile
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from _common import Clock, parser, report, row

SCALES = (1.0, 0.5, 1.5, 2.0)


class RandomImages:
    "n random uint8 H x W x 3 images with a random multi-hot label (the dataset item contract)."
    def __init__(self, n, hw=(375, 500), C=20, seed=0):
        g = np.random.default_rng(seed)
        self.ids = [f'b{i:04d}' for i in range(n)]
        self.items = [dict(id=i, image=g.integers(0, 256, (*hw, 3), dtype=np.uint8), label=(g.random(C) < 0.15).astype(np.float32)) for i in self.ids]
        for it in self.items: it['label'][g.integers(C)] = 1
    def __len__(self): return len(self.items)
    def __getitem__(self, i): return self.items[i]


def build(arch, C=20):
    from wsss.methods.cam import CamMethod
    profile = {'quick': 'quick', 'lite0': 'quick_real'}.get(arch, 'paper')  # lite0: the real-photo quick profile's EfficientNet-Lite0
    m = CamMethod(profile=profile) if arch == 'quick' else CamMethod(profile=profile, weights='random')
    return m, m.build_model(C, weights='random').eval()


def official_style(method, model, data, out_dir, scales=SCALES, flip=True):
    "IRN-style make_cam: one image at a time, fp32, PIL bicubic rescale, image + flip per forward."
    mean, std = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)
    with torch.no_grad():
        for it in data.items:
            img = it['image']; H, W = img.shape[:2]; total = 0
            for s in scales:
                im = img if s == 1 else np.asarray(Image.fromarray(img).resize((round(W * s), round(H * s)), Image.BICUBIC))
                x = torch.from_numpy(((im / 255.0 - mean) / std).astype(np.float32).transpose(2, 0, 1).copy())[None]
                if flip: x = torch.cat([x, x.flip(-1)])
                m = method.cam_forward(model, x)
                m = m[:1] + m[1:].flip(-1) if flip else m
                total = total + F.interpolate(m, (H, W), mode='bilinear', align_corners=False)[0]
            keys = np.flatnonzero(it['label'])
            cam = total[keys]; cam = cam / (cam.amax((1, 2), keepdim=True) + 1e-5)
            np.save(f"{out_dir}/{it['id']}.npy", {'keys': keys, 'cam': cam.numpy().astype(np.float16)}, allow_pickle=True)


def bench(arch, n, device, batch_size):
    from wsss.cam import make_cams
    method, model = build(arch)
    import copy
    plain = copy.deepcopy(model)  # the official loop runs the net as built (NCHW); make_cams converts its own to channels_last where faster
    data, warm = RandomImages(n), RandomImages(1, seed=1)
    with tempfile.TemporaryDirectory() as d:
        make_cams(method, model, warm, d + '/w', SCALES, True, device, 'auto', 1, progress=False, workers=0)
        with Clock(device) as c: st = make_cams(method, model, data, d + '/ours', SCALES, True, device, 'auto', batch_size, progress=False, workers=0)
        ours = n / c.wall
        if str(device).startswith('cuda'): base = None  # the official style is the CPU baseline; on a GPU see gpu_check.py
        else:
            import os; os.makedirs(d + '/off')
            with Clock() as c2: official_style(method, plain.cpu(), data, d + '/off')
            base = n / c2.wall
    name = {'quick': 'quick net (tiny, width 16)', 'lite0': 'real-photo quick net (EfficientNet-Lite0 OS16)'}.get(arch, 'ResNet-50 OS16')
    return row(f'CAM 4 scales + flip, 500x375, {name}', ours, base, n_images=n, batch_size=batch_size, amp=st['amp'], cpu_s=round(c.cpu, 2))


if __name__ == '__main__':
    ap = parser(__doc__)
    ap.add_argument('--n', type=int, default=None, help='images per measurement')
    a = ap.parse_args()
    torch.manual_seed(0)
    cuda = a.device.startswith('cuda')
    n = a.n or (4 if a.quick else 16)
    runs = [('quick', n, min(n, 8)), ('lite0', max(n, 8), 8)] + ([] if a.quick and not cuda else [('resnet50', n if cuda else 2, 2 if not cuda else 16)])
    rows = [bench(arch, k, a.device, bs) for arch, k, bs in runs]
    report('bench_cam', rows, dict(scales=SCALES, flip=True, image='500x375', runs=runs), a.device, a.out,
           notes=['random-init weights; in-memory images (no JPEG decoding)'])
