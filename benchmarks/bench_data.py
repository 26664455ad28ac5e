"""Data loading for training (decode + IRN augmentation): images/s on real VOC JPEGs.

    python benchmarks/bench_data.py --quick [--root VOC2012] [--workers 2]

Images: the shipped 200-image VOC set (data/voc_mini; the 18-image test fixture on a checkout without it) unless
--root names another VOC folder. Ours: `wsss.train.make_loader` over `without_masks(SegmentationDataset)` +
`wsss.data.train_transform(512, resize_long=(320, 640))`, as `train_method` feeds a CAM network: JPEGs decoded by
torchvision's libjpeg-turbo binding, no ground-truth mask decoded (image-level supervision), only the crop window
normalised, per-item seeded augmentation, batch collation. Official style: IRN's VOC12ClassificationDataset written
by us: PIL decode, PIL bicubic random resize of the long side, numpy flip, float64 normalise of the whole image,
random crop and HWC -> CHW, collated by torch's default collate.

Two rows, each on the same images and cores for both sides:
- one process (images/s per core): both pipelines in the main process, no workers;
- loader with W workers (default: every core), steady state: both through a DataLoader with W persistent workers,
  one warm-up epoch first (worker start-up and the first decode of every file are not in the measured epochs, as
  in a training run of many epochs).
"""
import os, random
from pathlib import Path
import numpy as np
from PIL import Image
from _common import Clock, parser, report, row

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / 'tests' / 'fixtures' / 'voc_mini' / 'VOCdevkit' / 'VOC2012'
SHIPPED = REPO / 'data' / 'voc_mini' / 'VOCdevkit' / 'VOC2012'
MEAN, STD = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)


def official_item(path, crop=512, lo=320, hi=640):
    img = Image.open(path).convert('RGB')
    t = random.randint(lo, hi); w, h = img.size; s = t / max(w, h)
    img = np.asarray(img.resize((round(w * s), round(h * s)), Image.BICUBIC))
    if random.random() < 0.5: img = img[:, ::-1]
    img = (img / 255.0 - MEAN) / STD
    H, W = img.shape[:2]; out = np.zeros((crop, crop, 3), np.float32)
    y, x = random.randint(0, max(H - crop, 0)), random.randint(0, max(W - crop, 0))
    oy, ox = random.randint(0, max(crop - H, 0)), random.randint(0, max(crop - W, 0))
    ch, cw = min(crop, H), min(crop, W)
    out[oy:oy + ch, ox:ox + cw] = img[y:y + ch, x:x + cw]
    return np.ascontiguousarray(out.transpose(2, 0, 1))


class OfficialStyle:
    "IRN-style dataset over image paths (one `official_item` per index) for the loader row."
    def __init__(self, paths): self.paths = paths
    def __len__(self): return len(self.paths)
    def __getitem__(self, i): return official_item(self.paths[i])


def rate(loader, epochs, set_epoch=None):
    "images/s over `epochs` epochs after one warm-up epoch."
    def run(e):
        if set_epoch: set_epoch(e)
        return sum(len(b['image']) if isinstance(b, dict) else len(b) for b in loader)
    run(0)
    with Clock() as c: n = sum(run(e + 1) for e in range(epochs))
    return n / c.wall, n


def main():
    ap = parser(__doc__)
    ap.add_argument('--root', default=str(SHIPPED if SHIPPED.is_dir() else FIXTURE))
    ap.add_argument('--workers', type=int, default=None, help='loader workers (default: every core)')
    ap.add_argument('--epochs', type=int, default=None, help='measured epochs (after one warm-up epoch)')
    a = ap.parse_args()
    import torch
    from wsss.data import SegmentationDataset, collate, read_split, train_transform, without_masks
    from wsss.method import TransformedDataset
    from wsss.train import make_loader
    torch.set_num_threads(1)  # loaders run one thread per process; the main-process row measures one core
    workers = os.cpu_count() if a.workers is None else a.workers
    epochs = a.epochs or (2 if a.quick else 10)
    splits = [s for s in ('train', 'val') if (Path(a.root) / 'ImageSets' / 'Segmentation' / f'{s}.txt').is_file()]
    ds = torch.utils.data.ConcatDataset([without_masks(SegmentationDataset(a.root, s)) for s in splits])
    data = TransformedDataset(ds, train_transform(512, resize_long=(320, 640)))
    paths = [Path(a.root) / 'JPEGImages' / f'{i}.jpg' for s in splits for i in read_split(a.root, s)]
    random.seed(0)
    rows = []
    for w in (0, workers):
        loader = make_loader(data, 2, seed=0, num_workers=w, collate_fn=collate, persistent_workers=True)
        ours, n = rate(loader, epochs, loader.sampler.set_epoch)
        off = torch.utils.data.DataLoader(OfficialStyle(paths), batch_size=2, shuffle=True, drop_last=True, num_workers=w, persistent_workers=w > 0)
        base, _ = rate(off, epochs)
        name = 'one process' if w == 0 else f'loader, {w} workers, steady state'
        rows.append(row(f'training data, {name} (decode + resize/flip/crop 512), real VOC JPEGs', ours, base, n_images=n, workers=w,
                        ours_per_core=ours / max(w, 1), official_style_per_core=base / max(w, 1)))
    report('bench_data', rows, dict(root=a.root, epochs=epochs, crop=512, resize_long=[320, 640], batch=2, workers=workers), 'cpu', a.out,
           notes=[f'{len(paths)} images; one warm-up epoch, then {epochs} measured; images/s per core: ' +
                  ', '.join(f"{r['workers']} workers {r['ours_per_core']:.0f} vs {r['official_style_per_core']:.0f}" for r in rows)])


if __name__ == '__main__': main()
