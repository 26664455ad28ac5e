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

def test_eval_half_empty_prediction_folder(tmp_path):
    "Missing predictions: exit 2 listing them; --allow-missing scores the rest, warns, and records them in the JSON."
    import shutil
    gt = VOC_MINI / 'SegmentationClass'
    ids = sorted(p.stem for p in gt.glob('*.png'))
    pred = tmp_path / 'pred'; pred.mkdir()
    for i in ids[:10]: shutil.copy(gt / f'{i}.png', pred / f'{i}.png')
    r = wsss('eval', '--pred', pred, '--gt', gt, '--num-classes', 21)
    one_line_error(r, 'wsss: error:', '8 of 18 expected', f'{ids[10]}.png', '--allow-missing')
    r = wsss('eval', '--pred', pred, '--gt', gt, '--num-classes', 21, '--allow-missing', '--json', tmp_path / 's.json')
    assert r.returncode == 0 and 'wsss: warning:' in r.stderr and '8 of 18' in r.stderr, r.stderr
    d = json.loads((tmp_path / 's.json').read_text())
    assert d['n_images'] == 10 and d['n_expected'] == 18 and d['missing_ids'] == ids[10:]
    val = (VOC_MINI / 'ImageSets' / 'Segmentation' / 'val.txt').read_text().split()
    for i in val: shutil.copy(gt / f'{i}.png', pred / f'{i}.png')
    r = wsss('eval', '--pred', pred, '--gt', gt, '--split', 'val', '--json', tmp_path / 'v.json')
    assert r.returncode == 0 and json.loads((tmp_path / 'v.json').read_text())['n_images'] == len(val) == 9, r.stderr
    (tmp_path / 'ids.txt').write_text('\n'.join(ids[:3]))
    r = wsss('eval', '--pred', pred, '--gt', gt, '--ids', tmp_path / 'ids.txt', '--json', tmp_path / 'i.json')
    assert r.returncode == 0 and json.loads((tmp_path / 'i.json').read_text())['n_images'] == 3, r.stderr
    one_line_error(wsss('eval', '--pred', pred, '--gt', gt, '--split', 'nope'), "unknown split 'nope'")

