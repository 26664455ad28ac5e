"""Issue 20: every failure a user can provoke with a wrong file or folder is one `wsss: error:` line naming it (exit 2),
checked before any work, and the class count of `wsss eval` is the dataset's. The CLI is called in-process
(`wsss.cli.main`): an uncaught exception would fail the test just as a traceback would."""
import os, pickle
from pathlib import Path
import numpy as np
import pytest, torch
from PIL import Image
from wsss.cli import check_cam_folder, main
from wsss.core import ConfigError, DataError, WsssError
import wsss.data
from wsss.data import read_class_labels, read_split


def run_cli(capsys, *args):
    "(exit status, stdout, stderr) of `wsss ARGS`."
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def one_line_error(rc, err, *needles):
    assert rc == 2, (rc, err)
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith('wsss: error: '), err
    for n in needles: assert str(n) in err, (n, err)


def _png(path, a):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(a, np.uint8)).save(path)


def _dataset_with_classes(root, n_fg=6):
    "root/classes.txt (n_fg names) and root/SegmentationClass/{a,b}.png using classes 0..2."
    root.mkdir(parents=True)
    (root / 'classes.txt').write_text(''.join(f'c{k}\n' for k in range(1, n_fg + 1)))
    g = np.zeros((8, 8), np.uint8); g[:4] = 1; g[6:, 6:] = 2
    for i in 'ab': _png(root / 'SegmentationClass' / f'{i}.png', g)
    return root / 'SegmentationClass', g


# ---- 2. wsss eval: the class count is the dataset's
def test_eval_prediction_above_the_class_list_is_named(tmp_path, capsys):
    gt, g = _dataset_with_classes(tmp_path / 'data')
    bad = g.copy(); bad[0, 0] = 50
    _png(tmp_path / 'pred' / 'a.png', g); _png(tmp_path / 'pred' / 'b.png', bad)
    rc, _, err = run_cli(capsys, 'eval', '--pred', tmp_path / 'pred', '--gt', gt)
    one_line_error(rc, err, 'b.png', 'value 50', '0..6')


def test_eval_uses_the_class_list_next_to_gt(tmp_path, capsys):
    import json
    gt, g = _dataset_with_classes(tmp_path / 'data')
    for i in 'ab': _png(tmp_path / 'pred' / f'{i}.png', g)
    rc, out, err = run_cli(capsys, 'eval', '--pred', tmp_path / 'pred', '--gt', gt, '--json', tmp_path / 's.json')
    assert rc == 0, err
    d = json.loads((tmp_path / 's.json').read_text())
    assert d['num_classes'] == 7 and list(d['iou'])[1:] == [f'c{k}' for k in range(1, 7)]  # 3 classes used, 7 listed
    assert 'c6' in out


# ---- 3. outputs that cannot be written, named before any work
def test_out_that_is_a_file_is_refused_before_training(tmp_path, capsys):
    f = tmp_path / 'labels'; f.write_text('x')
    rc, _, err = run_cli(capsys, 'make-sem-seg-labels', '--cams', tmp_path / 'nocams', '--train-labels', tmp_path / 'conf',
                         '--out', f, '--dataset', 'synthetic', '--data-root', tmp_path / 'nodata')
    one_line_error(rc, err, '--out', str(f), 'existing file')
    assert not (tmp_path / 'labels_relation').exists() and f.read_text() == 'x'  # no relation net trained, nothing written
    rc, _, err = run_cli(capsys, 'data', 'synthetic', '--out', f, '--profile', 'smoke')
    one_line_error(rc, err, '--out', 'existing file')
    rc, _, err = run_cli(capsys, 'train-seg', '--labels', 'gt', '--out', f / 'sub')
    one_line_error(rc, err, '--out', 'is a file')


def test_json_that_is_a_folder_is_refused(tmp_path, capsys):
    gt, g = _dataset_with_classes(tmp_path / 'data')
    for i in 'ab': _png(tmp_path / 'pred' / f'{i}.png', g)
    (tmp_path / 'j').mkdir()
    rc, _, err = run_cli(capsys, 'eval', '--pred', tmp_path / 'pred', '--gt', gt, '--json', tmp_path / 'j')
    one_line_error(rc, err, '--json', 'is a folder')


