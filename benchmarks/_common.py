"""Helpers shared by the benchmark scripts: environment record, timing, peak memory, the table and the JSON file.

Every script measures our path and, in the same run, a straightforward fp32 one-image-at-a-time loop written by us
in the style of the official code ("official style"), and prints the ratio. Numbers on a shared CPU are noisy:
each JSON also keeps the CPU seconds of the process where that helps.
"""
import argparse, datetime, json, os, platform, resource, sys, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout without installing


def environment(device='cpu') -> dict:
    import numpy, torch, torchvision
    d = dict(date=datetime.datetime.now().isoformat(timespec='seconds'), python=platform.python_version(), torch=torch.__version__,
             torchvision=torchvision.__version__, numpy=numpy.__version__, cpu=platform.processor() or platform.machine(),
             cores=os.cpu_count(), torch_threads=torch.get_num_threads(), device=str(device))
    if str(device).startswith('cuda') and torch.cuda.is_available():
        d.update(gpu=torch.cuda.get_device_name(), cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
    try:
        import wsss; d['wsss'] = wsss.__version__
    except Exception: pass
    return d


def parser(doc:str) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--quick', action='store_true', help='small sizes for a shared 2-core CPU (a minute or less)')
    ap.add_argument('--device', default='cpu', help='cpu or cuda')
    ap.add_argument('--out', default=str(HERE / 'results'), help='folder for the JSON file (default benchmarks/results)')
    return ap


class Clock:
    "Wall and CPU seconds (this process and its finished children) of a block; call .sync for CUDA."
    def __init__(self, device='cpu'): self.cuda = str(device).startswith('cuda')
    def __enter__(self):
        self._sync(); self.t0, self.c0 = time.perf_counter(), _cpu(); return self
    def __exit__(self, *a):
        self._sync(); self.wall, self.cpu = time.perf_counter() - self.t0, _cpu() - self.c0
    def _sync(self):
        if self.cuda:
            import torch; torch.cuda.synchronize()


def _cpu():
    t = os.times(); return t.user + t.system + t.children_user + t.children_system


def peak_rss_mb() -> float:
    "Peak resident memory of this process so far (MiB)."
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def row(name, ours, base, unit='images/s', **extra) -> dict:
    "One table row: our rate, the official-style rate and their ratio."
    r = dict(name=name, ours=ours, official_style=base, ratio=(ours / base if ours and base else None), unit=unit)
    r.update(extra); return r


def report(script:str, rows:list, settings:dict, device='cpu', out=None, notes=()) -> dict:
    "Print the table and write <out>/<script>.json."
    rec = dict(benchmark=script, environment=environment(device), settings=settings, rows=rows, notes=list(notes))
    f = lambda v: '-' if v is None else (f'{v:.3g}' if isinstance(v, float) else str(v))
    print(f"\n## {script} ({rec['environment']['device']}, torch {rec['environment']['torch']}, {rec['environment']['torch_threads']} threads)")
    print(f"| measurement | ours | official style | ratio | unit |\n|---|---:|---:|---:|---|")
    for r in rows: print(f"| {r['name']} | {f(r['ours'])} | {f(r['official_style'])} | {f(r['ratio'])}{'x' if r['ratio'] else ''} | {r['unit']} |")
    for n in notes: print(f"note: {n}")
    if out:
        p = Path(out) / f'{script}.json'; p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(rec, indent=2, default=str) + '\n'); print(f"wrote {p}")
    return rec
