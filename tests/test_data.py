"wsss.data end to end: real VOC/COCO fixtures, the synthetic benchmark, transforms and every bad input."
import json, re, shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from wsss.core import DataError, ConfigError
from wsss.data import (COCOSegmentation, JointTransform, SYNTHETIC_PROFILES, SegmentationDataset, VOC_CLASSES, collate,
                       ensure_synthetic, eval_transform, make_synthetic, open_dataset, read_class_labels,
                       read_image, read_label_png, resolve_voc_root, synthetic_complete, synthetic_stats,
                       train_transform, validate_dataset, write_coco_masks, write_label_png)

DATA = Path(__file__).resolve().parent/'fixtures'  # the in-repository real-data fixtures (see their SOURCES.md)
VOC = DATA/'voc_mini'/'VOCdevkit'/'VOC2012'
COCO = DATA/'coco_mini'
COCO_ANN = COCO/'annotations'/'test_coco.json'


# ---------------------------------------------------------------- VOC

def test_voc_mini_root_levels_and_splits():
    for r in (DATA/'voc_mini', DATA/'voc_mini'/'VOCdevkit', VOC):
        assert resolve_voc_root(r) == VOC
    sizes = {s: len(SegmentationDataset(VOC, s)) for s in ('train', 'val', 'trainval')}
    assert sizes == {'train': 9, 'val': 9, 'trainval': 18}


def test_larger_shared_voc_set(voc_shared):
    "The 200-image set beside the clone, where present: the same reader, the official split sizes."
    sizes = {s: len(SegmentationDataset(voc_shared.parents[1], s)) for s in ('train', 'val', 'tiny20')}
    assert sizes == {'train': 103, 'val': 97, 'tiny20': 20}
    assert validate_dataset(voc_shared) == []


def test_voc_mini_items_and_labels_from_masks_match_labels_txt():
    ds = SegmentationDataset(DATA/'voc_mini', 'train')
    txt = read_class_labels(VOC/'labels.txt', VOC_CLASSES)
    assert np.array_equal(ds.labels, np.stack([txt[i] for i in ds.ids]))
    for i in (0, 4, 8):
        it = ds[i]
        assert set(it) == {'id', 'image', 'label', 'mask'}
        assert it['image'].dtype == np.uint8 and it['image'].ndim == 3 and it['image'].shape[2] == 3
        assert it['mask'].shape == it['image'].shape[:2] and it['label'].dtype == np.float32 and it['label'].shape == (20,)
        vals = set(np.unique(it['mask']).tolist())
        assert vals <= set(range(21)) | {255} and 255 in vals  # VOC's void band is kept
        assert np.array_equal(it['label'], txt[it['id']])


def test_label_files_txt_json_and_cls_labels_npy(tmp_path):
    txt = read_class_labels(VOC/'labels.txt')
    js = read_class_labels(VOC/'labels.json')
    npy = read_class_labels(VOC/'cls_labels.npy')  # PSA style: str keys
    assert len(txt) == 18 and all(np.array_equal(txt[k], js[k]) and np.array_equal(txt[k], npy[k]) for k in txt)
    # IRN style: int keys without the underscore
    d = {int(k.replace('_', '')): v for k, v in np.load(VOC/'cls_labels.npy', allow_pickle=True).item().items()}
    np.save(tmp_path/'irn_cls_labels.npy', d)
    irn = read_class_labels(tmp_path/'irn_cls_labels.npy')
    assert irn.keys() == txt.keys() and all(np.array_equal(irn[k], txt[k]) for k in txt)
    ds = SegmentationDataset(VOC, 'val', labels_file=tmp_path/'irn_cls_labels.npy')
    assert np.array_equal(ds.labels, SegmentationDataset(VOC, 'val').labels)
    assert np.array_equal(ds[3]['label'], txt[ds.ids[3]])


