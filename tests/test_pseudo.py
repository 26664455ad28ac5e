"wsss.pseudo end to end: label rules, IR-label thresholds, the make_pseudo stage (pool, resume), scores."
import os
from pathlib import Path
import numpy as np
import pytest
from wsss.cam import save_cam
from wsss.core import ConfigError, DataError
from wsss.data import read_label_png, write_label_png
from wsss.pseudo import KINDS, cam_to_label, crf_refined_label, eval_pseudo_labels, ir_label, make_pseudo_labels

C = 5

class Scenes:
    "Noisy images with one or two coloured rectangles, GT masks, and blob CAMs centred on the objects (picklable)."
    num_classes, class_names = C + 1, [f'c{i}' for i in range(1, C + 1)]
    def __init__(self, n=4, seed=0):
        g = np.random.default_rng(seed)
        self.ids, self.items, self.cams = [f's{i}' for i in range(n)], [], []
        for i in range(n):
            H, W = 48, 64 + 8 * (i % 2)
            img = np.full((H, W, 3), 100.); mask = np.zeros((H, W), np.uint8)
            yy, xx = np.mgrid[:H, :W]; cams, keys = [], []
            for j, (r, c, cls) in enumerate([(8, 6, 1 + i % C), (26, 36, 1 + (i + 2) % C)][: 1 + i % 2]):
                img[r:r+16, c:c+22] = g.integers(140, 255, 3); mask[r:r+16, c:c+22] = cls
                cams.append(np.exp(-((yy - r - 8)**2 + (xx - c - 11)**2) / (2 * 6.0**2))); keys.append(cls)
            self.items.append(dict(id=self.ids[i], image=np.clip(img + g.normal(0, 6, img.shape), 0, 255).astype(np.uint8),
                                   label=np.isin(np.arange(1, C + 1), keys).astype(np.float32), mask=mask))
            order = np.argsort(keys)
            self.cams.append((np.array(keys)[order], np.stack(cams)[order].astype(np.float32)))
    def __len__(self): return len(self.items)
    def __getitem__(self, i): return self.items[i]
    def write_cams(self, d):
        for id_, (k, c) in zip(self.ids, self.cams): save_cam(Path(d) / f'{id_}.npz', k, c)
        return Path(d)

def test_ir_label_rule_before_crf():
    cam = np.array([[[0.2, 0.4, 0.01, 0.30, 0.05, 0.31]]], np.float32)
    assert ir_label(None, cam, [9], crf=False).tolist() == [[255, 9, 0, 255, 0, 9]]
    # two classes: the stronger one wins where both pass the fg threshold
    two = np.array([[[0.5, 0.02]], [[0.7, 0.2]]], np.float32)
    assert ir_label(None, two, [2, 6], crf=False).tolist() == [[6, 255]]
    # SIPE variant: own bg channel, no thresholds; bg x 0.5 for the confident-bg pass
    sipe = np.array([[[0.9, 0.6, 0.3]], [[0.2, 0.5, 0.8]]], np.float32)
    assert ir_label(None, sipe, [0, 3], crf=False).tolist() == [[0, 255, 3]]
    assert ir_label(None, cam, [9], fg_threshold=0.1, bg_threshold=0.1, crf=False).tolist() == [[9, 9, 0, 9, 0, 9]]

def test_threshold_labels():
    cam = np.array([[[0.1, 0.5, 0.9]], [[0.3, 0.6, 0.2]]], np.float32)
    assert cam_to_label(cam, [1, 4], 0.15).tolist() == [[4, 4, 1]]
    assert cam_to_label(cam, [1, 4], 0.55).tolist() == [[0, 4, 1]]
    assert cam_to_label(cam, [0, 4]).tolist() == [[4, 4, 0]]  # own background channel: argmax
    assert cam_to_label(np.zeros((0, 2, 3)), []).tolist() == [[0] * 3] * 2
    with pytest.raises(DataError): cam_to_label(np.zeros((2, 2, 2)), [1])

def test_crf_labels_are_valid_and_follow_the_image():
    ds = Scenes(n=2)
    it = ds[1]; keys, cam = ds.cams[1]
    for mode in ('label', 'softmax'):
        lab = crf_refined_label(it['image'], cam, keys, threshold=0.3, mode=mode)
        assert lab.dtype == np.uint8 and set(np.unique(lab)) <= {0, *keys.tolist()}
        base = cam_to_label(cam, keys, 0.3)
        assert (lab == it['mask']).mean() > (base == it['mask']).mean(), mode
    with pytest.raises(ConfigError): crf_refined_label(it['image'], cam, keys, mode='nope')
    with pytest.raises(DataError): crf_refined_label(it['image'][:10], cam, keys)

