"""Performance plumbing: the GPU check starts on CPU, COCO in any layout end to end, `wsss reproduce --nproc 2`."""
import json, os, subprocess, sys
from pathlib import Path
import pytest
from wsss.core import ConfigError, DataError
from wsss.data import coco_paths, open_dataset
from wsss.repro import coco_view, reproduce

ROOT = Path(__file__).resolve().parents[1]


def _env():
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get('PYTHONPATH')])]))


def test_gpu_check_starts_on_cpu_in_tiny_mode(tmp_path):
    p = subprocess.run([sys.executable, str(ROOT / 'benchmarks' / 'gpu_check.py'), '--tiny', '--out', str(tmp_path)],
                       capture_output=True, text=True, env=_env(), cwd=ROOT / 'benchmarks')
    assert p.returncode == 0, p.stderr[-2000:]
    r = json.loads((tmp_path / 'gpu_check_tiny.json').read_text())
    assert r['train_eager']['images_per_s'] > 0 and r['cam']['images_per_s'] > 0 and r['cam']['official_images_per_s'] > 0
    assert r['agreement']['miou_abs_diff'] == 0  # on CPU both passes are fp32: the same numbers
    assert r['environment']['device'] == 'cpu' and r['pass'] == {}


def test_coco_layouts(coco_mini, tmp_path):
    # a mini folder: its only image folder and its only annotation file
    img, ann = coco_paths(coco_mini)
    assert img.name == 'val2017' and ann.name == 'test_coco.json'
    # 2017 names are found for the plain split names
    (tmp_path / 'c17' / 'annotations').mkdir(parents=True)
    (tmp_path / 'c17' / 'train2017').symlink_to(img.resolve(), target_is_directory=True)
    (tmp_path / 'c17' / 'annotations' / 'instances_train2017.json').symlink_to(ann.resolve())
    (tmp_path / 'c17' / 'val2017').mkdir()  # a second image folder: the guess would be ambiguous, the names are not
    assert coco_paths(tmp_path / 'c17', 'train') == (tmp_path / 'c17' / 'train2017', tmp_path / 'c17' / 'annotations' / 'instances_train2017.json')
    assert len(open_dataset('coco', tmp_path / 'c17', split='train')) == 4
    # any names through --ann-file/--image-dir: a view in the standard layout
    view = coco_view(tmp_path / 'runs', coco_mini, ann_file='annotations/test_coco.json', image_dir='val2017')
    ds = open_dataset('coco', view, split='train')
    assert len(ds) == 4 and ds[0]['image'].shape[2] == 3 and ds[0]['label'].shape == (80,)
    with pytest.raises(DataError, match='COCO image folder'): coco_paths(tmp_path / 'nothing')
    with pytest.raises(ConfigError, match='need --dataset coco'): reproduce(dataset='voc', data_root=coco_mini, ann_file='x.json', out=tmp_path / 'r')


def test_reproduce_coco_smoke_end_to_end(coco_mini, tmp_path):
    p = subprocess.run([sys.executable, '-c', 'from wsss.cli import main; raise SystemExit(main())', 'reproduce', '--dataset', 'coco',
                        '--data-root', str(coco_mini), '--profile', 'smoke', '--methods', 'cam', '--out', str(tmp_path / 'runs'),
                        '--figures', str(tmp_path / 'fig'), '--quiet'], capture_output=True, text=True, env=_env(), cwd=tmp_path)
    assert p.returncode == 0, (p.stdout + p.stderr)[-3000:]
    r = json.loads((tmp_path / 'runs' / 'coco' / 'smoke' / 'results.json').read_text())
    assert 0 <= r['methods']['cam']['cam_miou'] <= 1 and 0 <= r['methods']['cam']['pseudo_crf_miou'] <= 1
    assert len(list((tmp_path / 'runs' / 'coco' / 'smoke' / 'cam' / 'cams').glob('*.npz'))) == 4


def test_all_methods_on_coco_skip_the_ones_that_need_saliency(coco_mini, tmp_path):
    "`--methods all` (the default) on COCO runs every method but those needing saliency maps, and says which it skipped."
    logs = []
    reproduce(methods='all', dataset='coco', data_root=coco_mini, profile='smoke', out=tmp_path / 'runs', figures=tmp_path / 'fig',
              stages='report', log=logs.append, stream=None)  # only the (empty) report: the method list is what is checked
    skipped = [l for l in logs if 'skipping' in l]
    assert len(skipped) == 1 and 'auxsegnet' in skipped[0] and 'protomtn' in skipped[0] and 'sipe' not in skipped[0], logs

def test_reproduce_nproc_2_runs_the_work_under_torchrun(tmp_path):
    logs = []
    reproduce(methods='cam', dataset='synthetic', profile='smoke', out=tmp_path / 'runs', figures=tmp_path / 'fig', device='cpu',
              stages='train_cam,make_cam', nproc=2, log=logs.append, stream=None)
    rd = tmp_path / 'runs' / 'synthetic' / 'smoke' / 'cam'
    for st in ('train_cam', 'make_cam'):  # torchrun did the work; the notebook found it and recorded the stage
        out = (rd / 'logs' / f'{st}_torchrun.log').read_text()
        assert '"world_size": 2' in out, out[-2000:]
    nb = (rd / 'logs' / 'train_cam.log').read_text()
    assert 'reused' in nb, nb[-2000:]
    assert json.loads((rd / 'stages' / 'make_cam.json').read_text())['n_images'] == len(list((rd / 'cams').glob('*.npz'))) > 0
