"""IRN's path affinity a_ij = 1 - max_{k on the path i -> j} B_k with its gradient: the relation net's training loss reads it.

    python benchmarks/bench_path_affinity.py --threads 1     # as each unit of `wsss reproduce --jobs 2` runs

One training batch of the real-photo quick profile: 8 boundary maps of 64 x 64 (crop 256 at stride 4), radius 10
(IRN's training radius); forward plus backward, the median of `--repeats` rounds after a warm-up. Columns: ours
(`wsss.refine.path_affinity`: per offset, one max over the stacked path pixels of a once-padded map) against IRN's
form (`path_index.py` + `to_affinity`: one gather of every path pixel per path length, then the max over the path),
written here from the algorithm; a second row against the library's previous form, a chain of pairwise maxima over
per-pixel padded shifts. All three give the same values.
"""
import statistics, time
import torch
import torch.nn.functional as F
from _common import parser, report, row


def gathered(b, radius):
    "IRN's form: flat indices of every (offset, path pixel, position), one index_select per path length, max over the path."
    from wsss.refine import path_pixels, search_offsets
    h, w = b.shape[-2:]; Wp = w + 2 * radius
    flat = F.pad(b, (radius, radius, 0, radius), value=1.0).flatten(-2)
    base = (torch.arange(h)[:, None] * Wp + torch.arange(w)[None, :] + radius).reshape(-1)
    groups = {}
    for k, (dy, dx) in enumerate(search_offsets(radius)):
        pp = path_pixels(dy, dx); groups.setdefault(len(pp), []).append((k, [int(y) * Wp + int(x) for y, x in pp]))
    res = [None] * len(search_offsets(radius))
    for items in groups.values():
        idx = (torch.tensor([s for _, s in items])[:, :, None] + base).reshape(-1)
        a = 1 - flat.index_select(-1, idx).view(*b.shape[:-2], len(items), -1, h, w).max(-3).values
        for j, (k, _) in enumerate(items): res[k] = a[..., j, :, :]
    return torch.stack(res, -3)


def chained(b, radius):
    "The previous form: per offset, torch.maximum over each path pixel's own padded shift."
    from wsss.refine import _shift, path_pixels, search_offsets
    out = []
    for dy, dx in search_offsets(radius):
        m = None
        for py, px in path_pixels(dy, dx):
            s = _shift(b, int(py), int(px), 1.0); m = s if m is None else torch.maximum(m, s)
        out.append(1 - m)
    return torch.stack(out, -3)


def seconds(fn, logits, radius, repeats):
    def once():
        fn(torch.sigmoid(logits), radius).sum().backward()
    once(); times = []
    for _ in range(repeats):
        t = time.perf_counter(); once(); times.append(time.perf_counter() - t)
    return statistics.median(times)


if __name__ == '__main__':
    ap = parser(__doc__)
    ap.add_argument('--threads', type=int, default=0, help='torch threads (0: as torch starts)')
    ap.add_argument('--repeats', type=int, default=5)
    a = ap.parse_args()
    if a.threads: torch.set_num_threads(a.threads)
    from wsss.refine import path_affinity
    logits = torch.randn(8, 64, 64, generator=torch.Generator().manual_seed(0), requires_grad=True)
    with torch.no_grad():
        ref = path_affinity(torch.sigmoid(logits), 10)
        assert torch.equal(ref, gathered(torch.sigmoid(logits), 10)) and torch.equal(ref, chained(torch.sigmoid(logits), 10))
    repeats = 3 if a.quick else a.repeats
    ours = seconds(path_affinity, logits, 10, repeats)
    rows = [row('path affinity + backward, 8 x 64 x 64, radius 10: ours vs IRN-style gather', 1 / ours, 1 / seconds(gathered, logits, 10, repeats), unit='batches/s'),
            row('ours vs the previous pairwise-maximum chain', 1 / ours, 1 / seconds(chained, logits, 10, repeats), unit='batches/s')]
    report('bench_path_affinity', rows, dict(threads=torch.get_num_threads(), repeats=repeats), out=a.out)
