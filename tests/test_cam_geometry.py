"""The `official` CAM geometry equals IRN's `step/make_cam.py` (`high_res`) on real VOC images.

The reference below is written from IRN's algorithm, one image at a time, with no wsss code in the loop:
- the network is torchvision's ResNet-50 with IRN's strides (2, 2, 2, 1) (`net/resnet50.py`: the stride of a
  bottleneck sits on its 3x3 conv and on its 1x1 downsample), loaded from the checkpoint's `resnet50.*` keys,
  and the CAM is `ReLU(conv2d(features, classifier.weight))` (`net/resnet50_cam.CAM`);
- per scale: PIL bicubic resize of the uint8 image to (round(H s), round(W s)) (`imutils.pil_rescale`,
  skipped at s = 1), `(img / 255 - mean) / std` (`TorchvisionNormalize`), a forward on [image, flipped image],
  `x[0] + x[1].flip(-1)` on the stride-16 map, bilinear (align_corners=False) upsampling to
  (ceil(H/16) 16, ceil(W/16) 16) and a crop to H x W (`get_strided_up_size`);
- sum over scales, keep the label's classes, divide by max + 1e-5.
The weights are seeded random ones saved in IRN's own key layout (every alias), as a released
`res50_cam.pth` is. The images are real VOC photos from the fixture, shrunk so that a CPU runs the four
scales in seconds, to sizes that are not multiples of 16 (where the geometries differ).
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from wsss.cam import load_cam, make_cams
from wsss.data import open_dataset
from wsss.methods.cam import CamMethod
from wsss.nets import CamNet, to_irn_state_dict

SCALES = (1.0, 0.5, 1.5, 2.0)  # IRN run_sample.py cam_scales
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
IDS = ('2007_002273', '2007_008468')  # two real train images of the fixture (320 px wide)
SIZES = ((122, 83), (117, 93))  # W x H they are shrunk to: neither side a multiple of 16

class Shrunk:
    "The fixture's items for IDS, images resized to SIZES (the uint8 images both pipelines see)."
    def __init__(self, root):
        ds = open_dataset('voc', root, split='train')
        self.class_names, self.num_classes = ds.class_names, ds.num_classes
        self.items = []
        for id_, size in zip(IDS, SIZES):
            item = ds[ds.ids.index(id_)]
            img = np.asarray(Image.fromarray(item['image']).resize(size, Image.BILINEAR))
            self.items.append(dict(id=id_, image=img, label=item['label']))
        self.ids = list(IDS)
    def __len__(self): return len(self.items)
    def __getitem__(self, i): return dict(self.items[i])

def reference_net(state_dict, num_classes=20):
    "IRN's resnet50_cam.CAM rebuilt from torchvision's ResNet-50 and the checkpoint's `resnet50.*` keys."
    import torchvision
    net = torchvision.models.resnet50(weights=None)
    net.layer4[0].conv2.stride = (1, 1); net.layer4[0].downsample[0].stride = (1, 1)  # strides (2, 2, 2, 1)
    backbone = {k[len('resnet50.'):]: v for k, v in state_dict.items() if k.startswith('resnet50.')}
    missing, unexpected = net.load_state_dict(backbone, strict=False)
    assert set(missing) == {'fc.weight', 'fc.bias'} and not unexpected, (missing, unexpected)
    net.eval()
    body = torch.nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3, net.layer4)
    w = state_dict['classifier.weight']
    assert w.shape == (num_classes, 2048, 1, 1)
    def cam(pair):  # 2 x 3 x h x w -> C x h' x w', flip pair merged on the stride-16 map
        x = F.relu(F.conv2d(body(pair), w))
        return x[0] + x[1].flip(-1)
    return cam

def reference_make_cam(cam, img, label):
    "IRN make_cam's `high_res` for one uint8 image: (keys, K x H x W in [0, 1])."
    H, W = img.shape[:2]
    up = ((H - 1) // 16 * 16 + 16, (W - 1) // 16 * 16 + 16)
    total = 0
    for s in SCALES:
        if s == 1: si = img
        else:
            th, tw = int(np.round(H * s)), int(np.round(W * s))
            si = np.asarray(Image.fromarray(img).resize((tw, th), Image.BICUBIC))
        x = np.empty(si.shape, np.float32)
        for c in range(3): x[..., c] = (si[..., c] / 255. - MEAN[c]) / STD[c]
        x = torch.from_numpy(x.transpose(2, 0, 1).copy())
        with torch.no_grad(): o = cam(torch.stack([x, x.flip(-1)]))
        total = total + F.interpolate(o[:, None], up, mode='bilinear', align_corners=False)[:, 0, :H, :W]
    keys = np.flatnonzero(label) + 1
    kept = total[torch.as_tensor(keys - 1)]
    kept = kept / (kept.flatten(1).max(1).values[:, None, None] + 1e-5)
    return keys, kept.numpy()

@pytest.fixture(scope='module')
def setup(voc_mini, tmp_path_factory):
    torch.manual_seed(0)
    ref = CamNet(20, 'resnet50', 'random', (2, 2, 2, 1), 2)
    with torch.no_grad():  # non-trivial BN statistics, so that a BN mix-up cannot hide
        for m in ref.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1); m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5); m.bias.normal_(0, 0.1)
    sd = to_irn_state_dict(ref)
    d = tmp_path_factory.mktemp('geometry')
    torch.save(sd, d / 'res50_cam.pth')
    data = Shrunk(voc_mini)
    cam = reference_net(sd)
    refs = {it['id']: reference_make_cam(cam, it['image'], it['label']) for it in data.items}
    return d, data, refs

def max_diffs(setup, geometry):
    d, data, refs = setup
    method = CamMethod(profile='paper')
    model = method.load_official_checkpoint(d / 'res50_cam.pth', 20)
    out = d / geometry
    make_cams(method, model, data, out, scales=SCALES, flip=True, device='cpu', workers=0, progress=False,
              geometry=geometry, batch_size=2)
    diffs = {}
    for id_, (keys, ref) in refs.items():
        k, c = load_cam(out / f'{id_}.npz')
        assert k.tolist() == keys.tolist() and c.shape == ref.shape
        diffs[id_] = float(np.abs(c - ref).max())
    print(geometry, diffs)
    return diffs

def test_official_geometry_equals_irn_make_cam(setup):
    diffs = max_diffs(setup, 'official')
    assert max(diffs.values()) <= 1e-3, diffs  # float16 storage: <= 2.5e-4 on [0, 1]

def test_aligned_geometry_is_not_irn(setup):
    "The batched geometry is a different computation: the equivalence test above can tell them apart."
    diffs = max_diffs(setup, 'aligned')
    assert max(diffs.values()) > 1e-2, diffs
