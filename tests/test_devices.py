"""Device discipline without a GPU: no method makes a tensor on the default device next to its model's tensors.

On a GPU run the model and the batch live on CUDA, and a tensor made without `device=` (`torch.arange(C)`,
`torch.ones(B, 1)`) lands on the CPU: the first op that mixes the two fails, hours into a paper run. Here the model and
the batch stay on the CPU while PyTorch's default device is `meta` (`with torch.device('meta')`): every tensor made
without an explicit device becomes a meta tensor, and mixing it with the CPU tensors fails the same way. Data-dependent
code (`.item()`, boolean masks) still runs on the real CPU tensors. Two training steps (the second one updates
ProtoMTN's ready prototypes), backward, and every inference entry point of each method are covered.
"""
import tempfile
from pathlib import Path
import pytest
import torch
from wsss.core import seed_everything
from wsss.data import collate
from wsss.method import RandomDataset, RoundContext, TransformedDataset, available_methods, get_method

VARIANTS = [(k, {}) for k in available_methods()] + [
    ('protomtn', dict(proto_update='kmeans', kmeans_every=1)),  # the memory queue and its k-means refresh
    ('protomtn', dict(rectify=True, rectify_from_round=0)),  # rectified labels and saliency in the loss
    ('protomtn', dict(bg_prototypes=False)),
]


@pytest.mark.parametrize('key,overrides', VARIANTS, ids=[f"{k}{'-' + '-'.join(o) if o else ''}" for k, o in VARIANTS])
def test_no_tensor_is_made_on_the_default_device(key, overrides, tmp_path):
    cls = get_method(key)
    cfg = cls.Config.for_profile('smoke', **{'weights': 'random', 'epochs': 1, **overrides})
    method, ds = cls(cfg), RandomDataset(8, 3, (64, 80), seed=0)
    seed_everything(0)
    ctx = RoundContext(dataset=ds, out_dir=tmp_path, round_dir=tmp_path / 'r0', round_index=0, num_rounds=method.num_rounds,
                       num_classes=3, class_names=tuple(ds.class_names), device=torch.device('cpu'), seed=0)
    ctx.round_dir.mkdir()
    method.before_round(0, ctx)
    model = method.round_model(0, ctx).train()
    tds = TransformedDataset(ctx.dataset, method.train_transform())
    batch = collate([tds[i] for i in range(4)])
    with torch.device('meta'):
        for _ in range(2):
            out = method.loss(model, batch)
            out['loss'].backward()
        model.eval()
        with torch.no_grad():
            cam = method.cam_forward(model, batch['image'])
            scores = method.class_scores(model, batch['image'])
            seg = method.segmentation_model(model)
            if seg is not None: seg(batch['image'])
            if key == 'protomtn':  # the label-conditioned maps of the round update (rectify_pseudo_folder) and the report
                from wsss.methods.protomtn import prototype_maps
                maps = prototype_maps(model, batch['image'], cfg, batch['label'])
                assert maps['q'].device.type == 'cpu'
    assert cam.device.type == scores.device.type == 'cpu' and torch.isfinite(out['loss'])


def test_the_check_fails_on_a_tensor_made_without_a_device():
    "The mechanism itself: a CPU-created tensor next to a model tensor is caught (what a CUDA run would hit)."
    x = torch.ones(2, 3)
    with torch.device('meta'):
        with pytest.raises((RuntimeError, NotImplementedError)): (x + torch.arange(3)).sum().item()
        assert (x + torch.arange(3, device=x.device)).sum().item() == 12.0
