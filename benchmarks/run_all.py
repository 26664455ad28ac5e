"""Run every benchmark and print one summary table (and benchmarks/results/summary.json).

    python benchmarks/run_all.py --quick          # sized for a shared 2-core CPU (a few minutes)
    python benchmarks/run_all.py --device cuda    # full sizes on a GPU (see also gpu_check.py)

Each script prints its own table and writes benchmarks/results/<script>.json (device, versions, settings).
"""
import json, subprocess, sys, time
from pathlib import Path
from _common import HERE, environment, parser

SCRIPTS = ('bench_train', 'bench_cam', 'bench_crf', 'bench_rw', 'bench_sem_seg_labels', 'bench_eval', 'bench_data', 'bench_coco_scale', 'bench_backbones')
GPU_OK = {'bench_train', 'bench_cam', 'bench_rw'}  # the others are CPU work whatever the device


def main():
    ap = parser(__doc__)
    ap.add_argument('--only', default=None, help='comma-separated subset of ' + ','.join(SCRIPTS))
    a = ap.parse_args()
    todo = a.only.split(',') if a.only else SCRIPTS
    out, rows, failed = Path(a.out), [], []
    for s in todo:
        cmd = [sys.executable, str(HERE / f'{s}.py'), '--out', str(out)] + (['--quick'] if a.quick else []) + (['--device', a.device] if s in GPU_OK else [])
        print(f"\n$ {' '.join(cmd[1:])}", flush=True)
        t0 = time.time()
        p = subprocess.run(cmd)
        if p.returncode: failed.append(s); continue
        rec = json.loads((out / f'{s}.json').read_text())
        rows += [dict(r, script=s, seconds=round(time.time() - t0, 1)) for r in rec['rows']]
    env = environment(a.device)
    f = lambda v: '-' if v is None else f'{v:.3g}'
    print(f"\n# wsss benchmarks, {env['date']}, {env['cpu']} ({env['cores']} cores), device {a.device}, torch {env['torch']}{' (--quick)' if a.quick else ''}")
    print('| benchmark | measurement | ours | official style | ratio | unit |\n|---|---|---:|---:|---:|---|')
    for r in rows: print(f"| {r['script']} | {r['name']} | {f(r['ours'])} | {f(r['official_style'])} | {f(r['ratio'])}{'x' if r['ratio'] else ''} | {r['unit']} |")
    if failed: print(f"failed: {', '.join(failed)}")
    out.mkdir(parents=True, exist_ok=True)
    (out / 'summary.json').write_text(json.dumps(dict(environment=env, quick=a.quick, rows=rows, failed=failed), indent=2, default=str) + '\n')
    return 1 if failed else 0


if __name__ == '__main__': sys.exit(main())