def test_voc_saliency_and_train_aug(tmp_path):
    root = _voc_copy(tmp_path, 4)
    (root/'SegmentationClassAug').mkdir(); (root/'Saliency').mkdir(); (root/'ImageSets'/'SegmentationAug').mkdir(parents=True)
    ids = (root/'ImageSets'/'Segmentation'/'train.txt').read_text().split()
    lines = []
    for i in ids:  # SBD-style masks without the void band, DeepLab-style two-column list
        m = read_label_png(root/'SegmentationClass'/f'{i}.png'); m[m == 255] = 0
        write_label_png(root/'SegmentationClassAug'/f'{i}.png', m)
        Image.fromarray(np.full(m.shape, 128, np.uint8)).save(root/'Saliency'/f'{i}.png')
        lines.append(f'/JPEGImages/{i}.jpg /SegmentationClassAug/{i}.png')
    (root/'ImageSets'/'SegmentationAug'/'train_aug.txt').write_text('\n'.join(lines) + '\n')
    ds = open_dataset('voc', tmp_path, 'train_aug', saliency=True)
    assert ds.ids == ids and ds.mask_dir.name == 'SegmentationClassAug'
    it = ds[0]
    assert 255 not in it['mask'] and it['saliency'].shape == it['mask'].shape and np.allclose(it['saliency'], 128 / 255)


# ---------------------------------------------------------------- COCO

def test_coco_fixture_masks_labels_and_export(tmp_path):
    ds = open_dataset('coco', COCO, 'val2017', ann_file=COCO_ANN)
    assert len(ds) == 4 and ds.num_classes == 81 and ds.ids[0] == '000000000785'
    assert ds.labels.shape == (4, 80) and ds.labels[:, 0].all() and ds.labels[:, 1:].sum() == 0
    for i in range(4):
        it = ds[i]
        assert it['mask'].shape == it['image'].shape[:2]
        assert set(np.unique(it['mask']).tolist()) == {0, 1} and (it['mask'] == 1).mean() > 0.05
    assert write_coco_masks(COCO_ANN, tmp_path/'gt') == 4
    assert np.array_equal(read_label_png(tmp_path/'gt'/'000000040083.png'), ds[1]['mask'])
    assert Image.open(tmp_path/'gt'/'000000040083.png').mode == 'P'
    assert write_coco_masks(COCO_ANN, tmp_path/'gt') == 0  # resumes: nothing left to write


def test_coco_crowd_and_overlap_rules(tmp_path):
    data = json.loads(COCO_ANN.read_text())
    img = data['images'][0]
    h, w = img['height'], img['width']
    data['categories'].append({'id': 62, 'name': 'chair', 'supercategory': 'furniture'})
    big = {'id': 1, 'image_id': img['id'], 'category_id': 62, 'iscrowd': 0, 'area': 100.0 * 100,
           'segmentation': [[10, 10, 110, 10, 110, 110, 10, 110]], 'bbox': [10, 10, 100, 100]}
    small = {'id': 2, 'image_id': img['id'], 'category_id': 1, 'iscrowd': 0, 'area': 20.0 * 20,
             'segmentation': [[50, 50, 70, 50, 70, 70, 50, 70]], 'bbox': [50, 50, 20, 20]}
    crowd_mask = np.zeros((h, w), np.uint8, order='F'); crowd_mask[200:220, 300:340] = 1
    from pycocotools import mask as mask_utils
    rle = mask_utils.encode(crowd_mask); rle['counts'] = rle['counts'].decode()
    crowd = {'id': 3, 'image_id': img['id'], 'category_id': 1, 'iscrowd': 1, 'area': 800.0, 'segmentation': rle, 'bbox': [300, 200, 40, 20]}
    data['images'] = [img]
    data['annotations'] = [small, crowd, big]  # file order must not matter
    (tmp_path/'ann.json').write_text(json.dumps(data))
    ds = COCOSegmentation(COCO/'val2017', tmp_path/'ann.json')
    m = ds.mask(0)
    assert (m[60, 60], m[20, 20], m[210, 320], m[300, 5]) == (1, 57, 255, 0)  # smaller wins; chair is label 57; crowd ignored
    assert np.flatnonzero(ds.label(0)).tolist() == [0, 56]  # person (crowd counts) + chair
    data['categories'].append({'id': 91, 'name': 'dragon'})
    (tmp_path/'bad.json').write_text(json.dumps(data))
    with pytest.raises(DataError, match='bad.json.*91'): COCOSegmentation(COCO/'val2017', tmp_path/'bad.json')


