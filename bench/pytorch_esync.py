#!/usr/bin/env python3
"""A PyTorch Python reference for esync's heterogeneous comparison: ESync with the assign
policy, or SSGD, over torch.distributed (gloo), M processes on this host, Fashion-MNIST LeNet-5
(bench/pytorch_step.py's network), batch 64, momentum SGD, --threads per process (1), the same
emulated slowdowns. It is the kind of short script the issue's floors were measured with, run
here in the same bench run as esync so the two are compared on one machine at one moment.
  --basis measured: sleep (f-1) x the step just measured (the original ESync rule read literally)
  --basis nominal:  sleep f x the fastest of the last 32 steps - this step (esync's default
                    rule, less its payback of an overrun from the next sleeps)
Rank 0 snapshots the weights every --snap-every s at synchronisation points and evaluates them
on the test set after training (accuracy against the snapshot's time, no evaluation cost while
training). The data are fed as esync feeds its workers (bench/fashion.py: esync's
normalisation, an iid shard per rank, full batches from a fresh shuffle every epoch).
ESync's averaging (--weighting), with Delta_i = w_i - w_r worker i's change over the round,
K_i its steps, B_i its batch and eta = --global-lr:
  batch (default): w = w_r + eta sum_i B_i Delta_i / sum_i B_i (equal batches: a plain mean)
  samples:         w = w_r + eta sum_i K_i B_i Delta_i / sum_i K_i B_i (esync's old rule)
  normalized:      w = w_r + eta tau_eff sum_i B_i (Delta_i / K_i) / sum_i B_i, with
                   tau_eff = sum_i B_i K_i / sum_i B_i (FedNova-like)
Floating-point buffers (BatchNorm statistics; LeNet-5 has none) get the plain average with the
weights a_i of the denominators above (B_i; K_i B_i for samples), no eta, as in esync
(include/esync/averaging.hpp).
It runs with the settings esync gives itself (common.reference_env: OpenBLAS and OpenMP at
--threads, esync's malloc thresholds), re-executing itself under them if needed; the spawned
ranks inherit them. Prints one JSON line. Run with Debian's python3-torch:
  /usr/bin/python3 bench/pytorch_esync.py --mode esync --slowdown 1,2,4"""
import argparse, json, os, statistics, sys, time

import torch
import torch.distributed as dist
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import run_world, use_reference_env
from fashion import rank_batches
from pytorch_step import LeNet5


class Slowdown:
    def __init__(self, f, basis):
        self.f, self.basis, self.recent = f, basis, []

    def sleep_after(self, compute):
        if self.f <= 1:
            return 0.0
        self.recent = (self.recent + [compute])[-32:]
        s = (self.f - 1) * compute if self.basis == "measured" else self.f * min(self.recent) - compute
        if s > 0:
            time.sleep(s)
        return max(s, 0.0)


