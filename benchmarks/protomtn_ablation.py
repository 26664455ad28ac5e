"""ProtoMTN ablation at a chosen size (opt-in; trains AuxSegNet and seven ProtoMTN arms on the synthetic quick data, CPU).

    python benchmarks/protomtn_ablation.py [--out runs/protomtn_ablation] [--images 600] [--rounds 4] [--epochs 2] [--arms A,B]

`wsss reproduce` runs the same ablation at the reduced size of `ProtoMTNMethod.ablation_size` (the `ablation` stage,
figures/protomtn_ablation_<dataset>_<profile>.md). This script runs it at any size; the defaults are the quick profile's own
(4 rounds x 2 epochs on all 600 training images, about 20 min on 2 cores). Writes <out>/ablation.md and prints it."""
import argparse, sys, time
from pathlib import Path

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', default='runs/protomtn_ablation', help='work folder (arm runs are reused when present)')
    ap.add_argument('--table', default=None, help='markdown file to write (default <out>/ablation.md)')
    ap.add_argument('--images', type=int, default=600); ap.add_argument('--rounds', type=int, default=4); ap.add_argument('--epochs', type=int, default=2)
    ap.add_argument('--arms', default='', help='comma-separated arm names (default: all of wsss.methods.protomtn.ABLATION_ARMS)')
    ap.add_argument('--seed', type=int, default=0)
    a = ap.parse_args(argv)
    from wsss.methods.protomtn import ABLATION_ARMS, run_ablation
    arms = ABLATION_ARMS if not a.arms else {k: ABLATION_ARMS[k] for k in a.arms.split(',')}
    table = Path(a.table or Path(a.out)/'ablation.md')
    t0 = time.process_time()
    run_ablation(a.out, arms=arms, n_images=a.images, rounds=a.rounds, epochs=a.epochs, seed=a.seed, table=table)
    print(table.read_text()); print(f'CPU seconds: {time.process_time() - t0:.0f}')
    return 0

if __name__ == '__main__': sys.exit(main())
