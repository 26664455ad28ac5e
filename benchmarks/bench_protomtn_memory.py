"""What ProtoMTN adds to one paper-profile AuxSegNet training step, on CPU: the prototype bank (analytic = measured
tensor bytes) and the peak RSS growth and seconds of the prototype part of a step (projection head on the 4096-channel
ResNet-38d feature map at stride 8, bank update, similarities, InfoNCE, consistency; forward + backward) at crop 321
(41 x 41 grid) and batch 4. The AuxSegNet part of the step is benchmarks/bench_auxsegnet_memory.py. Each case runs in
a fresh subprocess.

    python benchmarks/bench_protomtn_memory.py
"""
import json, subprocess, sys, time

CASES = {'voc_k1_ema': (20, 1, 'ema', 0), 'voc_k4_kmeans': (20, 4, 'kmeans', 500), 'coco_k1_ema': (80, 1, 'ema', 0), 'coco_k4_kmeans': (80, 4, 'kmeans', 500)}

from bench_auxsegnet_memory import _rss_mb  # same folder (sys.path[0] when run as a script)

def run_case(name):
    import resource, torch, torch.nn.functional as F
    from wsss.methods.protomtn import PrototypeBank, bank_bytes, prototype_seeds, proto_nce, cam_proto_consistency, ProtoMTNConfig
    torch.manual_seed(0); torch.set_num_threads(1)
    C, K, upd, M = CASES[name]
    B, h, w, D, d = 4, 41, 41, 4096, 128
    cfg = ProtoMTNConfig.for_profile('paper', protos_per_class=K, proto_update=upd, memory_size=max(M, K))
    proj = torch.nn.Sequential(torch.nn.Conv2d(D, 128, 1), torch.nn.ReLU(), torch.nn.Conv2d(128, d, 1))
    bank = PrototypeBank(C, d, K, upd, M)
    f = torch.randn(B, D, h, w); cam = torch.randn(B, C, h, w, requires_grad=True)
    y = torch.randint(0, C + 1, (B, h, w)); sal = torch.rand(B, h, w); label = torch.zeros(B, C); label[:, :3] = 1
    base = _rss_mb(); t0 = time.perf_counter()
    z = F.normalize(proj(f), dim=1)
    camn = torch.relu(cam.detach()); camn = camn / (camn.amax((2, 3), keepdim=True) + 1e-5) * label[:, :, None, None]
    seeds, wts = prototype_seeds(camn, y, sal, cfg)
    bank.update(z.detach(), seeds, wts, cfg.memory_per_step, 1, cfg.kmeans_iters)  # kmeans_every=1: the k-means refresh is in the step
    s = bank.similarity(z)
    valid = torch.cat([torch.ones(B, 1, dtype=torch.bool), label > 0], 1)
    loss = 0.1 * proto_nce(s, y, bank.ready, 0.1) + cam_proto_consistency(cam, s, valid)
    loss.backward()
    sec = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(dict(case=name, classes=C + 1, K=K, update=upd, memory=M, bank_bytes=bank.nbytes(), bank_bytes_analytic=bank_bytes(C, d, K, upd, M),
                          step_seconds=round(sec, 2), peak_rss_growth_mb=round(peak - base, 1))))

if __name__ == '__main__':
    if len(sys.argv) > 2 and sys.argv[1] == '--case': run_case(sys.argv[2]); sys.exit(0)
    for name in CASES:
        subprocess.run([sys.executable, __file__, '--case', name], check=True)
