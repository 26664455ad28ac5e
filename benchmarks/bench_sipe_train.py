"""One paper-profile training step of SIPE (ResNet-50 OS16, crop 512) on CPU: time and peak memory per batch size.

    python benchmarks/bench_sipe_train.py                       # batch sizes 1 2 4, SIPE and the CAM baseline
    python benchmarks/bench_sipe_train.py --batch 16 --methods sipe   # the paper's batch (slow on a small CPU)

Each (method, batch) runs in a fresh subprocess: one warm-up step, then `--steps` timed steps of forward, loss,
backward, gradient clipping (SIPE: max norm 1) and the SGD update, on random images with random labels (random-init
weights: no ImageNet file needed, same cost). Reported: wall and CPU seconds per step, images/s (wall), and the
process's peak resident set size (`ru_maxrss`). The machine's cores are shared, so CPU time is the steadier number.
"""
import argparse, json, resource, subprocess, sys, time

def _child(method_key, batch, crop, steps):
    import torch
    from wsss.method import get_method
    from wsss.train import make_optimizer
    torch.manual_seed(0)
    m = get_method(method_key)(profile='paper', weights='random')
    model = m.build_model(20, weights='random').train()
    opt = make_optimizer(m.param_groups(model), m.cfg.lr, momentum=m.cfg.momentum, weight_decay=m.cfg.weight_decay)
    x = torch.randn(batch, 3, crop, crop)
    y = (torch.rand(batch, 20) < 0.15).float(); y[:, 0] = 1
    def step():
        out = m.loss(model, dict(image=x, label=y))
        opt.zero_grad(set_to_none=True); out['loss'].backward()
        if m.cfg.grad_clip: torch.nn.utils.clip_grad_norm_(model.parameters(), m.cfg.grad_clip)
        opt.step()
        return float(out['loss'])
    step()
    c0, w0 = time.process_time(), time.perf_counter()
    for _ in range(steps): loss = step()
    cpu, wall = (time.process_time() - c0) / steps, (time.perf_counter() - w0) / steps
    print(json.dumps(dict(method=method_key, batch=batch, crop=crop, steps=steps, wall_s_per_step=round(wall, 2), cpu_s_per_step=round(cpu, 2),
                          images_per_s=round(batch / wall, 3), peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                          threads=torch.get_num_threads(), loss=round(loss, 4))))

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--batch', type=int, nargs='+', default=[1, 2, 4])
    ap.add_argument('--methods', nargs='+', default=['sipe', 'cam'])
    ap.add_argument('--crop', type=int, default=512); ap.add_argument('--steps', type=int, default=2)
    a = ap.parse_args()
    for meth in a.methods:
        for b in a.batch:
            r = subprocess.run([sys.executable, __file__, '--child', meth, str(b), str(a.crop), str(a.steps)], capture_output=True, text=True)
            print(r.stdout.strip().splitlines()[-1] if r.returncode == 0 else json.dumps(dict(method=meth, batch=b, error=r.stderr.strip()[-300:])), flush=True)

if __name__ == '__main__':
    if len(sys.argv) > 1 and sys.argv[1] == '--child':
        _child(sys.argv[2], *map(int, sys.argv[3:]))
    else: main()
