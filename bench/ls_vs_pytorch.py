#!/usr/bin/env python3
"""Least squares (seed 000's set-up: n=10000, d=400, A ~ U[0,1)/sqrt(d), batch 256, lr 0.43,
800 steps of plain minibatch SGD from x = 0): F - F* of esync local against the same algorithm
written in PyTorch Python as the seed writes it, each averaged over the same number of seeds.
Also the well-conditioned variant (--ls-matrix normal, lr 0.2, 300 steps): relative gap.
The PyTorch reference runs in this process, which re-executes itself first under the settings
esync gives itself (common.reference_env: 1 OpenBLAS/OpenMP thread, esync's malloc thresholds);
esync runs under the same environment.
Usage: /usr/bin/python3 bench/ls_vs_pytorch.py [--seeds 5]"""
import argparse, os, statistics, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import print_table, run_esync, use_reference_env

use_reference_env(1)  # before torch loads OpenBLAS (and glibc reads its tunables only at start)
import numpy as np
import torch


def pytorch_sgd(seed, matrix, lr, steps, n=10000, d=400, batch=256):
    # Seed 000: data from torch's generator, minibatches drawn with rng.choice(replace=False).
    torch.manual_seed(seed)
    A = torch.rand(n, d) / np.sqrt(d) if matrix == "uniform" else torch.randn(n, d)
    b = A @ torch.randn(d, 1) + 0.1 * torch.randn(n, 1)
    f = lambda x: 0.5 * torch.mean((A @ x - b) ** 2).item()
    x_opt = torch.from_numpy(np.linalg.lstsq(A.double().numpy(), b.double().numpy(), rcond=None)[0])
    f_star = 0.5 * torch.mean((A.double() @ x_opt - b.double()) ** 2).item()
    rng = np.random.default_rng(seed)
    x = torch.zeros(d, 1, requires_grad=True)
    f0 = f(x.detach())
    for _ in range(steps):
        x.grad = None
        idx = rng.choice(n, size=batch, replace=False)
        (0.5 * torch.mean((A[idx] @ x - b[idx]) ** 2)).backward()
        with torch.no_grad():
            x -= lr * x.grad
    gap = f(x.detach()) - f_star
    return gap, gap / (f0 - f_star)


def esync_sgd(seed, matrix, lr, steps):
    s = run_esync(["local", "--dataset", "least-squares", "--ls-matrix", matrix, "--model", "linreg",
                   "--optimizer", "sgd", "--lr", str(lr), "--batch", "256", "--steps", str(steps),
                   "--lr-schedule", "none", "--seed", str(seed), "--threads", "1", "--quiet"], 1)
    return s["final"]["gap"], s["final"]["rel_gap"]


ap = argparse.ArgumentParser()
ap.add_argument("--seeds", type=int, default=5)
a = ap.parse_args()
torch.set_num_threads(1)
rows, doc = [], {"bench": "ls_vs_pytorch", "cases": []}
for matrix, lr, steps in (("uniform", 0.43, 800), ("normal", 0.2, 300)):
    ours = [esync_sgd(s, matrix, lr, steps) for s in range(1, a.seeds + 1)]
    theirs = [pytorch_sgd(s, matrix, lr, steps) for s in range(1, a.seeds + 1)]
    og, tg = statistics.mean(g for g, _ in ours), statistics.mean(g for g, _ in theirs)
    orel, trel = statistics.mean(r for _, r in ours), statistics.mean(r for _, r in theirs)
    rows.append([matrix, lr, steps, og, tg, og / tg, orel, trel])
    doc["cases"].append({"matrix": matrix, "lr": lr, "steps": steps, "esync_gap": og, "pytorch_gap": tg,
                         "gap_ratio": og / tg, "esync_rel_gap": orel, "pytorch_rel_gap": trel,
                         "esync_runs": ours, "pytorch_runs": theirs})
print_table("least squares, minibatch SGD from x=0: F - F* (mean over seeds)",
            ["matrix", "lr", "steps", "esync F-F*", "pytorch F-F*", "ratio", "esync rel", "pytorch rel"], rows, doc)
