"AuxSegNet: contract, data plumbing (extra maps, saliency), official-checkpoint equivalence, end-to-end runs on real VOC."
import json, shutil, warnings
from pathlib import Path
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from wsss.core import ConfigError, DataError
from wsss.data import SegmentationDataset, train_transform, read_label_png
from wsss.method import check_method

def test_check_method():
    r = check_method('auxsegnet')
    assert r['loss_terms'] == ['cls', 'loss', 'sal', 'sal_ref', 'seg', 'seg_ref'] and r['rounds'] == 2

def test_joint_transform_moves_extra_maps():
    img = np.zeros((30, 40, 3), np.uint8); img[:, :10] = 255  # a bright left strip
    lab = np.zeros((30, 40), np.uint8); lab[:, :10] = 3
    item = dict(id='a', image=img, label=np.ones(2, np.float32), pseudo=lab, prob=lab.astype(np.float32) / 3, other=np.zeros((5, 5)))
    for seed in range(5):
        torch.manual_seed(seed)
        o = train_transform(48, resize_long=None, scale_range=(0.7, 1.3))(item)
        bright, strip = o['image'][0] > 0.07, o['pseudo'] == 3  # 0.07: half-way between the two colours after normalisation
        assert o['pseudo'].dtype == torch.int64 and o['prob'].dtype == torch.float32 and strip.any()
        # the label map follows resizes, crops and flips (up to the one-pixel seam where bilinear and nearest differ)
        assert (bright != strip).sum() <= 48 and ((o['prob'] > 0.5) != strip).sum() <= 48
        assert (o['pseudo'][o['image'].abs().sum(0) == 0] == 255).all()  # padding ignored by default
        assert 'other' not in o  # not the image's size: not spatial
    torch.manual_seed(0)
    o = train_transform(48, resize_long=None, label_fill=0)(item)
    assert (o['pseudo'][o['image'].abs().sum(0) == 0] == 0).all()  # official: padding is background

def _copy_voc(src, dst):
    shutil.copytree(src, dst)
    return dst

def test_missing_saliency_file_names_it(voc_mini, tmp_path):
    root = _copy_voc(voc_mini, tmp_path / 'voc')
    ids = (root / 'ImageSets' / 'Segmentation' / 'train.txt').read_text().split()
    (root / 'Saliency').mkdir()
    for i in ids[1:]: Image.new('L', (4, 4)).save(root / 'Saliency' / f'{i}.png')
    with pytest.raises(DataError, match=f"{ids[0]}.png"):
        SegmentationDataset(root, 'train', saliency=True)
    with pytest.raises(DataError, match='saliency folder does not exist'):
        SegmentationDataset(root, 'train', saliency='NoSuchFolder')

def test_standin_saliency_warns_and_is_recorded(voc_mini):
    with pytest.warns(UserWarning, match='stand-in'):
        ds = SegmentationDataset(voc_mini, 'train', saliency='auto')
    assert ds.saliency_source == 'standin:scda'
    it = ds[0]
    assert it['saliency'].shape == it['image'].shape[:2] and it['saliency'].dtype == np.float32
    assert set(np.unique(it['saliency'])) == {0.0, 1.0}  # SCDA's object mask
    assert np.array_equal(ds[0]['saliency'], it['saliency'])  # the second read comes from the kept map: the same mask
    from wsss.data import standin_saliency
    assert np.array_equal(it['saliency'], standin_saliency(it['image']))
    with pytest.warns(UserWarning, match='spectral_residual'):
        sr = SegmentationDataset(voc_mini, 'train', saliency='standin:spectral_residual')
    assert sr.saliency_source == 'standin:spectral_residual'
    s = sr[0]['saliency']; assert 0 <= s.min() and s.max() <= 1 and s.std() > 0 and len(np.unique(s)) > 2
    with pytest.raises(ConfigError, match="standin:dss"): SegmentationDataset(voc_mini, 'train', saliency='standin:dss')

