"SIPE end to end: contract, official checkpoints (load, equivalence with a reference written from the algorithm, bad files), VOC and COCO smoke runs."
import json, shutil, subprocess, sys
from pathlib import Path
import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from PIL import Image
from wsss.cam import load_cam, make_cams
from wsss.core import WeightsError
from wsss.data import IMAGENET_MEAN, IMAGENET_STD, SegmentationDataset, read_label_png, write_label_png
from wsss.method import check_method
from wsss.methods.sipe import SipeMethod, SipeNet, to_official_state_dict

WSSS = [sys.executable, '-c', 'import sys; from wsss.cli import main; sys.exit(main())']

def wsss(*args, timeout=900):
    return subprocess.run([*WSSS, *map(str, args)], capture_output=True, text=True, timeout=timeout)

def test_check_method():
    r = check_method('sipe')
    assert r['has_background'] and r['cam_shape'][1] == 4 and r['loss_terms'] == ['cls', 'gsc', 'loss']

# ---- official checkpoints -------------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def small_voc(voc_mini, tmp_path_factory):
    return _small_voc(voc_mini, tmp_path_factory.mktemp('voc_small'), ['2007_002227', '2007_004481'])

@pytest.fixture(scope='module')
def official(small_voc, tmp_path_factory):
    """An official-layout `final.pth` ({'net': Net.state_dict()} with every alias) holding seeded random weights; the
    classifier rows are non-negative and zero for classes absent from the test images, so that present classes win seeds."""
    d = tmp_path_factory.mktemp('sipe_official')
    present = SegmentationDataset(small_voc, 'train').labels.max(0) > 0
    torch.manual_seed(0)
    net = SipeNet(20, 'resnet50', 'random')
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # tame random BN statistics, so that the maps are not degenerate
        for name, t in net.state_dict().items():
            if name.endswith('running_mean'): t.copy_(0.1 * torch.randn(t.shape, generator=g))
            elif name.endswith('running_var'): t.copy_(0.5 + torch.rand(t.shape, generator=g))
            elif 'bn' in name and name.endswith('weight') or 'downsample.1.weight' in name: t.copy_(0.2 + 0.3 * torch.rand(t.shape, generator=g))
        w = net.classifier.weight
        w.abs_()  # non-negative rows on ReLU features: broad class maps, so that classes win seeds against the background
        w[torch.as_tensor(~present)] = 0
    sd = to_official_state_dict(net)
    torch.save({'net': sd}, d / 'final.pth')
    return d / 'final.pth', sd

def _small_voc(src:Path, dst:Path, ids, long_side:int=96) -> Path:
    "A VOC-layout copy of real fixture images `ids`, downscaled (long side `long_side`) so ResNet-50 runs fast on CPU."
    root = dst / 'VOCdevkit' / 'VOC2012'
    for sub in ('JPEGImages', 'SegmentationClass', 'ImageSets/Segmentation'): (root / sub).mkdir(parents=True, exist_ok=True)
    for i in ids:
        im = Image.open(src / 'JPEGImages' / f'{i}.jpg').convert('RGB')
        s = long_side / max(im.size); size = (round(im.size[0] * s), round(im.size[1] * s))
        im.resize(size, Image.BICUBIC).save(root / 'JPEGImages' / f'{i}.jpg', quality=95)
        m = read_label_png(src / 'SegmentationClass' / f'{i}.png')
        write_label_png(root / 'SegmentationClass' / f'{i}.png', np.asarray(Image.fromarray(m).resize(size, Image.NEAREST)))
    (root / 'ImageSets' / 'Segmentation' / 'train.txt').write_text('\n'.join(ids) + '\n')
    return root

