"wsss.method: the registry, the contract check, train_method / load_trained; wsss.methods.cam on the synthetic benchmark."
import dataclasses
import numpy as np
import pytest, torch
from wsss.core import ConfigError, DataError, WeightsError
from wsss.data import SegmentationDataset, make_synthetic
from wsss.method import (Method, MethodCheckError, MethodConfig, RandomDataset, available_methods, check_method, get_method,
                         load_trained, register_method, train_method, _REGISTRY)


@pytest.fixture(scope='module')
def smoke_ds(tmp_path_factory):
    root = make_synthetic(tmp_path_factory.mktemp('synth') / 'smoke', seed=0, profile='smoke')
    return SegmentationDataset(root, 'train')


def test_registry_lists_cam_and_rejects_unknown_keys():
    assert 'cam' in available_methods()
    cls = get_method('cam')
    assert issubclass(cls, Method) and cls.key == 'cam' and cls.has_background is False
    with pytest.raises(ConfigError, match="'nope'.*cam"): get_method('nope')


def test_check_method_cam_passes():
    rep = check_method('cam')
    assert rep['loss_terms'] == ['cls', 'loss'] and rep['cam_shape'][:2] == (4, 3) and np.isfinite(rep['loss'])


def test_a_second_class_cannot_take_a_key():
    cam = get_method('cam')
    class Impostor(cam): key = 'cam'
    with pytest.raises(ConfigError, match='already registered'): register_method(Impostor)
    class NoConfig(Method): key = 'bad_cfg'; Config = dict
    with pytest.raises(ConfigError, match='Config'): register_method(NoConfig)
    assert get_method('cam') is cam


def test_cam_config_profiles():
    C = get_method('cam').Config
    paper = C.for_profile('paper')
    assert (paper.backbone, paper.weights, paper.crop_size, paper.batch_size, paper.epochs, paper.lr, paper.weight_decay) == \
           ('resnet50', 'imagenet', 512, 16, 5, 0.1, 1e-4)
    assert paper.official_momentum_bug is False and C.for_profile('paper', official_momentum_bug=True).official_momentum_bug
    quick = C.for_profile('quick')
    assert quick.backbone == 'tiny' and quick.weights == 'random'
    with pytest.raises(ConfigError, match='profile'): C.for_profile('huge')
    with pytest.raises(ConfigError, match='batch_size'): C.for_profile('quick', batch_size=0)
    with pytest.raises(ConfigError, match='backbone'): C.for_profile('quick', backbone='vgg')


def test_train_and_load_on_synthetic_smoke(tmp_path, smoke_ds):
    res = train_method('cam', smoke_ds, tmp_path / 'train', device='cpu', profile='smoke', progress=False)
    assert not res['reused'] and (tmp_path / 'train' / 'model.pt').exists() and (tmp_path / 'train' / 'round0' / 'train_log.jsonl').exists()
    method, model = load_trained(tmp_path / 'train')
    assert method.key == 'cam' and method.class_names == smoke_ds.class_names and not model.training
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        a, b = method.cam_forward(model, x), method.cam_forward(res['model'], x)
    assert torch.equal(a, b) and a.shape == (2, len(smoke_ds.class_names), 4, 4)
    again = train_method('cam', smoke_ds, tmp_path / 'train', device='cpu', profile='smoke', progress=False)
    assert again['reused']
    # a different config does not reuse model.pt, and the round checkpoint refuses to mix settings
    with pytest.raises(ConfigError, match='checkpoint.pt'):
        train_method('cam', smoke_ds, tmp_path / 'train', get_method('cam').Config.for_profile('smoke', lr=0.01), device='cpu', progress=False)