def test_unwritable_output_is_one_line(tmp_path, capsys, monkeypatch):
    "A read-only folder: refused up front (os.access), and an OSError met later (EROFS, a folder made read-only meanwhile, "
    "or root, whom os.access lets through) still ends as one line naming the file."
    gt, g = _dataset_with_classes(tmp_path / 'data')
    for i in 'ab': _png(tmp_path / 'pred' / f'{i}.png', g)
    ro = tmp_path / 'ro'; ro.mkdir()
    real = os.access
    monkeypatch.setattr(os, 'access', lambda p, m, *a, **k: False if Path(p) == ro else real(p, m, *a, **k))
    rc, _, err = run_cli(capsys, 'eval', '--pred', tmp_path / 'pred', '--gt', gt, '--json', ro / 's.json')
    one_line_error(rc, err, '--json', str(ro), 'not writable')
    monkeypatch.setattr(os, 'access', real)
    import wsss.metrics
    def denied(path, *a, **k): raise PermissionError(13, 'Permission denied', str(path))
    monkeypatch.setattr(wsss.metrics, 'write_json', denied)
    rc, _, err = run_cli(capsys, 'eval', '--pred', tmp_path / 'pred', '--gt', gt, '--json', ro / 's.json')
    one_line_error(rc, err, str(ro / 's.json'), 'Permission denied')


def test_init_on_a_backbone_without_the_deeplab_layout(tmp_path, capsys):
    init = tmp_path / 'deeplabv2_resnet101_COCO_init.pth'; torch.save({}, init)
    rc, _, err = run_cli(capsys, 'train-seg', '--profile', 'smoke', '--init', init, '--labels', 'gt', '--out', tmp_path / 'seg')
    one_line_error(rc, err, '--init', "'tiny'", 'resnet101')
    assert not (tmp_path / 'seg').exists()


@pytest.mark.parametrize('encoding, needle', [('latin-1', 'not UTF-8'), ('utf-16', 'UTF-16')])
def test_split_list_in_another_encoding_is_named(tmp_path, encoding, needle, capsys):
    d = tmp_path / 'ImageSets' / 'Segmentation'; d.mkdir(parents=True); (tmp_path / 'JPEGImages').mkdir()
    (d / 'train.txt').write_bytes('café_1\nb\n'.encode(encoding))
    with pytest.raises(DataError, match=needle) as e: read_split(tmp_path, 'train')
    assert str(d / 'train.txt') in str(e.value) and 'UTF-8' in str(e.value)
    gt, g = _dataset_with_classes(tmp_path / 'data')
    for i in 'ab': _png(tmp_path / 'pred' / f'{i}.png', g)
    rc, _, err = run_cli(capsys, 'eval', '--pred', tmp_path / 'pred', '--gt', gt, '--ids', d / 'train.txt')
    one_line_error(rc, err, str(d / 'train.txt'), needle)


def test_utf8_bom_is_not_part_of_the_first_id(tmp_path):
    d = tmp_path / 'ImageSets' / 'Segmentation'; d.mkdir(parents=True); (tmp_path / 'JPEGImages').mkdir()
    (d / 'train.txt').write_bytes('\ufeff2007_000032\n2007_000039\n'.encode('utf-8'))
    assert read_split(tmp_path, 'train') == ['2007_000032', '2007_000039']
    (tmp_path / 'labels.txt').write_bytes('\ufeff2007_000032 c1\n'.encode('utf-8'))
    assert list(read_class_labels(tmp_path / 'labels.txt', ('c1', 'c2'))) == ['2007_000032']


