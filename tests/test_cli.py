"The `wsss` command line: subcommands, exit statuses, one-line errors naming the argument or file."
import json, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
VOC_MINI = Path(__file__).resolve().parent / 'fixtures' / 'voc_mini' / 'VOCdevkit' / 'VOC2012'  # in-repository real fixture
# the console script `wsss = wsss.cli:main`, called through this interpreter so PATH does not matter
WSSS = [sys.executable, '-c', 'import sys; from wsss.cli import main; sys.exit(main())']

def wsss(*args, cwd=None, timeout=300):
    return subprocess.run([*WSSS, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=timeout)

def one_line_error(r, *needles):
    "Exit status 2, `wsss: error:` or argparse's message on stderr, no traceback, every needle named."
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert 'Traceback' not in r.stderr, r.stderr
    for n in needles: assert n in r.stderr, (n, r.stderr)

def test_help_lists_subcommands_with_help_text():
    r = wsss('--help')
    assert r.returncode == 0, r.stderr
    for sub, text in (('data', 'make or check a dataset'), ('eval', 'per-class IoU, mIoU'), ('reproduce', 'run the pipeline notebooks')):
        assert sub in r.stdout and text in ' '.join(r.stdout.split()), (sub, r.stdout)
    d = wsss('data', '--help')
    assert d.returncode == 0 and 'synthetic' in d.stdout and 'validate' in d.stdout
    rp = wsss('reproduce', '--help')
    for opt in ('--methods', '--dataset', '--data-root', '--profile', '--out', '--figures', '--device', '--seed', '--force', '--stages'):
        assert opt in rp.stdout, opt

@pytest.fixture(scope='module')
def synthetic(tmp_path_factory):
    out = tmp_path_factory.mktemp('cli') / 'syn'
    r = wsss('data', 'synthetic', '--out', out, '--profile', 'smoke', '--seed', 3, '--num-train', 6, '--num-val', 2, '--image-size', 48)
    assert r.returncode == 0, r.stderr
    return out, r

def test_data_synthetic_writes_the_dataset(synthetic):
    out, r = synthetic
    assert str(out.resolve()) in r.stdout and ' s' in r.stdout  # where, and how long
    assert len(list((out / 'JPEGImages').glob('*.jpg'))) == 8
    assert len((out / 'ImageSets' / 'Segmentation' / 'train.txt').read_text().split()) == 6
    assert (out / 'classes.txt').is_file() and (out / 'dataset.json').is_file()
    meta = json.loads((out / 'dataset.json').read_text())
    assert meta['seed'] == 3 and meta['params']['image_size'] == 48

def test_data_validate_exit_status(synthetic, tmp_path):
    import shutil
    out, _ = synthetic
    clean = wsss('data', 'validate', out)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    broken = tmp_path / 'broken'
    shutil.copytree(out, broken)
    ids = (broken / 'ImageSets' / 'Segmentation' / 'train.txt').read_text().split()
    (broken / 'JPEGImages' / f'{ids[0]}.jpg').write_bytes(b'not a jpeg at all')
    (broken / 'SegmentationClass' / f'{ids[1]}.png').unlink()
    r = wsss('data', 'validate', broken)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f'{ids[0]}.jpg' in r.stdout and f'{ids[1]}.png' in r.stdout  # every problem, each naming its file
    r = wsss('data', 'validate', broken, '--split', 'val')  # the broken files are in train only
    assert r.returncode == 0, r.stdout

def test_eval_ground_truth_against_itself(tmp_path):
    gt = VOC_MINI / 'SegmentationClass'
    out = tmp_path / 'scores' / 'voc.json'
    r = wsss('eval', '--pred', gt, '--gt', gt, '--num-classes', 21, '--json', out)
    assert r.returncode == 0, r.stderr
    assert 'mIoU' in r.stdout and '100.00' in r.stdout, r.stdout
    d = json.loads(out.read_text())
    assert d['miou'] == 1.0 and d['n_images'] == 18
    assert not [p for p in out.parent.iterdir() if p.name.startswith('.')]  # atomic: no temporaries left

@pytest.mark.parametrize('args, needles', [
    (('eval', '--pred', 'x'), ('--gt',)),  # a required argument missing
    (('reproduce', '--profile', 'fast'), ('--profile', 'smoke', 'quick', 'paper')),
    (('reproduce', '--dataset', 'imagenet'), ('--dataset', 'synthetic', 'voc', 'coco')),
    (('reproduce', '--seed', '-1'), ('--seed',)),
    (('data', 'synthetic', '--out', 'x', '--num-train', '0'), ('--num-train',)),
    (('reproduce', '--methods', 'nope', '--profile', 'smoke'), ("unknown method 'nope'", 'cam')),
    (('reproduce', '--stages', 'train,make_cam'), ("'train'", 'train_cam')),
    (('reproduce', '--dataset', 'voc', '--profile', 'smoke'), ('--data-root',)),
])
def test_bad_arguments_exit_2_naming_the_argument(args, needles, tmp_path):
    one_line_error(wsss(*args, '--out', tmp_path / 'runs') if args[0] == 'reproduce' else wsss(*args), *needles)
    assert not (tmp_path / 'runs').exists() or not any((tmp_path / 'runs').rglob('*.ipynb'))  # nothing ran

def test_library_errors_are_one_line(tmp_path):
    r = wsss('eval', '--pred', tmp_path / 'missing', '--gt', VOC_MINI / 'SegmentationClass')
    one_line_error(r, 'wsss: error:', str(tmp_path / 'missing'))
    assert len(r.stderr.strip().splitlines()) == 1
    r = wsss('data', 'synthetic', '--out', tmp_path / 's', '--profile', 'huge')
    one_line_error(r, 'wsss: error:', 'huge')
