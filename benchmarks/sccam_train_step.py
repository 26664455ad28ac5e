"""One SC-CAM paper-profile training step: ResNet-38d SubCategoryNet (20 parents, K=10), crop 224, batch 16, SGD with
the paper's parameter groups, forward + backward + step. Prints wall/CPU seconds per step, images/s and peak memory.

Usage: python benchmarks/sccam_train_step.py [--batch 16] [--crop 224] [--steps 1] [--device cpu|cuda]"""
import argparse, resource, time
import torch

def cpu(): r = resource.getrusage(resource.RUSAGE_SELF); return r.ru_utime + r.ru_stime
p = argparse.ArgumentParser()
p.add_argument('--batch', type=int, default=16); p.add_argument('--crop', type=int, default=224)
p.add_argument('--steps', type=int, default=1); p.add_argument('--device', default='cpu')
a = p.parse_args()
from wsss.methods.sccam import SCCamMethod
from wsss.train import make_optimizer

dev = torch.device(a.device)
m = SCCamMethod(profile='paper', weights='random')
model = m.build_model(20).to(dev).train()
opt = make_optimizer(m.param_groups(model), m.cfg.lr, momentum=m.cfg.momentum, weight_decay=m.cfg.weight_decay)
g = torch.Generator().manual_seed(0)
batch = dict(image=torch.randn(a.batch, 3, a.crop, a.crop, generator=g).to(dev),
             label=(torch.rand(a.batch, 20, generator=g) < 0.1).float().to(dev),
             sub_label=(torch.rand(a.batch, 200, generator=g) < 0.01).float().to(dev))
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
if dev.type == 'cuda': torch.cuda.reset_peak_memory_stats()
times = []
for s in range(a.steps + (1 if dev.type == 'cuda' else 0)):  # CUDA: one warm-up step
    if dev.type == 'cuda': torch.cuda.synchronize()
    t, c = time.perf_counter(), cpu()
    out = m.loss(model, batch); opt.zero_grad(set_to_none=True); out['loss'].backward(); opt.step()
    if dev.type == 'cuda': torch.cuda.synchronize()
    times.append((time.perf_counter() - t, cpu() - c))
w, cc = times[-1]
print(f"SC-CAM paper step, ResNet-38d, batch {a.batch}, crop {a.crop}, {dev}: {w:.1f} s wall, {cc:.1f} s CPU, "
      f"{a.batch / w:.2f} images/s, loss {float(out['loss']):.3f}; torch threads {torch.get_num_threads()}")
print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB (model + optimizer built: {rss0:.2f} GiB)"
      + (f"; peak CUDA memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB" if dev.type == 'cuda' else ''))
