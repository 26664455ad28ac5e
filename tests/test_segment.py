"wsss.segment: training resume, the oracle, inference, initial weights, bad inputs."
import numpy as np
import pytest
import torch
from wsss.core import ConfigError, DataError, WeightsError
from wsss.data import write_label_png, read_label_png
from wsss.method import RandomDataset
from wsss.segment import (DeepLabV2, SegConfig, TorchvisionDeepLabV3, build_segmenter, load_deeplab_pytorch_init, load_segmenter,
                          segment_dataset, train_segmentation)

def _labels(tmp_path, ds):
    for i in range(len(ds)): write_label_png(tmp_path/'labels'/f'{ds.ids[i]}.png', ds[i]['mask'])
    return tmp_path/'labels'

class Stop(Exception): pass

def test_resume_equals_uninterrupted(tmp_path):
    ds = RandomDataset(8, 3, (40, 48))
    labels = _labels(tmp_path, ds)
    cfg = SegConfig.for_profile('smoke', epochs=2)
    full = train_segmentation(ds, labels, tmp_path/'a', cfg, device='cpu', progress=False)
    def stop(epoch, summary):
        if epoch == 1: raise Stop
    with pytest.raises(Stop): train_segmentation(ds, labels, tmp_path/'b', cfg, device='cpu', progress=False, on_epoch_end=stop)
    assert not (tmp_path/'b'/'seg.pt').exists()
    res = train_segmentation(ds, labels, tmp_path/'b', cfg, device='cpu', progress=False)
    assert res['resumed_from_epoch'] == 1 and res['steps'] == full['steps'] == 4
    a, b = full['model'].state_dict(), res['model'].state_dict()
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-5) for k in a)
    again = train_segmentation(ds, labels, tmp_path/'b', cfg, device='cpu', progress=False)
    assert again['reused']

def test_oracle_and_inference(tmp_path):
    ds = RandomDataset(6, 3, (40, 48))
    cfg = SegConfig.for_profile('smoke')
    res = train_segmentation(ds, None, tmp_path/'oracle', cfg, device='cpu', progress=False)  # ground-truth masks
    cfg2, net, meta = load_segmenter(tmp_path/'oracle'/'seg.pt')
    assert cfg2 == cfg and meta['labels'] is None and meta['num_classes'] == 4
    for crf in (False, True):
        st = segment_dataset(net, ds, tmp_path/f'pred{crf}', cfg.from_dict({**cfg.to_dict(), 'test_scales': (1.0, 0.75), 'test_flip': True}),
                             crf=crf, device='cpu', progress=False)
        assert st['n_written'] == 6
        lab = read_label_png(tmp_path/f'pred{crf}'/f'{ds.ids[0]}.png')
        assert lab.shape == (40, 48) and lab.max() < 4

def test_bad_inputs(tmp_path):
    ds = RandomDataset(6, 3, (40, 48))
    labels = _labels(tmp_path, ds)
    (labels/f'{ds.ids[4]}.png').unlink()
    with pytest.raises(DataError, match=f'{ds.ids[4]}.png: label file missing'):
        train_segmentation(ds, labels, tmp_path/'x', SegConfig.for_profile('smoke'), device='cpu', progress=False)
    write_label_png(labels/f'{ds.ids[4]}.png', np.full((40, 48), 9, np.uint8))  # class 9 in a 4-class dataset
    with pytest.raises(DataError, match='outside 0..3'):
        train_segmentation(ds, labels, tmp_path/'x', SegConfig.for_profile('smoke', batch_size=6), device='cpu', progress=False)
    with pytest.raises(WeightsError, match='seg.pt'): load_segmenter(tmp_path/'nothing'/'seg.pt')
    with pytest.raises(ConfigError): SegConfig(arch='deeplabv9')
    with pytest.raises(ConfigError): SegConfig(arch='deeplabv3', backbone='tiny')

