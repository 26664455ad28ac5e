"wsss.train: poly-LR SGD, the official momentum bug switch, checkpoints, exact resume, logs, determinism."
import json, math
import pytest, torch
from wsss.core import ConfigError, DataError, WsssError
from wsss.data import collate, train_transform
from wsss.method import RandomDataset, TransformedDataset
from wsss.nets import CamNet, multilabel_loss
from wsss.train import fit, make_loader, make_optimizer, poly_lr


def _setup(workers=0, seed=0):
    "A tiny CAM net on noisy images with the real random-resize/crop/flip augmentation."
    torch.manual_seed(0)
    net = CamNet(3, 'tiny', weights='random', frozen_stages=0, width=16)
    ds = TransformedDataset(RandomDataset(12, 3, (48, 56)), train_transform(40, resize_long=(36, 60)))
    loader = make_loader(ds, 4, seed=seed, num_workers=workers, collate_fn=collate)
    groups = [dict(params=net.backbone_parameters()), dict(params=net.new_parameters(), lr_mult=10)]
    return net, loader, groups


def _loss(model, batch):
    cls = multilabel_loss(model(batch['image']), batch['label'])
    return dict(loss=cls, cls=cls, half=cls / 2)


def _fit(out, workers=0, epochs=3, **kw):
    net, loader, groups = _setup(workers)
    res = fit(net, loader, _loss, groups, epochs=epochs, out_dir=out, lr=0.05, device='cpu', progress=False, log_every=2, **kw)
    return net, res


@pytest.fixture(scope='module')
def reference(tmp_path_factory):
    "One uninterrupted 3-epoch run shared by the tests that compare against it."
    out = tmp_path_factory.mktemp('reference')
    net, res = _fit(out)
    return net, res, out


def test_resume_after_interruption_equals_uninterrupted_run(tmp_path, reference):
    full, r_full, full_dir = reference

    class Crash(Exception): pass
    def crash_after_first(epoch, summary):
        if epoch == 1: raise Crash
    with pytest.raises(Crash): _fit(tmp_path / 'cut', on_epoch_end=crash_after_first)
    assert torch.load(tmp_path / 'cut' / 'checkpoint.pt', weights_only=True)['epoch'] == 1
    resumed, r = _fit(tmp_path / 'cut')
    assert r['resumed_from_epoch'] == 1 and r['steps'] == r_full['steps'] == 9
    for (k, a), b in zip(full.state_dict().items(), resumed.state_dict().values()): assert torch.equal(a, b), k
    assert [h['loss'] for h in r['history']] == [h['loss'] for h in r_full['history']]
    # the log of the resumed run has no duplicated or missing steps
    steps = [json.loads(l)['step'] for l in (tmp_path / 'cut' / 'train_log.jsonl').read_text().splitlines()]
    assert steps == [json.loads(l)['step'] for l in (full_dir / 'train_log.jsonl').read_text().splitlines()]


def test_interrupt_mid_epoch_redoes_that_epoch(tmp_path, reference):
    full = reference[0]
    calls = {'n': 0}
    def loss_then_kill(model, batch):
        calls['n'] += 1
        if calls['n'] == 5: raise KeyboardInterrupt  # during epoch 2 (3 steps per epoch)
        return _loss(model, batch)
    net, loader, groups = _setup()
    with pytest.raises(KeyboardInterrupt):
        fit(net, loader, loss_then_kill, groups, epochs=3, out_dir=tmp_path / 'cut', lr=0.05, device='cpu', progress=False, log_every=2)
    resumed, r = _fit(tmp_path / 'cut')
    assert r['resumed_from_epoch'] == 1
    assert all(torch.equal(a, b) for a, b in zip(full.state_dict().values(), resumed.state_dict().values()))


def test_finished_run_is_not_retrained_and_changed_settings_are_refused(tmp_path, reference):
    import shutil
    a = reference[0]; shutil.copytree(reference[2], tmp_path, dirs_exist_ok=True)
    b, r2 = _fit(tmp_path)
    assert r2['resumed_from_epoch'] == 3 and r2['steps'] == 9
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    net, loader, groups = _setup()
    with pytest.raises(ConfigError, match='checkpoint.pt'):
        fit(net, loader, _loss, groups, epochs=3, out_dir=tmp_path, lr=0.01, device='cpu', progress=False)
    r3 = fit(net, loader, _loss, groups, epochs=1, out_dir=tmp_path, lr=0.01, device='cpu', progress=False, resume=False)
    assert r3['resumed_from_epoch'] == 0 and r3['steps'] == 3


def test_runs_are_deterministic_with_worker_processes(tmp_path):
    a, _ = _fit(tmp_path / 'a', workers=1, epochs=2)
    b, _ = _fit(tmp_path / 'b', workers=1, epochs=2)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_log_has_every_term_and_the_poly_lr(reference):
    log = [json.loads(l) for l in (reference[2] / 'train_log.jsonl').read_text().splitlines()]
    assert [l['step'] for l in log] == [2, 3, 4, 6, 8, 9] and [l['epoch'] for l in log] == [1, 1, 2, 2, 3, 3]
    assert all({'loss', 'cls', 'half', 'lr', 'seconds'} <= set(l) for l in log)
    assert all(math.isclose(l['half'], l['cls'] / 2, rel_tol=1e-5) for l in log)
    # lr logged after step t is the one step t used: base * (1 - (t-1)/T) ** 0.9
    assert all(math.isclose(l['lr'], poly_lr(0.05, l['step'] - 1, 9, 0.9)) for l in log)


