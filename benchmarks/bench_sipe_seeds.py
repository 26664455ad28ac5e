"""SIPE seed computation: peak memory and time of the literal [n, K, HW, HW] form vs the memory-light matrix products.

    python benchmarks/bench_sipe_seeds.py                      # paper training size: batch 16, crop 512 (32 x 32 grid), K = 21
    python benchmarks/bench_sipe_seeds.py --batch 1 --hw 63 47 # inference at scale 2.0 of a 500 x 375 VOC image

Each form runs in a fresh subprocess on CPU; the peak is the process's maximum resident set size
(`resource.getrusage(...).ru_maxrss`) minus the resident size just before the call, after the inputs exist. The
analytic size of the largest tensor of each form is printed next to it (float32). Inputs are random: memory and time
do not depend on the values. The two results are compared on the same inputs (max |difference|, seed agreement).
"""
import argparse, json, resource, subprocess, sys, time

def _rss_mb() -> float:
    with open('/proc/self/statm') as f: return int(f.read().split()[1]) * resource.getpagesize() / 2**20

def _child(form, n, K, h, w, D, chunk):
    import torch
    from wsss.methods.sipe import structure_iou, structure_iou_naive
    torch.set_num_threads(max(1, torch.get_num_threads()))
    g = torch.Generator().manual_seed(0)
    cam, feat = torch.rand(n, K, h, w, generator=g), torch.randn(n, D, h, w, generator=g)
    fn = (lambda: structure_iou_naive(cam, feat)) if form == 'naive' else (lambda: structure_iou(cam, feat, chunk))
    with torch.no_grad():
        fn()  # warm-up (allocator, kernels)
        base = _rss_mb(); peak0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t0 = time.process_time(); w0 = time.perf_counter()
        out = fn()
        cpu, wall = time.process_time() - t0, time.perf_counter() - w0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    torch.save(out, f'/tmp/_sipe_seed_{form}.pt')
    print(json.dumps(dict(form=form, peak_rss_mb=round(peak, 1), rss_before_mb=round(base, 1),
                          peak_over_warmup_mb=round(max(peak, peak0) - base, 1), cpu_s=round(cpu, 3), wall_s=round(wall, 3))))

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--batch', type=int, default=16); ap.add_argument('--classes', type=int, default=21)
    ap.add_argument('--hw', type=int, nargs=2, default=(32, 32)); ap.add_argument('--dim', type=int, default=768)
    ap.add_argument('--chunk', type=int, default=4096)
    a = ap.parse_args()
    if len(sys.argv) > 1 and sys.argv[1] == '--child': return
    n, K, (h, w), D = a.batch, a.classes, a.hw, a.dim
    HW = h * w
    analytic = dict(naive_largest_tensor_mb=round(n * K * HW * HW * 4 / 2**20, 1), light_largest_tensor_mb=round(n * min(a.chunk, HW) * HW * 4 / 2**20, 1))
    rows = []
    for form in ('naive', 'light'):
        r = subprocess.run([sys.executable, __file__, '--child', form, str(n), str(K), str(h), str(w), str(D), str(a.chunk)],
                           capture_output=True, text=True, check=True)
        rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
    import torch
    x, y = torch.load('/tmp/_sipe_seed_naive.pt'), torch.load('/tmp/_sipe_seed_light.pt')
    bgs = torch.ones(K); bgs[0] = 0.5
    agree = ((x * bgs[:, None, None]).argmax(1) == (y * bgs[:, None, None]).argmax(1)).float().mean().item()
    print(json.dumps(dict(batch=n, K=K, grid=f'{h}x{w}', dim=D, chunk=a.chunk, torch=torch.__version__, threads=torch.get_num_threads(),
                          **analytic, runs=rows, max_abs_diff=float((x - y).abs().max()), seed_agreement=agree), indent=1))

if __name__ == '__main__':
    if len(sys.argv) > 1 and sys.argv[1] == '--child':
        form, *nums = sys.argv[2:]
        _child(form, *map(int, nums))
    else: main()
