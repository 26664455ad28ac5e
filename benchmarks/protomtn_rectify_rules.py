"""Rectification rules on the labels of one trained ProtoMTN arm (CPU, about 15 s for 600 images).

    python benchmarks/protomtn_rectify_rules.py ARM_DIR DATA_ROOT [--images 600]

ARM_DIR: an arm of `run_ablation` (its model.pt and final_pgt/seg/, the labels the net hands to the next round, not
rectified: use the `rectify=False` arm); DATA_ROOT: the synthetic folder it trained on. Every rule is applied to the same
labels with the same prototype probabilities q (full resolution) and scored on the labelled pixels:

  none         the labels as they are
  full@t       the library's rule (rectify_labels): agree keep; disagree or ignored with max q >= t: prototype label; else ignore
  flip@t       only labelled pixels change: disagree with max q >= t -> prototype label
  drop@t       only removal: disagree with max q >= t -> ignore (t = 0: any disagreement)"""
import argparse, sys
from pathlib import Path

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('arm_dir'); ap.add_argument('data_root'); ap.add_argument('--images', type=int, default=600)
    a = ap.parse_args(argv)
    import numpy as np, torch, torch.nn.functional as F
    from wsss.data import SegmentationDataset, read_label_png, IGNORE_INDEX
    from wsss.method import load_trained
    from wsss.metrics import confusion_matrix, miou
    from wsss.repro import Head
    from wsss.seginfer import normalize_image
    from wsss.methods.protomtn import prototype_maps, rectify_labels
    arm = Path(a.arm_dir)
    ds = Head(SegmentationDataset(a.data_root, 'train', saliency=True), a.images)
    method, net = load_trained(arm); cfg = method.cfg; net.eval()
    n = ds.num_classes
    rules = ['none', 'full@0.9', 'full@0.99', 'flip@0.9', 'flip@0.99', 'drop@0', 'drop@0.5', 'drop@0.9']
    acc = {r: [np.zeros((n, n), np.int64), 0, 0] for r in rules}
    for i in range(len(ds)):
        it = ds[i]
        y0 = torch.as_tensor(read_label_png(arm/'final_pgt'/'seg'/f"{it['id']}.png").astype(np.int64))[None]
        with torch.no_grad():
            q = prototype_maps(net, normalize_image(it['image'])[None], cfg, torch.as_tensor(it['label'])[None], cfg.aff_block)['q']
        q = F.interpolate(q, size=y0.shape[-2:], mode='bilinear', align_corners=False)
        k, yp = q.max(1); valid = k > 0; ignore = torch.full_like(y0, IGNORE_INDEX); disagree = (yp != y0) & (y0 != IGNORE_INDEX) & valid
        out = {'none': y0}
        for t in (0.9, 0.99):
            out[f'full@{t}'] = rectify_labels(y0, q, t)
            out[f'flip@{t}'] = torch.where(disagree & (k >= t), yp, y0)
        for t in (0, 0.5, 0.9): out[f'drop@{t}'] = torch.where(disagree & (k >= t), ignore, y0)
        for r, y in out.items():
            p = y[0].numpy().astype(np.uint8)
            acc[r][0] += confusion_matrix(p, it['mask'], n, pred_ignore=IGNORE_INDEX); acc[r][1] += int((p != IGNORE_INDEX).sum()); acc[r][2] += p.size
    print(f"| rule | label mIoU | labelled share |\n|---|---|---|")
    for r in rules: print(f"| {r} | {miou(acc[r][0]):.3f} | {acc[r][1] / acc[r][2]:.2f} |")
    return 0

if __name__ == '__main__': sys.exit(main())