def test_coco_layout_errors(tmp_path):
    with pytest.raises(DataError, match='instances_val2014.json'): open_dataset('coco', COCO, 'val', image_dir=COCO/'val2017')
    with pytest.raises(DataError, match='train2014'): open_dataset('coco', tmp_path, 'train')


# ---------------------------------------------------------------- synthetic benchmark

def _tree_bytes(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(Path(root).rglob('*')) if p.is_file()}


def test_synthetic_is_byte_identical_per_seed(tmp_path):
    a = make_synthetic(tmp_path/'a', seed=3, profile='smoke')
    b = make_synthetic(tmp_path/'b', seed=3, profile='smoke', workers=2)  # parallel drawing gives the same bytes
    c = make_synthetic(tmp_path/'c', seed=4, profile='smoke')
    ta, tb, tc = _tree_bytes(a), _tree_bytes(b), _tree_bytes(c)
    n = SYNTHETIC_PROFILES['smoke']['n_train'] + SYNTHETIC_PROFILES['smoke']['n_val']
    assert len(ta) == 5 * n + 2 + 3 and ta == tb
    assert ta.keys() == tc.keys() and ta['JPEGImages/train_00000.jpg'] != tc['JPEGImages/train_00000.jpg']
    meta = json.loads(ta['dataset.json'])
    assert meta['seed'] == 3 and meta['params']['image_size'] == 64 and meta['params']['context']['boat'] == 'water'
    assert validate_dataset(a) == []


def test_synthetic_layout_and_properties(tmp_path):
    root = make_synthetic(tmp_path/'s', seed=0, profile='smoke', n_train=96)
    ds = SegmentationDataset(root, 'train', saliency=True)
    assert ds.class_names == ('boat', 'plane', 'cow', 'car', 'dog', 'cat') and len(ds) == 96
    it = ds[5]
    assert it['image'].shape == (64, 64, 3) and it['mask'].shape == (64, 64) and it['saliency'].dtype == np.float32
    band = (it['mask'] == 255).sum() / max((it['mask'] > 0).sum(), 1)
    assert 0 < band < 1  # a thin void band, not a thick one
    assert np.array_equal(ds.labels, SegmentationDataset(root, 'train', labels_file='labels.txt').labels)
    st = synthetic_stats(root)
    assert 0.05 < st['part_fraction'] < 0.25 and st['context']['boat']['water'] > 0.5 and st['mean_objects'] > 1.3
    assert 0.3 < st['saliency_iou'] < 0.97 and st['saliency_precision'] > st['saliency_iou']


def test_ensure_synthetic_resumes_and_protects(tmp_path):
    root = tmp_path/'s'
    ensure_synthetic(root, seed=0, profile='smoke', n_train=10, n_val=4)
    before = _tree_bytes(root)
    (root/'JPEGImages'/'train_00004.jpg').unlink()
    (root/'Saliency'/'val_00001.png').unlink()
    (root/'labels.txt').unlink()
    (root/'JPEGImages'/'.train_00005.jpg.tmp.jpg').write_bytes(b'half-written')  # a killed atomic write
    kept = (root/'JPEGImages'/'train_00003.jpg').stat().st_mtime_ns
    assert not synthetic_complete(root, 0, 'smoke', n_train=10, n_val=4)
    ensure_synthetic(root, seed=0, profile='smoke', n_train=10, n_val=4)
    assert _tree_bytes(root) == before  # resumed, identical, temp file gone
    assert (root/'JPEGImages'/'train_00003.jpg').stat().st_mtime_ns == kept  # untouched files are not rewritten
    with pytest.raises(DataError, match=re.escape(str(root))) as e: ensure_synthetic(root, seed=0, profile='smoke', n_train=11, n_val=4)
    assert 'n_train' in str(e.value) and 'overwrite=True' in str(e.value)
    ensure_synthetic(root, seed=1, profile='smoke', n_train=3, n_val=2, overwrite=True)
    assert len(list((root/'JPEGImages').iterdir())) == 5
    other = tmp_path/'not_synthetic'; other.mkdir(); (other/'notes.txt').write_text('mine')
    with pytest.raises(DataError, match='not_synthetic'): make_synthetic(other, profile='smoke', overwrite=True)
    assert (other/'notes.txt').read_text() == 'mine'
    with pytest.raises(ConfigError, match='bogus'): make_synthetic(tmp_path/'x', profile='smoke', bogus=1)
    with pytest.raises(ConfigError, match='huge'): make_synthetic(tmp_path/'x', profile='huge')


