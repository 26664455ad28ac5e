"""Dense-CRF pseudo labels (make_pseudo, kind 'crf'): images/s on 500x375 images.

    python benchmarks/bench_crf.py --quick

Ours: `wsss.pseudo.make_pseudo_labels(kind='crf')` (process pool over every core, images decoded in the workers,
atomic PNG writes). Official style: a serial loop written by us after IRN's cam_to_ir_label: load the CAM, threshold,
`crf_labels` (the same pydensecrf call), save the PNG, one image after the other in one process.
"""
import os, tempfile
from pathlib import Path
import numpy as np
from PIL import Image
from _common import Clock, parser, report, row


class Items:
    def __init__(self, n, hw=(375, 500), C=20, seed=0):
        g = np.random.default_rng(seed)
        self.ids = [f'c{i:04d}' for i in range(n)]
        self.items = []
        for i in self.ids:
            img = np.kron(g.integers(0, 256, (hw[0] // 25 + 1, hw[1] // 25 + 1, 3)), np.ones((25, 25, 1)))[:hw[0], :hw[1]].astype(np.uint8)
            lab = np.zeros(C, np.float32); lab[g.choice(C, 2, replace=False)] = 1
            self.items.append(dict(id=i, image=img, label=lab))
        self.num_classes = C + 1
    def __len__(self): return len(self.items)
    def __getitem__(self, i): return self.items[i]


def main():
    ap = parser(__doc__)
    ap.add_argument('--n', type=int, default=None)
    a = ap.parse_args()
    from wsss.cam import load_cam, save_cam
    from wsss.crf import crf_labels
    from wsss.pseudo import make_pseudo_labels
    n = a.n or (4 if a.quick else 32)
    data, g = Items(n), np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        for it in data.items:
            keys = np.flatnonzero(it['label']) + 1
            cam = np.stack([np.kron(g.random((16, 21)), np.ones((24, 24)))[:375, :500] for _ in keys]).astype(np.float32)
            save_cam(d / 'cams' / f"{it['id']}.npz", keys, cam)
        with Clock() as c: make_pseudo_labels(d / 'cams', data, d / 'ours', kind='crf', threshold=0.15, progress=False)
        ours = n / c.wall
        (d / 'off').mkdir()
        with Clock() as c2:
            for it in data.items:
                keys, cam = load_cam(d / 'cams' / f"{it['id']}.npz")
                scores = np.concatenate([np.full((1, *cam.shape[1:]), 0.15, np.float32), cam])
                idx = scores.argmax(0)
                lab = crf_labels(it['image'], idx, len(keys) + 1)
                Image.fromarray(np.concatenate([[0], keys]).astype(np.uint8)[lab]).save(d / 'off' / f"{it['id']}.png")
        base = n / c2.wall
    report('bench_crf', [row('dense CRF pseudo labels, 500x375', ours, base, n_images=n, workers=os.cpu_count())],
           dict(n=n, image='500x375', preset='irn'), 'cpu', a.out, notes=['ours uses a process pool over every core; the gain is bounded by the core count'])


if __name__ == '__main__': main()