def test_official_momentum_bug_switches_the_momentum(tmp_path, reference):
    p = [torch.nn.Parameter(torch.zeros(3))]
    real = make_optimizer([dict(params=p)], 0.1, momentum=0.9, weight_decay=5e-4)
    bug = make_optimizer([dict(params=p)], 0.1, momentum=0.9, weight_decay=5e-4, official_momentum_bug=True)
    assert real.param_groups[0]['momentum'] == 0.9 and bug.param_groups[0]['momentum'] == 5e-4
    assert real.param_groups[0]['weight_decay'] == bug.param_groups[0]['weight_decay'] == 5e-4  # decay still acts
    b, _ = _fit(tmp_path / 'bug', official_momentum_bug=True, weight_decay=1e-4)
    saved = torch.load(tmp_path / 'bug' / 'checkpoint.pt', weights_only=True)['optimizer']['param_groups']
    assert [g['momentum'] for g in saved] == [1e-4, 1e-4] and [g['lr_mult'] for g in saved] == [1.0, 10.0]
    real = torch.load(reference[2] / 'checkpoint.pt', weights_only=True)['optimizer']['param_groups']
    assert [g['momentum'] for g in real] == [0.9, 0.9]
    assert not torch.equal(reference[0].classifier.weight, b.classifier.weight)


def test_param_group_validation():
    p = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(ConfigError, match='repeats'): make_optimizer([dict(params=[p]), dict(params=[p])], 0.1)
    with pytest.raises(ConfigError, match='no trainable'): make_optimizer([dict(params=[torch.nn.Parameter(torch.zeros(1), requires_grad=False)])], 0.1)
    g = make_optimizer([dict(params=[p], lr_mult=10, weight_decay=0.0)], 0.1, weight_decay=1e-4).param_groups[0]
    assert (g['lr'], g['weight_decay']) == (1.0, 0.0)


def test_bad_inputs(tmp_path):
    net, loader, groups = _setup()
    with pytest.raises(WsssError, match='non-finite'):
        fit(net, loader, lambda m, b: m(b['image']).sum() * float('nan'), groups, epochs=1, out_dir=tmp_path / 'nan', lr=0.1, device='cpu', progress=False, log_every=1)
    small = make_loader(TransformedDataset(RandomDataset(3), train_transform(32, resize_long=(32, 40))), 4, collate_fn=collate)
    with pytest.raises(DataError, match='no batch'):
        fit(net, small, _loss, groups, epochs=1, out_dir=tmp_path / 'e', lr=0.1, device='cpu', progress=False)
    with pytest.raises(ConfigError, match="'loss'"):
        fit(net, loader, lambda m, b: dict(total=_loss(m, b)['loss']), groups, epochs=1, out_dir=tmp_path / 'k', lr=0.1, device='cpu', progress=False)


def test_grad_clip_bounds_the_update(tmp_path):
    net, loader, groups = _setup()
    w0 = net.classifier.weight.detach().clone()
    fit(net, loader, lambda m, b: dict(loss=_loss(m, b)['loss'] * 1e4), groups, epochs=1, out_dir=tmp_path, lr=0.01,
        momentum=0.0, weight_decay=0.0, grad_clip=1e-3, device='cpu', progress=False)
    # 3 steps, each |delta| <= lr * 10 (lr_mult) * clip
    assert (net.classifier.weight.detach() - w0).norm() <= 3 * 0.1 * 1e-3 * 1.0001


def test_resume_says_from_which_epoch(tmp_path, capsys):
    class Crash(Exception): pass
    def crash(epoch, summary):
        if epoch == 2: raise Crash
    with pytest.raises(Crash): _fit(tmp_path, on_epoch_end=crash)
    net, loader, groups = _setup()
    r = fit(net, loader, _loss, groups, epochs=3, out_dir=tmp_path, lr=0.05, device='cpu', progress=True, log_every=2)
    assert r['resumed_from_epoch'] == 2
    assert 'resumed from epoch 2 of 3' in capsys.readouterr().err

def test_adamw_resume_is_exact_and_its_checkpoint_refuses_sgd(tmp_path):
    "optimizer='adamw' (the CPU profiles): AdamW state is checkpointed, so a resumed run equals a straight one."
    straight, _ = _fit(tmp_path / 'a', epochs=2, optimizer='adamw')
    class Crash(Exception): pass
    def crash(epoch, summary): raise Crash
    with pytest.raises(Crash): _fit(tmp_path / 'b', epochs=2, optimizer='adamw', on_epoch_end=crash)  # killed after epoch 1 of 2
    resumed, res = _fit(tmp_path / 'b', epochs=2, optimizer='adamw')
    assert res['resumed_from_epoch'] == 1
    assert all(torch.equal(p, q) for p, q in zip(straight.state_dict().values(), resumed.state_dict().values()))
    assert 'exp_avg' in str(torch.load(tmp_path / 'a' / 'checkpoint.pt', weights_only=True)['optimizer']['state'])
    with pytest.raises(ConfigError, match='other training settings'): _fit(tmp_path / 'a', epochs=2)  # sgd on an adamw checkpoint
