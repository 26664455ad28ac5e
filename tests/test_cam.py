"wsss.cam end to end: the CAM file contract, resume, batching equivalence, bad files, eval_cams."
import os
from pathlib import Path
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from wsss.cam import cam_ok, eval_cams, load_cam, make_cams, multiscale_cam, normalize_cam, save_cam
from wsss.core import ConfigError, DataError
from wsss.nets import CamNet

C = 4

class Items:
    "A minimal dataset: random uint8 images of two sizes, multi-hot labels, GT masks."
    num_classes, class_names = C + 1, ['a', 'b', 'c', 'd']
    def __init__(self, n=6, seed=0):
        g = np.random.default_rng(seed)
        self.ids = [f'im{i:02d}' for i in range(n)]
        self.items = []
        for i, id_ in enumerate(self.ids):
            h, w = (40, 56) if i % 2 else (48, 36)
            label = np.zeros(C, np.float32); label[g.choice(C, 1 + i % 2, replace=False)] = 1
            mask = np.zeros((h, w), np.uint8); mask[h//4:3*h//4, w//4:3*w//4] = np.flatnonzero(label)[0] + 1
            self.items.append(dict(id=id_, image=g.integers(0, 256, (h, w, 3), dtype=np.uint8), label=label, mask=mask))
    def __len__(self): return len(self.items)
    def __getitem__(self, i): return self.items[i]

class CamMethod:
    "The method contract: cam_forward(model, images) -> B x K x h x w non-negative."
    has_background = False
    def cam_forward(self, model, images): return model.cam(images)

class BgMethod(CamMethod):
    "SIPE-like: its own background channel first (K = C + 1)."
    has_background = True
    def cam_forward(self, model, images):
        cam = model.cam(images)
        m = cam / (cam.amax((2, 3), keepdim=True) + 1e-5)
        return torch.cat([1 - m.amax(1, keepdim=True), m], 1)

@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    net = CamNet(C, backbone='tiny', weights='random', width=16).eval()
    with torch.no_grad(): net.classifier.weight.abs_()  # random init can leave a class all-zero after the ReLU
    return net

def run(model, out, method=CamMethod(), ds=None, scales=(1.0, 0.5), **kw):
    return make_cams(method, model, ds or Items(), out, scales=scales, device='cpu', workers=0, progress=False, **kw)

def test_cam_file_contract(tmp_path, model):
    ds = Items()
    st = run(model, tmp_path, ds=ds)
    assert st['n_written'] == len(ds) and st['n_skipped'] == 0 and st['images_per_s'] > 0
    for it in ds.items:
        path = tmp_path / f"{it['id']}.npz"
        with np.load(path, allow_pickle=False) as z:
            assert sorted(z.files) == ['cam', 'keys']
            assert z['cam'].dtype == np.float16 and z['keys'].dtype == np.int64
            cam, keys = z['cam'], z['keys']
        assert keys.tolist() == (np.flatnonzero(it['label']) + 1).tolist()
        assert cam.shape == (len(keys), *it['image'].shape[:2])
        assert cam.min() >= 0
        np.testing.assert_allclose(cam.reshape(len(keys), -1).max(1), 1, atol=1e-3)

def test_background_channel_is_kept_first(tmp_path, model):
    ds = Items()
    run(model, tmp_path, method=BgMethod(), ds=ds)
    keys, cam = load_cam(tmp_path / 'im01.npz')
    assert keys[0] == 0 and keys[1:].tolist() == (np.flatnonzero(ds[1]['label']) + 1).tolist()
    np.testing.assert_allclose(cam.reshape(len(keys), -1).max(1), 1, atol=1e-3)
    r = eval_cams(tmp_path, ds)
    assert r['has_background'] and r['best_threshold'] is None and 0 <= r['best_miou'] <= 1
    assert len(set(r['curve']['miou'])) == 1  # argmax: no threshold involved

def test_resume_skips_good_files_and_redoes_broken_ones(tmp_path, model):
    ds = Items()
    run(model, tmp_path, ds=ds)
    files = {it['id']: tmp_path / f"{it['id']}.npz" for it in ds.items}
    past = 1_000_000_000
    for p in files.values(): os.utime(p, (past, past))
    files['im01'].write_bytes(files['im01'].read_bytes()[:100])  # a truncated file from a killed run
    files['im03'].unlink()
    st = run(model, tmp_path, ds=ds)
    assert st['n_written'] == 2 and st['n_skipped'] == len(ds) - 2
    for id_, p in files.items():
        assert cam_ok(p)
        assert (p.stat().st_mtime == past) == (id_ not in ('im01', 'im03'))
    assert run(model, tmp_path, ds=ds, overwrite=True)['n_written'] == len(ds)
    assert all(p.stat().st_mtime != past for p in files.values())

def test_resume_redoes_files_that_do_not_fit_their_image(tmp_path, model):
    "A readable CAM file of another size or other classes (another dataset's folder, an old run) is recomputed, not trusted."
    ds = Items()
    run(model, tmp_path, ds=ds)
    files = {it['id']: tmp_path / f"{it['id']}.npz" for it in ds.items}
    past = 1_000_000_000
    for p in files.values(): os.utime(p, (past, past))
    keys0, _ = load_cam(files['im00'])
    save_cam(files['im00'], keys0, np.ones((len(keys0), 32, 32), np.float32))  # right classes, wrong size (image is 48 x 36)
    k2, c2 = load_cam(files['im02'])
    other = np.array([k for k in range(1, C + 1) if k not in k2.tolist()][:1], np.int64)
    save_cam(files['im02'], other, c2[:1])  # right size, a class the image does not have
    os.utime(files['im00'], (past, past)); os.utime(files['im02'], (past, past))
    st = run(model, tmp_path, ds=ds)
    assert st['n_written'] == 2 and st['n_skipped'] == len(ds) - 2 and st['n_redone'] == 2
    for it in ds.items:
        keys, cam = load_cam(files[it['id']])
        assert cam.shape[1:] == it['image'].shape[:2] and keys.tolist() == (np.flatnonzero(it['label']) + 1).tolist()
        assert (files[it['id']].stat().st_mtime == past) == (it['id'] not in ('im00', 'im02'))

def test_image_batching_and_flip_batching_match_the_plain_loop(tmp_path, model):
    ds = Items(n=6)
    run(model, tmp_path / 'b1', ds=ds, batch_size=1, scales=(1.0, 0.5, 1.5, 2.0))
    run(model, tmp_path / 'b4', ds=ds, batch_size=4, scales=(1.0, 0.5, 1.5, 2.0))
    for it in ds.items:
        k1, c1 = load_cam(tmp_path / 'b1' / f"{it['id']}.npz"); k4, c4 = load_cam(tmp_path / 'b4' / f"{it['id']}.npz")
        assert k1.tolist() == k4.tolist()
        np.testing.assert_allclose(c1, c4, atol=2e-3)  # float16 files of maps max-normalised to 1: 2 float16 ulps at 1 (2 x 2**-10)
    # multiscale_cam on a batch == one image at a time, one flip at a time
    x = torch.randn(3, 3, 33, 47)
    with torch.inference_mode():
        batched = multiscale_cam(model.cam, x, scales=(1.0, 0.5, 1.5))
        for i in range(3):
            ref = 0
            for s in (1.0, 0.5, 1.5):
                xs = F.interpolate(x[i:i+1], size=(round(33*s), round(47*s)), mode='bicubic', align_corners=False, antialias=s < 1) if s != 1 else x[i:i+1]
                up = lambda m: F.interpolate(m, size=(33, 47), mode='bilinear', align_corners=False)[0]
                ref = ref + up(model.cam(xs)) + up(model.cam(xs.flip(-1))).flip(-1)
            torch.testing.assert_close(batched[i], ref, rtol=1e-4, atol=1e-4)  # float32, batch 3 vs 1 (other BLAS blocking), bicubic + bilinear resampling of sums of 6 maps: ~2**10 eps32

def test_normalize_rejects_channel_mismatch():
    with pytest.raises(ConfigError, match='channels'): normalize_cam(torch.rand(3, 4, 4), np.ones(4))
    keys, cam = normalize_cam(torch.rand(4, 4, 4), np.zeros(4))
    assert keys.tolist() == [] and cam.shape == (0, 4, 4)

def test_load_cam_names_the_broken_file(tmp_path):
    cases = {'missing.npz': None, 'garbage.npz': b'definitely not a zip file',
             'nokeys.npz': dict(cam=np.zeros((1, 2, 2), np.float16)),
             'mismatch.npz': dict(keys=np.array([1, 2]), cam=np.zeros((1, 2, 2), np.float16)),
             'pickled.npz': dict(keys=np.array([1]), cam=np.array([{'a': 1}], dtype=object))}
    for name, content in cases.items():
        p = tmp_path / name
        if isinstance(content, bytes): p.write_bytes(content)
        elif isinstance(content, dict): np.savez(p, **content)
        with pytest.raises(DataError, match=name): load_cam(p)
    with pytest.raises(ConfigError): save_cam(tmp_path / 'x.npz', [1, 2], np.zeros((1, 2, 2)))

def test_eval_cams_sweep_paper_threshold_and_coverage(tmp_path):
    ds = Items(n=2)
    # im00: GT object (class k) in the centre; CAM 0.6 on its left half, 0.1 on its right half, 0 elsewhere
    for it in ds.items:
        k = int(np.flatnonzero(it['label'])[0]) + 1
        m = (it['mask'] == k).astype(np.float32)
        cols = np.nonzero(m.any(0))[0]; half = cols[0] + len(cols)//2
        cam = m * 0.6; cam[:, half:] *= 1/6
        keys = np.flatnonzero(it['label']) + 1
        full = np.zeros((len(keys), *m.shape), np.float32); full[list(keys).index(k)] = cam
        save_cam(tmp_path / f"{it['id']}.npz", keys, full)
    r = eval_cams(tmp_path, ds)
    thr = np.array(r['curve']['thresholds'])
    assert 0.15 in np.round(thr, 2) and r['paper_threshold'] == pytest.approx(0.15)
    assert r['best_threshold'] == pytest.approx(0.05) and r['best_miou'] == pytest.approx(1.0)
    assert r['coverage'] == pytest.approx(1.0) and r['paper_coverage'] == pytest.approx(0.5, abs=0.05)
    cov = dict(zip(np.round(thr, 2), r['curve']['coverage']))
    assert cov[0.5] == pytest.approx(cov[0.15]) and cov[0.61] == 0.0
    assert r['paper_miou'] < r['best_miou']
    (tmp_path / 'im01.npz').unlink()
    with pytest.raises(DataError, match='im01.npz'): eval_cams(tmp_path, ds)

def test_make_cams_on_real_voc_images(tmp_path, voc_mini):
    from wsss.data import SegmentationDataset
    ds = SegmentationDataset(voc_mini, split='val')
    torch.manual_seed(0)
    net = CamNet(len(ds.class_names), backbone='tiny', weights='random', width=16)
    class First3:  # 3 real images keep the test fast
        ids, num_classes, class_names = ds.ids[:3], ds.num_classes, ds.class_names
        def __len__(self): return 3
        def __getitem__(self, i): return ds[i]
    st = make_cams(CamMethod(), net, First3(), tmp_path, scales=(1.0, 0.5), device='cpu', workers=1, progress=False)
    assert st['n_written'] == 3
    for i in range(3):
        keys, cam = load_cam(tmp_path / f'{ds.ids[i]}.npz')
        assert cam.shape[1:] == ds[i]['image'].shape[:2] and set(keys) <= set(range(1, 21))
    r = eval_cams(tmp_path, First3())
    assert 0 <= r['best_miou'] <= 1 and 0 <= r['coverage'] <= 1

def test_item_geometry_reads_headers_as_the_items_decode(voc_mini):
    "The resume check's cheap path (image header + label table) agrees with the decoded items of real VOC images."
    from wsss.cam import item_geometry
    from wsss.data import open_dataset
    ds = open_dataset('voc', voc_mini, split='train')
    for i in range(len(ds)):
        (h, w), label = item_geometry(ds, i)
        item = ds[i]
        assert (h, w) == item['image'].shape[:2] and np.array_equal(label, item['label']), ds.ids[i]
