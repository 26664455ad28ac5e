"""Data loading for training (decode + IRN augmentation): images/s on real VOC JPEGs.

    python benchmarks/bench_data.py --quick [--root VOC2012] [--workers 2]

Images: the in-repository VOC fixture (tests/fixtures/voc_mini, 18 real VOC 2012 photos) unless --root names
another VOC folder, read again every epoch. Ours: `wsss.train.make_loader` over `SegmentationDataset` +
`wsss.data.train_transform(512, resize_long=(320, 640))` (the paper profile: torchvision v2 transforms, worker
processes, per-item seeded augmentation, batch collation). Official style: IRN's VOC12ClassificationDataset written
by us: PIL decode, PIL bicubic random resize of the long side, numpy flip, normalise, random crop and HWC -> CHW,
one image at a time in the main process.
"""
import os, random
from pathlib import Path
import numpy as np
from PIL import Image
from _common import Clock, parser, report, row

FIXTURE = Path(__file__).resolve().parents[1] / 'tests' / 'fixtures' / 'voc_mini' / 'VOCdevkit' / 'VOC2012'
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


def main():
    ap = parser(__doc__)
    ap.add_argument('--root', default=str(FIXTURE))
    ap.add_argument('--workers', type=int, default=None, help='loader workers (default: every core)')
    ap.add_argument('--epochs', type=int, default=None)
    a = ap.parse_args()
    import torch
    from wsss.data import SegmentationDataset, collate, read_split, train_transform
    from wsss.method import TransformedDataset
    from wsss.train import make_loader
    workers = os.cpu_count() if a.workers is None else a.workers
    epochs = a.epochs or (2 if a.quick else 10)
    splits = [s for s in ('train', 'val') if (Path(a.root) / 'ImageSets' / 'Segmentation' / f'{s}.txt').is_file()]
    ds = torch.utils.data.ConcatDataset([SegmentationDataset(a.root, s) for s in splits])
    data = TransformedDataset(ds, train_transform(512, resize_long=(320, 640)))
    loader = make_loader(data, 2, seed=0, num_workers=workers, collate_fn=collate, persistent_workers=True)
    n = 0
    with Clock() as c:
        for e in range(epochs):
            loader.sampler.set_epoch(e)
            for b in loader: n += len(b['image'])
    ours = n / c.wall
    paths = [Path(a.root) / 'JPEGImages' / f'{i}.jpg' for s in splits for i in read_split(a.root, s)]
    m = 0
    with Clock() as c2:
        for e in range(epochs):
            random.shuffle(paths)
            for p in paths: official_item(p); m += 1
    report('bench_data', [row('training data (decode + resize/flip/crop 512), real VOC JPEGs', ours, m / c2.wall, n_images=n, workers=workers)],
           dict(root=a.root, epochs=epochs, crop=512, resize_long=[320, 640], batch=2, workers=workers), 'cpu', a.out,
           notes=[f'{len(paths)} images read {epochs} times; worker start-up is included in ours'])


if __name__ == '__main__': main()
