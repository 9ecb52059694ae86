#!/usr/bin/env python3
"""PyTorch DDP (gloo backend) baseline for esync's SSGD: N processes on this host, LeNet-5 (the
network of bench/pytorch_step.py), batch 64 per process, SGD momentum, fixed threads per
process, real Fashion-MNIST batches fed as esync feeds its workers (bench/fashion.py: esync's
normalisation, an iid shard per rank, a fresh shuffle every epoch). It runs with the settings
esync gives itself (common.reference_env: OpenBLAS and OpenMP at --threads, esync's malloc
thresholds), re-executing itself under them if needed; the spawned ranks inherit them.
Prints one JSON line with the total samples/s.
Run with Debian's python3-torch: /usr/bin/python3 bench/ddp_step.py --world 2 --threads 1"""
import argparse, json, os, sys, time

import torch
import torch.distributed as dist

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import run_world, use_reference_env
from fashion import rank_batches
from pytorch_step import LeNet5, make_step


def worker(rank, a, port, out):
    torch.set_num_threads(a.threads)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=a.world)
    (x, y), _, sampler = rank_batches(a.world, rank, a.batch)

    def next_batch(_):
        b = sampler.next()
        return x[b], y[b]

    torch.manual_seed(0)
    step = make_step(torch.nn.parallel.DistributedDataParallel(LeNet5()), a.batch, next_batch)
    dist.barrier()
    # A fixed step count: ranks that stopped on their own clocks would leave a peer inside an
    # allreduce.
    steps, t0 = a.steps, time.perf_counter()
    for i in range(steps):
        step(i)
    dist.barrier()
    el = time.perf_counter() - t0
    if rank == 0:
        out.put({"impl": "pytorch-ddp-gloo", "world": a.world, "batch": a.batch, "threads": a.threads,
                 "data": "fashion-mnist", "steps": steps, "seconds": el,
                 "samples_per_s": a.world * steps * a.batch / el})
    dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--world", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=600)
    a = ap.parse_args()
    use_reference_env(a.threads)
    res = run_world(worker, a, a.world, 300)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