@pytest.mark.parametrize('kind', KINDS)
def test_make_pseudo_labels_values_and_scores(tmp_path, kind):
    ds = Scenes()
    cams = ds.write_cams(tmp_path / 'cams')
    st = make_pseudo_labels(cams, ds, tmp_path / kind, kind=kind, threshold=0.3, workers=0, progress=False)
    assert st['n_written'] == len(ds) and st['kind'] == kind
    allowed = {0, *range(1, C + 1), 255} if kind == 'ir' else {0, *range(1, C + 1)}
    for i, id_ in enumerate(ds.ids):
        lab = read_label_png(tmp_path / kind / f'{id_}.png')
        assert lab.shape == ds[i]['mask'].shape and set(np.unique(lab)) <= allowed
        assert set(np.unique(lab)) - {0, 255} <= set(ds.cams[i][0].tolist())
    r = eval_pseudo_labels(tmp_path / kind, ds)
    assert 0.5 < r['miou'] <= 1
    if kind == 'ir': assert r['confident'] and 0.5 < r['labelled_share'] < 1
    else: assert not r['confident'] and 'labelled_share' not in r

def test_crf_beats_threshold_and_ir_labels_are_precise(tmp_path):
    ds = Scenes()
    cams = ds.write_cams(tmp_path / 'cams')
    res = {}
    for kind in KINDS:
        make_pseudo_labels(cams, ds, tmp_path / kind, kind=kind, threshold=0.3, workers=0, progress=False)
        res[kind] = eval_pseudo_labels(tmp_path / kind, ds)
    assert res['crf']['miou'] > res['threshold']['miou']
    assert res['ir']['miou'] > res['threshold']['miou']  # precision on the pixels it commits to

def test_process_pool_matches_serial(tmp_path):
    ds = Scenes()
    cams = ds.write_cams(tmp_path / 'cams')
    make_pseudo_labels(cams, ds, tmp_path / 'serial', kind='ir', workers=0, progress=False)
    make_pseudo_labels(cams, ds, tmp_path / 'pool', kind='ir', workers=2, progress=False)
    for id_ in ds.ids:
        assert (read_label_png(tmp_path / 'serial' / f'{id_}.png') == read_label_png(tmp_path / 'pool' / f'{id_}.png')).all()

def test_resume_and_bad_inputs(tmp_path):
    ds = Scenes()
    cams = ds.write_cams(tmp_path / 'cams')
    out = tmp_path / 'crf'
    make_pseudo_labels(cams, ds, out, kind='crf', workers=0, progress=False)
    past = 1_000_000_000
    for p in cams.iterdir(): os.utime(p, (past - 10, past - 10))  # the CAMs older than their labels: labels up to date
    for p in out.iterdir(): os.utime(p, (past, past))
    (out / 's1.png').write_bytes(b'\x89PNG broken')
    st = make_pseudo_labels(cams, ds, out, kind='crf', workers=0, progress=False)
    assert st['n_written'] == 1 and st['n_skipped'] == len(ds) - 1
    assert [(out / f'{i}.png').stat().st_mtime == past for i in ds.ids] == [True, False, True, True]
    assert read_label_png(out / 's1.png').shape == ds[1]['mask'].shape
    with pytest.raises(ConfigError, match='kind'): make_pseudo_labels(cams, ds, out, kind='magic', progress=False)
    (cams / 's2.npz').unlink()
    with pytest.raises(DataError, match='s2.npz'): make_pseudo_labels(cams, ds, tmp_path / 'thr', progress=False)

def test_rerun_redoes_labels_that_do_not_fit(tmp_path):
    "A label of the wrong size is recomputed; a label older than its CAM (make-cam redone) is stale; a CAM of the wrong size is named."
    ds = Scenes()
    cams = ds.write_cams(tmp_path / 'cams')
    out = tmp_path / 'lab'
    make_pseudo_labels(cams, ds, out, kind='threshold', workers=0, progress=False)
    past = 1_000_000_000
    for p in cams.iterdir(): os.utime(p, (past - 10, past - 10))
    for p in out.iterdir(): os.utime(p, (past, past))
    write_label_png(out / 's0.png', np.zeros((32, 32), np.uint8)); os.utime(out / 's0.png', (past, past))  # wrong size
    os.utime(cams / 's2.npz', (past + 10, past + 10))  # s2's CAM remade after its label
    st = make_pseudo_labels(cams, ds, out, kind='threshold', workers=0, progress=False)
    assert st['n_written'] == 2 and st['n_skipped'] == len(ds) - 2
    assert [(out / f'{i}.png').stat().st_mtime == past for i in ds.ids] == [False, True, False, True]
    assert all(read_label_png(out / f'{i}.png').shape == ds[k]['mask'].shape for k, i in enumerate(ds.ids))
    k, c = ds.cams[3]
    save_cam(cams / 's3.npz', k, c[:, :32, :32])  # a CAM that does not fit its image: no label of the wrong size is written
    with pytest.raises(DataError, match=r's3.npz: CAM is 32x32 but its image is 72x48'):
        make_pseudo_labels(cams, ds, tmp_path / 'lab2', kind='threshold', workers=0, progress=False)
    assert not (tmp_path / 'lab2' / 's3.png').exists()

