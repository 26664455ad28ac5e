"wsss.nets: the IRN CAM network, weight loading from local files, the official IRN checkpoint converter."
import pytest, torch, torchvision
from wsss.core import ConfigError, WeightsError
from wsss.nets import CamNet, FixedBatchNorm, build_backbone, load_irn_cam_checkpoint, to_irn_state_dict, irn_key_to_ours
from wsss.train import fit, make_loader


@pytest.fixture
def hub(tmp_path):
    old = torch.hub.get_dir(); torch.hub.set_dir(str(tmp_path / 'hub'))
    yield tmp_path / 'hub' / 'checkpoints'
    torch.hub.set_dir(old)


@pytest.mark.parametrize('arch,size,expect', [('resnet50', (96, 128), (6, 8)), ('resnet18', (64, 80), (4, 5)), ('tiny', (96, 96), (6, 6))])
def test_output_stride_16(arch, size, expect):
    net = CamNet(5, arch, weights='random', frozen_stages=0 if arch == 'tiny' else 2).eval()
    with torch.no_grad(): cam = net.cam(torch.randn(2, 3, *size))
    assert cam.shape == (2, 5, *expect) and cam.min() >= 0
    assert net.backbone.layer4[0].conv2.stride == (1, 1) if arch == 'resnet50' else True


class _Items(torch.utils.data.Dataset):
    def __len__(self): return 8
    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        return dict(image=torch.randn(3, 64, 64, generator=g) * 2 + 1, label=(torch.arange(4) == i % 4).float())


def test_training_leaves_frozen_layers_and_bn_statistics_untouched(tmp_path):
    torch.manual_seed(0)
    net = CamNet(4, 'resnet18', weights='random')
    before = {k: v.clone() for k, v in net.state_dict().items()}
    frozen = {n for n, p in net.named_parameters() if not p.requires_grad}
    assert frozen and all(n.startswith(('backbone.conv1', 'backbone.bn1', 'backbone.layer1', 'backbone.layer2')) for n in frozen)
    assert not any(n.startswith(('backbone.layer3', 'backbone.layer4', 'classifier')) for n in frozen)
    loss = lambda m, b: torch.nn.functional.multilabel_soft_margin_loss(m(b['image']), b['label'])
    groups = [dict(params=net.backbone_parameters()), dict(params=net.new_parameters(), lr_mult=10)]
    fit(net, make_loader(_Items(), 4), loss, groups, epochs=2, out_dir=tmp_path, lr=0.05, device='cpu', progress=False)
    after = net.state_dict()
    for k, v in before.items():
        name = k.rsplit('.', 1)[0]
        if 'running_' in k or 'num_batches' in k or any(k.startswith(f) or f == k for f in frozen):
            assert torch.equal(v, after[k]), f"{k} changed during training"
    assert not torch.equal(before['backbone.layer3.0.conv1.weight'], after['backbone.layer3.0.conv1.weight'])
    assert not torch.equal(before['classifier.weight'], after['classifier.weight'])
    assert all(not m.training for m in net.modules() if isinstance(m, FixedBatchNorm))


def test_frozen_stages_get_no_gradient_and_bn_stays_in_eval_mode():
    net = CamNet(3, 'resnet50', weights='random').train()
    assert all(not m.training for m in net.modules() if isinstance(m, FixedBatchNorm))
    net(torch.randn(2, 3, 64, 64)).sum().backward()
    for n, p in net.named_parameters():
        if n.startswith(('backbone.conv1', 'backbone.bn1', 'backbone.layer1', 'backbone.layer2')): assert p.grad is None, n
    assert net.backbone.layer3[0].bn1.weight.grad is not None  # IRN's FixedBatchNorm keeps gamma/beta trainable
    frozen_affine = CamNet(3, 'resnet50', weights='random', freeze_bn_affine=True)
    assert not any(p.requires_grad for m in frozen_affine.modules() if isinstance(m, FixedBatchNorm) for p in m.parameters())


def test_missing_imagenet_weights_name_the_expected_files(hub):
    with pytest.raises(WeightsError) as e: CamNet(20, 'resnet50')  # default weights='imagenet'
    msg = str(e.value)
    assert str(hub / 'resnet50-0676ba61.pth') in msg and 'resnet50-19c8e357.pth' in msg and 'weights=' in msg
    with pytest.raises(WeightsError, match='/no/such/file.pth'): CamNet(20, 'resnet50', weights='/no/such/file.pth')


def test_random_init_must_be_explicit():
    with pytest.raises(ConfigError, match='random'): CamNet(20, 'resnet18', weights=None)
    with pytest.raises(ConfigError, match='tiny'): CamNet(20, 'tiny', weights='imagenet')
    with pytest.raises(ConfigError): CamNet(20, 'resnet7', weights='random')
    assert CamNet(20, 'resnet18', weights='random').classifier.weight.shape == (20, 512, 1, 1)