@pytest.mark.parametrize('args, needles', [
    (('eval', '--pred', 'x'), ('--gt',)),  # a required argument missing
    (('reproduce', '--profile', 'fast'), ('--profile', 'smoke', 'quick', 'paper')),
    (('reproduce', '--dataset', 'imagenet'), ('--dataset', 'synthetic', 'voc', 'coco')),
    (('reproduce', '--seed', '-1'), ('--seed',)),
    (('data', 'synthetic', '--out', 'x', '--num-train', '0'), ('--num-train',)),
    (('reproduce', '--methods', 'nope', '--profile', 'smoke'), ("unknown method 'nope'", 'cam')),
    (('reproduce', '--methods', 'cam,', '--profile', 'smoke'), ('--methods', "'cam,'", 'empty')),
    (('reproduce', '--methods', ',cam', '--profile', 'smoke'), ('--methods', "',cam'", 'empty')),
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

# ---- stage commands on official-layout checkpoints (issue 7) ----

def test_data_help_lists_actions_with_their_options():
    r = wsss('data', '--help')
    assert r.returncode == 0
    for opt in ('synthetic', '--out', '--seed', '--num-train', 'validate', '--split'): assert opt in r.stdout, opt

def test_stage_command_help_shows_defaults():
    for cmd, needles in (('make-cam', ('--checkpoint', '--geometry', '--scales', '--no-flip', '--batch-size', '(default: train)')),
                         ('eval-cam', ('--cams', '--json', '(default: 0.15)')),
                         ('make-pseudo', ('--kind', 'threshold,crf,ir', '(default: 0.3)', '(default: 0.05)'))):
        r = wsss(cmd, '--help')
        assert r.returncode == 0, r.stderr
        for n in needles: assert n in ' '.join(r.stdout.split()), (cmd, n)

IRN_LAYOUTS = {  # every alias family load_irn_cam_checkpoint accepts, alone (IRN's own files hold all of them)
    'all': lambda k: True,
    'resnet50': lambda k: k.startswith(('resnet50.', 'classifier.')),
    'stages': lambda k: k.startswith(('stage', 'classifier.')),
    'backbone': lambda k: k.startswith(('backbone.', 'newly_added.')),
}

@pytest.fixture(scope='module')
def tiny_voc(tmp_path_factory, voc_mini):
    "A VOC-layout copy of 3 real fixture images shrunk to about 90 x 65, split `train` (fast for a ResNet-50 on CPU)."
    from PIL import Image
    root = tmp_path_factory.mktemp('tinyvoc') / 'VOC2012'
    ids = (voc_mini / 'ImageSets' / 'Segmentation' / 'train.txt').read_text().split()[:3]
    for d in ('JPEGImages', 'SegmentationClass', 'ImageSets/Segmentation'): (root / d).mkdir(parents=True)
    for i, id_ in enumerate(ids):
        img = Image.open(voc_mini / 'JPEGImages' / f'{id_}.jpg'); size = (90 - 3 * i, 65 + 2 * i)
        img.resize(size, Image.BILINEAR).save(root / 'JPEGImages' / f'{id_}.jpg', quality=95)
        Image.open(voc_mini / 'SegmentationClass' / f'{id_}.png').resize(size, Image.NEAREST).save(root / 'SegmentationClass' / f'{id_}.png')
    (root / 'ImageSets' / 'Segmentation' / 'train.txt').write_text('\n'.join(ids) + '\n')
    return root

@pytest.fixture(scope='module')
def official(tmp_path_factory):
    "Seeded random ResNet-50 CAM weights saved in IRN's layout (all aliases, and each alias family alone, one with `module.`)."
    import torch
    from wsss.nets import CamNet, to_irn_state_dict
    torch.manual_seed(1)
    sd = to_irn_state_dict(CamNet(20, 'resnet50', 'random', (2, 2, 2, 1), 2))
    d = tmp_path_factory.mktemp('ckpt')
    paths = {}
    for name, keep in IRN_LAYOUTS.items():
        paths[name] = d / f'res50_cam_{name}.pth'
        torch.save({k: v for k, v in sd.items() if keep(k)}, paths[name])
    paths['module'] = d / 'res50_cam_module.pth'
    torch.save({'module.' + k: v for k, v in sd.items() if IRN_LAYOUTS['resnet50'](k)}, paths['module'])
    return sd, paths

def test_every_irn_layout_loads_the_same_weights(official):
    import torch
    from wsss.cli import load_checkpoint
    from wsss.data import VOC_CLASSES
    sd, paths = official
    ref = None
    for name, p in paths.items():
        method, model, kind = load_checkpoint('cam', p, VOC_CLASSES)
        assert kind == 'official' and not model.training, name
        w = {k: v for k, v in model.state_dict().items() if not k.endswith('num_batches_tracked')}
        if ref is None: ref = w
        assert all(torch.equal(w[k], ref[k]) for k in ref), name
    assert torch.equal(ref['classifier.weight'], sd['classifier.weight'])

def test_make_cam_eval_cam_make_pseudo_on_an_official_checkpoint(official, tiny_voc, tmp_path):
    "IRN make_cam through the command line equals the reference written from the algorithm (1 scale + flip), then scores."
    import numpy as np
    from test_cam_geometry import reference_net, reference_make_cam
    from wsss.cam import load_cam
    from wsss.data import open_dataset
    import test_cam_geometry as ref_mod
    sd, paths = official
    cams = tmp_path / 'cams'
    r = wsss('make-cam', '--method', 'cam', '--checkpoint', paths['module'], '--data-root', tiny_voc.parent, '--out', cams,
             '--scales', '1,0.5', '--device', 'cpu')
    assert r.returncode == 0, r.stderr
    assert '3 CAM files written' in r.stdout and 'official checkpoint, irn geometry' in r.stdout, r.stdout
    assert not [p for p in cams.iterdir() if p.name.startswith('.')]  # atomic: no temporaries left
    net = reference_net(sd)
    ds = open_dataset('voc', tiny_voc, split='train')
    old = ref_mod.SCALES
    try:
        ref_mod.SCALES = (1.0, 0.5)
        for i in range(len(ds)):
            it = ds[i]
            keys, want = reference_make_cam(net, it['image'], it['label'])
            k, got = load_cam(cams / f"{it['id']}.npz")
            assert k.tolist() == keys.tolist() and np.abs(got - want).max() <= 1e-3
    finally: ref_mod.SCALES = old
    again = wsss('make-cam', '--method', 'cam', '--checkpoint', paths['module'], '--data-root', tiny_voc.parent, '--out', cams,
                 '--scales', '1,0.5', '--device', 'cpu')
    assert again.returncode == 0 and '0 CAM files written, 3 already there' in again.stdout, again.stdout  # resumable
    other = wsss('make-cam', '--method', 'cam', '--checkpoint', paths['module'], '--data-root', tiny_voc.parent, '--out', cams,
                 '--geometry', 'aligned', '--scales', '1', '--device', 'cpu')
    one_line_error(other, '--out', 'other settings', 'geometry')  # no silent mix of two settings in one folder
    ev = wsss('eval-cam', '--cams', cams, '--data-root', tiny_voc, '--json', tmp_path / 'ev.json', '--quiet')
    assert ev.returncode == 0, ev.stderr
    assert 'mIoU at best threshold' in ev.stdout and 'aeroplane' in ev.stdout, ev.stdout
    d = json.loads((tmp_path / 'ev.json').read_text())
    assert d['n_images'] == 3 and 0 <= d['best_miou'] <= 1 and len(d['curve']['miou']) > 10
    labels = tmp_path / 'pseudo'
    mp = wsss('make-pseudo', '--cams', cams, '--data-root', tiny_voc, '--kind', 'threshold', '--out', labels, '--quiet')
    assert mp.returncode == 0 and '3 threshold labels written' in mp.stdout, mp.stderr
    sc = wsss('eval', '--pred', labels, '--gt', tiny_voc / 'SegmentationClass', '--num-classes', 21)
    assert sc.returncode == 0 and 'mIoU' in sc.stdout, sc.stderr

def test_make_cam_reads_a_wsss_model_pt_and_checks_its_method(tmp_path, tiny_voc):
    import torch
    from wsss.method import train_method, RandomDataset
    from wsss.data import VOC_CLASSES
    ds = RandomDataset(4, num_classes=20, size=(48, 64)); ds.class_names = VOC_CLASSES
    train_method('cam', ds, tmp_path / 'train', profile='smoke', device='cpu', progress=False)
    r = wsss('make-cam', '--method', 'cam', '--checkpoint', tmp_path / 'train' / 'model.pt', '--data-root', tiny_voc,
             '--out', tmp_path / 'cams', '--device', 'cpu', '--quiet')
    assert r.returncode == 0 and 'wsss checkpoint, aligned geometry' in r.stdout, r.stdout + r.stderr
    saved = torch.load(tmp_path / 'train' / 'model.pt', weights_only=True)
    saved['method'] = 'sipe'
    torch.save(saved, tmp_path / 'sipe.pt')
    one_line_error(wsss('make-cam', '--method', 'cam', '--checkpoint', tmp_path / 'sipe.pt', '--data-root', tiny_voc, '--out', tmp_path / 'c2'),
                   "--method 'cam'", "method 'sipe'")

def test_stage_commands_bad_input_is_one_line(official, tiny_voc, tmp_path, synthetic):
    import torch
    _, paths = official
    base = ('make-cam', '--method', 'cam', '--data-root', tiny_voc, '--out', tmp_path / 'c', '--device', 'cpu')
    one_line_error(wsss(*base, '--checkpoint', tmp_path / 'none.pth'), 'none.pth', 'not found')
    torch.save({'foo': torch.zeros(2)}, tmp_path / 'other.pth')
    one_line_error(wsss(*base, '--checkpoint', tmp_path / 'other.pth'), 'other.pth', 'IRN res50_cam.pth')
    (tmp_path / 'text.pth').write_text('not a checkpoint')
    one_line_error(wsss(*base, '--checkpoint', tmp_path / 'text.pth'), 'text.pth', 'not a readable PyTorch checkpoint')
    one_line_error(wsss(*base, '--checkpoint', paths['all'], '--split', 'nope'), '--split', "'nope'", 'train')
    one_line_error(wsss(*base, '--checkpoint', paths['all'], '--geometry', 'psa2'), "'psa2'", 'official', 'irn')
    one_line_error(wsss(*base[:2], 'nope', *base[3:], '--checkpoint', paths['all']), "unknown method 'nope'")
    one_line_error(wsss(*base, '--checkpoint', paths['all'], '--scales', '1,-2'), '--scales')
    # a CAM folder of another dataset: ids of another split / dataset, or another class list on record
    syn, _ = synthetic
    foreign = tmp_path / 'foreign'; foreign.mkdir()
    from wsss.cam import save_cam
    import numpy as np
    save_cam(foreign / 'syn_0001.npz', [1], np.zeros((1, 8, 8)))
    for cmd in (('eval-cam',), ('make-pseudo', '--kind', 'threshold', '--out', tmp_path / 'p')):
        one_line_error(wsss(cmd[0], '--cams', foreign, '--data-root', tiny_voc, *cmd[1:]), str(foreign), 'another dataset or split')
    (foreign / 'cams.json').write_text(json.dumps({'class_names': ['a', 'b'], 'data_root': str(syn)}))
    one_line_error(wsss('eval-cam', '--cams', foreign, '--data-root', tiny_voc), 'another dataset', '2 classes')
    one_line_error(wsss('eval-cam', '--cams', tmp_path / 'absent', '--data-root', tiny_voc), '--cams', 'no such directory')

def test_eval_cam_prints_the_classification_scores_of_the_checkpoint(tmp_path, synthetic):
    "With --checkpoint/--method, eval-cam adds cls_map/cls_f1 on the val split: the numbers of wsss.cam.eval_classification."
    from wsss.data import open_dataset
    from wsss.method import train_method, load_trained
    from wsss.cam import eval_classification
    root, _ = synthetic
    train_method('cam', open_dataset('synthetic', root, split='train'), tmp_path / 'train', profile='smoke', device='cpu', progress=False)
    ckpt = tmp_path / 'train' / 'model.pt'
    r = wsss('make-cam', '--method', 'cam', '--checkpoint', ckpt, '--dataset', 'synthetic', '--data-root', root, '--out', tmp_path / 'cams',
             '--device', 'cpu', '--quiet')
    assert r.returncode == 0, r.stderr
    base = ('eval-cam', '--cams', tmp_path / 'cams', '--dataset', 'synthetic', '--data-root', root, '--quiet')
    plain = wsss(*base)
    assert plain.returncode == 0 and 'cls_map' not in plain.stdout, plain.stdout + plain.stderr  # only with a checkpoint
    ev = wsss(*base, '--checkpoint', ckpt, '--method', 'cam', '--json', tmp_path / 'ev.json')
    assert ev.returncode == 0, ev.stderr
    extras = json.loads((tmp_path / 'ev.json').read_text())['extras']
    method, model = load_trained(ckpt)
    want = eval_classification(method, model, open_dataset('synthetic', root, split='val'), device='cpu')
    assert extras['cls_split'] == 'val' and extras['cls_images'] == '2'
    assert abs(extras['cls_map'] - want['cls_map']) < 1e-6 and abs(extras['cls_f1'] - want['cls_f1']) < 1e-6
    for k in ('cls_map', 'cls_f1'):
        line = next(l for l in ev.stdout.splitlines() if l.startswith(k))
        assert line.split()[-1] == f"{100 * extras[k]:.2f}", line
    one_line_error(wsss(*base, '--checkpoint', ckpt), '--checkpoint needs --method')
    one_line_error(wsss(*base, '--checkpoint', ckpt, '--method', 'cam', '--cls-split', 'test'), '--split', "'test'")
