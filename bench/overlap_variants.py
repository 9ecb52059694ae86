#!/usr/bin/env python3
"""Offline study of --overlap's algorithm (no timing: accuracy per sample only). ESync rounds
with 3 workers at K 16 : 8 : 4 run one after another in one process (Fashion-MNIST, LeNet-5,
batch 64, lr 0.02, momentum 0.9, sample-weighted averaging), with the reduction either applied
at once (sync) or one round late, in three forms:
  own:    esync's --overlap (delayed averaging): a worker goes on from its own model and, when
          the reduction is back, moves onto it keeping its progress since (w = G' + w - anchor);
  extrap: every worker restarts the next round from a common guess G + gamma (G - G_prev) of the
          global model in flight (gamma 0: the last one it knows), then the same correction.
Prints one JSON line per run: samples to 0.80 and the test-accuracy curve every 6 000 samples.
Run with Debian's python3-torch: /usr/bin/python3 bench/overlap_variants.py"""
import json, os, sys
import torch, torch.nn.functional as F
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_step import LeNet5
from fashion import load
torch.set_num_threads(2)
(x, y), (tx, ty) = load()
def flat(m): return torch.nn.utils.parameters_to_vector(m.parameters()).detach().clone()
def setf(m, v): torch.nn.utils.vector_to_parameters(v, m.parameters())
def acc(m, v):
    setf(m, v)
    with torch.no_grad(): return float((m(tx).argmax(1) == ty).float().mean())
def run(variant, gamma, seed, K=(16, 8, 4), lr=0.02, epochs=1.0, b=64):
    g = torch.Generator().manual_seed(seed)
    shards = torch.randperm(len(y), generator=g).chunk(3)
    torch.manual_seed(seed)
    models = [LeNet5() for _ in range(3)]
    G = flat(models[0]); [setf(m, G) for m in models]
    opts = [torch.optim.SGD(m.parameters(), lr=lr, momentum=0.9) for m in models]
    pos = [0, 0, 0]; orders = [torch.randperm(len(s), generator=g) for s in shards]
    evalm = LeNet5(); seen = 0; nxt = 0; curve = []
    N = sum(K) * b; alpha = [k * b / N for k in K]
    w = [G.clone() for _ in range(3)]; anchor = [G.clone() for _ in range(3)]
    pending = None; Gprev = G.clone()
    while seen < epochs * len(y):
        ends = []
        for i in range(3):
            setf(models[i], w[i])
            for _ in range(K[i]):
                if pos[i] + b > len(orders[i]): orders[i] = torch.randperm(len(shards[i]), generator=g); pos[i] = 0
                idx = shards[i][orders[i][pos[i]:pos[i] + b]]; pos[i] += b
                opts[i].zero_grad(); F.cross_entropy(models[i](x[idx]), y[idx]).backward(); opts[i].step()
            ends.append(flat(models[i]))
        seen += N
        if variant == "sync":
            G = G + sum(a * (e - G) for a, e in zip(alpha, ends)); w = [G.clone() for _ in range(3)]; cur = G
        else:
            # collect the previous reduction: w_i = G' + (w_i - anchor_i)
            if pending is not None:
                Gprev, G = G, pending
                ends = [G + (e - a) for e, a in zip(ends, anchor)]
            # launch this round's: progress from G
            pending = G + sum(a * (e - G) for a, e in zip(alpha, ends))
            if variant == "own":
                w = ends
            else:  # extrapolated common start: G + gamma * (G - Gprev)... progress in flight known to be ~ last global step
                est = G + gamma * (G - Gprev)
                w = [est.clone() for _ in range(3)]
            anchor = [v.clone() for v in w]
            cur = G
        if seen >= nxt:
            curve.append((seen, round(acc(evalm, cur), 4))); nxt += 6000
    if variant != "sync": cur = pending
    curve.append((seen, round(acc(evalm, cur), 4)))
    return curve
variants = [("sync", 0), ("own", 0), ("extrap", 1.0), ("extrap", 0.5), ("extrap", 0.0)]
for seed in (1, 2):
    for v, gm in variants:
        c = run(v, gm, seed)
        t80 = next((s for s, a in c if a >= 0.80), None)
        print(json.dumps({"v": v, "gamma": gm, "seed": seed, "to_0.80": t80, "final": c[-1][1], "curve": [a for s, a in c]}), flush=True)
