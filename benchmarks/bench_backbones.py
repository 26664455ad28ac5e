"""Training and inference throughput (images/s) of the backbones the CPU profiles use, side by side.

    python benchmarks/bench_backbones.py --quick      # this CPU, the torch threads it has
    python benchmarks/bench_backbones.py --threads 1  # as each unit of `wsss reproduce --jobs 2` runs
    python benchmarks/bench_backbones.py --threads 1 --layouts  # Lite0 in channels_last vs contiguous (why the library converts it)

Rows: `tiny` (the synthetic benchmark's random-init net, its quick crop 96 and batch 16) and the ImageNet
`efficientnet_lite0` of the real-photo quick profile (crop 256, batch 8, OS16, conv1..stage2 frozen: the
`MethodConfig.PROFILES['quick_real']` recipe). Training = one CamNet SGD step (forward, multilabel loss, backward,
step) on in-memory random images, so decoding is not part of the number (bench_data.py measures it). Inference =
the CAM (`CamNet.cam`) of one VOC-size image (375 x 500) at scale 1, no flip. Each figure: the median of `--repeats`
timed rounds after one warm-up round. The "official style" column holds the tiny net's rate, so the ratio reads
"EfficientNet-Lite0 vs tiny". With `--layouts` both columns are EfficientNet-Lite0: channels_last (NHWC, what
`wsss.core.to_fast_layout` gives it on a CPU) against the default contiguous layout.
"""
import statistics, time
import torch
from _common import parser, peak_rss_mb, report, row


def rate(fn, n_images, repeats):
    fn()  # warm-up (allocations, oneDNN kernel choice)
    times = []
    for _ in range(repeats):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    return n_images / statistics.median(times)


def measure(arch, crop, batch, repeats, channels_last=False):
    from wsss.nets import CamNet, multilabel_loss
    kw = dict(weights='random', strides=(2, 2, 1, 1), frozen_stages=0, width=16) if arch == 'tiny' else \
         dict(weights='imagenet', strides=(2, 2, 2, 1), frozen_stages=2)
    net = CamNet(20, arch, **kw).train()
    if channels_last: net = net.to(memory_format=torch.channels_last)  # the inputs stay contiguous, as the library feeds them
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=1e-3, momentum=0.9)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(batch, 3, crop, crop, generator=g), (torch.rand(batch, 20, generator=g) > 0.9).float()
    def step():
        loss = multilabel_loss(net(x), y); opt.zero_grad(); loss.backward(); opt.step()
    train = rate(step, batch, repeats)
    net.eval(); img = torch.randn(1, 3, 375, 500, generator=g)
    def infer():
        with torch.inference_mode(): net.cam(img)
    return train, rate(infer, 1, repeats), sum(p.numel() for p in net.parameters())


if __name__ == '__main__':
    ap = parser(__doc__)
    ap.add_argument('--threads', type=int, default=0, help='torch threads (0: as torch starts)')
    ap.add_argument('--repeats', type=int, default=5, help='timed rounds per figure (the median is kept)')
    ap.add_argument('--layouts', action='store_true', help='EfficientNet-Lite0 in channels_last vs contiguous instead')
    a = ap.parse_args()
    if a.threads: torch.set_num_threads(a.threads)
    repeats = 3 if a.quick else a.repeats
    if a.layouts:
        nhwc, nchw = measure('efficientnet_lite0', 320, 8, repeats, channels_last=True), measure('efficientnet_lite0', 320, 8, repeats)
        rows = [row('Lite0 training, images/s (crop 320 x 8)', nhwc[0], nchw[0]), row('Lite0 CAM inference at 375 x 500, images/s', nhwc[1], nchw[1])]
        report('bench_backbones_layouts', rows, dict(threads=torch.get_num_threads(), repeats=repeats), out=a.out,
               notes=["columns: ours = channels_last (NHWC), official style = contiguous (NCHW)"])
        raise SystemExit
    tiny = measure('tiny', 96, 16, repeats)
    lite = measure('efficientnet_lite0', 256, 8, repeats)
    rows = [row('training, images/s (tiny: crop 96 x 16; Lite0: crop 256 x 8)', lite[0], tiny[0]),
            row('CAM inference at 375 x 500, images/s', lite[1], tiny[1]),
            row('parameters (millions)', lite[2] / 1e6, tiny[2] / 1e6, unit='M')]
    report('bench_backbones', rows, dict(threads=torch.get_num_threads(), repeats=repeats), out=a.out,
           notes=[f"peak RSS {peak_rss_mb():.0f} MiB", "columns: ours = efficientnet_lite0 (ImageNet), official style = tiny (random init)"])
