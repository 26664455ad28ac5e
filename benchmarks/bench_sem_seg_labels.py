"""The make_sem_seg_labels stage (IRN random walk) on 500x375 images: images/s with the walks over every core vs one process.

    python benchmarks/bench_sem_seg_labels.py --quick

Ours: `wsss.refine.make_sem_seg_labels` (relation net in batches, then the sparse walks of up to 64 images spread
over a process pool, one thread each). Official style: the same function with `workers=0` (every walk in this
process, one image after the other, as IRN's `make_sem_seg_labels.py` does per image). Both use a randomly
initialised tiny boundary net (the walk's cost does not depend on the weights) and random CAMs of two classes;
the labels of both runs are checked equal.
"""
import tempfile
from pathlib import Path
import numpy as np
from _common import Clock, parser, report, row
from bench_crf import Items


def main():
    ap = parser(__doc__)
    ap.add_argument('--images', type=int, default=None, help='images (default 8 with --quick, else 32)')
    a = ap.parse_args()
    import torch
    from wsss.cam import save_cam
    from wsss.data import read_label_png
    from wsss.refine import RefineConfig, build_relation_net, make_sem_seg_labels
    n = a.images or (8 if a.quick else 32)
    items = Items(n)
    tmp = Path(tempfile.mkdtemp())
    g = np.random.default_rng(0)
    for it in items.items:
        keys = np.flatnonzero(it['label']) + 1
        save_cam(tmp/'cams'/f"{it['id']}.npz", keys, g.random((len(keys), 375, 500), dtype=np.float32))
    cfg = RefineConfig.for_profile('quick', 'irn', logt=8)  # IRN's walk: radius 5, beta 10, 2^8 steps (the quick net: the walk dominates)
    torch.manual_seed(0); net = build_relation_net(cfg).eval()
    make_sem_seg_labels(tmp/'cams', items, net, tmp/'warm', cfg, device='cpu', progress=False, workers=0)  # warm-up (allocator, threads)
    with Clock() as c_pool: make_sem_seg_labels(tmp/'cams', items, net, tmp/'pool', cfg, device='cpu', progress=False)
    with Clock() as c_one: make_sem_seg_labels(tmp/'cams', items, net, tmp/'serial', cfg, device='cpu', progress=False, workers=0)
    same = all((read_label_png(tmp/'pool'/f'{i}.png') == read_label_png(tmp/'serial'/f'{i}.png')).all() for i in items.ids)
    report('bench_sem_seg_labels', [row('make_sem_seg_labels 500x375 (walk 2^8 steps, radius 5)', n / c_pool.wall, n / c_one.wall,
                                        labels_equal=same)],
           dict(images=n, size=[375, 500], logt=cfg.logt, radius=cfg.radius, beta=cfg.beta), 'cpu', a.out)


if __name__ == '__main__': main()
