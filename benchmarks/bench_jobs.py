"""Training throughput of N one-thread processes side by side on this machine: why `--jobs auto` runs 2 children on 2 cores, not 3.

    python benchmarks/bench_jobs.py                 # 1, 2 and 3 processes, 12 steps each
    python benchmarks/bench_jobs.py --procs 2,3,4 --steps 20

Each process trains the `quick` real-photo CAM net (EfficientNet-Lite0, batch 8, crop 320, channels_last, one thread) for
`--steps` steps after one warm-up step; the script prints, per process count, every process's seconds and the steps per
second of all of them together. Run it on an otherwise idle machine.
"""
import argparse, json, os, subprocess, sys, time

CHILD = r'''
import sys, time, torch
torch.set_num_threads(1)
from wsss.method import get_method
cls = get_method('cam'); cfg = cls.Config.for_profile('quick', dataset='voc')
net = cls(cfg).build_model(20).to(memory_format=torch.channels_last).train()
x = torch.randn(cfg.batch_size, 3, cfg.crop_size, cfg.crop_size)
def step():
    out = net(x); (out[0] if isinstance(out, tuple) else out).sum().backward()
step()
print('ready', flush=True); sys.stdin.readline()  # every process starts timing together
t = time.perf_counter()
for _ in range(int(sys.argv[1])): step()
print(time.perf_counter() - t, flush=True)
'''


def run(n, steps):
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    ps = [subprocess.Popen([sys.executable, '-c', CHILD, str(steps)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
          for _ in range(n)]
    for p in ps: assert p.stdout.readline().strip() == 'ready'
    for p in ps: p.stdin.write('go\n'); p.stdin.flush()
    secs = [float(p.stdout.readline()) for p in ps]
    for p in ps: p.wait()
    return dict(procs=n, seconds=[round(s, 2) for s in secs], steps_per_s=round(n * steps / max(secs), 3))


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--procs', default='1,2,3', help='comma-separated process counts')
    ap.add_argument('--steps', type=int, default=12, help='timed training steps per process')
    a = ap.parse_args()
    print(f"{os.cpu_count()} cores seen; one thread per process")
    for n in (int(s) for s in a.procs.split(',')): print(json.dumps(run(n, a.steps)), flush=True)
