"""torchrun-style data parallelism on CPU: 2 processes with the gloo backend (spawned by torch.multiprocessing).

What is asserted, and why:
* training: DDP averages the gradients of the 2 shards of each batch. With a mean loss over images and no batch
  statistics (the tiny backbone uses GroupNorm), that is the gradient of one process on the whole batch, so the
  weights after training equal the single-process weights up to float summation order (asserted within a float32
  bound derived below, `_order_tol`, while a run that sees other images is off by far more; bitwise equality is not
  what the math gives);
* resume: a DDP run interrupted after epoch 1 and resumed ends where the uninterrupted single-process run ends;
* sharded passes: make_cams and make_pseudo_labels over ids[rank::2] from the same model give byte-identical files
  (each file depends on its own image only), hence the same mIoU.
"""
import json, os, shutil, socket
from pathlib import Path
import numpy as np
import pytest, torch
import torch.multiprocessing as mp
from wsss.cam import eval_cams, make_cams
from wsss.data import collate, train_transform
from wsss.method import RandomDataset, TransformedDataset, get_method, load_trained, train_method
from wsss.nets import CamNet, multilabel_loss
from wsss.pseudo import eval_pseudo_labels, make_pseudo_labels
from wsss.train import fit, make_loader

_ENV = ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT')


def _data(): return RandomDataset(8, 3, (40, 48), seed=0)


def _train(out, seed=0):
    "train_method on the smoke profile: batch 4, 8 images, 2 epochs = 4 steps."
    cfg = get_method('cam').Config.for_profile('smoke', weights='random', epochs=2)
    return train_method('cam', _data(), out, cfg, device='cpu', seed=seed, progress=False, log_every=1)


def _fit(out, crash_after=None):
    "fit on the tiny CAM net (2 epochs of 2 steps); `crash_after`: raise after that epoch's checkpoint."
    torch.manual_seed(0)
    net = CamNet(3, 'tiny', weights='random', frozen_stages=0, width=8)
    loader = make_loader(TransformedDataset(_data(), train_transform(32, resize_long=(32, 48))), 4, seed=0, collate_fn=collate)
    def stop(epoch, summary):
        if epoch == crash_after: raise KeyboardInterrupt
    loss = lambda m, b: dict(loss=multilabel_loss(m(b['image']), b['label']))
    groups = [dict(params=net.backbone_parameters()), dict(params=net.new_parameters(), lr_mult=10)]
    res = fit(net, loader, loss, groups, epochs=2, out_dir=out, lr=0.1, device='cpu', progress=False, on_epoch_end=stop)
    return net, res


def _passes(model_dir, cams, pseudo):
    method, model = load_trained(model_dir)
    ds = _data()
    c = make_cams(method, model, ds, cams, scales=(1.0, 0.5), flip=True, device='cpu', batch_size=2, progress=False, workers=0)
    p = make_pseudo_labels(cams, ds, pseudo, kind='ir', workers=0, progress=False)
    return c, p


def _worker(rank, world, port, out, ref_model):
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.set_num_threads(1)
    out = Path(out)
    res = _train(out / 'train')
    try: _fit(out / 'fit', crash_after=1)
    except KeyboardInterrupt: pass
    _, r2 = _fit(out / 'fit')
    c, p = _passes(ref_model, out / 'cams', out / 'pseudo')  # the single-process model: the passes must not change a bit
    (out / f'rank{rank}.json').write_text(json.dumps(dict(world=torch.distributed.get_world_size(), rounds=res['rounds'],
                                                          resumed=r2['resumed_from_epoch'], fit_world=r2['world_size'],
                                                          cams=c['n_written'], pseudo=p['n_written'])))
    torch.distributed.destroy_process_group()


def _port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def _state(path): return torch.load(path, map_location='cpu', weights_only=True)


EPS32 = torch.finfo(torch.float32).eps  # 2**-23: the relative rounding of one float32 operation

def _order_tol(steps, scale):
    """How far two float32 trainings that differ only in summation order may drift apart, from the dtype and the
    operation (not from a measurement on one machine). Each SGD step adds lr * grad to a weight; the gradient is a float32
    sum over at most 2**16 products (4 images x 32 x 48 positions x channels), taken in another order by the 2 processes
    (per-shard partial sums, then gloo's all-reduce of the halves) and by BLAS under other thread counts. A sum of n terms
    in blocked or pairwise order, as ATen and BLAS take it, is off by about log2(n) = 16 roundings relative to the weight
    scale, and momentum 0.9 carries every step's difference into the later ones, a factor of at most 1 / (1 - 0.9) = 10.
    Over `steps` steps: steps * 16 * 10 * eps32 * scale (about 1.5e-5 per step at scale 1, far below the 1e-3 that seeing
    other images moves the weights)."""
    return steps * 16 * 10 * EPS32 * scale


