"SC-CAM: contract, official checkpoint formats (SC-CAM and PSA), the official (PSA) geometry on real VOC images, clustering, VOC smoke."
import json, subprocess, sys
import numpy as np
import pytest, torch
import torch.nn.functional as F
from PIL import Image
from wsss.core import WeightsError
from wsss.method import check_method, get_method
from wsss.cam import make_cams, load_cam
from wsss.data import SegmentationDataset
from wsss.methods.sccam import (SCCamMethod, SubCategoryNet, cluster_subcategories, subcategory_labels, to_official_state_dict,
                                load_sccam_checkpoint)

WSSS = [sys.executable, '-c', 'import sys; from wsss.cli import main; sys.exit(main())']


def test_check_method():
    rep = check_method('sccam')
    assert rep['rounds'] == 2 and rep['cam_shape'][1] == 3


@pytest.fixture(scope='module')
def r38():
    torch.manual_seed(0)
    net = SubCategoryNet(20, 10, 'resnet38d', 'random')
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):  # non-trivial statistics, so a mix-up would show
            m.running_mean.uniform_(-0.1, 0.1); m.running_var.uniform_(0.5, 1.5)
    return net.eval()


def psa_keys_of(net):
    "The official keys written by hand: PSA's ResNet-38d names at the top level + the heads."
    return {k[len('backbone.'):] for k in net.state_dict() if k.startswith('backbone.') and not k.endswith('num_batches_tracked')}


def test_official_sccam_and_psa_checkpoints_load(tmp_path, r38):
    sd = to_official_state_dict(r38)
    assert set(sd) == psa_keys_of(r38) | {'fc8_20.weight', 'fc8_200.weight'} and sd['fc8_200.weight'].shape == (200, 4096, 1, 1)
    torch.save(sd, tmp_path / 'k10_R3_resnet_cls_ep50.pth')
    m = SCCamMethod(profile='quick')  # the profile's backbone does not matter: official files are ResNet-38d
    net = m.load_official_checkpoint(tmp_path / 'k10_R3_resnet_cls_ep50.pth', 20)
    assert not net.training and net.k_clusters == 10
    x = torch.randn(1, 3, 40, 48)
    with torch.no_grad():
        assert torch.equal(net.cam(x), r38.cam(x)) and torch.equal(net.sub_cam(x), r38.sub_cam(x))
    # PSA's res38_cls.pth: the same backbone keys + fc8 (saved by torch 0.x: no num_batches_tracked), under DataParallel
    psa = {f'module.{k}': v for k, v in sd.items() if not k.startswith('fc8')}
    psa['module.fc8.weight'] = sd['fc8_20.weight']
    torch.save(psa, tmp_path / 'res38_cls.pth')
    net0 = m.load_official_checkpoint(tmp_path / 'res38_cls.pth', 20)
    assert net0.sub_classifier is None
    with torch.no_grad(): assert torch.equal(net0.cam(x), r38.cam(x))


def test_bad_checkpoints_name_the_file(tmp_path, r38):
    m = SCCamMethod(profile='quick')
    (tmp_path / 'garbage.pth').write_bytes(b'not a checkpoint')
    with pytest.raises(WeightsError, match='garbage.pth'): m.load_official_checkpoint(tmp_path / 'garbage.pth', 20)
    sd = to_official_state_dict(r38); del sd['b5_1.conv_branch2a.weight']
    torch.save(sd, tmp_path / 'cut.pth')
    with pytest.raises(WeightsError, match=r'cut\.pth.*b5_1\.conv_branch2a'): m.load_official_checkpoint(tmp_path / 'cut.pth', 20)
    torch.save({'conv1a.weight': torch.zeros(64, 3, 3, 3)}, tmp_path / 'nohead.pth')
    with pytest.raises(WeightsError, match=r'nohead\.pth.*fc8_20'): m.load_official_checkpoint(tmp_path / 'nohead.pth', 20)
    sd = to_official_state_dict(r38); torch.save(sd, tmp_path / 'voc.pth')
    with pytest.raises(WeightsError, match=r'voc\.pth.*20 classes'): m.load_official_checkpoint(tmp_path / 'voc.pth', 6)
    with pytest.raises(WeightsError, match='missing.pth'): m.load_official_checkpoint(tmp_path / 'missing.pth', 20)


class SmallVOC:
    "Two real VOC images of the fixture, downsized (ResNet-38d at scales up to 2 on a CPU is slow at 500 px)."
    def __init__(self, root, n=2, long=72):
        ds = SegmentationDataset(root, 'train')
        self.ids, self.class_names, self.items = [], ds.class_names, []
        for i in range(n):
            it = ds[i]
            h, w = it['image'].shape[:2]; s = long / max(h, w)
            img = np.asarray(Image.fromarray(it['image']).resize((round(w * s) | 1, round(h * s)), Image.BILINEAR))  # odd width
            self.items.append(dict(id=it['id'], image=img, label=it['label'])); self.ids.append(it['id'])
    def __len__(self): return len(self.items)
    def __getitem__(self, i): return dict(self.items[i])


