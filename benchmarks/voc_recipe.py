"""Score one training recipe of the real-photo `quick` profile on the shipped VOC set: the table in README "Real images".

    python benchmarks/voc_recipe.py                                      # the profile as it is (LP-FT, AdamW 1e-4)
    python benchmarks/voc_recipe.py --set '{"optimizer": "sgd", "lr": 0.01, "probe_init": false}'
    python benchmarks/voc_recipe.py --probe                              # logistic probes on frozen features, by image size
    python benchmarks/voc_recipe.py --probe-intercept                    # the same probe with and without its intercept

Trains `cam` with `CamConfig.for_profile('quick', dataset='voc')` plus the `--set` overrides on the `train` split,
then prints the classification mAP on `val` (images at the config's `cls_scale`) and the CAM mIoU on `train` (best
background threshold and IRN's 0.15). `--probe` instead fits one scikit-learn logistic regression per class (with an
intercept) on the frozen ImageNet features, globally pooled at output stride 32, and prints the val mAP per long side;
`--probe-intercept` fits it with and without the intercept on images at 0.64 (the profile's `cls_scale`), at output
stride 32 and 16 (why the profile's classifier has a bias, `cls_bias`).
Accuracy, not speed: run it with one thread beside other work if you like (`--threads`).
"""
import argparse, json, tempfile, time
from pathlib import Path
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def recipe(root, overrides, seed, out):
    from wsss.cam import eval_cams, eval_classification, make_cams
    from wsss.data import open_dataset
    from wsss.method import get_method, train_method
    tr, va = open_dataset('voc', root, 'train'), open_dataset('voc', root, 'val')
    cls = get_method('cam')
    cfg = cls.Config.for_profile('quick', dataset='voc', **overrides)
    t0 = time.time()
    res = train_method(cls(cfg), tr, Path(out) / 'train', cfg, device='cpu', seed=seed, progress=False)
    t1 = time.time()
    c = eval_classification(cls(cfg), res['model'], va, device='cpu', scale=cfg.cls_scale)
    make_cams(cls(cfg), res['model'], tr, Path(out) / 'cams', scales=cfg.cam_scales, flip=cfg.cam_flip, device='cpu', batch_size=1,
              geometry=cfg.cam_geometry)
    e = eval_cams(Path(out) / 'cams', tr, progress=False)
    return dict(overrides=overrides, train_s=round(t1 - t0, 1), cls_map=round(c['cls_map'], 3), cam_miou=round(e['best_miou'], 3),
                best_threshold=e['best_threshold'], cam_miou_at_015=round(e['paper_miou'], 3))


def probes(root, sides=(224, 320, 0), scale=None, strides=(2, 2, 2, 2), intercept=True):
    import torch.nn.functional as F
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score
    from wsss.cam import imagenet_normalize
    from wsss.data import open_dataset
    from wsss.nets import build_backbone
    bb = build_backbone('efficientnet_lite0', 'imagenet', tuple(strides)).eval()
    def pooled(ds, side):
        X, Y = [], []
        for i in range(len(ds)):
            it = ds[i]
            x = imagenet_normalize(it['image'])[None]
            if scale: x = F.interpolate(x, scale_factor=scale, mode='bilinear', antialias=True, align_corners=False)  # as linear_probe_init
            elif side:
                h, w = x.shape[-2:]; k = side / max(h, w)
                x = F.interpolate(x, size=(round(h * k), round(w * k)), mode='bilinear', antialias=True, align_corners=False)
            with torch.no_grad(): X.append(bb.stages(x)[-1].mean((2, 3))[0].numpy())
            Y.append(it['label'])
        return np.stack(X), np.stack(Y)
    tr, va = open_dataset('voc', root, 'train'), open_dataset('voc', root, 'val')
    out = {}
    for side in ([None] if scale else sides):
        (Xt, Yt), (Xv, Yv) = pooled(tr, side), pooled(va, side)
        S = np.zeros_like(Yv)
        for c in range(Yt.shape[1]):
            if Yt[:, c].min() != Yt[:, c].max(): S[:, c] = LogisticRegression(C=1.0, fit_intercept=intercept, max_iter=5000).fit(Xt, Yt[:, c]).decision_function(Xv)
        out[f'scale {scale}' if scale else side or 'full size'] = round(float(np.mean([average_precision_score(Yv[:, c], S[:, c]) for c in range(Yv.shape[1]) if Yv[:, c].any()])), 3)
    return out


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--data-root', default=str(ROOT / 'data' / 'voc_mini'), help='VOCdevkit folder (default: the shipped 200 photos)')
    ap.add_argument('--set', default='{}', help='JSON object of CamConfig fields replacing the profile\'s')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--threads', type=int, default=0, help='torch threads (0: as torch starts)')
    ap.add_argument('--probe', action='store_true', help='frozen-feature logistic probes instead of training')
    ap.add_argument('--probe-intercept', action='store_true', help='the probe with and without its intercept, images at 0.64, OS32 and OS16')
    a = ap.parse_args()
    if a.threads: torch.set_num_threads(a.threads)
    from wsss.repro import resolve_data_root
    root = resolve_data_root('voc', a.data_root)
    if a.probe: print(json.dumps(dict(probe_val_map_by_long_side=probes(root))))
    elif a.probe_intercept:
        print(json.dumps({f'OS{32 if s[-1] == 2 else 16} intercept={i}': probes(root, scale=0.64, strides=s, intercept=i)['scale 0.64']
                          for s in ((2, 2, 2, 2), (2, 2, 2, 1)) for i in (True, False)}))
    else:
        with tempfile.TemporaryDirectory() as d: print(json.dumps(recipe(root, json.loads(a.set), a.seed, d)))
