#!/usr/bin/env python3
"""esync SSGD over gloo against PyTorch DDP with the gloo backend: same model (LeNet-5), batch
(64 per process), threads per process and world size, alternated --rounds times in one run.
esync's figure is the job's training throughput: samples of all workers / the longest worker's
training-loop time (train_wall_s: DDP's window below has no evaluation either, and rank 0's
final test-set evaluation would add ~0.5 s to a 9 s job).
Usage: /usr/bin/python3 bench/ssgd_vs_ddp.py [--world 2] [--threads 1] [--rounds 5]"""
import argparse, json, os, statistics, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import esync_binary, print_table

ap = argparse.ArgumentParser()
ap.add_argument("--world", type=int, default=2)
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--rounds", type=int, default=5)
a = ap.parse_args()


def esync_ssgd():
    d = tempfile.mkdtemp(prefix="esync-ssgd-")
    subprocess.run([esync_binary(), "run", "--workers", str(a.world), "--mode", "ssgd", "--epochs", "1",
                    "--threads", str(a.threads), "--eval-every", "100000", "--log-dir", d],
                   check=True, stdout=subprocess.DEVNULL)
    samples, wall = 0, 0
    for r in range(a.world):
        for line in open(os.path.join(d, f"worker-{r}.jsonl")):
            e = json.loads(line)
            if e["ev"] == "end":
                samples += e["summary"]["samples"]
                wall = max(wall, e["summary"]["train_wall_s"])
    return samples / wall


def ddp():
    out = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "ddp_step.py"), "--world",
                          str(a.world), "--threads", str(a.threads)], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("ddp_step.py failed:\n" + out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])["samples_per_s"]


ours, theirs = [], []
for _ in range(a.rounds):
    ours.append(esync_ssgd())
    theirs.append(ddp())
mo, mt = statistics.median(ours), statistics.median(theirs)
print_table(f"SSGD lenet5 batch 64, {a.world} processes x {a.threads} thread(s): esync (gloo) vs PyTorch DDP (gloo)",
            ["impl", "samples_per_s"], [["esync ssgd", mo], ["pytorch ddp", mt]],
            {"bench": "ssgd_vs_ddp", "world": a.world, "threads": a.threads, "esync": ours, "ddp": theirs,
             "esync_median": mo, "ddp_median": mt, "ratio": mo / mt})
print(f"ratio esync / ddp = {mo / mt:.3f}")
