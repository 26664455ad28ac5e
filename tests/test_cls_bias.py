"""`MethodConfig.cls_bias`: a per-class bias on the class scores that never enters the CAM, the LP-FT probe's intercept
landing in it, and the methods that cannot take one refusing it by name."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from wsss.core import ConfigError
from wsss.method import RandomDataset, check_method, get_method, linear_probe_init
from wsss.nets import CamNet


def test_the_bias_moves_the_scores_and_not_the_cam():
    torch.manual_seed(0)
    net = CamNet(3, 'tiny', 'random', (2, 2, 1, 1), 0, width=8, bias=True).eval()
    x = torch.randn(2, 3, 32, 40)
    with torch.no_grad():
        logits, cam = net(x), net.cam(x)
        net.classifier.bias.copy_(torch.tensor([5.0, -3.0, 0.5]))
        logits2, cam2 = net(x), net.cam(x)
    torch.testing.assert_close(logits2 - logits, torch.tensor([[5.0, -3.0, 0.5]] * 2), rtol=0, atol=1e-5)  # adding |b| <= 5 in float32 rounds by ~5 * 6e-8 per logit
    assert torch.equal(cam, cam2)
    with torch.no_grad():
        torch.testing.assert_close(cam2, F.relu(F.conv2d(net.features(x), net.classifier.weight)))
    assert CamNet(3, 'tiny', 'random', width=8).classifier.bias is None  # IRN's default: none


def test_the_probe_fits_the_intercept_into_the_bias():
    from sklearn.linear_model import LogisticRegression
    ds = RandomDataset(24, 2, (32, 40), seed=1)
    net = CamNet(2, 'tiny', 'random', (2, 2, 1, 1), 0, width=8, bias=True)
    info = linear_probe_init(net, ds)
    assert info['classes_fitted'] == 2
    from wsss.cam import imagenet_normalize
    with torch.no_grad():
        X = np.stack([net.features(imagenet_normalize(ds[i]['image'])[None]).mean((2, 3))[0].numpy() for i in range(len(ds))])
    Y = np.stack([ds[i]['label'] for i in range(len(ds))])
    for c in range(2):  # a reference fit on the same pooled features
        ref = LogisticRegression(C=1.0, fit_intercept=True, max_iter=5000).fit(X, Y[:, c])
        np.testing.assert_allclose(net.classifier.weight[c].flatten().detach().numpy(), ref.coef_[0], rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(net.classifier.bias[c].item(), ref.intercept_[0], rtol=1e-4, atol=1e-4)
    assert abs(net.classifier.bias).sum() > 0  # an intercept was fitted, not left at zero


@pytest.mark.parametrize('key', ['cam', 'sccam', 'auxsegnet', 'protomtn'])
def test_methods_with_a_bias_keep_the_contract(key):
    rep = check_method(key, dataset=RandomDataset(4, 3, (64, 80), seed=0), overrides=dict(cls_bias=True))
    assert rep['loss'] == rep['loss']
    cls = get_method(key)
    model = cls(cls.Config.for_profile('smoke', cls_bias=True)).build_model(3)
    heads = [m for n, m in model.named_modules() if n in ('classifier', 'fc8', 'sub_classifier') and m is not None]
    assert heads and all(h.bias is not None for h in heads)


def test_sipe_refuses_a_bias_by_name():
    cls = get_method('sipe')
    with pytest.raises(ConfigError, match='cls_bias'): cls(cls.Config.for_profile('smoke', cls_bias=True))
    assert cls.Config.for_profile('quick', dataset='voc').cls_bias is False  # its IS-CAM reads the classifier pixel by pixel


def test_real_photo_profiles():
    for key in ('cam', 'sccam', 'auxsegnet', 'protomtn'):
        cls = get_method(key)
        assert cls.Config.for_profile('quick', dataset='voc').cls_bias is True
        assert cls.Config.for_profile('paper').cls_bias is False and cls.Config.for_profile('quick').cls_bias is False