# ---- 4. messages that say what is wrong
def test_truncated_seg_pt_is_named_as_truncated(tmp_path, capsys):
    buf = tmp_path / 'full.pt'; torch.save({'format': 'wsss.segment/1', 'w': torch.zeros(1000)}, buf)
    ck = tmp_path / 'seg.pt'; ck.write_bytes(buf.read_bytes()[:300])
    rc, _, err = run_cli(capsys, 'make-seg', '--checkpoint', ck, '--out', tmp_path / 'maps', '--data-root', tmp_path / 'nodata')
    one_line_error(rc, err, str(ck), 'truncated')
    assert '--method is required' not in err


def test_truncated_training_checkpoint_names_the_cli_way_out(tmp_path):
    from wsss.nets import CamNet, multilabel_loss
    from wsss.train import fit
    ck = tmp_path / 'checkpoint.pt'; torch.save({'epoch': 1, 'w': torch.zeros(1000)}, tmp_path / 'full.pt')
    ck.write_bytes((tmp_path / 'full.pt').read_bytes()[:200])
    net = CamNet(3, 'tiny', weights='random', frozen_stages=0, width=8)
    loader = [dict(image=torch.zeros(2, 3, 16, 16), label=torch.zeros(2, 3))]
    loss = lambda m, b: dict(loss=multilabel_loss(m(b['image']), b['label']))
    with pytest.raises(WsssError) as e:
        fit(net, loader, loss, [dict(params=net.parameters())], epochs=1, out_dir=tmp_path, lr=0.1, device='cpu', progress=False)
    assert str(ck) in str(e.value) and 'truncated' in str(e.value) and 'delete the file' in str(e.value)
    assert not str(e.value).rstrip().endswith('pass resume=False')


def test_eval_cam_on_npy_cams_names_them_and_the_format(tmp_path):
    class DS: ids, class_names, split = ['2007_000032', '2007_000039'], ('c1', 'c2'), 'train'
    for i in DS.ids: np.save(tmp_path / f'{i}.npy', {'cam': np.zeros((1, 4, 4), np.float32), 'keys': np.array([0])})
    with pytest.raises(DataError) as e: check_cam_folder(tmp_path, DS())
    m = str(e.value)
    assert '2007_000032.npy' in m and '2 .npy files' in m and '<id>.npz' in m and 'wsss make-cam' in m


# ---- 5. cls_labels.npy without unpickling arbitrary objects
def test_official_cls_labels_npy_reads_without_general_unpickling(tmp_path):
    d = {2007000032: np.array([1, 0, 0], np.float32), 2007000039: np.array([0, 1, 1], np.float32)}  # IRN: np.save of a dict
    np.save(tmp_path / 'cls_labels.npy', d)
    assert wsss.data.load_label_dict_npy(tmp_path / 'cls_labels.npy').keys() == d.keys()
    got = read_class_labels(tmp_path / 'cls_labels.npy', ('a', 'b', 'c'))
    assert got['2007_000032'].tolist() == [1, 0, 0] and got['2007_000039'].tolist() == [0, 1, 1]


class _Evil:
    def __init__(self, marker): self.marker = marker
    def __reduce__(self): return (os.system, (f'touch {self.marker}',))


def test_crafted_npy_does_not_run_code(tmp_path):
    marker = tmp_path / 'pwned'
    np.save(tmp_path / 'cls_labels.npy', {2007000032: _Evil(marker)}, allow_pickle=True)
    with pytest.raises(DataError) as e: read_class_labels(tmp_path / 'cls_labels.npy', ('a', 'b', 'c'))
    assert str(tmp_path / 'cls_labels.npy') in str(e.value) and 'system' in str(e.value)
    assert not marker.exists()
    np.save(tmp_path / 'plain.npy', np.zeros(3))  # a numeric array: not the dict layout
    with pytest.raises(DataError, match='expected a pickled dict'): read_class_labels(tmp_path / 'plain.npy', ('a', 'b', 'c'))
    (tmp_path / 'cut.npy').write_bytes((tmp_path / 'cls_labels.npy').read_bytes()[:90])
    with pytest.raises(DataError, match='cut.npy'): read_class_labels(tmp_path / 'cut.npy', ('a', 'b', 'c'))
