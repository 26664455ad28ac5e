"""Speed of `wsss eval` (wsss.metrics.evaluate_folders) on N random 500x375 label maps written as palette PNGs.

    python benchmarks/bench_eval.py [--n 1000] [--workers 0 4 8] [--kind noise|blocks]

`noise`: every pixel an independent class (incompressible PNGs, worst case for decoding);
`blocks`: 25x25-pixel blocks of one class (closer to real label maps). Ground truth gets 5% void (255).
"""
import argparse, os, tempfile, time
from pathlib import Path
import numpy as np
from PIL import Image
from wsss.metrics import evaluate_folders

def write_png(path, a):
    im = Image.fromarray(a, mode='P'); im.putpalette(list(np.random.default_rng(0).integers(0, 256, 768))); im.save(path)

def make_maps(rng, kind, h=375, w=500, n_classes=21):
    if kind == 'noise': return rng.integers(0, n_classes, (h, w), dtype=np.uint8)
    small = rng.integers(0, n_classes, (h // 25 + 1, w // 25 + 1), dtype=np.uint8)
    return np.kron(small, np.ones((25, 25), np.uint8))[:h, :w]

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--n', type=int, default=1000)
    ap.add_argument('--workers', type=int, nargs='+', default=[1, None])
    ap.add_argument('--kind', choices=['noise', 'blocks'], default='noise')
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as d:
        pred, gt = Path(d) / 'pred', Path(d) / 'gt'; pred.mkdir(); gt.mkdir()
        t0 = time.perf_counter()
        for i in range(a.n):
            g = make_maps(rng, a.kind); g[rng.random(g.shape) < 0.05] = 255
            write_png(gt / f'{i:06d}.png', g); write_png(pred / f'{i:06d}.png', make_maps(rng, a.kind))
        print(f"wrote {2 * a.n} PNGs ({a.kind}, 500x375) in {time.perf_counter() - t0:.1f}s; cpus={os.cpu_count()}")
        for w in a.workers:
            t0 = time.perf_counter()
            r = evaluate_folders(pred, gt, num_classes=21, workers=w)
            dt = time.perf_counter() - t0
            print(f"evaluate_folders workers={w}: {a.n} images in {dt:.2f}s = {a.n / dt:.0f} images/s "
                  f"({1000 * dt / a.n:.2f} ms/image), mIoU {100 * r['miou']:.2f}")

if __name__ == '__main__': main()
