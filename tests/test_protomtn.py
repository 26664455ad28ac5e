"ProtoMTN: contract, prototype math on hand-made tensors, bounded bank, switches, and an end-to-end run on real VOC."
import json
import pytest
import torch
import torch.nn.functional as F

from wsss.core import ConfigError
from wsss.method import check_method
from wsss.methods.protomtn import (PrototypeBank, ProtoMTNConfig, ProtoMTNMethod, bank_bytes, ema_update, kmeans_cosine, prototype_probs,
                                   rectify_labels, reliable_pixels, complete_rows, proto_nce, protomtn_loss, ProtoMTNNet)

def test_check_method():
    r = check_method('protomtn')
    assert r['loss_terms'] == ['cls', 'cons', 'loss', 'proto', 'sal', 'sal_ref', 'seg', 'seg_ref'] and r['rounds'] == 2

def test_ema_update_by_hand():
    p = torch.tensor([[0., 1.]])
    n = ema_update(p, torch.tensor([[1., 0.], [0., 1.]]), torch.tensor([3., 1.]), m=0.9)
    expect = F.normalize(0.9 * torch.tensor([0., 1.]) + 0.1 * torch.tensor([3., 1.]) / 10 ** .5, dim=0)
    assert n.tolist() == [2] and torch.allclose(p[0], expect)
    p = torch.tensor([[1., 0.], [0., 1.]])  # K = 2: only the nearest sub-prototype moves
    ema_update(p, torch.tensor([[0.6, 0.8]]), torch.ones(1), m=0.5)
    assert torch.equal(p[0], torch.tensor([1., 0.])) and torch.allclose(p[1], F.normalize(torch.tensor([0.3, 0.9]), dim=0))

def test_similarity_and_probs_by_hand():
    bank = PrototypeBank(1, 2, k=2, update='learnable')
    with torch.no_grad(): bank.protos.copy_(torch.tensor([[[1., 0.], [0., 1.]], [[-1., 0.], [0.6, 0.8]]]))
    z = torch.tensor([0., 1.]).reshape(1, 2, 1, 1)
    s = bank.similarity(z)
    assert torch.allclose(s.flatten(), torch.tensor([1.0, 0.8]))  # max over the two sub-prototypes of each row
    q = prototype_probs(s, torch.tensor([[True, True]]), tau=0.1)
    assert torch.allclose(q.flatten(), torch.softmax(torch.tensor([10., 8.]), 0))
    assert prototype_probs(s, torch.tensor([[True, False]])).flatten().tolist() == [1.0, 0.0]

def test_rectification_rule_by_hand():
    q1 = torch.tensor([.95, .6, .95, .05, .99]).reshape(1, 1, 1, 5)
    q = torch.cat([1 - q1, q1], 1)
    y0 = torch.tensor([[[1, 0, 255, 0, 0]]])
    # agree, unconfident disagreement -> ignore, confident fill, agree, confident replacement
    assert rectify_labels(y0, q, 0.9).tolist() == [[[1, 255, 1, 0, 1]]]
    assert rectify_labels(y0, q, 0.999).tolist() == [[[1, 255, 255, 0, 255]]]
    assert reliable_pixels(q, 0.9).tolist() == [[[1, 255, 1, 0, 1]]]
    assert rectify_labels(y0, torch.zeros(1, 2, 1, 5), 0.9).tolist() == y0.tolist()  # no valid row: untouched
    # an image whose class has no prototype yet is not rectified (background alone would give q_0 = 1 everywhere)
    assert complete_rows(torch.tensor([[1., 0.], [0., 0.], [0., 1.]]), torch.tensor([True, True, False])).tolist() == [True, True, False]

