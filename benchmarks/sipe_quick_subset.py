"""CAM baseline vs SIPE on a subset of the quick synthetic benchmark, every stage of `wsss reproduce` (for busy CPUs).

    python benchmarks/sipe_quick_subset.py --data /tmp/synth --n 240 --epochs 4

The quick profile's networks and settings (`MethodConfig.PROFILES['quick']`), trained on the first `--n` training
images for `--epochs` epochs, then make_cam (the profile's geometry), eval_cam, and the threshold / CRF pseudo labels
scored against the ground truth of the same images, as `wsss reproduce` does. Prints one JSON line per method with
cam_miou, coverage, pseudo_miou, pseudo_crf_miou and the CPU seconds. Use `wsss reproduce --profile quick
--methods cam,sipe` for the full benchmark when the machine has the time.
"""
import argparse, json, time
from pathlib import Path

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--data', default='/tmp/sipe_quick_subset/synth'); ap.add_argument('--out', default='/tmp/sipe_quick_subset')
    ap.add_argument('--n', type=int, default=240); ap.add_argument('--epochs', type=int, default=4)
    ap.add_argument('--methods', nargs='+', default=['cam', 'sipe'])
    a = ap.parse_args()
    from wsss.cam import eval_cams, make_cams
    from wsss.data import SegmentationDataset, ensure_synthetic
    from wsss.method import get_method, train_method
    from wsss.pseudo import eval_pseudo_labels, make_pseudo_labels
    from wsss.repro import Head
    ensure_synthetic(a.data, seed=0, profile='quick')
    ds = Head(SegmentationDataset(a.data, 'train'), a.n)
    for key in a.methods:
        t0, out = time.process_time(), Path(a.out) / key
        m = get_method(key)(profile='quick', epochs=a.epochs)
        res = train_method(m, ds, out / 'train', device='cpu', progress=False)
        make_cams(m, res['model'], ds, out / 'cams', scales=m.cfg.cam_scales, flip=m.cfg.cam_flip, device='cpu',
                  batch_size=m.cfg.cam_batch_size, progress=False, workers=0, geometry=m.cfg.cam_geometry)
        ev = eval_cams(out / 'cams', ds)
        thr = m.cfg.cam_eval_thres if not m.has_background else 0.0
        row = dict(method=key, n_images=len(ds), epochs=a.epochs, cam_miou=round(ev['best_miou'], 4), coverage=round(ev['coverage'], 4),
                   best_threshold=ev['best_threshold'])
        for kind, name in (('threshold', 'pseudo_miou'), ('crf', 'pseudo_crf_miou')):
            make_pseudo_labels(out / 'cams', ds, out / 'pseudo' / kind, kind=kind, threshold=ev['best_threshold'] or thr, workers=1, progress=False)
            row[name] = round(eval_pseudo_labels(out / 'pseudo' / kind, ds)['miou'], 4)
        row['cpu_s'] = round(time.process_time() - t0)
        print(json.dumps(row), flush=True)

if __name__ == '__main__': main()
