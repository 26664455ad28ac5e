"""Peak memory of AuxSegNet's hw x hw affinities (task affinities, cross-task fusion, refinement) on CPU.

Each case runs in a fresh subprocess: the heads of the paper architecture (128-channel seg/sal branches on a
4096-channel ResNet-38d feature map at stride 8, 21 classes) are fed a random feature map of the size the
backbone gives, and the peak resident-set growth over the forward (and backward for training) is reported.
The backbone's own memory is left out: this isolates what the affinities add.

    python benchmarks/bench_auxsegnet_memory.py            # all cases
    python benchmarks/bench_auxsegnet_memory.py --case voc_full_dense
"""
import argparse, json, resource, subprocess, sys, time

CASES = {  # name: (batch, h, w, train, block)  -- 321 crop -> 41 x 41; 500 x 375 -> 63 x 47; 640 x 640 -> 80 x 80 at stride 8
    'crop321_train_b4': (4, 41, 41, True, 0),
    'crop321_train_b1': (1, 41, 41, True, 0),
    'voc_full_dense': (1, 47, 63, False, 0),
    'voc_full_blocked': (1, 47, 63, False, 512),
    'coco640_dense': (1, 80, 80, False, 0),
    'coco640_blocked': (1, 80, 80, False, 512),
}

def _rss_mb():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS'): return int(line.split()[1]) / 1024

def run_case(name):
    import torch
    from wsss.methods.auxsegnet import AuxSegNetNet, TaskBranch, _conv
    torch.manual_seed(0); torch.set_num_threads(1)
    B, h, w, train, block = CASES[name]
    net = AuxSegNetNet(20, 'tiny', 'random', width=16, head_channels=128)
    net.fc8, net.seg, net.sal = _conv(4096, 20, 1, bias=False), TaskBranch(4096, 128, 21), TaskBranch(4096, 128, 1)
    net.features = lambda x: x  # feed the backbone's feature map directly
    f = torch.randn(B, 4096, h, w)
    base = _rss_mb(); t0 = time.perf_counter()
    if train:
        out = net.train()(f)
        (out['seg_ref'].mean() + out['sal_ref'].mean() + out['seg'].mean() + out['sal'].mean()).backward()
    else:
        with torch.no_grad(): net.eval()(f, refine_cam=True, block=block)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n = h * w
    return dict(case=name, batch=B, grid=f'{h}x{w}', positions=n, train=train, block=block or None,
                one_affinity_mb=round(B * n * n * 4 / 2**20, 1), peak_growth_mb=round(peak - base, 1), seconds=round(time.perf_counter() - t0, 2))

if __name__ == '__main__':
    ap = argparse.ArgumentParser(); ap.add_argument('--case'); ap.add_argument('--child', action='store_true')
    a = ap.parse_args()
    if a.child: print(json.dumps(run_case(a.case))); sys.exit()
    for name in ([a.case] if a.case else CASES):
        r = subprocess.run([sys.executable, __file__, '--case', name, '--child'], capture_output=True, text=True)
        print(r.stdout.strip() if r.returncode == 0 else f'{name}: failed\n{r.stderr[-2000:]}', flush=True)
