#!/usr/bin/env python3
"""esync SSGD over gloo against PyTorch DDP with the gloo backend: same model (LeNet-5), batch
(64 per process), real Fashion-MNIST data (iid shards, reshuffled every epoch: bench/fashion.py
for DDP), threads per process and world size, alternated --rounds times in one run (esync, DDP,
esync, DDP ...). Both run with the settings esync gives itself (common.reference_env: OpenBLAS
and OpenMP at --threads, esync's malloc thresholds).
esync's figure is the job's training throughput: samples of all workers / the longest worker's
training-loop time (train_wall_s: DDP's window below has no evaluation either, and rank 0's
final test-set evaluation would add ~0.5 s to a 9 s job).
Prints the medians, every round's values and the ratio; writes the JSON to --out.
Usage: /usr/bin/python3 bench/ssgd_vs_ddp.py [--world 2] [--threads 1] [--rounds 5] [--out FILE]"""
import argparse, json, os, shutil, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import esync_binary, print_table, reference_env, write_pair

ap = argparse.ArgumentParser()
ap.add_argument("--world", type=int, default=2)
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--rounds", type=int, default=5)
ap.add_argument("--steps", type=int, default=600, help="DDP's steps per process")
ap.add_argument("--out", default="results/distributed/ssgd_vs_ddp.json")
a = ap.parse_args()


def esync_ssgd():
    d = tempfile.mkdtemp(prefix="esync-ssgd-")
    try:
        subprocess.run([esync_binary(), "run", "--workers", str(a.world), "--mode", "ssgd", "--epochs", "1",
                        "--threads", str(a.threads), "--eval-every", "100000", "--log-dir", d],
                       check=True, stdout=subprocess.DEVNULL, env=reference_env(a.threads))
        samples, wall = 0, 0
        for r in range(a.world):
            for line in open(os.path.join(d, f"worker-{r}.jsonl")):
                e = json.loads(line)
                if e["ev"] == "end":
                    samples += e["summary"]["samples"]
                    wall = max(wall, e["summary"]["train_wall_s"])
        return samples / wall
    finally:
        shutil.rmtree(d, ignore_errors=True)


def ddp():
    out = subprocess.run([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "ddp_step.py"),
                          "--world", str(a.world), "--threads", str(a.threads), "--steps", str(a.steps)],
                         capture_output=True, text=True, env=reference_env(a.threads))
    if out.returncode != 0:
        sys.exit("ddp_step.py failed:\n" + out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])["samples_per_s"]


ours, theirs = [], []
for _ in range(a.rounds):
    ours.append(esync_ssgd())
    theirs.append(ddp())
doc = write_pair(a.out, {"bench": "ssgd_vs_ddp", "world": a.world, "threads": a.threads, "rounds": a.rounds,
                          "ddp_steps": a.steps}, ours, theirs, "ddp")
mo, mt = doc["esync_median"], doc["ddp_median"]
print_table(f"SSGD lenet5 batch 64, {a.world} processes x {a.threads} thread(s): esync (gloo) vs PyTorch DDP (gloo), "
            f"medians of {a.rounds} rounds", ["impl", "samples_per_s (median)", "per round"],
            [["esync ssgd", mo, " ".join(f"{v:.0f}" for v in ours)],
             ["pytorch ddp", mt, " ".join(f"{v:.0f}" for v in theirs)]], doc)
print(f"ratio esync / ddp = {mo / mt:.3f} (per round: {' '.join(f'{r:.3f}' for r in doc['ratio_per_round'])})")