# ---------------------------------------------------------------- transforms

def _item(h=10, w=20):
    item = dict(id='x', image=np.full((h, w, 3), 200, np.uint8), label=np.array([0, 1], np.float32),
                mask=np.ones((h, w), np.uint8), saliency=np.full((h, w), 0.5, np.float32))
    item['image'][:, :5] = 0; item['mask'][:, :5] = 2; item['saliency'][:, :5] = 1.0
    return item


def test_crop_pads_mask_with_255_and_image_with_mean():
    torch.manual_seed(0)
    out = train_transform(32, resize_long=(20, 20), hflip=False)(_item())
    assert out['image'].shape == (3, 32, 32) and out['image'].dtype == torch.float32
    assert out['mask'].dtype == torch.int64 and (out['mask'] == 255).sum() == 32 * 32 - 200
    pad = out['mask'] == 255
    assert torch.all(out['image'][:, pad] == 0)  # 0 after normalisation = the ImageNet mean colour
    assert torch.all(out['saliency'][0][pad] == 0) and out['label'].tolist() == [0.0, 1.0]


def test_flip_and_resize_move_image_mask_saliency_together():
    mid = ((200 / 255 - 0.485) / 0.229 + (0 - 0.485) / 0.229) / 2  # halfway between the strip and the rest, normalised
    for seed in range(6):  # an exact 2x scale keeps bilinear (image, saliency) and nearest (mask) edges on one column
        torch.manual_seed(seed)
        out = train_transform(16, resize_long=(40, 40))(_item())
        dark = out['image'][0] < mid
        assert torch.equal(dark, out['mask'] == 2) and torch.equal(out['saliency'][0] > 0.75, dark)
    flipped = []
    for seed in range(10):
        torch.manual_seed(seed)
        out = JointTransform(None, resize_long=(30, 50), hflip=True)(_item())
        h, w = out['mask'].shape
        assert 30 <= max(h, w) <= 50 and abs(w / h - 2) < 0.2 and out['image'].shape[1:] == (h, w)
        left, right = (out['mask'][:, 0] == 2).all(), (out['mask'][:, -1] == 2).all()
        assert bool(left) != bool(right) and bool(out['image'][0][0, -1] < mid) == bool(right)
        flipped.append(bool(right))
    assert any(flipped) and not all(flipped)
    o = eval_transform()(_item(7, 9))
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    assert o['image'].shape == (3, 7, 9) and torch.allclose(o['image'][:, 0, 6], (200 / 255 - mean) / std)


def test_dataloader_with_collate(tmp_path):
    root = make_synthetic(tmp_path/'s', seed=0, profile='smoke', n_train=6, n_val=2)
    ds = SegmentationDataset(root, 'train', saliency=True, transform=train_transform(48, resize_long=(40, 72), color_jitter=(0.3, 0.3, 0.3, 0.1)))
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=4, collate_fn=collate)))
    assert batch['image'].shape == (4, 3, 48, 48) and batch['mask'].shape == (4, 48, 48) and batch['saliency'].shape == (4, 1, 48, 48)
    assert batch['label'].shape == (4, 6) and batch['id'] == ds.ids[:4]
    raw = collate([dict(id='a', image=np.zeros((4, 5, 3), np.uint8)), dict(id='b', image=np.zeros((6, 5, 3), np.uint8))])
    assert isinstance(raw['image'], list) and raw['id'] == ['a', 'b']


# ---------------------------------------------------------------- bad input

def _voc_copy(tmp_path, n=6):
    root = tmp_path/'VOCdevkit'/'VOC2012'
    ids = (VOC/'ImageSets'/'Segmentation'/'val.txt').read_text().split()[:n]
    for d in ('JPEGImages', 'SegmentationClass', 'ImageSets/Segmentation'): (root/d).mkdir(parents=True)
    for i in ids:
        shutil.copy(VOC/'JPEGImages'/f'{i}.jpg', root/'JPEGImages')
        shutil.copy(VOC/'SegmentationClass'/f'{i}.png', root/'SegmentationClass')
    (root/'ImageSets'/'Segmentation'/'train.txt').write_text('\n'.join(ids) + '\n')
    return root


