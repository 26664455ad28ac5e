"wsss.metrics end to end: real VOC ground truth, folder evaluation errors, threshold sweep, CLI report."
import json, shutil
from pathlib import Path
import numpy as np, pytest
from PIL import Image
from wsss.core import ConfigError, DataError
from wsss.metrics import (ConfusionMeter, ThresholdSweep, cam_labels, confident_scores, confusion_matrix, eval_cli_report,
                          evaluate_cam_folder, evaluate_folders, format_scores, iou_from_confusion, miou, read_labels, scores)

def voc_ids(voc_mini, split='val'): return (voc_mini / 'ImageSets' / 'Segmentation' / f'{split}.txt').read_text().split()

def write_png(path, a):
    im = Image.fromarray(np.asarray(a, np.uint8), mode='P'); im.putpalette([0, 0, 0, 128, 0, 0] * 128); im.save(path)

def test_voc_gt_against_itself_is_perfect(voc_mini, tmp_path):
    ids = voc_ids(voc_mini)
    gt_dir = voc_mini / 'SegmentationClass'
    r = evaluate_folders(gt_dir, gt_dir, num_classes=21, ids=ids)
    assert r['miou'] == 1.0 and r['n_images'] == 9 and r['pixel_accuracy'] == 1.0
    present = {c for i in ids for c in np.unique(read_labels(gt_dir / f'{i}.png')) if c < 21}
    assert {k for k, v in r['iou'].items() if not np.isnan(v)} == {list(r['iou'])[c] for c in present}
    assert list(r['iou'])[15] == 'person' and list(r['iou'])[0] == 'background' and len(r['iou']) == 21
    # num_classes inferred from the data equals the largest class present + 1
    r2 = evaluate_folders(gt_dir, gt_dir, ids=ids, workers=0)
    assert r2['num_classes'] == max(present) + 1 and r2['miou'] == 1.0

def test_voc_gt_against_perturbed_copy(voc_mini, tmp_path):
    """Erase one object class of one image to background: hand-checkable IoUs."""
    i = voc_ids(voc_mini)[0]
    gt = read_labels(voc_mini / 'SegmentationClass' / f'{i}.png')
    c = int([v for v in np.unique(gt) if 0 < v < 255][0])
    pred = np.where(gt == 255, 0, gt); pred[gt == c] = 0
    (tmp_path / 'pred').mkdir(); write_png(tmp_path / 'pred' / f'{i}.png', pred)
    r = evaluate_folders(tmp_path / 'pred', voc_mini / 'SegmentationClass', num_classes=21, ids=[i])
    n_bg, n_c = int((gt == 0).sum()), int((gt == c).sum())
    names = list(r['iou'])
    assert r['iou'][names[c]] == 0.0
    assert r['iou'][names[0]] == pytest.approx(n_bg / (n_bg + n_c))
    others = [v for k, v in r['iou'].items() if k not in (names[0], names[c]) and not np.isnan(v)]
    assert all(v == 1.0 for v in others)
    assert r['miou'] == pytest.approx((n_bg / (n_bg + n_c) + len(others)) / (2 + len(others)))
    assert r['recall'][names[c]] == 0.0 and np.isnan(r['precision'][names[c]])

def test_folder_errors_name_the_file(voc_mini, tmp_path):
    ids = voc_ids(voc_mini)[:2]
    gt_dir = voc_mini / 'SegmentationClass'
    pred = tmp_path / 'pred'; pred.mkdir()
    shutil.copy(gt_dir / f'{ids[0]}.png', pred / f'{ids[0]}.png')
    with pytest.raises(DataError, match=f'missing.*{ids[1]}.png'): evaluate_folders(pred, gt_dir, ids=ids)
    one = ids[:1]
    gt = read_labels(gt_dir / f'{ids[0]}.png')
    write_png(pred / f'{ids[0]}.png', gt[:-1])  # one row short
    with pytest.raises(DataError, match=f'{ids[0]}.png: size'): evaluate_folders(pred, gt_dir, ids=one)
    bad = np.where(gt < 21, 30, 0)  # a class id that VOC does not have, on every labelled pixel
    write_png(pred / f'{ids[0]}.png', bad)
    with pytest.raises(DataError, match=f'{ids[0]}.png: predicted value 30 is outside 0..20'): evaluate_folders(pred, gt_dir, num_classes=21, ids=one)
    Image.fromarray(np.zeros((*gt.shape, 3), np.uint8)).save(pred / f'{ids[0]}.png')  # colour-rendered, not labels
    with pytest.raises(DataError, match='mode RGB'): evaluate_folders(pred, gt_dir, num_classes=21, ids=one)
    (pred / f'{ids[0]}.png').write_bytes(b'not a png')
    with pytest.raises(DataError, match=f'{ids[0]}.png: cannot be read'): evaluate_folders(pred, gt_dir, num_classes=21, ids=one)
    with pytest.raises(DataError, match='does not exist'): evaluate_folders(tmp_path / 'nope', gt_dir)
    with pytest.raises(DataError, match='no label PNGs'): evaluate_folders(tmp_path / 'pred', gt_dir, ids=[])
    with pytest.raises(ConfigError, match='num_classes'): evaluate_folders(gt_dir, gt_dir, num_classes=0, ids=ids)