def test_training_is_seeded(tmp_path, smoke_ds):
    a = train_method('cam', smoke_ds, tmp_path / 'a', device='cpu', profile='smoke', progress=False, seed=1)['model']
    b = train_method('cam', smoke_ds, tmp_path / 'b', device='cpu', profile='smoke', progress=False, seed=1)['model']
    c = train_method('cam', smoke_ds, tmp_path / 'c', device='cpu', profile='smoke', progress=False, seed=2)['model']
    assert torch.equal(a.classifier.weight, b.classifier.weight) and not torch.equal(a.classifier.weight, c.classifier.weight)


def test_needs_missing_input_is_a_data_error(tmp_path):
    cam = get_method('cam')
    @dataclasses.dataclass
    class SalConfig(cam.Config): pass
    class NeedsSaliency(cam):
        key, Config, needs = 'needs_sal_test', SalConfig, frozenset({'saliency', 'sub_label'})
    with pytest.raises(DataError, match="sub_label"):
        train_method(NeedsSaliency(profile='smoke'), RandomDataset(8), tmp_path, device='cpu', progress=False)


def test_broken_method_fails_the_check():
    cam = get_method('cam')
    @dataclasses.dataclass
    class C2(cam.Config): pass
    @register_method
    class NegativeCam(cam):
        key, Config = 'negative_cam_test', C2
        def cam_forward(self, model, images): return -model.cam(images) - 1
    @register_method
    class WrongK(cam):
        key, Config, has_background = 'wrong_k_test', C2, True
    try:
        with pytest.raises(MethodCheckError, match='non-negative'): check_method('negative_cam_test')
        with pytest.raises(MethodCheckError, match='B x K'): check_method('wrong_k_test')
    finally:
        _REGISTRY.pop('negative_cam_test', None); _REGISTRY.pop('wrong_k_test', None)


def test_load_trained_errors_name_the_file(tmp_path):
    with pytest.raises(WeightsError, match='model.pt'): load_trained(tmp_path)
    (tmp_path / 'model.pt').write_bytes(b'junk')
    with pytest.raises(WeightsError, match='model.pt'): load_trained(tmp_path)

def test_train_reuses_model_pt_when_only_inference_settings_differ(tmp_path):
    "cam_scales, cam_flip, cam_batch_size, cam_geometry and the thresholds do not force a retrain; a training setting does."
    import torch
    from wsss.method import MethodConfig, RandomDataset, load_trained, train_method
    from wsss.methods.cam import CamConfig
    assert MethodConfig.INFERENCE_FIELDS == {'cam_scales', 'cam_flip', 'cam_batch_size', 'cam_geometry', 'cam_eval_thres',
                                             'conf_fg_thres', 'conf_bg_thres'}
    ds = RandomDataset(4)
    first = train_method('cam', ds, tmp_path, CamConfig.for_profile('smoke'), device='cpu', progress=False)
    assert not first['reused']
    infer = CamConfig.for_profile('smoke', cam_scales=(1.0, 0.5), cam_flip=True, cam_batch_size=4, cam_geometry='official',
                                  cam_eval_thres=0.2, conf_fg_thres=0.4, conf_bg_thres=0.1)
    again = train_method('cam', ds, tmp_path, infer, device='cpu', progress=False)
    assert again['reused']
    assert all(torch.equal(a, b) for a, b in zip(first['model'].state_dict().values(), again['model'].state_dict().values()))
    method, _ = load_trained(tmp_path)
    assert method.cfg == infer  # model.pt now records the inference settings the later stages read
    # a training setting is not reused: the round checkpoint's fingerprint then refuses to resume into the same folder
    from wsss.core import ConfigError
    import pytest
    with pytest.raises(ConfigError, match='other training settings'):
        train_method('cam', ds, tmp_path, CamConfig.for_profile('smoke', lr=0.01), device='cpu', progress=False)
    # another network under the same optimiser settings (a wider backbone): the checkpoint names itself instead of a shape dump
    with pytest.raises(ConfigError, match='do not fit this network'):
        train_method('cam', ds, tmp_path, CamConfig.for_profile('smoke', width=2 * CamConfig.for_profile('smoke').width), device='cpu', progress=False)