def test_two_gloo_processes_match_one(tmp_path, monkeypatch):
    for k in _ENV: monkeypatch.delenv(k, raising=False)
    threads = torch.get_num_threads(); torch.set_num_threads(1)
    try:
        one = _train(tmp_path / 'one' / 'train')
        other_seed = _train(tmp_path / 'seed1' / 'train', seed=1)
        net1, r1 = _fit(tmp_path / 'one' / 'fit')
        c1, p1 = _passes(tmp_path / 'one' / 'train', tmp_path / 'one' / 'cams', tmp_path / 'one' / 'pseudo')
    finally: torch.set_num_threads(threads)
    two = tmp_path / 'two'
    mp.spawn(_worker, args=(2, _port(), str(two), str(tmp_path / 'one' / 'train')), nprocs=2, join=True)
    ranks = [json.loads((two / f'rank{r}.json').read_text()) for r in range(2)]
    assert [r['world'] for r in ranks] == [2, 2] and [r['fit_world'] for r in ranks] == [2, 2]
    # training: model.pt (written by rank 0 only) equals the single-process one up to summation order
    a, b, s1 = (_state(p / 'train' / 'model.pt')['state_dict'] for p in (tmp_path / 'one', two, tmp_path / 'seed1'))
    assert a.keys() == b.keys()
    diff = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
    other = max((a[k].float() - s1[k].float()).abs().max().item() for k in a)
    tol = _order_tol(4, max(v.float().abs().max().item() for v in a.values()))  # smoke: 2 epochs x 2 steps
    assert diff <= tol < 1e-3 < other, (diff, tol, other)
    # losses logged by the DDP run are the averages over both shards = the single-process batch losses
    l1 = [json.loads(l)['loss'] for l in (tmp_path / 'one' / 'train' / 'round0' / 'train_log.jsonl').read_text().splitlines()]
    l2 = [json.loads(l)['loss'] for l in (two / 'train' / 'round0' / 'train_log.jsonl').read_text().splitlines()]
    # the logged loss of step s comes from weights that differ by at most _order_tol(s - 1): relative, per step
    assert len(l1) == len(l2) == 4 and np.allclose(l1, l2, rtol=_order_tol(4, 1), atol=0)
    assert ranks[0]['rounds'][0]['final'] == ranks[1]['rounds'][0]['final']  # every process returns the same (averaged) losses
    # resume under DDP: interrupted after epoch 1, resumed, = the uninterrupted single-process run
    assert [r['resumed'] for r in ranks] == [1, 1]
    f2 = _state(two / 'fit' / 'checkpoint.pt')['model']
    w1 = net1.state_dict()
    diff = max((v.float() - f2[k].float()).abs().max().item() for k, v in w1.items())
    assert diff <= _order_tol(4, max(v.float().abs().max().item() for v in w1.values())), diff  # fit: 2 epochs x 2 steps
    # sharded passes: 4 + 4 files, byte-identical to one process's
    assert sorted(r['cams'] for r in ranks) == [4, 4] and sorted(r['pseudo'] for r in ranks) == [4, 4]
    for sub, ext in (('cams', 'npz'), ('pseudo', 'png')):
        names = sorted(p.name for p in (tmp_path / 'one' / sub).glob(f'*.{ext}'))
        assert len(names) == 8 and names == sorted(p.name for p in (two / sub).glob(f'*.{ext}'))
        for n in names: assert (tmp_path / 'one' / sub / n).read_bytes() == (two / sub / n).read_bytes(), n
    ds = _data()
    assert eval_cams(two / 'cams', ds)['best_miou'] == eval_cams(tmp_path / 'one' / 'cams', ds)['best_miou']
    assert eval_pseudo_labels(two / 'pseudo', ds, confident=True)['miou'] == eval_pseudo_labels(tmp_path / 'one' / 'pseudo', ds, confident=True)['miou']


def test_batch_must_split_evenly_over_processes():
    from wsss.core import ConfigError
    with pytest.raises(ConfigError, match='not divisible'): make_loader(list(range(8)), 3, rank=0, world_size=2)
    with pytest.raises(ConfigError, match='rank'): make_loader(list(range(8)), 4, rank=2, world_size=2)