def test_array_bad_inputs():
    with pytest.raises(DataError, match='shape'): confusion_matrix(np.zeros((2, 3), int), np.zeros((3, 2), int), 3)
    with pytest.raises(DataError, match='pred: value 5'): confusion_matrix(np.full((2, 2), 5), np.zeros((2, 2), int), 3)
    with pytest.raises(DataError, match='integers'): confusion_matrix(np.zeros((2, 2)), np.zeros((2, 2), int), 3)
    with pytest.raises(ConfigError): confusion_matrix(np.zeros(2, int), np.zeros(2, int), 0)
    with pytest.raises(DataError, match='channels'): ThresholdSweep(21).update(np.zeros((2, 4, 4)), [1], np.zeros((4, 4), int))
    with pytest.raises(DataError, match='gt is'): ThresholdSweep(21).update(np.zeros((1, 4, 4)), [1], np.zeros((4, 5), int))
    with pytest.raises(DataError, match='num_classes'): ThresholdSweep(3).update(np.zeros((1, 4, 4)), [7], np.zeros((4, 4), int))
    with pytest.raises(ConfigError, match='increasing'): ThresholdSweep(3, thresholds=[0.3, 0.2])
    with pytest.raises(ConfigError, match='threshold'): cam_labels(np.zeros((1, 2, 2)), [1])
    # pred values outside range on void pixels are not an error (void is not scored)
    assert confusion_matrix(np.array([9, 1]), np.array([255, 1]), 2).tolist() == [[0, 0], [0, 1]]

def test_against_brute_force_random():
    rng = np.random.default_rng(3)
    m, ref = ConfusionMeter(21), np.zeros((21, 21), np.int64)
    for _ in range(5):
        g = rng.integers(0, 21, (37, 41)); g[rng.random(g.shape) < 0.2] = 255
        p = rng.integers(0, 21, (37, 41))
        m.update(p, g)
        for a, b in zip(g.ravel(), p.ravel()):
            if a != 255: ref[a, b] += 1
    assert (m.confusion == ref).all()
    iou = [ref[c, c] / (ref[c].sum() + ref[:, c].sum() - ref[c, c]) for c in range(21)]
    assert m.miou() == pytest.approx(np.mean(iou))
    assert scores(ref)['pixel_accuracy'] == pytest.approx(np.trace(ref) / ref.sum())

def test_threshold_sweep_equals_naive_loop_default_grid():
    rng = np.random.default_rng(4)
    sw = ThresholdSweep(21)
    assert len(sw.thresholds) == 91 and sw.thresholds[0] == 0.05 and sw.thresholds[-1] == 0.95
    naive = np.zeros_like(sw.confusions)
    for _ in range(3):
        keys = np.sort(rng.choice(np.arange(1, 21), 3, replace=False))
        cam = rng.random((3, 20, 25)).astype(np.float32); cam[0, :5] = 0.15  # ties with a grid value
        gt = rng.choice(np.r_[0, keys, 255], (20, 25))
        sw.update(cam, keys, gt)
        for j, t in enumerate(sw.thresholds): naive[j] += confusion_matrix(cam_labels(cam, keys, t), gt, 21)
    assert (sw.confusions == naive).all()
    t, m = sw.curve()
    b = sw.best()
    assert b.miou == pytest.approx(np.nanmax(m)) and b.threshold == t[np.nanargmax(m)]
    assert np.allclose(b.iou, iou_from_confusion(naive[np.nanargmax(m)]), equal_nan=True)
    assert sw.scores(b.threshold)['miou'] == pytest.approx(b.miou)

