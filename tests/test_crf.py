"wsss.crf: every preset runs, the CRF improves a shifted map on a real VOC image, bad inputs, process pool."
import numpy as np, pytest
from PIL import Image
from wsss.core import ConfigError, DataError
from wsss.crf import CRF_PRESETS, crf_labels, crf_map, crf_params, crf_saliency, crf_softmax, saliency_unary

def toy(H=40, W=56, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:H, :W]
    truth = (xx - 34) ** 2 + (yy - 20) ** 2 < 13 ** 2
    img = np.clip(np.where(truth[..., None], [40, 90, 210], [200, 60, 40]) + rng.normal(0, 8, (H, W, 3)), 0, 255).astype(np.uint8)
    fg = 1 / (1 + np.exp((np.hypot(xx - 27, yy - 20) - 11) / 3))
    return img, np.stack([1 - fg, fg]).astype(np.float32), truth

def iou(a, b): return (a & b).sum() / (a | b).sum()

@pytest.mark.parametrize('preset', sorted(CRF_PRESETS))
def test_every_preset_runs(preset):
    img, probs, _ = toy()
    Q = crf_softmax(img, probs, preset)
    assert Q.shape == probs.shape and Q.dtype == np.float32 and np.allclose(Q.sum(0), 1, atol=1e-4)
    lab = crf_labels(img, probs.argmax(0), 2, preset)
    assert lab.shape == img.shape[:2] and lab.dtype == np.uint8 and set(np.unique(lab)) <= {0, 1}
    assert 'source' in CRF_PRESETS[preset] and crf_params(preset)['iters'] >= 1

def test_crf_snaps_to_edges():
    img, probs, truth = toy()
    before = iou(probs.argmax(0) == 1, truth)
    assert iou(crf_softmax(img, probs, 'psa').argmax(0) == 1, truth) > before + 0.3
    assert iou(crf_labels(img, probs.argmax(0), 2, 'irn') == 1, truth) > before + 0.3

def test_real_voc_images_correct_labels_survive(voc_mini):
    """On real full-size images the label CRF (IRN preset, tuned for ~500 px) keeps a correct multi-class mask nearly unchanged."""
    for i in ('2007_002427', '2007_005759'):  # two fixture images with two foreground classes each
        img = np.array(Image.open(voc_mini / 'JPEGImages' / f'{i}.jpg').convert('RGB'))
        gt = np.array(Image.open(voc_mini / 'SegmentationClass' / f'{i}.png'))
        valid = gt != 255
        keys = np.unique(gt[valid])
        out = crf_labels(img, np.searchsorted(keys, np.where(valid, gt, 0)), len(keys), 'irn')
        assert len(keys) >= 3 and set(np.unique(out)) == set(range(len(keys)))
        assert ((keys[out] == gt) & valid).sum() / valid.sum() > 0.9

def test_saliency_unary_formula():
    p = np.array([0.0, 0.5, 1.0])
    U = saliency_unary(p)
    sig = lambda x: 1 / (1 + np.exp(-x))
    assert U.shape == (2, 3) and U.dtype == np.float32
    assert U[0, 1] == pytest.approx(-np.log(0.5 + 1e-8) / (1.05 * sig(0.5)))
    assert U[1, 0] == pytest.approx(-np.log(1e-8) / (1.05 * sig(0.0)), rel=1e-5)
    assert U[0, 0] == pytest.approx(0, abs=1e-6) and U[1, 2] == pytest.approx(0, abs=1e-6)
    img, probs, truth = toy()
    q = crf_saliency(img, probs[1])
    assert q.shape == truth.shape and 0 <= q.min() and q.max() <= 1

def test_strided_and_tensor_inputs_match_contiguous():
    import torch
    img, probs, _ = toy()
    flipped = img[:, ::-1]  # a negative-stride view
    a = crf_softmax(flipped, probs[:, :, ::-1])
    b = crf_softmax(np.ascontiguousarray(flipped), np.ascontiguousarray(probs[:, :, ::-1]))
    assert np.array_equal(a, b)
    assert np.array_equal(crf_softmax(torch.from_numpy(img), torch.from_numpy(probs)), crf_softmax(img, probs))

def test_bad_inputs_name_the_argument():
    img, probs, _ = toy()
    with pytest.raises(DataError, match='image must be uint8'): crf_softmax(img.astype(np.float32), probs)
    with pytest.raises(DataError, match='image must be H x W x 3'): crf_softmax(img[..., 0], probs)
    with pytest.raises(DataError, match='probs is 40x50'): crf_softmax(img, probs[:, :, :50])
    with pytest.raises(DataError, match='probs must have 3'): crf_softmax(img, probs[0])
    with pytest.raises(DataError, match='probs must be finite'): crf_softmax(img, -probs)
    with pytest.raises(DataError, match='labels has values'): crf_labels(img, np.full(img.shape[:2], 2), 2)
    with pytest.raises(DataError, match='labels must be integers'): crf_labels(img, probs[0], 2)
    with pytest.raises(ConfigError, match='n_labels'): crf_labels(img, probs.argmax(0), 1)
    with pytest.raises(ConfigError, match='gt_prob'): crf_labels(img, probs.argmax(0), 2, gt_prob=1.5)
    with pytest.raises(DataError, match='sal_prob must be in'): crf_saliency(img, probs[1] * 255)
    with pytest.raises(ConfigError, match="preset must be one of"): crf_softmax(img, probs, preset='crfasrnn')
    with pytest.raises(ConfigError, match="unknown CRF parameter 'sigma'"): crf_softmax(img, probs, sigma=3)
    with pytest.raises(ConfigError, match='iters'): crf_softmax(img, probs, iters=0)

def test_overrides_change_the_result():
    img, probs, _ = toy()
    assert not np.array_equal(crf_softmax(img, probs, 'psa'), crf_softmax(img, probs, 'psa', iters=1))
    assert crf_params('irn', iters=3)['iters'] == 3 and crf_params('irn')['iters'] == 10

def test_process_pool_equals_serial():
    jobs = [(toy(seed=s)[0], toy(seed=s)[1].argmax(0), 2) for s in range(4)]
    par = crf_map(crf_labels, jobs, workers=2, chunksize=1, preset='irn')
    ser = crf_map(crf_labels, jobs, workers=0, preset='irn')
    assert len(par) == 4 and all(np.array_equal(a, b) for a, b in zip(par, ser))
    with pytest.raises(ConfigError, match='workers'): crf_map(crf_labels, jobs, workers=-1)
    with pytest.raises(ConfigError, match='lambda'): crf_map(lambda a: a, [1, 2], workers=2)
    assert crf_map(crf_labels, [], workers=2) == []

def test_fork_and_spawn_pools_agree():
    jobs = [(toy(seed=s)[0], toy(seed=s)[1], ) for s in range(3)]
    fork = crf_map(crf_softmax, jobs, workers=2, start_method='fork', preset='psa')
    spawn = crf_map(crf_softmax, jobs, workers=2, start_method='spawn', preset='psa')
    assert all(np.array_equal(a, b) for a, b in zip(fork, spawn))
    with pytest.raises(ConfigError, match='start_method'): crf_map(crf_labels, jobs[:2], workers=2, start_method='thread')