class Reference:
    "SIPE inference written from the algorithm, straight from the official keys: torchvision ResNet-50 + side convs + classifier."
    def __init__(self, sd):
        r = torchvision.models.resnet50(weights=None)
        r.layer4[0].conv2.stride = (1, 1); r.layer4[0].downsample[0].stride = (1, 1)  # strides (2, 2, 2, 1)
        missing, unexpected = r.load_state_dict({k[len('resnet50.'):]: v for k, v in sd.items() if k.startswith('resnet50.')}, strict=False)
        assert sorted(missing) == ['fc.bias', 'fc.weight'] and not unexpected
        self.r, self.sides, self.cls = r.eval(), [sd[f'side{i}.weight'] for i in range(1, 5)], sd['classifier.weight']

    def features(self, x):
        r = self.r
        x1 = r.layer1(r.maxpool(r.relu(r.bn1(r.conv1(x))))); x2 = r.layer2(x1); x3 = r.layer3(x2); x4 = r.layer4(x3)
        sides = [F.conv2d(f, w) for f, w in zip((x1, x2, x3, x4), self.sides)]
        hie = torch.cat([F.interpolate(s / (torch.norm(s, dim=1, keepdim=True) + 1e-5), sides[2].shape[2:], mode='bilinear', align_corners=False)
                         for s in sides], 1)
        return F.conv2d(x4, self.cls), hie

    def is_cam(self, image, label, scales=(1.0, 0.5, 1.5, 2.0)):
        "keys and max-normalised IS-CAM of one uint8 image, as make_cam.py: one image, each scale with its flip."
        H, W = image.shape[:2]
        lab = torch.cat([torch.ones(1), torch.as_tensor(label, dtype=torch.float32)])
        total = 0
        for s in scales:
            im = image if s == 1 else np.asarray(Image.fromarray(image).resize((int(np.round(W * s)), int(np.round(H * s))), Image.BICUBIC))
            x = torch.from_numpy(((im / 255. - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)).astype(np.float32).transpose(2, 0, 1))[None]
            cam, hie = self.features(torch.cat([x, x.flip(-1)]))
            cam, hie = cam[0] + cam[1].flip(-1), hie[0] + hie[1].flip(-1)
            m = F.relu(cam); m = m / (m.amax((1, 2), keepdim=True) + 1e-5)
            M = torch.cat([1 - m.max(0, keepdim=True)[0], m])  # K x h x w
            K, h, w = M.shape
            f = hie.reshape(hie.shape[0], -1); f = f / (f.norm(dim=0, keepdim=True) + 1e-5)
            S = F.relu(f.T @ f)  # HW x HW structure maps
            Mf = M.reshape(K, 1, h * w)
            inter = (S[None] * Mf).sum(-1)  # K x HW x HW product, then the sum over j
            iou = inter / (S.sum(-1)[None] + Mf.sum(-1) - inter)
            iou[0] = iou[0] * 0.5
            seeds = F.one_hot(iou.argmax(0), K).T.reshape(K, h, w).float() * lab[:, None, None]
            protos = (seeds[:, None] * hie[None]).mean((2, 3))  # K x D: average over the whole map
            sim = F.relu(F.cosine_similarity(hie[None], protos[:, :, None, None], dim=1))
            total = total + F.interpolate(sim[None], (H, W), mode='bilinear', align_corners=False)[0]
        total = total / (total.amax((1, 2), keepdim=True) + 1e-5)
        keys = np.flatnonzero(lab.numpy() > 0.5)
        return keys, total[torch.as_tensor(keys)].numpy()

def _check_equal_to_reference(cam_dir, ds, sd, method=None, model=None):
    "max |diff| of the CAM files (float16) against the reference, and of the float32 geometry output when `model` is given."
    from wsss.cam import GEOMETRIES, normalize_cam
    ref, worst, worst32 = Reference(sd), 0.0, 0.0
    with torch.no_grad():
        for i in range(len(ds)):
            it = ds[i]
            keys, cam = load_cam(cam_dir / f"{it['id']}.npz")
            rk, rc = ref.is_cam(it['image'], it['label'])
            assert keys.tolist() == rk.tolist() and cam.shape == rc.shape
            assert rc[1:].max() > 0.99 and rc.std() > 0.05  # non-degenerate maps: the comparison can fail
            worst = max(worst, float(np.abs(cam - rc).max()))
            if model is not None:
                _, c32 = normalize_cam(GEOMETRIES['sipe'](method, model, it['image'], (1.0, 0.5, 1.5, 2.0), True, 'cpu'), it['label'], has_background=True)
                worst32 = max(worst32, float(np.abs(c32.numpy() - rc).max()))
    assert worst <= 1e-3 and worst32 <= 1e-4, f"max |wsss - reference| = {worst} (files), {worst32} (float32)"
    return worst, worst32