def psa_reference(net, image, label, scales=(1, 0.5, 1.5, 2.0)):
    "PSA/SC-CAM infer_cls.py written from the algorithm: PIL CUBIC rescale, Normalize, each image alone, upsample, flip back, sum, x label, max-norm."
    H, W = image.shape[:2]
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    cams = []
    for s in scales:
        im = Image.fromarray(image).resize((round(W * s), round(H * s)), resample=Image.BICUBIC)  # PSA: PIL.Image.CUBIC, the old alias of BICUBIC
        a = np.empty(np.asarray(im).shape, np.float32)
        for c in range(3): a[..., c] = (np.asarray(im)[..., c] / 255. - mean[c]) / std[c]
        chw = a.transpose(2, 0, 1)
        for flipped in (False, True):
            x = torch.from_numpy(np.flip(chw, -1).copy() if flipped else chw.copy())[None]
            with torch.no_grad(): m = F.interpolate(net.cam(x), (H, W), mode='bilinear', align_corners=False)[0].numpy()
            m = m * label.reshape(-1, 1, 1)
            cams.append(np.flip(m, -1) if flipped else m)
    total = np.sum(cams, axis=0)
    norm = total / (np.max(total, (1, 2), keepdims=True) + 1e-5)
    return np.flatnonzero(label) + 1, norm[label > 0]


def test_official_geometry_equals_psa_inference_on_real_voc_images(tmp_path, voc_mini, r38):
    ds = SmallVOC(voc_mini)
    m = SCCamMethod(profile='paper')
    assert m.official_geometry == 'psa'
    make_cams(m, r38, ds, tmp_path / 'cams', scales=m.cfg.cam_scales, flip=True, device='cpu', progress=False, workers=0, geometry='official')
    worst = 0.0
    for it in ds.items:
        keys, cam = load_cam(tmp_path / 'cams' / f"{it['id']}.npz")
        rk, ref = psa_reference(r38, it['image'], it['label'])
        assert np.array_equal(keys, rk) and cam.shape == ref.shape == (len(rk), *it['image'].shape[:2])
        worst = max(worst, float(np.abs(cam - ref).max()))
    print(f'official geometry vs PSA reference: max |diff| {worst:.2e}')
    assert worst <= 1e-3, worst


def test_clustering_does_not_depend_on_image_order_or_count():
    rng = np.random.default_rng(0)
    N, C, K = 120, 4, 5
    feats = rng.normal(size=(N, 16)).astype(np.float32) + rng.integers(0, 4, N)[:, None] * 3
    labels = (rng.random((N, C)) < 0.4).astype(np.float32); labels[np.arange(N), rng.integers(0, C, N)] = 1
    ids = [f'{2008 + i % 5}_{i:06d}' for i in rng.permutation(N)]
    a = cluster_subcategories(feats, labels, ids, k=K)
    for seed in (1, 2):
        p = np.random.default_rng(seed).permutation(N)
        assert np.array_equal(cluster_subcategories(feats[p], labels[p], [ids[i] for i in p], k=K), a[p])
    z = subcategory_labels(a, K)
    assert np.array_equal(z.reshape(N, C, K).sum(2), labels)  # one sub-category per present class
    sub = cluster_subcategories(feats[:37], labels[:37], ids[:37], k=K)  # another count works (the official files break)
    assert ((sub >= 0) == (labels[:37] > 0)).all()


def test_voc_smoke_reproduce(tmp_path, voc_mini):
    r = subprocess.run([*WSSS, 'reproduce', '--dataset', 'voc', '--data-root', str(voc_mini), '--profile', 'smoke', '--methods', 'sccam',
                        '--device', 'cpu', '--out', str(tmp_path / 'runs'), '--figures', str(tmp_path / 'figs')],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    res = json.loads((tmp_path / 'runs' / 'voc' / 'smoke' / 'results.json').read_text())
    assert 0 <= res['methods']['sccam']['cam_miou'] <= 1
    run = tmp_path / 'runs' / 'voc' / 'smoke' / 'sccam'
    z = np.load(run / 'train' / 'round1' / 'subcategories.npz')
    assert z['assign'].shape[1] == 20 and ((z['assign'] >= 0) == (z['assign'] >= 0)).all()
    assert (tmp_path / 'figs' / 'sccam_rounds_voc_smoke.png').is_file() and (tmp_path / 'figs' / 'sccam_subcategories_voc_smoke.png').is_file()
    # the round scores of the report: the last round's network made the stage's CAM files, so it is scored from them
    from wsss.cam import eval_cams, save_cam, load_cam
    from wsss.method import load_trained
    from wsss.methods.sccam import round_cam_scores
    from wsss.repro import stage_data
    spec = load_trained(run / 'train')[0]
    ds = stage_data('voc', voc_mini, 'smoke', purpose='cam').dataset  # the report's images
    cached = json.loads((run / 'train' / 'round_cam_scores.json').read_text())['rounds']
    n = cached[-1]['n_images']
    for k in range(n):  # CAM files that are the ground truth itself: read from them, the last round scores near 100
        i, mask = ds.ids[k], np.asarray(ds[k]['mask'])
        keys, cam = load_cam(run / 'cams' / f'{i}.npz')
        save_cam(run / 'cams' / f'{i}.npz', keys, np.stack([(mask == c).astype(np.float32) for c in keys]))
    (run / 'train' / 'round_cam_scores.json').unlink()
    again = round_cam_scores(spec, run, ds)
    assert [r['cam_miou'] for r in again[:-1]] == [r['cam_miou'] for r in cached[:-1]]  # recomputed from the same networks
    assert cached[-1]['cam_miou'] < 0.5 < 0.9 < again[-1]['cam_miou']
