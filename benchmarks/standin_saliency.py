"""How well each unsupervised stand-in saliency finds the objects of real VOC photos (accuracy, not speed).

    python benchmarks/standin_saliency.py                         # the shipped data/voc_mini, train split
    python benchmarks/standin_saliency.py --root /path/to/VOCdevkit --split val

AuxSegNet and ProtoMTN read a saliency map per image: salient where it is above 0.06 when they fuse it with the CAM
(`imutils.fusion_cam`), and binarised at 0.5 as the saliency branch's target. For every stand-in kind of
`wsss.data.standin_saliency` this prints, pooled over the split, the object IoU of the salient pixels against the
ground-truth foreground and the share of pixels called salient, at both thresholds (void pixels left out), and writes
them to `benchmarks/results/standin_saliency.json`.
"""
import argparse, json, sys, warnings
from pathlib import Path
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
THRESHOLDS = (0.06, 0.5)  # AuxSegNet's fusion threshold and its saliency-target binarisation


def score(root, split='train', kinds=None):
    from wsss.data import STANDIN_SALIENCY_KINDS, SegmentationDataset
    kinds = kinds or STANDIN_SALIENCY_KINDS
    sums = {(k, t): np.zeros(3, np.int64) for k in kinds for t in THRESHOLDS}  # intersection, union, salient
    n_valid = n_obj = 0
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        sets = {k: SegmentationDataset(root, split, saliency=f'standin:{k}') for k in kinds}
    first = sets[kinds[0]]
    for i in range(len(first)):
        mask = np.asarray(first[i]['mask']); valid = mask != 255; obj = valid & (mask > 0)
        n_valid += int(valid.sum()); n_obj += int(obj.sum())
        for k in kinds:
            s = sets[k][i]['saliency']
            for t in THRESHOLDS:
                sal = (s > t) & valid
                sums[k, t] += (int((sal & obj).sum()), int((sal | obj).sum()), int(sal.sum()))
    rows = [dict(kind=k, threshold=t, object_iou=round(float(v[0] / max(v[1], 1)), 3), salient_share=round(float(v[2] / n_valid), 3))
            for (k, t), v in sums.items()]
    return dict(root=str(root), split=split, images=len(first), object_share=round(n_obj / n_valid, 3), rows=rows)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--root', default=str(ROOT / 'data' / 'voc_mini'))
    ap.add_argument('--split', default='train')
    ap.add_argument('--out', default=str(ROOT / 'benchmarks' / 'results' / 'standin_saliency.json'))
    a = ap.parse_args(argv)
    res = score(a.root, a.split)
    print(f"{res['images']} images of {a.root} ({a.split}); ground-truth object share {res['object_share']:.3f}")
    print("| stand-in | salient where > | object IoU | salient share |\n|---|---:|---:|---:|")
    for r in res['rows']: print(f"| {r['kind']} | {r['threshold']} | {r['object_iou']:.3f} | {r['salient_share']:.3f} |")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=1) + '\n')


if __name__ == '__main__':
    main()
