"""ProtoMTN ablation on the synthetic quick data (opt-in; trains AuxSegNet and seven ProtoMTN arms).

    python benchmarks/protomtn_ablation.py [--out runs/protomtn_ablation] [--images 48] [--rounds 2] [--epochs 1]

Writes figures/protomtn_ablation_synthetic_quick.md (the table) and prints it. CPU only. The defaults are the reduced
size the notebook documents (the quick profile itself is 4 rounds x 2 epochs on the whole quick train split)."""
import argparse, sys, time
from pathlib import Path

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', default='runs/protomtn_ablation', help='work folder (arm runs are reused when present)')
    ap.add_argument('--table', default='figures/protomtn_ablation_synthetic_quick.md')
    ap.add_argument('--images', type=int, default=48); ap.add_argument('--rounds', type=int, default=2); ap.add_argument('--epochs', type=int, default=1)
    ap.add_argument('--arms', default='', help='comma-separated arm names (default: all of wsss.methods.protomtn.ABLATION_ARMS)')
    ap.add_argument('--seed', type=int, default=0)
    a = ap.parse_args(argv)
    from wsss.methods.protomtn import ABLATION_ARMS, run_ablation
    arms = ABLATION_ARMS if not a.arms else {k: ABLATION_ARMS[k] for k in a.arms.split(',')}
    t0 = time.process_time()
    run_ablation(a.out, arms, a.images, a.rounds, a.epochs, a.seed, table=a.table)
    print(Path(a.table).read_text()); print(f'CPU seconds: {time.process_time() - t0:.0f}')
    return 0

if __name__ == '__main__': sys.exit(main())
