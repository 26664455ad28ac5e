"""SC-CAM sub-category discovery at VOC scale: k-means (K=10, n_init=10, max_iter=300) per parent class over 10,582 x 4,096
random features with VOC train_aug-like class counts, plus the ResNet-38d feature pass (full image, scale 1) per image.

Usage: python benchmarks/sccam_clustering.py [--n 10582] [--dim 4096] [--feature-images 4]
Prints wall and CPU seconds and peak resident memory (ru_maxrss) of each part. Features are random: the k-means cost
depends on N, D, K and the iterations, not on what the features mean (real features converge in fewer iterations)."""
import argparse, resource, time
import numpy as np
import torch

def cpu(): r = resource.getrusage(resource.RUSAGE_SELF); return r.ru_utime + r.ru_stime
def peak_gib(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20

p = argparse.ArgumentParser()
p.add_argument('--n', type=int, default=10582); p.add_argument('--dim', type=int, default=4096)
p.add_argument('--k', type=int, default=10); p.add_argument('--n-init', type=int, default=10)
p.add_argument('--feature-images', type=int, default=4, help='ResNet-38d feature passes timed (0 = skip)')
a = p.parse_args()
from wsss.methods.sccam import cluster_subcategories, subcategory_labels, SubCategoryNet, extract_features

rng = np.random.default_rng(0)
# VOC train_aug images per class (person dominates); scaled to --n images
freq = np.array([0.06, 0.05, 0.07, 0.05, 0.07, 0.04, 0.11, 0.10, 0.10, 0.03, 0.05, 0.12, 0.04, 0.05, 0.38, 0.05, 0.03, 0.05, 0.05, 0.05])
labels = (rng.random((a.n, 20)) < freq).astype(np.float32)
labels[labels.sum(1) == 0, rng.integers(0, 20, (labels.sum(1) == 0).sum())] = 1
feats = np.maximum(rng.normal(size=(a.n, a.dim)), 0).astype(np.float32)  # ReLU-like features
ids = [f'{i:011d}' for i in range(a.n)]
print(f"{a.n} images x {a.dim}-d, {int(labels.sum())} (image, class) pairs, largest class {int(labels.sum(0).max())} images; "
      f"torch threads {torch.get_num_threads()}")
t, c = time.perf_counter(), cpu()
assign = cluster_subcategories(feats, labels, ids, k=a.k, n_init=a.n_init)
z = subcategory_labels(assign, a.k)
print(f"clustering (20 x KMeans K={a.k}, n_init={a.n_init}): wall {time.perf_counter() - t:.1f} s, CPU {cpu() - c:.1f} s, "
      f"peak RSS {peak_gib():.2f} GiB, labels {z.shape}")
if a.feature_images:
    class Imgs:
        def __init__(self, n): self.ids = [str(i) for i in range(n)]
        def __len__(self): return len(self.ids)
        def __getitem__(self, i): return dict(id=str(i), image=rng.integers(0, 256, (375, 500, 3), dtype=np.uint8), label=labels[i])
    net = SubCategoryNet(20, 10, 'resnet38d', 'random')
    extract_features(net, Imgs(1), batch_size=1)  # warm-up
    t, c = time.perf_counter(), cpu()
    f, _, _ = extract_features(net, Imgs(a.feature_images), batch_size=a.feature_images)
    w, cc = (time.perf_counter() - t) / a.feature_images, (cpu() - c) / a.feature_images
    print(f"feature pass (ResNet-38d, 500 x 375, batch {a.feature_images}): {w:.2f} s wall, {cc:.2f} s CPU per image -> "
          f"{a.n * cc / 3600:.1f} CPU-hours for {a.n} images; peak RSS {peak_gib():.2f} GiB")