def worker(rank, a, port, out):
    torch.set_num_threads(a.threads)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=a.world)
    (x, y), test, sampler = rank_batches(a.world, rank, a.batch)
    torch.manual_seed(42)  # the same initial weights on every rank
    model = LeNet5()
    params = list(model.parameters())
    bufs = [b for b in model.buffers() if b.is_floating_point()]
    opt = torch.optim.SGD(params, lr=a.lr, momentum=0.9)
    slow = Slowdown(a.slowdown[rank], a.basis)

    def step():  # one local step; returns its device time (compute + emulated slowdown)
        b = sampler.next()
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x[b]), y[b]).backward()
        if a.mode == "ssgd":
            # the device computes f x slower, then DDP-style one allreduce of all gradients as one
            # flat buffer, then the same optimiser step everywhere
            slow.sleep_after(time.perf_counter() - t)
            grads = torch.cat([p.grad.reshape(-1) for p in params])
            dist.all_reduce(grads)
            torch.nn.utils.vector_to_parameters(grads / a.world, [p.grad for p in params])
            opt.step()
            return None
        opt.step()
        compute = time.perf_counter() - t
        return compute + slow.sleep_after(compute)

    def flat(ts):
        return torch.cat([t.detach().reshape(-1) for t in ts]) if ts else torch.zeros(0)

    target, seen, c, snaps, ks, rnd = a.epochs * len(y), 0.0, 0.0, [], [], 0
    # warm-up outside the clock (first-call kernel set-up, gloo's connections), no update
    F.cross_entropy(model(x[:a.batch]), y[:a.batch]).backward()
    opt.zero_grad(set_to_none=True)
    dist.all_reduce(torch.zeros(sum(p.numel() for p in params + bufs) + 2 + a.world))
    dist.barrier()
    t0 = last_snap = time.perf_counter()
    while seen < target:
        if a.mode == "ssgd":
            step()
            seen += a.world * a.batch
        else:
            # K_i = clamp(round(T / c_i), 1, 64), T = K_base x max_j c_j; round 0 has no times yet
            k = 1 if rnd == 0 else max(1, min(64, round(a.k_base * c_max / c)))
            w0 = flat(params)
            dev = [step() for _ in range(k)]
            c = statistics.mean(dev) if rnd == 0 else 0.7 * c + 0.3 * statistics.mean(dev)
            n = float(k * a.batch)  # K_i B_i, this worker's samples
            # Delta_i's weight c_i and this worker's weight a_i, the denominator's part (docstring)
            ci, di = {"batch": (a.batch, a.batch), "samples": (n, n),
                      "normalized": (a.batch / k, a.batch)}[a.weighting]
            # one allreduce: sum c_i Delta_i, sum of the denominators a_i, sum K_i B_i, the
            # a_i-weighted buffers, every worker's step time in its slot
            nw, nb = w0.numel(), sum(b.numel() for b in bufs)
            buf = torch.cat([ci * (flat(params) - w0), torch.tensor([di, n]), di * flat(bufs),
                             F.one_hot(torch.tensor(rank), a.world).float() * c])
            dist.all_reduce(buf)
            den, samples = float(buf[nw]), float(buf[nw + 1])
            avg = buf[:nw] / den
            if a.weighting == "normalized":
                avg *= samples / den  # tau_eff = sum B_i K_i / sum B_i
            torch.nn.utils.vector_to_parameters(w0 + a.global_lr * avg, params)
            if bufs:
                torch.nn.utils.vector_to_parameters(buf[nw + 2:nw + 2 + nb] / den, bufs)
            c_max, seen, rnd = float(buf[nw + 2 + nb:].max()), seen + samples, rnd + 1
            ks.append(k)
        now = time.perf_counter()
        if rank == 0 and (now - last_snap >= a.snap_every or seen >= target):
            last_snap = now
            snaps.append((now - t0, torch.nn.utils.parameters_to_vector(params).detach().clone()))
    wall = time.perf_counter() - t0
    all_k = [None] * a.world
    dist.all_gather_object(all_k, statistics.median(ks[2:]) if len(ks) > 2 else None)
    if rank == 0:
        accs = []
        with torch.no_grad():
            for t, w in snaps:
                torch.nn.utils.vector_to_parameters(w, params)
                accs.append((t, float((model(test[0]).argmax(1) == test[1]).float().mean())))
        time_to = {str(th): next((t for t, acc in accs if acc >= th), None) for th in (0.8, 0.85)}
        out.put({"impl": "pytorch", "mode": a.mode, "basis": a.basis, "samples_per_s": seen / wall, "train_wall_s": wall,
                 "time_to": time_to, "final_acc": accs[-1][1], "k_median": all_k if a.mode == "esync" else None,
                 "weighting": a.weighting if a.mode == "esync" else None, "global_lr": a.global_lr,
                 "evals": accs})
    dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["esync", "ssgd"], default="esync")
    ap.add_argument("--slowdown", default="1,2,4")
    ap.add_argument("--basis", choices=["measured", "nominal"], default="measured")
    ap.add_argument("--k-base", type=int, default=4)
    ap.add_argument("--lr", type=float, default=0.02)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--epochs", type=float, default=1)
    ap.add_argument("--snap-every", type=float, default=0.5)
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads per process")
    ap.add_argument("--weighting", choices=["batch", "samples", "normalized"], default="batch",
                    help="ESync's averaging of the workers' deltas (module docstring)")
    ap.add_argument("--global-lr", type=float, default=1.0, help="eta, applied to the averaged delta")
    a = ap.parse_args()
    use_reference_env(a.threads)
    a.slowdown = [float(f) for f in a.slowdown.split(",")]
    a.world = len(a.slowdown)
    res = run_world(worker, a, a.world, 1800)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
