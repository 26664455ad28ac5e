"""How far a rerun moves the results table when only the floating-point path changes (issue 22): same commit, same seed,
same machine, different thread counts.

    python benchmarks/stability.py                                   # synthetic quick, every method, 1 vs 2 threads
    python benchmarks/stability.py --methods cam --threads 1,2
    python benchmarks/stability.py --dataset voc --data-root data/voc_mini --methods cam,sipe --stages train_cam,make_cam,eval_cam,make_pseudo

Runs `wsss reproduce --jobs 1` once per thread count (`OMP_NUM_THREADS` = `WSSS_CPUS` = that count; the stages' numbers
depend on the thread count, not on the load, so the two runs may share the machine), each into its own folder under
`--out` (finished stages are reused on a rerun), then compares every cell of the two results tables: the metrics of
each method and of the oracle, in points (mIoU, mAP and F1 times 100). Prints the differences per method and the
largest one, and writes them to `benchmarks/results/stability_<dataset>.json`. Accuracy, not speed: nothing is timed.
"""
import argparse, json, os, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CELLS = ('cls_map', 'cls_f1', 'cam_miou', 'coverage', 'pseudo_miou', 'pseudo_crf_miou', 'ir_precision', 'ir_labelled',
         'refined_miou', 'seg_miou', 'seg_crf_miou')  # the results tables' columns (fractions; printed in points)


def run(threads:int, a) -> Path:
    out = Path(a.out) / f'threads{threads}'
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), WSSS_CPUS=str(threads))
    argv = [sys.executable, '-c', 'import sys; from wsss.cli import main; sys.exit(main(sys.argv[1:]))', 'reproduce',
            '--dataset', a.dataset, '--seed', str(a.seed), '--jobs', '1', '--out', str(out), '--figures', str(out / 'figures'), '--quiet']
    if a.data_root: argv += ['--data-root', a.data_root]
    if a.methods: argv += ['--methods', a.methods]
    if a.stages: argv += ['--stages', a.stages]
    print(f"[stability] {threads} thread(s): {' '.join(argv[3:])}", flush=True)
    subprocess.run(argv, env=env, check=True, cwd=ROOT)
    found = sorted(out.glob('*/*/results.json'))
    if len(found) != 1: raise SystemExit(f"{out}: expected one results.json, found {found}")
    return found[0].parent


def read_results(base:Path) -> dict:
    "The run's results, methods that ran only some stages (`--stages`) included."
    from wsss.repro import collect_results
    return collect_results(base, partial=True)


def rows(results:dict) -> dict:
    "{(row, cell): value in points} of one results.json (methods and the oracle)."
    out = {}
    for name, r in list(results.get('methods', {}).items()) + [('oracle', results.get('oracle') or {})]:
        for c in CELLS:
            if isinstance(r.get(c), (int, float)): out[name, c] = 100 * r[c]
    return out


def compare(a:dict, b:dict) -> dict:
    ra, rb = rows(a), rows(b)
    cells = [dict(row=k[0], cell=k[1], a=round(ra[k], 2), b=round(rb[k], 2), diff=round(abs(ra[k] - rb[k]), 2)) for k in ra if k in rb]
    per_row = {}
    for c in cells: per_row[c['row']] = max(per_row.get(c['row'], 0.0), c['diff'])
    return dict(cells=cells, max_per_row=per_row, max_diff=max(per_row.values(), default=None))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--dataset', default='synthetic')
    ap.add_argument('--data-root', default=None)
    ap.add_argument('--methods', default=None, help='comma-separated (default: every method)')
    ap.add_argument('--stages', default=None, help='a subset of the reproduce stages (default: all)')
    ap.add_argument('--threads', default='1,2', help='the two thread counts to compare')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--out', default=str(ROOT / 'runs' / 'stability'))
    ap.add_argument('--json', default=None, help='default benchmarks/results/stability_<dataset>.json')
    a = ap.parse_args(argv)
    t = [int(x) for x in a.threads.split(',')]
    if len(t) != 2 or min(t) < 1: raise SystemExit(f"--threads: two positive counts, got {a.threads!r}")
    res = [read_results(run(n, a)) for n in t]
    cmp = compare(*res)
    print(f"| row | largest difference (points), {t[0]} vs {t[1]} threads |\n|---|---:|")
    for r, d in cmp['max_per_row'].items(): print(f"| {r} | {d:.2f} |")
    print(f"largest difference of any cell: {cmp['max_diff']}")
    out = Path(a.json or ROOT / 'benchmarks' / 'results' / f'stability_{a.dataset}.json')
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(dict(dataset=a.dataset, methods=a.methods, stages=a.stages, threads=t, seed=a.seed, **cmp), indent=1) + '\n')


if __name__ == '__main__':
    main()
