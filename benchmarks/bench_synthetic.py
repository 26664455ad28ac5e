"""Time `wsss.data.make_synthetic` (default: profile 'quick', seed 0) into a temporary folder.

    python benchmarks/bench_synthetic.py [--profile quick] [--workers N] [--repeat 1]

Prints wall seconds, CPU seconds (this process + its worker processes) and images per second. On a busy
machine the wall time grows with the load; the CPU time is the steadier number to compare.
"""
import argparse, os, tempfile, time
from pathlib import Path
from wsss.data import SYNTHETIC_PROFILES, make_synthetic, synthetic_params

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--profile', default='quick', choices=sorted(SYNTHETIC_PROFILES))
    ap.add_argument('--workers', type=int, default=None, help='worker processes (default: make_synthetic decides)')
    ap.add_argument('--repeat', type=int, default=1)
    a = ap.parse_args()
    p = synthetic_params(a.profile)
    n = p['n_train'] + p['n_val']
    for r in range(a.repeat):
        with tempfile.TemporaryDirectory() as d:
            t0, c0 = time.perf_counter(), os.times()
            make_synthetic(Path(d)/'syn', seed=0, profile=a.profile, workers=a.workers)
            wall, c1 = time.perf_counter() - t0, os.times()
            cpu = (c1.user - c0.user) + (c1.system - c0.system) + (c1.children_user - c0.children_user) + (c1.children_system - c0.children_system)
        print(f"make_synthetic(profile={a.profile!r}, workers={a.workers}): {n} images of {p['image_size']}px "
              f"in {wall:.2f} s wall, {cpu:.2f} s CPU ({n / wall:.0f} images/s; {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f})")

if __name__ == '__main__': main()