def test_bad_inputs_raise_dataerror_naming_the_file(tmp_path):
    root = _voc_copy(tmp_path)
    ids = (root/'ImageSets'/'Segmentation'/'train.txt').read_text().split()
    assert validate_dataset(tmp_path) == []
    # truncated JPEG
    jpg = root/'JPEGImages'/f'{ids[0]}.jpg'; jpg.write_bytes(jpg.read_bytes()[:2000])
    with pytest.raises(DataError, match=f'{ids[0]}.jpg.*decoded'): SegmentationDataset(root)[0]
    with pytest.raises(DataError, match=f'{ids[0]}.jpg'): read_image(jpg)
    # mask size differs from the image
    m = read_label_png(root/'SegmentationClass'/f'{ids[1]}.png')
    write_label_png(root/'SegmentationClass'/f'{ids[1]}.png', m[:-7])
    with pytest.raises(DataError, match=f'{ids[1]}.png.*mask is'): SegmentationDataset(root)[1]
    # a value outside {0..20, 255}
    m = read_label_png(root/'SegmentationClass'/f'{ids[2]}.png'); m[:3, :3] = 77
    write_label_png(root/'SegmentationClass'/f'{ids[2]}.png', m)
    with pytest.raises(DataError, match=f'{ids[2]}.png.*77'): SegmentationDataset(root)[2]
    # every problem at once
    probs = validate_dataset(root)
    assert len(probs) == 3 and all(any(ids[k] in p for p in probs) for k in range(3))
    # a split naming a missing file
    (root/'ImageSets'/'Segmentation'/'miss.txt').write_text(ids[3] + '\nno_such_image\n')
    with pytest.raises(DataError, match='no_such_image.jpg.*miss.txt'): SegmentationDataset(root, 'miss')
    # an empty split, an unknown split
    (root/'ImageSets'/'Segmentation'/'empty.txt').write_text('\n')
    with pytest.raises(DataError, match='empty.txt.*empty'): SegmentationDataset(root, 'empty')
    with pytest.raises(DataError, match="unknown split 'nope'.*available: empty, miss, train"): SegmentationDataset(root, 'nope')
    probs = validate_dataset(root, splits=['train', 'miss', 'empty', 'nope'])
    assert any('no_such_image.jpg' in p for p in probs) and any('empty.txt' in p for p in probs) and any("'nope'" in p for p in probs)
    # missing root
    with pytest.raises(DataError, match='does not exist'): SegmentationDataset(tmp_path/'nowhere')
    with pytest.raises(DataError, match='JPEGImages'): SegmentationDataset(root/'ImageSets')
    assert 'nowhere' in validate_dataset(tmp_path/'nowhere')[0]


def test_unknown_class_names(tmp_path):
    root = _voc_copy(tmp_path, 3)
    ids = (root/'ImageSets'/'Segmentation'/'train.txt').read_text().split()
    (root/'labels.json').write_text(json.dumps({i: ['dragon'] for i in ids}))
    with pytest.raises(DataError, match="labels.json.*unknown class name 'dragon'"): SegmentationDataset(root, labels_file='labels.json')
    (root/'labels.txt').write_text(f'{ids[0]}\t3 21\n')
    with pytest.raises(DataError, match=r'labels.txt:1: class index 21 outside 1..20'): read_class_labels(root/'labels.txt')
    assert any('labels.txt:1' in p for p in validate_dataset(root))
    # a class list that lacks the classes the labels file names
    (root/'labels.txt').write_text(f'{ids[0]}\tperson\n')
    with pytest.raises(DataError, match="unknown class name 'person'"): SegmentationDataset(root, class_names=['cat', 'dog'], labels_file='labels.txt')
    with pytest.raises(ConfigError, match='class_names'): SegmentationDataset(root, class_names=['cat', 'cat'])
    # masks with classes beyond a short class list are caught too
    assert any('outside 0..2' in p for p in validate_dataset(root, class_names=['cat', 'dog'], labels_file=None))
