"""Random walk (affinity propagation, IRN/PSA): images/s of `wsss.refine.random_walk`.

    python benchmarks/bench_rw.py --quick

Ours: the sparse walk (t = 2^logt sparse products, memory ~ D x h x w). Official style: the dense h*w x h*w
transition matrix squared logt times (IRN/PSA `torch.matmul` loop), here `random_walk(dense=True)`. Skipped, with
a note, when this checkout has no `wsss.refine`.
"""
import importlib.util, sys
import torch
from _common import Clock, parser, report, row


def main():
    ap = parser(__doc__)
    ap.add_argument('--grid', type=int, nargs=2, default=None, help='h w of the walk grid (IRN: image / 4, 94 x 125 for 500x375)')
    a = ap.parse_args()
    if importlib.util.find_spec('wsss.refine') is None:
        print('bench_rw: skipped: wsss.refine is not in this checkout (the random walk lands with the refine notebook)')
        return report('bench_rw', [], dict(skipped=True), a.device, a.out, notes=['skipped: no wsss.refine'])
    from wsss.refine import path_affinity, random_walk
    h, w = a.grid or ((24, 32) if a.quick else (94, 125))
    dense_ok = (h * w) ** 2 * 4 < 2e9
    n = 2 if a.quick else 4
    g = torch.Generator().manual_seed(0)
    B, x = torch.rand(h, w, generator=g) ** 4, torch.rand(3, h, w, generator=g)
    dev = torch.device(a.device)
    aff = path_affinity(B.to(dev), 5)
    random_walk(x.to(dev), aff, dense=False)  # warm-up
    with Clock(a.device) as c:
        for _ in range(n): ours = random_walk(x.to(dev), aff, dense=False)
    base = None
    if dense_ok:
        with Clock(a.device) as c2:
            for _ in range(n): off = random_walk(x.to(dev), aff, dense=True)
        base = n / c2.wall
        err = (ours - off).abs().max().item()
    report('bench_rw', [row(f'random walk {h}x{w} grid, t=256', n / c.wall, base, grid=[h, w], max_abs_diff=None if base is None else err)],
           dict(grid=[h, w], radius=5, beta=10, logt=8, n=n), a.device, a.out,
           notes=[] if dense_ok else ['dense baseline skipped: the h*w x h*w matrix does not fit'])


if __name__ == '__main__': main()
