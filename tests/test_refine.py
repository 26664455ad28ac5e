"wsss.refine: the walk on a hand-checkable case, sparse == dense, official checkpoint formats, bad inputs."
from pathlib import Path
import numpy as np
import pytest
import torch
from wsss.core import DataError, WeightsError
from wsss.data import write_label_png, read_label_png
from wsss.cam import save_cam
from wsss.method import RandomDataset
from wsss.refine import (BoundaryNet, LabelFolder, RefineConfig, load_relation_net, make_sem_seg_labels, path_affinity,
                         feature_affinity, psa_border_mask, random_walk, refine_cam, train_relation_net)

def test_boundary_separates_regions():
    B = torch.zeros(10, 14); B[:, 7] = 1
    x = torch.zeros(2, 10, 14); x[0, 2, 1] = 1; x[1, 8, 12] = 1
    rw = random_walk(x * (1 - B), path_affinity(B, 5), 5, 10, 8)
    assert (rw[1, :, :7] == 0).all() and (rw[0, :, 8:] == 0).all()
    assert (rw[0, :, :7] > 0).all() and (rw[1, :, 8:] > 0).all()
    # without the wall both labels reach both sides
    rw2 = random_walk(x, path_affinity(torch.zeros(10, 14), 5), 5, 10, 8)
    assert (rw2 > 0).all()

def test_refine_cam_keeps_labels_apart():
    "Full IRN rule on an image: two classes whose regions a boundary separates never swap labels."
    class FixedBoundary(torch.nn.Module):
        kind = 'irn'
        def forward(self, x):  # boundary logit +20 on white pixels, -20 elsewhere (follows the flip)
            return torch.where(x[:, :1, ::4, ::4] > 0, 20.0, -20.0)
    img = np.zeros((40, 64, 3), np.uint8); img[:, 32:36] = 255  # a white wall: grid column 8
    cam = np.zeros((2, 40, 64), np.float32); cam[0, 16:24, 4:12] = 1; cam[1, 16:24, 44:52] = 1
    lab = refine_cam(FixedBoundary(), img, cam, np.array([3, 5]), RefineConfig.for_profile('smoke', 'irn', logt=8))
    assert set(np.unique(lab[:, :32])) <= {0, 3} and set(np.unique(lab[:, 36:])) <= {0, 5}
    assert (lab[:, :32] == 3).mean() > 0.5 and (lab[:, 36:] == 5).mean() > 0.5

@pytest.mark.parametrize('beta,logt', [(10, 8), (8, 5)])
def test_sparse_equals_dense(beta, logt):
    g = torch.Generator().manual_seed(1)
    B, x = torch.rand(9, 12, generator=g) ** 2, torch.rand(4, 9, 12, generator=g)
    for aff in (path_affinity(B, 5), feature_affinity(torch.randn(5, 9, 12, generator=g), 5) * psa_border_mask(9, 12, 5)):
        s, d = random_walk(x, aff, 5, beta, logt), random_walk(x, aff, 5, beta, logt, dense=True)
        assert torch.allclose(s, d, rtol=1e-3, atol=1e-5 * d.abs().max())

def test_walk_rejects_mismatched_grid():
    with pytest.raises(DataError): random_walk(torch.rand(2, 5, 5), path_affinity(torch.rand(6, 6), 5))

def _toy(tmp_path, n=4, size=(40, 48)):
    ds = RandomDataset(n, 3, size)
    for i in range(n):
        it = ds[i]
        write_label_png(tmp_path/'ir'/f"{it['id']}.png", it['mask'])
        keys = np.flatnonzero(it['label']) + 1
        save_cam(tmp_path/'cams'/f"{it['id']}.npz", keys, np.stack([(it['mask'] == k) * 0.8 for k in keys]).astype(np.float32))
    return ds

@pytest.mark.parametrize('kind', ['irn', 'psa'])
def test_train_resume_and_make_labels(tmp_path, kind):
    ds = _toy(tmp_path)
    cfg = RefineConfig.for_profile('smoke', kind, logt=4)
    r = train_relation_net(ds, tmp_path/'ir', tmp_path/'net', cfg, device='cpu', progress=False)
    assert not r['reused'] and np.isfinite(r['final']['loss'])
    again = train_relation_net(ds, tmp_path/'ir', tmp_path/'net', cfg, device='cpu', progress=False)
    assert again['reused']
    cfg2, net = load_relation_net(tmp_path/'net'/'relation.pt')
    assert cfg2 == cfg and net.kind == kind
    info = make_sem_seg_labels(tmp_path/'cams', ds, net, tmp_path/'rw', cfg, device='cpu', progress=False)
    assert info['n_written'] == 4
    lab = read_label_png(tmp_path/'rw'/f'{ds.ids[0]}.png')
    assert lab.shape == (40, 48) and set(np.unique(lab)) <= {0, *(np.flatnonzero(ds[0]['label']) + 1)}

