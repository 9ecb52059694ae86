#!/usr/bin/env python3
"""Training-step throughput of the same LeNet-5 in PyTorch Python (the baseline for
`esync bench step`): forward, backward, torch.optim.SGD(momentum) step on random input, as
`esync bench step` uses random input too (src/train/step_bench.cpp), so the two measure the
same work. It runs with the settings esync gives itself (common.reference_env: OpenBLAS and
OpenMP at --threads, esync's malloc thresholds), re-executing itself under them if needed.
Prints one JSON line. Run with Debian's python3-torch (/usr/bin/python3)."""
import argparse, json, os, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import use_reference_env


class LeNet5(nn.Module):
    # Same architecture as src/train/models/lenet5.cpp.
    def __init__(self, in_ch=1, classes=10, hw=28):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        with torch.no_grad():
            n = self.features(torch.zeros(1, in_ch, hw, hw)).numel()
        self.fc1, self.fc2, self.fc3 = nn.Linear(n, 120), nn.Linear(120, 84), nn.Linear(84, classes)

    def features(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        return F.max_pool2d(F.relu(self.conv2(x)), 2)

    def forward(self, x):
        x = self.features(x).flatten(1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


def make_step(model, batch, next_batch=None):
    """One training step of `model` (momentum SGD), warmed up, on next_batch() -> (x, y) or, by
    default, on a pool of 8 random batches."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    xs = [torch.randn(batch, 1, 28, 28) for _ in range(8)]
    ys = [torch.randint(10, (batch,)) for _ in range(8)]
    next_batch = next_batch or (lambda i: (xs[i % 8], ys[i % 8]))

    def step(i):
        x, y = next_batch(i)
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    for i in range(20):
        step(i)
    return step


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=5.0)
    a = ap.parse_args()
    use_reference_env(a.threads)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    step = make_step(LeNet5(), a.batch)
    steps, t0 = 0, time.perf_counter()
    while True:
        step(steps)
        steps += 1
        el = time.perf_counter() - t0
        if el >= a.seconds and steps >= 10:
            break
    print(json.dumps({"impl": "pytorch-python", "torch": torch.__version__, "model": "lenet5",
                      "batch": a.batch, "threads": a.threads, "steps": steps, "seconds": el,
                      "step_ms": 1e3 * el / steps, "samples_per_s": steps * a.batch / el}))


if __name__ == "__main__":
    main()