def test_deeplab_pytorch_init(tmp_path):
    "A checkpoint in deeplab-pytorch's layout (base. prefix, _ConvBnReLU units, a 91-class COCO ASPP) loads into our DeepLabV2."
    net = DeepLabV2(21, 'resnet50', 'random', caffe=True)
    names = {'conv1': 'reduce', 'conv2': 'conv3x3', 'conv3': 'increase'}
    sd = {}
    for k, v in net.state_dict().items():
        if k.startswith('aspp.'): continue
        p = k.split('.')
        if p[1] in ('conv1', 'bn1'): key = f"layer1.conv1.{'conv' if p[1] == 'conv1' else 'bn'}.{p[2]}"
        elif p[3] == 'downsample': key = f"layer{int(p[1][-1]) + 1}.block{int(p[2]) + 1}.shortcut.{'conv' if p[4] == '0' else 'bn'}.{p[5]}"
        else: key = f"layer{int(p[1][-1]) + 1}.block{int(p[2]) + 1}.{names[p[3].replace('bn', 'conv')]}.{'conv' if p[3].startswith('conv') else 'bn'}.{p[4]}"
        sd['base.' + key] = torch.randn_like(v.float()).to(v.dtype) if v.is_floating_point() else v
    for i in range(4): sd[f'base.aspp.c{i}.weight'] = torch.zeros(91, 2048, 3, 3); sd[f'base.aspp.c{i}.bias'] = torch.zeros(91)
    torch.save(sd, tmp_path/'init.pth')
    other = DeepLabV2(21, 'resnet50', 'random', caffe=True)
    load_deeplab_pytorch_init(other, tmp_path/'init.pth')
    assert torch.equal(other.backbone.layer3[5].conv2.weight, sd['base.layer4.block6.conv3x3.conv.weight'])
    assert other(torch.randn(1, 3, 64, 64)).shape == (1, 21, 9, 9)  # ceil-mode pooling, as deeplab-pytorch (513 -> 65)
    del sd['base.layer2.block1.reduce.conv.weight']
    torch.save(sd, tmp_path/'broken.pth')
    with pytest.raises(WeightsError, match='layer1.0.conv1.weight'): load_deeplab_pytorch_init(other, tmp_path/'broken.pth')
    # a deeper net's file (ResNet-101's 23 layer3 blocks into a ResNet-50's 6) is refused, not loaded block for block
    sd = torch.load(tmp_path/'init.pth', weights_only=True)
    sd.update({k.replace('block6.', 'block7.'): v for k, v in sd.items() if k.startswith('base.layer4.block6.')})
    torch.save(sd, tmp_path/'deeper.pth')
    with pytest.raises(WeightsError, match=r'no place for .*backbone\.layer3\.6\..*resnet101'): load_deeplab_pytorch_init(other, tmp_path/'deeper.pth')

def test_torchvision_option():
    net = build_segmenter(SegConfig(arch='deeplabv3', backbone='resnet50', weights='random'), 5)
    assert isinstance(net, TorchvisionDeepLabV3) and net.eval()(torch.randn(1, 3, 64, 64)).shape == (1, 5, 64, 64)
    with pytest.raises(WeightsError, match='resnet50'): SegConfig(arch='deeplabv3', backbone='resnet50', weights='/nope/r50.pth') and build_segmenter(SegConfig(arch='deeplabv3', backbone='resnet50', weights='/nope/r50.pth'), 5)

def test_frozen_stages_get_no_gradient():
    "SegConfig.frozen_stages: stages 1..n of the backbone keep their weights and get no gradient; the rest and the ASPP train."
    cfg = SegConfig.for_profile('smoke', frozen_stages=2)
    net = build_segmenter(cfg, 4)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    frozen = {id(p) for i in (1, 2) for m in net.backbone.stage_modules(i) for p in m.parameters()}
    assert frozen and not frozen & {id(p) for p in net.backbone_parameters()}
    net(torch.randn(2, 3, 40, 48)).square().mean().backward()
    for i in (1, 2):
        assert all(p.grad is None for m in net.backbone.stage_modules(i) for p in m.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.backbone.layer3.parameters())
    assert all(p.grad is not None for p in net.new_parameters())
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # backward alone changes nothing
    assert SegConfig.for_profile('quick', dataset='voc').frozen_stages == 2 and SegConfig().frozen_stages == 0  # paper: all train
    with pytest.raises(ConfigError, match='frozen_stages'): SegConfig(frozen_stages=5)
    with pytest.raises(ConfigError, match='frozen_stages'): SegConfig(arch='deeplabv3', backbone='resnet50', frozen_stages=1)