def test_eval_pseudo_labels_confident_scores(tmp_path):
    class One:
        num_classes, class_names, ids = 3, ['a', 'b'], ['x']
        def __len__(self): return 1
        def __getitem__(self, i): return dict(id='x', mask=np.array([[0, 0, 1, 1, 2, 255]], np.uint8))
    write_label_png(tmp_path / 'x.png', np.array([[0, 255, 1, 255, 1, 0]], np.uint8))
    r = eval_pseudo_labels(tmp_path, One())
    assert r['confident'] and r['labelled_share'] == pytest.approx(3 / 5)
    assert r['iou']['background'] == pytest.approx(1.0) and r['iou']['a'] == pytest.approx(0.5)
    with pytest.raises(DataError, match='255'): eval_pseudo_labels(tmp_path, One(), confident=False)
    (tmp_path / 'x.png').unlink()
    with pytest.raises(DataError, match='x.png'): eval_pseudo_labels(tmp_path, One())

def test_crf_pool_and_evaluation_show_progress(tmp_path, capsys):
    ds = Scenes()
    cams = ds.write_cams(tmp_path / 'cams')
    make_pseudo_labels(cams, ds, tmp_path / 'crf', kind='crf', workers=2)
    eval_pseudo_labels(tmp_path / 'crf', ds)
    err = capsys.readouterr().err
    assert 'pseudo[crf]' in err and f'{len(ds)}/{len(ds)}' in err and 'eval crf' in err, err

def test_one_pass_for_all_kinds_equals_one_pass_per_kind(tmp_path):
    "The make_pseudo stage's single pass (shared CRF lattice per image, pool of 2) writes the labels the per-kind passes write."
    from wsss.pseudo import make_all_pseudo_labels, pseudo_label_set
    ds = Scenes(n=6, seed=3)
    cams = ds.write_cams(tmp_path / 'cams')
    for kind in KINDS: make_pseudo_labels(cams, ds, tmp_path / 'one' / kind, kind=kind, threshold=0.3, workers=0, progress=False)
    st = make_all_pseudo_labels(cams, ds, {k: tmp_path / 'all' / k for k in KINDS}, threshold=0.3, workers=2, progress=False)
    assert {k: st[k]['n_written'] for k in KINDS} == {k: 6 for k in KINDS}
    for kind in KINDS:
        for i in ds.ids:
            assert (read_label_png(tmp_path / 'all' / kind / f'{i}.png') == read_label_png(tmp_path / 'one' / kind / f'{i}.png')).all(), (kind, i)
    # the softmax (PSA) CRF is its own CRF; the rest still share one
    it, (keys, cam) = ds[1], ds.cams[1]
    got = pseudo_label_set(it['image'], cam, keys, ('ir', 'crf'), threshold=0.3, crf_mode='softmax')
    assert list(got) == ['ir', 'crf']
    assert (got['crf'] == crf_refined_label(it['image'], cam, keys, 0.3, mode='softmax')).all() and (got['ir'] == ir_label(it['image'], cam, keys)).all()

def test_all_kinds_bad_input(tmp_path):
    from wsss.pseudo import make_all_pseudo_labels, pseudo_label_set
    ds = Scenes(n=2)
    cams = ds.write_cams(tmp_path / 'cams')
    with pytest.raises(ConfigError, match="'mask'"): make_all_pseudo_labels(cams, ds, {'crf': tmp_path / 'a', 'mask': tmp_path / 'b'}, progress=False)
    with pytest.raises(ConfigError, match='at least one kind'): make_all_pseudo_labels(cams, ds, {}, progress=False)
    assert not (tmp_path / 'a').exists()  # refused before any folder or file is made
    keys, cam = ds.cams[0]
    with pytest.raises(DataError, match='image is'): pseudo_label_set(ds[0]['image'][:20], cam, keys, ('ir',))
