"""How long a `wsss reproduce --jobs 2` run on real photos takes in each start order of its units, replayed from measured stages.

    python benchmarks/plan_units.py /work/exp/voc6/seeds/seed0/voc/quick     # a finished VOC run folder (<out>/voc/quick)

Reads the stage seconds of every method (results.json) and of the oracle (its stage record), gives each unit of
`wsss.repro.parallel_units` its measured seconds (plus `UNIT_START_SECONDS` for the child's start), and prints the
finish time `simulate_units` replays for the default order (chains, late halves in method order, oracle last) and for
the order `plan_start_order` picks from the estimated `STAGE_SECONDS`, next to the bound of two perfectly shared cores.
The same replay with each measured duration moved by up to +-15 % (300 draws) shows how much the plan depends on the
estimates being right. Nothing runs: a second or two of CPU.
"""
import argparse, json, random, sys, tempfile
from pathlib import Path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('run', type=Path, help='a finished run folder <out>/<dataset>/quick with results.json')
    ap.add_argument('--draws', type=int, default=300)
    a = ap.parse_args(argv)
    from wsss.method import get_method
    from wsss.repro import STAGES, UNIT_START_SECONDS, parallel_units, read_stage, simulate_units
    res = json.loads((a.run / 'results.json').read_text())
    secs = {m: r['seconds'] for m, r in res['methods'].items()}
    oracle = (read_stage(a.run / '_oracle', 'oracle') or {}).get('seconds')
    if oracle is None: raise SystemExit(f"{a.run / '_oracle'}: no finished oracle stage")
    methods = list(secs)
    specs = {m: get_method(m) for m in methods}
    child = dict(dataset=res['dataset'], data_root='/d', profile='quick', out='/o', figures='/f', device='cpu', seed=0)
    base = Path(tempfile.mkdtemp())
    default = parallel_units(base, methods, specs, list(STAGES), [], child, split_late=True, jobs=1)
    planned = parallel_units(base, methods, specs, list(STAGES), [], child, split_late=True, jobs=2)

    def measured(u, rng=None):
        m, *late = u.name.split(' ')
        jitter = (lambda: 1 + rng.uniform(-0.15, 0.15)) if rng else (lambda: 1.0)
        if m == 'oracle': return UNIT_START_SECONDS + oracle * jitter()
        stages = late[0].split('+') if late else [s for s in secs[m] if s not in ('refine', 'segment')]
        return UNIT_START_SECONDS + sum(secs[m].get(s, 0) for s in stages) * jitter()

    def replay(units, rng=None):
        costs = {u.name: measured(u, rng) for u in units}
        for u in units: u.cost = costs[u.name]
        return simulate_units(units, 2), sum(costs.values()) / 2

    out = {}
    for name, units in (('default', default), ('planned', planned)):
        t, bound = replay(units)
        rng, excess = random.Random(0), []
        for _ in range(a.draws):
            tt, bb = replay(units, rng)
            excess.append(tt - bb)
        out[name] = dict(order=[u.name for u in units], seconds=round(t, 1), bound=round(bound, 1),
                         mean_excess_jittered=round(sum(excess) / len(excess), 1), max_excess_jittered=round(max(excess), 1))
    json.dump(out, sys.stdout, indent=1); print()


if __name__ == '__main__':
    main()