def test_bank_is_bounded_and_sized():
    bank = PrototypeBank(80, 16, k=2, update='kmeans', memory_size=10)
    z = F.normalize(torch.randn(2, 16, 6, 6), dim=1)
    seeds = torch.zeros(2, 81, 6, 6, dtype=torch.bool); seeds[:, 0] = True; seeds[:, 5, :3] = True
    for _ in range(7): bank.update(z, seeds, torch.rand(2, 81, 6, 6), memory_per_step=8, kmeans_every=3)
    assert bank.mem_len[0] == 10 and bank.mem_len[5] == 10 and bank.mem_len[1] == 0
    assert bank.ready[[0, 5]].all() and not bank.ready[1]
    assert bank.nbytes() == bank_bytes(80, 16, 2, 'kmeans', 10) and PrototypeBank(80, 16).nbytes() == bank_bytes(80, 16)
    assert torch.allclose(bank.protos[5].norm(dim=-1), torch.ones(2), atol=1e-5)

def test_proto_nce_ignores_unready_rows():
    s = torch.tensor([[2., 0.], [0., 2.]]).reshape(1, 2, 1, 2)
    assert torch.isclose(proto_nce(s, torch.tensor([[[0, 1]]]), torch.tensor([True, True]), 1.0), -torch.log_softmax(torch.tensor([2., 0.]), 0)[0])
    assert proto_nce(s, torch.tensor([[[1, 1]]]), torch.tensor([True, False]), 1.0) == 0

@pytest.mark.parametrize('over', [dict(proto_update='learnable'), dict(proto_update='kmeans', protos_per_class=2), dict(bg_prototypes=False),
                                  dict(use_saliency=False), dict(rectify=False)])
def test_switches_give_a_finite_loss(over):
    cfg = ProtoMTNConfig.for_profile('smoke', weights='random', **{'rectify': True, **over})
    m = ProtoMTNMethod(cfg); m._round = 1  # rectification active (unless the switch turns it off)
    net = m.build_model(2)
    B, H = 2, 32
    y = torch.zeros(B, H, H, dtype=torch.long); y[:, 8:24, 8:24] = 1; y[:, :2] = 255
    batch = dict(image=torch.randn(B, 3, H, H), label=torch.tensor([[1., 0.], [1., 1.]]), pseudo=y, saliency=(y == 1).float()[:, None])
    t = m.loss(net, batch)
    assert torch.isfinite(t['loss']) and set(t) >= {'proto', 'cons'}
    t['loss'].backward()
    assert net.proj[0].weight.grad is not None
    if over.get('proto_update') == 'learnable': assert net.bank.protos.grad is not None

def test_bad_switches():
    for bad in (dict(proto_update='sgd'), dict(protos_per_class=0), dict(proto_momentum=1.0), dict(proto_update='kmeans', memory_size=0)):
        with pytest.raises(ConfigError): ProtoMTNConfig.for_profile('smoke', **bad)

def test_reproduce_voc_smoke(voc_mini, tmp_path):
    from wsss.cli import main
    out = tmp_path / 'runs'
    rc = main(['reproduce', '--dataset', 'voc', '--data-root', str(voc_mini), '--profile', 'smoke', '--methods', 'protomtn',
               '--out', str(out), '--figures', str(out / 'figures'), '--quiet'])
    assert rc == 0
    r = json.loads((out / 'voc' / 'smoke' / 'results.json').read_text())['methods']['protomtn']
    assert 0 <= r['cam_miou'] <= 1 and 0 <= r['pseudo_miou'] <= 1
    train = out / 'voc' / 'smoke' / 'protomtn' / 'train'
    assert (train / 'round1' / 'pgt' / 'seg').is_dir() and not (train / 'round1' / 'pgt' / 'rectified.json').exists()  # rectify is off by default
    assert (out / 'figures' / 'protomtn_prototypes_voc_smoke.png').is_file()
    table = (out / 'figures' / 'protomtn_ablation_voc_smoke.md').read_text()  # the ablation stage runs on real images too
    assert '| rectify=True |' in table and '| auxsegnet (baseline) |' in table
