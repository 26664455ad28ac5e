"""Why the random walk lowers the pseudo labels on the shipped VOC photos: CAM and walk scored at every background threshold.

    python benchmarks/rw_analysis.py --runs runs/voc/quick --figure figures/rw_voc_quick.png

Reads a finished `wsss reproduce --dataset voc` run folder (its CAM files and each method's trained relation net) and, for
every method whose CAM has no background channel, scores on the training images

- the CAM labels (IRN's constant-background argmax) and the walked labels (IRN `make_sem_seg_labels.py`: the walked maps
  divided by their maximum, then the same constant background) at background thresholds 0.05 ... 0.95,
- the boundary map against the ground-truth object boundaries (recall of boundary pixels at B > 0.5, and the mean B on and
  off them).

IRN fixes both thresholds once (CAM 0.15 for the IR labels' neighbourhood, 0.25 after the walk) for ResNet-50 CAMs whose
best threshold is ~0.15. The figure shows where ours sit: whether the walk raises the labels at IRN's 0.25, at the CAM's
own best threshold, or at any. Nothing is tuned: the stage keeps IRN's 0.25; this only explains its number.
Writes the figure and a JSON next to it (`<figure>.json`). One thread is enough (~1 min per method).
"""
import argparse, json, sys
from pathlib import Path
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
THRESHOLDS = np.round(np.arange(0.05, 0.96, 0.05), 2)


def boundaries(mask):
    "Ground-truth object boundary pixels: a label change to a 4-neighbour (void 255 excluded)."
    m = mask.astype(np.int64)
    edge = np.zeros(m.shape, bool)
    for a, b in ((m[1:], m[:-1]), (m[:, 1:], m[:, :-1])):
        diff = (a != b) & (a != 255) & (b != 255)
        if a.shape[0] != m.shape[0]: edge[1:] |= diff; edge[:-1] |= diff
        else: edge[:, 1:] |= diff; edge[:, :-1] |= diff
    return edge


def analyse(method_dir, dataset, device='cpu', examples:int=1):
    import torch.nn.functional as F
    from wsss.cam import load_cam
    from wsss.metrics import ConfusionMeter, cam_labels
    from wsss.pseudo import has_background
    from wsss.refine import irn_walk_scores, load_relation_net, relation_maps
    method_dir = Path(method_dir)
    cfg, net = load_relation_net(method_dir/'refine'/'relation'/'relation.pt', device)
    if cfg.kind != 'irn': return None
    K = int(dataset.num_classes)
    cam_m, rw_m = [ConfusionMeter(K) for _ in THRESHOLDS], [ConfusionMeter(K) for _ in THRESHOLDS]
    on, off, hit, n_edge, shown = [], [], 0, 0, []
    for i in range(len(dataset)):
        it = dataset[i]
        keys, cam = load_cam(method_dir/'cams'/f"{it['id']}.npz")
        if has_background(keys): return None  # own background channel (SIPE): no threshold to sweep
        img, gt = np.asarray(it['image']), np.asarray(it['mask'])
        B = relation_maps(net, [img], device)[0]
        up = irn_walk_scores(torch.as_tensor(cam, dtype=torch.float32), keys, B, cfg).numpy()
        ks = np.concatenate([[0], keys])
        for j, t in enumerate(THRESHOLDS):
            cam_m[j].update(cam_labels(cam, keys, float(t)), gt)
            rw_m[j].update(ks[np.concatenate([np.full((1, *up.shape[1:]), t, up.dtype), up]).argmax(0)], gt)
        Bf = F.interpolate(B[None, None], size=gt.shape, mode='bilinear', align_corners=False)[0, 0].numpy()
        e, valid = boundaries(gt), gt != 255
        on.append(Bf[e].mean() if e.any() else np.nan); off.append(Bf[valid & ~e].mean())
        hit += int((Bf[e] > 0.5).sum()); n_edge += int(e.sum())
        if len(shown) < examples and len(keys) == 1 and (gt == keys[0]).mean() > 0.15:
            shown.append(dict(image=img, gt=gt, boundary=Bf, cam=cam_labels(cam, keys, cfg.bg_threshold), keys=ks, up=up))
    cam_curve, rw_curve = [m.miou() for m in cam_m], [m.miou() for m in rw_m]
    jc, jr = int(np.argmax(cam_curve)), int(np.argmax(rw_curve))
    at = lambda curve, t: curve[int(np.argmin(np.abs(THRESHOLDS - t)))]
    return dict(thresholds=THRESHOLDS.tolist(), cam_miou=cam_curve, rw_miou=rw_curve,
                cam_best=dict(threshold=float(THRESHOLDS[jc]), miou=cam_curve[jc]), rw_best=dict(threshold=float(THRESHOLDS[jr]), miou=rw_curve[jr]),
                rw_at_irn=dict(threshold=cfg.bg_threshold, miou=at(rw_curve, cfg.bg_threshold)),
                rw_at_cam_best=dict(threshold=float(THRESHOLDS[jc]), miou=rw_curve[jc]),
                boundary_recall_at_05=hit / max(n_edge, 1), boundary_mean_on_edges=float(np.nanmean(on)),
                boundary_mean_off_edges=float(np.mean(off)), n_images=len(dataset), _examples=shown)