def test_scda_standin_finds_objects_on_real_photos(voc_mini):
    "On real VOC photos SCDA's mask covers more of the objects than of the background (what AuxSegNet's fusion needs)."
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        ds = SegmentationDataset(voc_mini, 'train', saliency='standin')
    obj = bg = n_obj = n_bg = 0
    for i in range(len(ds)):
        it = ds[i]; m = np.asarray(it['mask']); s = it['saliency'] > 0.5
        obj += int((s & (m > 0) & (m != 255)).sum()); n_obj += int(((m > 0) & (m != 255)).sum())
        bg += int((s & (m == 0)).sum()); n_bg += int((m == 0).sum())
    assert obj / n_obj > 2 * (bg / n_bg)

# ---- official checkpoint equivalence: a reference written from the algorithm, on the official state-dict layout
def _ref_branch(sd, t, x, dil=(6, 12, 18)):
    "The official task branch from its state dict (AuxSegNet.py forward), written out with functional ops."
    conv = lambda x, name, d=1: F.conv2d(x, sd[f'{name}.weight'], sd.get(f'{name}.bias'), padding=d * (sd[f'{name}.weight'].shape[-1] // 2), dilation=d)
    f = F.relu(conv(F.relu(conv(x, f'{t}_conv1', dil[0])), f'{t}_conv2', dil[1]))
    B, Cf, h, w = f.shape
    theta = conv(f, f'{t}_att.theta').view(B, -1, h * w).permute(0, 2, 1)
    phi = conv(f, f'{t}_att.phi').view(B, -1, h * w)
    aff = torch.softmax(theta @ phi, -1)
    g = conv(f, f'{t}_g').view(B, Cf, -1).permute(0, 2, 1)
    f = f + conv((aff @ g).permute(0, 2, 1).reshape(B, Cf, h, w), f'{t}_W')
    return conv(F.relu(conv(f, f'{t}_conv3', dil[2])), f'{t}_conv4'), aff

def _ref_forward(sd, feats):
    cam = F.conv2d(feats, sd['fc8.weight'])
    seg, a_seg = _ref_branch(sd, 'seg', feats)
    sal, a_sal = _ref_branch(sd, 'sal', feats)
    a = torch.stack([a_seg, a_sal], 1)
    w = torch.softmax(F.conv2d(F.relu(F.conv2d(a, sd['cross_att.0.weight'], padding=1)), sd['cross_att.2.weight'], sd['cross_att.2.bias']), 1)
    act = a[:, 0] * w[:, 0] + a[:, 1] * w[:, 1]
    prop = lambda p: (act @ p.flatten(2).permute(0, 2, 1)).permute(0, 2, 1).reshape(p.shape)
    camn = F.relu(cam); camn = camn / (camn.amax((2, 3), keepdim=True) + 1e-5)
    return prop(seg), prop(sal), prop(camn)

def test_official_checkpoint_make_seg_and_make_cam(voc_mini, tmp_path):
    from wsss.methods.auxsegnet import AuxSegNetMethod, ours_to_official_key
    from wsss.cam import make_cams, load_cam
    from wsss.seginfer import make_segmentation, segment_probs, normalize_image
    from wsss.nets import build_backbone
    # a small real VOC image (keeps the ResNet-38d forward short), in a one-image VOC layout
    root = tmp_path / 'voc'
    for d in ('JPEGImages', 'SegmentationClass', 'ImageSets/Segmentation'): (root / d).mkdir(parents=True)
    vid = (voc_mini / 'ImageSets' / 'Segmentation' / 'val.txt').read_text().split()[0]
    img = Image.open(voc_mini / 'JPEGImages' / f'{vid}.jpg').convert('RGB').resize((88, 64), Image.BILINEAR)
    img.save(root / 'JPEGImages' / f'{vid}.jpg', quality=95)
    Image.open(voc_mini / 'SegmentationClass' / f'{vid}.png').resize((88, 64), Image.NEAREST).save(root / 'SegmentationClass' / f'{vid}.png')
    (root / 'ImageSets' / 'Segmentation' / 'val.txt').write_text(vid + '\n')
    ds = SegmentationDataset(root, 'val')
    image = ds[0]['image']
    # an "official" AuxSegNet_final.pth: random weights in the official key layout, unused NLBlockND parts included
    torch.manual_seed(0)
    m = AuxSegNetMethod(profile='paper', weights='random')
    assert m.cfg.backbone == 'resnet38d'
    net = m.build_model(20, weights='random')
    with torch.no_grad():
        for p in net.parameters(): p.add_(torch.randn_like(p) * 0.02)  # non-trivial biases too
    sd = {ours_to_official_key(k): v for k, v in net.state_dict().items()}
    for t in ('seg', 'sal'):
        sd[f'{t}_att.g.weight'] = torch.randn(128, 128, 1, 1); sd[f'{t}_att.g.bias'] = torch.randn(128)
        sd[f'{t}_att.W_z.0.weight'] = torch.randn(128, 128, 1, 1); sd[f'{t}_att.W_z.0.bias'] = torch.randn(128)
        for k in ('weight', 'bias', 'running_mean', 'running_var'): sd[f'{t}_att.W_z.1.{k}'] = torch.rand(128)
        sd[f'{t}_att.W_z.1.num_batches_tracked'] = torch.tensor(0)
    assert 'conv1a.weight' in sd and 'seg_conv1.weight' in sd and 'cross_att.2.bias' in sd and 'seg_att.theta.weight' in sd
    ckpt = tmp_path / 'AuxSegNet_final.pth'
    torch.save(sd, ckpt)
    del net
    model = AuxSegNetMethod(profile='paper').load_official_checkpoint(ckpt, 20)
    method = AuxSegNetMethod(profile='paper')
    # reference: the ResNet-38d features (sccam's backbone, tested against PSA separately) + the heads written out above
    bb = build_backbone('resnet38d', 'random').eval()
    bb.load_state_dict({k: v for k, v in sd.items() if k in bb.state_dict()})
    x = normalize_image(image)[None]
    H, W = x.shape[-2:]
    with torch.no_grad():
        seg_ref, _, cam_ref = _ref_forward(sd, bb(x))
        prob_ref = torch.softmax(F.interpolate(seg_ref, (H, W), mode='bilinear', align_corners=False), 1)[0]
        cam_up = F.interpolate(cam_ref, (H, W), mode='bilinear', align_corners=False)[0]
        ours = segment_probs(method.segmentation_model(model), x, scales=(1.0,), flip=False)[0]
    print(f"official make-seg: max |softmax diff| = {(prob_ref - ours).abs().max().item():.2e}")
    assert (prob_ref - ours).abs().max() <= 1e-3
    st = make_segmentation(method, model, ds, tmp_path / 'seg', scales=(1.0,), flip=False, device='cpu', progress=False)
    pred = read_label_png(tmp_path / 'seg' / f'{vid}.png')
    top2 = prob_ref.topk(2, 0).values
    sure = (top2[0] - top2[1]) > 1e-3
    assert np.array_equal(pred[sure.numpy()], prob_ref.argmax(0).numpy()[sure.numpy()])
    # make-cam with the official geometry: the A_CT-propagated CAM, max-normalised over the present classes
    make_cams(method, model, ds, tmp_path / 'cams', geometry='official', device='cpu', progress=False, workers=0)
    keys, cam = load_cam(tmp_path / 'cams' / f'{vid}.npz')
    ref = cam_up[keys - 1].clamp_min(0)
    ref = ref / (ref.amax((1, 2), keepdim=True) + 1e-5)
    print(f"official make-cam: max |CAM diff| = {np.abs(cam - ref.numpy()).max():.2e} (float16 file)")
    assert np.abs(cam - ref.numpy()).max() <= 1e-3 + 1e-3  # float16 storage (<= 5e-4 on [0, 1]) aside
    # and a wrong file is refused naming it
    bad = tmp_path / 'bad.pth'; torch.save({'fc8.weight': torch.zeros(20, 4096, 1, 1)}, bad)
    from wsss.core import WeightsError
    with pytest.raises(WeightsError, match='bad.pth'): AuxSegNetMethod(profile='paper').load_official_checkpoint(bad, 20)

# ---- end to end on real VOC: the stand-in saliency, and a folder of saliency maps
def _reproduce(root, out, *extra):
    from wsss.cli import main
    rc = main(['reproduce', '--dataset', 'voc', '--data-root', str(root), '--profile', 'smoke', '--methods', 'auxsegnet',
               '--out', str(out), '--figures', str(out / 'figures'), '--quiet', *extra])
    assert rc == 0
    return json.loads((out / 'voc' / 'smoke' / 'results.json').read_text())['methods']['auxsegnet']

def test_reproduce_voc_smoke_standin(voc_mini, tmp_path):
    r = _reproduce(voc_mini, tmp_path / 'runs')
    assert r['saliency_source'] == 'standin:scda' and 0 <= r['cam_miou'] <= 1
    assert 'stand-in saliency' in (tmp_path / 'runs' / 'figures' / 'results_voc_smoke.md').read_text()
    assert (tmp_path / 'runs' / 'figures' / 'auxsegnet_steps_voc_smoke.png').is_file()

def test_reproduce_voc_smoke_saliency_root(voc_mini, tmp_path):
    sal = tmp_path / 'dss'; sal.mkdir()
    for i in (voc_mini / 'ImageSets' / 'Segmentation' / 'train.txt').read_text().split():
        m = np.array(Image.open(voc_mini / 'SegmentationClass' / f'{i}.png'))
        Image.fromarray(((m > 0) & (m < 255)).astype(np.uint8) * 255, mode='L').save(sal / f'{i}.png')  # a perfect "detector"
    r = _reproduce(voc_mini, tmp_path / 'runs', '--saliency-root', str(sal))
    assert r['saliency_source'] == f'files:{sal.resolve()}'
    train = tmp_path / 'runs' / 'voc' / 'smoke' / 'auxsegnet' / 'train'
    assert sorted(p.name for p in (train / 'round1' / 'pgt' / 'sal').glob('*.png'))  # step 1 regenerated the saliency

def test_make_seg_cli_on_trained_model(tmp_path):
    from wsss.cli import main
    from wsss.data import make_synthetic
    from wsss.method import train_method
    from wsss.methods.auxsegnet import AuxSegNetConfig
    root = make_synthetic(tmp_path / 'syn', seed=0, profile='smoke')
    ds = SegmentationDataset(root, 'train', saliency=True)
    train_method('auxsegnet', ds, tmp_path / 'train', AuxSegNetConfig.for_profile('smoke', rounds=1), device='cpu', progress=False)
    rc = main(['make-seg', '--method', 'auxsegnet', '--checkpoint', str(tmp_path / 'train'), '--dataset', 'synthetic', '--data-root', str(root),
               '--split', 'val', '--out', str(tmp_path / 'seg'), '--geometry', 'aligned', '--scales', '1,0.5', '--eval'])
    assert rc == 0 and len(list((tmp_path / 'seg').glob('*.png'))) == len(SegmentationDataset(root, 'val'))
    assert main(['make-seg', '--method', 'cam', '--checkpoint', str(tmp_path / 'nothing.pth'), '--data-root', str(root), '--dataset', 'synthetic',
                 '--out', str(tmp_path / 'x')]) == 2  # missing file: a clear error, exit status 2

def test_init_cam_from_a_wrong_psa_file_names_it(tmp_path):
    from wsss.core import WeightsError
    from wsss.methods.auxsegnet import AuxSegNetMethod
    m = AuxSegNetMethod(profile='smoke')
    with pytest.raises(WeightsError, match='missing.pth'): m._psa_classifier(tmp_path / 'missing.pth', 20)
    bad = tmp_path / 'res38_cls.pth'; torch.save({'fc8.weight': torch.zeros(3, 4096, 1, 1)}, bad)
    with pytest.raises(WeightsError, match='res38_cls.pth'): m._psa_classifier(bad, 20)

def test_step0_classifier_adopted_from_the_reproductions_cam_run(tmp_path):
    "Under `wsss reproduce`, AuxSegNet's step-0 classifier is the `cam` run's model.pt when data and seed match, else trained."
    from types import SimpleNamespace
    from wsss.core import write_json
    from wsss.methods.auxsegnet import _adopt_reproduced_cam
    runs, data = tmp_path/'runs'/'synthetic'/'quick', tmp_path/'data'
    data.mkdir(parents=True)
    (runs/'cam'/'train').mkdir(parents=True); (runs/'cam'/'train'/'model.pt').write_bytes(b'cam weights')
    write_json(runs/'cam'/'run.json', dict(params=dict(data_root=str(data)), seed=0))
    ctx = lambda seed, root: SimpleNamespace(out_dir=runs/'auxsegnet'/'train', seed=seed, dataset=SimpleNamespace(root=root))
    for seed, root in ((1, data), (0, tmp_path)):  # another seed or another dataset: nothing copied
        init = tmp_path/f'init_{seed}'
        assert not _adopt_reproduced_cam(ctx(seed, root), init) and not init.exists()
    init = runs/'auxsegnet'/'train'/'init_cam'
    assert _adopt_reproduced_cam(ctx(0, data), init) and (init/'model.pt').read_bytes() == b'cam weights'

def test_step0_cams_reused_from_the_cam_run_only_when_they_are_the_same(tmp_path):
    "The step-0 CAM files are copied from the `cam` run when its model.pt is ours byte for byte and its CAM settings ours."
    import os, time
    from types import SimpleNamespace
    from wsss.core import write_json
    from wsss.methods.auxsegnet import _reuse_cam_run_cams
    from wsss.methods.cam import CamMethod
    runs, data = tmp_path/'runs'/'synthetic'/'quick', tmp_path/'data'
    data.mkdir(parents=True); (runs/'cam'/'train').mkdir(parents=True); (runs/'cam'/'cams').mkdir()
    cfg = CamMethod.Config.for_profile('smoke')
    torch.save(dict(config=cfg.to_dict(), weights='w'), runs/'cam'/'train'/'model.pt')
    write_json(runs/'cam'/'run.json', dict(params=dict(data_root=str(data)), seed=0))
    old = runs/'cam'/'cams'/'old.npz'; old.write_bytes(b'before the model')
    past = time.time() - 100; os.utime(old, (past, past))  # written for an earlier model: never copied
    for i in ('a', 'b'): (runs/'cam'/'cams'/f'{i}.npz').write_bytes(i.encode())
    init = runs/'auxsegnet'/'train'/'init_cam'; init.mkdir(parents=True)
    ctx = SimpleNamespace(out_dir=runs/'auxsegnet'/'train', seed=0, dataset=SimpleNamespace(root=data))
    out = init/'cams'
    assert _reuse_cam_run_cams(ctx, CamMethod(cfg), out) == 0 and not out.exists()  # no step-0 model yet
    (init/'model.pt').write_bytes((runs/'cam'/'train'/'model.pt').read_bytes())
    assert _reuse_cam_run_cams(ctx, CamMethod(cfg.replace(cam_scales=(1.0, 0.5))), out) == 0  # other CAM settings
    assert _reuse_cam_run_cams(ctx, CamMethod(cfg), out) == 2 and sorted(p.name for p in out.iterdir()) == ['a.npz', 'b.npz']
    assert (out/'a.npz').read_bytes() == b'a'
    (out/'a.npz').write_bytes(b'mine'); assert _reuse_cam_run_cams(ctx, CamMethod(cfg), out) == 0 and (out/'a.npz').read_bytes() == b'mine'
    (init/'model.pt').write_bytes(b'retrained'); shutil_out = tmp_path/'other'
    assert _reuse_cam_run_cams(ctx, CamMethod(cfg), shutil_out) == 0  # a different classifier: its own CAMs
