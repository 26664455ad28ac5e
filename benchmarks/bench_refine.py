"""Peak memory and speed of the random walk (sparse, and the official dense form) at 500x375 and 640x640.

    python benchmarks/bench_refine.py [--device cpu|cuda] [--dense] [--repeat 3]

IRN's grid: stride 4 (125 x 94 at 500x375, 160 x 160 at 640x640), radius 5, beta 10, 2^8 steps, one boundary map
and K = 3 score rows (two classes + background) per image. CPU peak memory is the process's max RSS growth
(resource.getrusage); CUDA peak is torch.cuda.max_memory_allocated. Times are wall-clock and CPU seconds of the walk
itself (affinities from a random boundary map; the network is not included)."""
import argparse, json, resource, time
import numpy as np
import torch
from wsss.refine import path_affinity, random_walk

def rss_mb(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def bench(H, W, device, dense, repeat, k=3):
    h, w = -(-H // 4), -(-W // 4)
    g = torch.Generator().manual_seed(0)
    B = (torch.rand(h, w, generator=g) ** 4).to(device)
    x = torch.rand(k, h, w, generator=g).to(device)
    if device == 'cuda': torch.cuda.reset_peak_memory_stats(); torch.cuda.synchronize()
    base = rss_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(repeat):
        r = random_walk(x * (1 - B), path_affinity(B, 5), 5, 10, 8, dense=dense)
    if device == 'cuda': torch.cuda.synchronize()
    wall, cpu = (time.perf_counter() - t0) / repeat, (time.process_time() - c0) / repeat
    peak = torch.cuda.max_memory_allocated() / 2**20 if device == 'cuda' else rss_mb() - base
    return dict(image=f'{W}x{H}', grid=f'{w}x{h}', device=device, walk='dense' if dense else 'sparse', seconds=round(wall, 3),
                cpu_seconds=round(cpu, 3), images_per_s=round(1 / wall, 2), peak_mb=round(peak, 1),
                dense_matrix_mb=round((h * w) ** 2 * 4 / 2**20, 1))

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--device', default='cpu'); ap.add_argument('--dense', action='store_true'); ap.add_argument('--repeat', type=int, default=3)
    a = ap.parse_args()
    for H, W in ((375, 500), (640, 640)):
        print(json.dumps(bench(H, W, a.device, a.dense, a.repeat)), flush=True)