def test_official_checkpoint_equals_reference(official, small_voc, tmp_path):
    "wsss make-cam --method sipe --checkpoint final.pth --geometry official == the reference, on 2 real VOC images."
    path, sd = official
    r = wsss('make-cam', '--method', 'sipe', '--checkpoint', path, '--data-root', small_voc, '--out', tmp_path / 'cams',
             '--geometry', 'official', '--device', 'cpu', '--quiet')
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    m = SipeMethod(profile='paper', weights='random')
    model = m.load_official_checkpoint(path, 20)
    assert not model.training and isinstance(model, SipeNet)
    ds = SegmentationDataset(small_voc, 'train')
    worst, worst32 = _check_equal_to_reference(tmp_path / 'cams', ds, sd, m, model)
    print(f"official geometry vs reference: max |diff| = {worst:.2e} (float16 CAM files), {worst32:.2e} (float32)")

def test_bad_checkpoint_names_the_file(tmp_path):
    m = SipeMethod(profile='paper', weights='random')
    p = tmp_path / 'wrong_keys.pth'
    torch.save({'net': {'encoder.conv.weight': torch.zeros(3), 'head.weight': torch.zeros(1)}}, p)
    with pytest.raises(WeightsError, match='wrong_keys.pth') as e: m.load_official_checkpoint(p, 20)
    assert "'net'" in str(e.value) and 'unknown keys' in str(e.value)
    (tmp_path / 'garbage.pth').write_bytes(b'not a checkpoint')
    with pytest.raises(WeightsError, match='garbage.pth'): m.load_official_checkpoint(tmp_path / 'garbage.pth', 20)
    with pytest.raises(WeightsError, match='missing.pth'): m.load_official_checkpoint(tmp_path / 'missing.pth', 20)

def test_make_cam_with_a_bad_checkpoint_names_the_file(small_voc, tmp_path):
    p = tmp_path / 'not_sipe.pth'
    torch.save({'net': {'encoder.conv.weight': torch.zeros(3)}}, p)
    r = wsss('make-cam', '--method', 'sipe', '--checkpoint', p, '--data-root', small_voc, '--out', tmp_path / 'cams', '--device', 'cpu')
    assert r.returncode != 0 and 'not_sipe.pth' in r.stderr and 'Traceback' not in r.stderr, r.stderr[-2000:]

def test_checkpoint_with_other_class_count_is_refused(official):
    with pytest.raises(WeightsError, match='shape mismatch'): SipeMethod(profile='paper', weights='random').load_official_checkpoint(official[0], 80)

# ---- smoke runs on real data ------------------------------------------------------------------------------------

def test_voc_smoke_reproduce(voc_mini, tmp_path):
    data_root = voc_mini.parents[1]  # the folder holding VOCdevkit
    r = wsss('reproduce', '--dataset', 'voc', '--data-root', data_root, '--profile', 'smoke', '--methods', 'sipe', '--device', 'cpu',
             '--out', tmp_path / 'runs', '--figures', tmp_path / 'figs')
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    res = json.loads((tmp_path / 'runs' / 'voc' / 'smoke' / 'results.json').read_text())['methods']['sipe']
    assert all(0 <= res[k] <= 1 for k in ('cam_miou', 'pseudo_miou', 'pseudo_crf_miou'))
    assert any(p.name.startswith('sipe_mechanism_voc_smoke') for p in (tmp_path / 'figs').iterdir())

def test_coco_smoke_81_labels(coco_mini, tmp_path):
    "The 81-label COCO setup through wsss.data's reader (labels derived from the instances): train, IS-CAMs, scores."
    from wsss.cam import eval_cams
    from wsss.data import COCOSegmentation
    from wsss.method import train_method
    ds = COCOSegmentation(coco_mini / 'val2017', coco_mini / 'annotations' / 'test_coco.json')
    assert ds.num_classes == 81 and len(ds.class_names) == 80
    m = SipeMethod(profile='smoke')
    res = train_method(m, ds, tmp_path / 'train', device='cpu', progress=False)
    make_cams(m, res['model'], ds, tmp_path / 'cams', scales=m.cfg.cam_scales, flip=m.cfg.cam_flip, device='cpu', progress=False, workers=0)
    keys, cam = load_cam(tmp_path / 'cams' / f'{ds.ids[0]}.npz')
    assert keys[0] == 0 and set(keys[1:]) == set(np.flatnonzero(ds[0]['label']) + 1) and cam.shape[1:] == ds[0]['image'].shape[:2]
    ev = eval_cams(tmp_path / 'cams', ds)
    assert ev['has_background'] and len(ev['iou']) == 81 and 0 <= ev['best_miou'] <= 1
