"wsss.nets ResNet-38d: PSA key layout, the MXNet .params reader (files written here from the documented format), PSA's res38_cls.pth."
import re, struct
import numpy as np
import pytest, torch
from wsss.core import WeightsError
from wsss.nets import ResNet38d, build_backbone, load_resnet38d_weights, read_mxnet_params, CamNet

_BN = {'weight': ('arg', 'gamma'), 'bias': ('arg', 'beta'), 'running_mean': ('aux', 'moving_mean'), 'running_var': ('aux', 'moving_var')}


def a1_name(key):
    "The ademxapp A1 name of a PSA key, written from the naming scheme (independent of wsss's converter)."
    if key == 'conv1a.weight': return 'arg:conv1a_weight'
    if key.startswith('bn7.'):
        kind, what = _BN[key[4:]]; return f'{kind}:bn7_{what}'
    block, layer, what = key.split('.')
    m = re.fullmatch(r'b(\d)(?:_(\d+))?', block)
    unit = m[1] + ('a' if m[2] is None else f'b{m[2]}')
    kind, branch = layer.split('_branch')
    if kind == 'conv': return f'arg:res{unit}_branch{branch}_weight'
    k, w = _BN[what]
    return f'{k}:bn{unit}_branch{branch}_{w}'


def write_mxnet(path, named, legacy):
    "MXNet NDArray list file (magic 0x112); arrays in the V2 layout or the legacy one (no magic, uint32 dims)."
    with open(path, 'wb') as f:
        f.write(struct.pack('<QQQ', 0x112, 0, len(named)))
        for a in named.values():
            a = np.ascontiguousarray(a, np.float32)
            if legacy: f.write(struct.pack('<I', a.ndim) + struct.pack(f'<{a.ndim}I', *a.shape))
            else: f.write(struct.pack('<IiI', 0xF993FAC9, 0, a.ndim) + struct.pack(f'<{a.ndim}q', *a.shape))
            f.write(struct.pack('<iii', 1, 0, 0)); f.write(a.tobytes())
        f.write(struct.pack('<Q', len(named)))
        for k in named: f.write(struct.pack('<Q', len(k)) + k.encode())


@pytest.fixture(scope='module')
def src():
    torch.manual_seed(1)
    net = ResNet38d()
    for m in net.modules():  # non-trivial BN statistics so a mix-up of mean/var/gamma/beta shows
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1); m.running_var.uniform_(0.5, 1.5); m.weight.data.uniform_(0.5, 1.5); m.bias.data.uniform_(-0.1, 0.1)
    return net.eval()


def test_psa_key_layout(src):
    keys = [k for k in src.state_dict() if not k.endswith('num_batches_tracked')]
    assert len(keys) == len(set(map(a1_name, keys)))
    blocks = {k.split('.')[0] for k in keys}
    assert blocks == {'conv1a', 'b2', 'b2_1', 'b2_2', 'b3', 'b3_1', 'b3_2', 'b4', *(f'b4_{i}' for i in range(1, 6)),
                      'b5', 'b5_1', 'b5_2', 'b6', 'b7', 'bn7'}
    assert src.state_dict()['b7.conv_branch2b1.weight'].shape == (2048, 1024, 3, 3)
    assert src.b5.conv_branch2a.dilation == (1, 1) and src.b5.conv_branch2b1.dilation == (2, 2) and src.b6.conv_branch2b1.dilation == (4, 4)


@pytest.mark.parametrize('legacy', [False, True])
def test_mxnet_a1_file_loads(tmp_path, src, legacy):
    named = {a1_name(k): v.numpy() for k, v in src.state_dict().items() if not k.endswith('num_batches_tracked')}
    named['arg:linear1000_weight'] = np.zeros((1000, 4096), np.float32); named['arg:linear1000_bias'] = np.zeros(1000, np.float32)
    p = tmp_path / 'ilsvrc-cls_rna-a1_cls1000_ep-0001.params'
    write_mxnet(p, named, legacy)
    net = build_backbone('resnet38d', weights=str(p)).eval()
    x = torch.randn(1, 3, 32, 40)
    with torch.no_grad(): assert torch.equal(net(x), src(x))
    old = torch.hub.get_dir(); torch.hub.set_dir(str(tmp_path / 'hub'))
    try:
        with pytest.raises(WeightsError, match='ilsvrc-cls_rna-a1_cls1000_ep-0001.params'): build_backbone('resnet38d', weights='imagenet')
        (tmp_path / 'hub' / 'checkpoints').mkdir(parents=True); p.rename(tmp_path / 'hub' / 'checkpoints' / p.name)
        net2 = build_backbone('resnet38d', weights='imagenet')
        assert torch.equal(net2.bn7.running_var, src.bn7.running_var)
    finally: torch.hub.set_dir(old)


def test_psa_res38_cls_pth_loads(tmp_path, src):
    sd = {k: v for k, v in src.state_dict().items() if not k.endswith('num_batches_tracked')}  # PSA saved with torch 0.3/0.4
    sd['fc8.weight'] = torch.randn(20, 4096, 1, 1)
    torch.save(sd, tmp_path / 'res38_cls.pth')
    net = load_resnet38d_weights(ResNet38d(), tmp_path / 'res38_cls.pth')
    assert torch.equal(net.b4_3.conv_branch2b1.weight, src.b4_3.conv_branch2b1.weight)
    del sd['b6.conv_branch1.weight']; torch.save(sd, tmp_path / 'broken.pth')
    with pytest.raises(WeightsError, match=r'broken\.pth.*b6\.conv_branch1\.weight'): load_resnet38d_weights(ResNet38d(), tmp_path / 'broken.pth')


def test_truncated_mxnet_file_names_the_file(tmp_path):
    write_mxnet(tmp_path / 't.params', {'arg:conv1a_weight': np.zeros((64, 3, 3, 3), np.float32)}, legacy=False)
    b = (tmp_path / 't.params').read_bytes(); (tmp_path / 't.params').write_bytes(b[:200])
    with pytest.raises(WeightsError, match=r't\.params.*truncated'): read_mxnet_params(tmp_path / 't.params')


def test_camnet_on_resnet38d_trains_psa_layers_only():
    net = CamNet(4, 'resnet38d', weights='random', frozen_stages=1, freeze_bn_affine=True).train()
    loss = net(torch.randn(2, 3, 32, 32)).sum(); loss.backward()
    assert net.backbone.conv1a.weight.grad is None and net.backbone.b2_2.conv_branch2b1.weight.grad is None
    assert net.backbone.b3.conv_branch2a.weight.grad is not None and net.backbone.bn7.weight.grad is None