@pytest.mark.parametrize('name', ['resnet18-f37072fd.pth', 'resnet18-5c106cde.pth'])
def test_imagenet_weights_load_from_the_hub_cache(hub, name):
    hub.mkdir(parents=True)
    tv = torchvision.models.resnet18(weights=None).state_dict()
    torch.save(tv, hub / name)
    net = CamNet(3, 'resnet18')
    assert torch.equal(net.backbone.layer4[1].conv2.weight, tv['layer4.1.conv2.weight'])
    assert torch.equal(net.backbone.bn1.running_var, tv['bn1.running_var'])


def test_corrupt_or_foreign_weights_name_the_file(tmp_path):
    bad = tmp_path / 'broken.pth'; bad.write_bytes(b'not a checkpoint')
    with pytest.raises(WeightsError, match='broken.pth'): CamNet(3, 'resnet18', weights=bad)
    other = tmp_path / 'r34.pth'; torch.save(torchvision.models.resnet34(weights=None).state_dict(), other)
    with pytest.raises(WeightsError, match='r34.pth'): CamNet(3, 'resnet18', weights=other)


def test_irn_checkpoint_round_trip(tmp_path):
    torch.manual_seed(3)
    src = CamNet(20, 'resnet50', weights='random')
    official = to_irn_state_dict(src)
    # the layout torch.save(Net().state_dict()) of IRN's net/resnet50_cam.py writes: every alias of every layer
    for k in ('resnet50.conv1.weight', 'stage1.0.weight', 'stage1.1.running_mean', 'stage1.4.0.conv1.weight',
              'stage2.0.3.bn3.weight', 'stage4.0.2.conv3.weight', 'backbone.0.4.2.conv3.weight', 'backbone.3.0.0.downsample.0.weight',
              'classifier.weight', 'newly_added.0.weight'):
        assert k in official, k
    assert irn_key_to_ours('module.stage3.0.5.conv2.weight') == 'backbone.layer3.5.conv2.weight'
    path = tmp_path / 'res50_cam.pth.pth'
    torch.save({'module.' + k: v for k, v in official.items()}, path)
    dst = load_irn_cam_checkpoint(CamNet(20, 'resnet50', weights='random'), path).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad(): assert torch.equal(src.eval().cam(x), dst.cam(x))
    # only one alias per layer (e.g. a hand-pruned file) also loads
    torch.save({k: v for k, v in official.items() if k.startswith(('resnet50.', 'classifier.'))}, tmp_path / 'pruned.pth')
    load_irn_cam_checkpoint(CamNet(20, 'resnet50', weights='random'), tmp_path / 'pruned.pth')


def test_irn_checkpoint_errors_name_the_file(tmp_path):
    official = to_irn_state_dict(CamNet(20, 'resnet50', weights='random'))
    torch.save({k: v for k, v in official.items() if 'layer4.2' not in k and 'stage4.0.2' not in k and 'backbone.3.0.2' not in k}, tmp_path / 'cut.pth')
    with pytest.raises(WeightsError, match=r'cut\.pth.*missing'): load_irn_cam_checkpoint(CamNet(20, 'resnet50', weights='random'), tmp_path / 'cut.pth')
    torch.save(official, tmp_path / 'voc.pth')
    with pytest.raises(WeightsError, match=r'voc\.pth.*classifier\.weight'): load_irn_cam_checkpoint(CamNet(80, 'resnet50', weights='random'), tmp_path / 'voc.pth')
    bad = dict(official); bad['stage3.0.0.conv1.weight'] = bad['stage3.0.0.conv1.weight'] + 1
    torch.save(bad, tmp_path / 'alias.pth')
    with pytest.raises(WeightsError, match='alias.pth'): load_irn_cam_checkpoint(CamNet(20, 'resnet50', weights='random'), tmp_path / 'alias.pth')
    torch.save({**official, 'edge_layers.0.weight': torch.zeros(1)}, tmp_path / 'irn.pth')
    with pytest.raises(WeightsError, match=r'irn\.pth.*edge_layers'): load_irn_cam_checkpoint(CamNet(20, 'resnet50', weights='random'), tmp_path / 'irn.pth')


def test_channels_last_gives_the_same_maps():
    net = CamNet(4, 'resnet18', weights='random').eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        a = net.cam(x); s = net(x)
        net = net.to(memory_format=torch.channels_last); xc = x.contiguous(memory_format=torch.channels_last)
        assert torch.allclose(a, net.cam(xc), atol=1e-4) and torch.allclose(s, net(xc), atol=1e-4)


@pytest.mark.parametrize('width', [8, 12, 24, 40])
def test_tiny_backbone_builds_for_any_width(width):
    "GroupNorm groups follow the channel count: widths that are not multiples of 16 must build and run."
    net = CamNet(3, 'tiny', weights='random', frozen_stages=0, width=width).eval()
    with torch.no_grad(): cam = net.cam(torch.randn(1, 3, 64, 64))
    assert cam.shape == (1, 3, 4, 4) and bool((cam >= 0).all())