def test_bad_inputs(tmp_path):
    ds = _toy(tmp_path)
    (tmp_path/'ir'/f'{ds.ids[2]}.png').unlink()
    with pytest.raises(DataError, match=f'{ds.ids[2]}.png: label file missing'): LabelFolder(ds, tmp_path/'ir')
    with pytest.raises(DataError, match='does not exist'): LabelFolder(ds, tmp_path/'nope')
    cfg = RefineConfig.for_profile('smoke', 'irn')
    net = BoundaryNet('tiny', 'random', cfg.strides, cfg.width)
    other = RandomDataset(4, 3, (32, 32))  # same ids, other image sizes: the CAMs belong to another dataset
    with pytest.raises(DataError, match='another dataset'): make_sem_seg_labels(tmp_path/'cams', other, net, tmp_path/'o', cfg, device='cpu', progress=False)
    more = RandomDataset(4, 9, (40, 48))  # ids of our CAMs are missing: another dataset's CAM folder
    more.ids = [f'x_{i}' for i in range(4)]
    with pytest.raises(DataError, match='CAM file missing'): make_sem_seg_labels(tmp_path/'cams', more, net, tmp_path/'o', cfg, device='cpu', progress=False)
    (tmp_path/'junk.pth').write_bytes(b'not a checkpoint')
    with pytest.raises(WeightsError, match='junk.pth'): load_relation_net(tmp_path/'junk.pth')
    torch.save({'conv.weight': torch.zeros(1)}, tmp_path/'other.pth')
    with pytest.raises(WeightsError, match='unknown checkpoint format'): load_relation_net(tmp_path/'other.pth')

def test_official_irn_checkpoint(tmp_path):
    "A state dict in the layout of IRN's AffinityDisplacement (resnet50.*, stage aliases, fc_edge*, fc_dp*, path indices)."
    net = BoundaryNet('resnet50', 'random')
    sd = {}
    for k, v in net.state_dict().items():
        sd[('resnet50.' + k[len('backbone.'):]) if k.startswith('backbone.') else k] = v.clone()
    sd['stage2.0.0.conv1.weight'] = sd['resnet50.layer1.0.conv1.weight']
    sd['fc_dp7.3.weight'] = torch.zeros(2, 256, 1, 1); sd['fc_dp7.4.running_mean'] = torch.zeros(2); sd['path_indices0'] = torch.zeros(3, 4, dtype=torch.long)
    sd = {'module.' + k: v for k, v in sd.items()}
    torch.save(sd, tmp_path/'res50_irn.pth')
    cfg, loaded = load_relation_net(tmp_path/'res50_irn.pth')
    assert cfg.kind == 'irn' and cfg.backbone == 'resnet50'
    for k, v in net.state_dict().items(): assert torch.equal(loaded.state_dict()[k], v), k
    del sd['module.fc_edge3.0.weight']
    torch.save(sd, tmp_path/'broken_irn.pth')
    with pytest.raises(WeightsError, match='fc_edge3'): load_relation_net(tmp_path/'broken_irn.pth')

def test_official_psa_checkpoint(tmp_path):
    "A state dict in the layout of PSA's network/resnet38_aff.Net (ResNet-38d keys at top level, f8_3, f8_4, f8_5, f9)."
    from wsss.refine import AffinityNet
    net = AffinityNet('resnet38d', 'random')
    sd = {k.removeprefix('backbone.'): v.clone() for k, v in net.state_dict().items()}
    torch.save(sd, tmp_path/'res38_aff.pth')
    cfg, loaded = load_relation_net(tmp_path/'res38_aff.pth')
    assert cfg.kind == 'psa' and cfg.backbone == 'resnet38d' and (cfg.beta, cfg.logt, cfg.alpha) == (8, 8, 16)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in net.state_dict().items())
    del sd['f8_4.weight']
    torch.save(sd, tmp_path/'broken_aff.pth')
    with pytest.raises(WeightsError, match='f8_4'): load_relation_net(tmp_path/'broken_aff.pth')