def figure(results:dict, bg_threshold:float):
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from wsss.viz import colorize_labels
    ms = list(results)
    ex = next((r['_examples'][0] for r in results.values() if r['_examples']), None)
    fig, axes = plt.subplots(1, 1 + (5 if ex else 0), figsize=(3.6 + (11 if ex else 0), 3.0),
                             gridspec_kw=dict(width_ratios=[1.8] + ([1] * 5 if ex else [])), squeeze=False)
    ax = axes[0, 0]
    for k, m in enumerate(ms):
        r, c = results[m], f'C{k}'
        ax.plot(r['thresholds'], np.array(r['cam_miou']) * 100, '--', color=c, label=f'{m} CAM')
        ax.plot(r['thresholds'], np.array(r['rw_miou']) * 100, '-', color=c, label=f'{m} walk')
    ax.axvline(bg_threshold, color='k', lw=0.8, ls=':'); ax.text(bg_threshold, ax.get_ylim()[1], f" IRN's {bg_threshold}", fontsize=7, va='top')
    ax.set_xlabel('background threshold'); ax.set_ylabel('mIoU (%) on train'); ax.set_title('CAM (dashed) vs random walk (solid)', fontsize=8)
    ax.legend(fontsize=6, ncol=2, loc='lower center')
    if ex:
        ks, up = ex['keys'], ex['up']
        walk = lambda t: ks[np.concatenate([np.full((1, *up.shape[1:]), t, up.dtype), up]).argmax(0)]
        best = results[ms[0]]['rw_best']['threshold']
        panels = [(ex['image'], 'image'), (colorize_labels(ex['gt']), 'ground truth'), (ex['boundary'], 'boundary map B'),
                  (colorize_labels(walk(bg_threshold)), f'walk at {bg_threshold}'), (colorize_labels(walk(best)), f'walk at {best}')]
        for a, (im, title) in zip(axes[0, 1:], panels):
            a.imshow(im, cmap='magma' if im.ndim == 2 else None, vmin=0, vmax=1); a.set_title(title, fontsize=8); a.axis('off')
    fig.tight_layout()
    return fig


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--runs', required=True, help='the <out>/voc/quick folder of a finished run')
    ap.add_argument('--data-root', default=str(ROOT/'data'/'voc_mini'), help='its VOCdevkit (default: the shipped 200 photos)')
    ap.add_argument('--methods', default='cam,sccam,protomtn,auxsegnet', help='comma-separated; methods with their own background are skipped')
    ap.add_argument('--figure', default=str(ROOT/'figures'/'rw_voc_quick.png'))
    ap.add_argument('--threads', type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    from wsss.data import open_dataset
    from wsss.repro import resolve_data_root
    from wsss.viz import save_figure
    ds = open_dataset('voc', resolve_data_root('voc', a.data_root), 'train')
    res = {}
    for m in a.methods.split(','):
        if not (Path(a.runs)/m/'refine'/'relation'/'relation.pt').is_file(): print(f'{m}: no relation net in {a.runs}, skipped'); continue
        r = analyse(Path(a.runs)/m, ds)
        if r is None: print(f'{m}: CAM with its own background, skipped'); continue
        res[m] = r
        print(json.dumps({m: {k: v for k, v in r.items() if k not in ('thresholds', 'cam_miou', 'rw_miou', '_examples')}}), flush=True)
    if not res: raise SystemExit('no method to analyse')
    from wsss.refine import RefineConfig
    save_figure(figure(res, RefineConfig.for_profile('quick', dataset='voc').bg_threshold), a.figure, dpi=80)
    Path(a.figure).with_suffix('.json').write_text(json.dumps({m: {k: v for k, v in r.items() if k != '_examples'} for m, r in res.items()}, indent=1) + '\n')
    print(f'wrote {a.figure}')