def test_cam_folder_sweep_finds_the_right_threshold(tmp_path):
    """CAMs built so that exactly the pixels above 0.40 are the object: the best threshold is in [0.40, 0.50)."""
    rng = np.random.default_rng(5)
    (tmp_path / 'cams').mkdir(); (tmp_path / 'gt').mkdir()
    for i in range(3):
        gt = np.zeros((30, 30), np.uint8); gt[5:20, 8:25] = 7
        cam = np.where(gt == 7, rng.uniform(0.5, 1, gt.shape), rng.uniform(0, 0.4, gt.shape))[None].astype(np.float16)
        np.savez(tmp_path / 'cams' / f'im{i}.npz', keys=np.array([7]), cam=cam)
        write_png(tmp_path / 'gt' / f'im{i}.png', gt)
    sw = evaluate_cam_folder(tmp_path / 'cams', tmp_path / 'gt', num_classes=21)
    b = sw.best()
    assert b.miou == 1.0 and 0.40 <= b.threshold < 0.50 and sw.n_images == 3
    with pytest.raises(DataError, match='im9.npz: CAM file missing'): evaluate_cam_folder(tmp_path / 'cams', tmp_path / 'gt', ids=['im9'])

def test_confident_labels_precision_and_share():
    gt = np.array([[0, 0, 1, 1], [0, 0, 1, 1]])
    pred = np.array([[0, 255, 1, 0], [255, 255, 1, 1]])  # 5 of 8 labelled, one wrong
    d = confident_scores([pred], [gt], 2)
    assert d['labelled_share'] == 5 / 8
    assert d['iou']['background'] == pytest.approx(1 / 2) and d['iou']['class1'] == pytest.approx(3 / 4)

def test_cli_report_and_strict_json(voc_mini, tmp_path):
    ids = voc_ids(voc_mini)[:4]
    gt_dir = voc_mini / 'SegmentationClass'
    text = eval_cli_report(gt_dir, gt_dir, num_classes=21, ids=ids, json_out=tmp_path / 'r.json')
    assert 'mIoU' in text and '100.00' in text and 'images' in text
    raw = (tmp_path / 'r.json').read_text()
    assert 'NaN' not in raw  # strict JSON: classes absent from these 4 images are null
    d = json.loads(raw)
    assert d['miou'] == 1.0 and d['n_images'] == 4 and None in d['iou'].values()
    assert len(format_scores(d).splitlines()) == 21 + 6

def test_eval_scores_the_expected_ids_not_whatever_is_in_the_folder(voc_mini, tmp_path):
    "A half-empty prediction folder is an error listing the missing ids, unless allow_missing, which records them."
    gt_dir = voc_mini / 'SegmentationClass'
    pred = tmp_path / 'pred'; pred.mkdir()
    all_ids = sorted(p.stem for p in gt_dir.glob('*.png'))
    for i in all_ids[::2]: shutil.copy(gt_dir / f'{i}.png', pred / f'{i}.png')
    missing = all_ids[1::2]
    with pytest.raises(DataError, match=f'{len(missing)} of {len(all_ids)} expected.*{missing[0]}.png.*allow-missing'):
        evaluate_folders(pred, gt_dir, num_classes=21)
    with pytest.warns(UserWarning, match=f'{len(missing)} of {len(all_ids)}'):
        r = evaluate_folders(pred, gt_dir, num_classes=21, allow_missing=True)
    assert r['n_images'] == len(all_ids) - len(missing) and r['n_expected'] == len(all_ids) and r['missing_ids'] == missing
    assert 'missing' in format_scores(r) and missing[0] in format_scores(r)
    # a split (by name, next to the ground truth, or as a list file) or an id list narrows what is expected
    val = voc_ids(voc_mini, 'val')
    for i in val: shutil.copy(gt_dir / f'{i}.png', pred / f'{i}.png')
    assert evaluate_folders(pred, gt_dir, split='val')['n_images'] == len(val) == 9
    split_file = voc_mini / 'ImageSets' / 'Segmentation' / 'val.txt'
    assert evaluate_folders(pred, gt_dir, split=str(split_file))['missing_ids'] == []
    (tmp_path / 'ids.txt').write_text('\n'.join(val[:3]) + '\n')
    assert evaluate_folders(pred, gt_dir, ids=tmp_path / 'ids.txt')['n_images'] == 3
    with pytest.raises(DataError, match="unknown split 'vall'"): evaluate_folders(pred, gt_dir, split='vall')
    with pytest.raises(DataError, match='every|0 expected|prediction missing for 18 of 18'):
        evaluate_folders(tmp_path, gt_dir, allow_missing=True)  # nothing at all to score is never allowed
    # the CLI report warns on stderr and records the missing ids in its JSON
    text = eval_cli_report(pred, gt_dir, num_classes=21, json_out=tmp_path / 'r.json', allow_missing=True)
    d = json.loads((tmp_path / 'r.json').read_text())
    assert d['missing_ids'] == [i for i in missing if i not in val] and d['n_expected'] == 18 and 'missing' in text
