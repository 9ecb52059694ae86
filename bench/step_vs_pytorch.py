#!/usr/bin/env python3
"""Training-step throughput, esync vs PyTorch Python, same model, batch and threads, measured
in one run. The two alternate (rounds) so machine noise hits both; the ratio is of medians.
Usage: /usr/bin/python3 bench/step_vs_pytorch.py [--batch 64] [--threads 1] [--rounds 3]"""
import argparse, json, os, statistics, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import print_table, run_esync

ap = argparse.ArgumentParser()
ap.add_argument("--batch", type=int, default=64)
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--seconds", type=float, default=4.0)
a = ap.parse_args()

ours, theirs = [], []
for _ in range(a.rounds):
    r = run_esync(["bench", "step", "--model", "lenet5", "--batch", str(a.batch), "--threads", str(a.threads),
                   "--seconds", str(a.seconds)])
    ours.append(r["rows"][0]["samples_per_s"])
    py = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "pytorch_step.py"),
                         "--batch", str(a.batch), "--threads", str(a.threads), "--seconds", str(a.seconds)],
                        check=True, capture_output=True, text=True).stdout
    theirs.append(json.loads(py)["samples_per_s"])
mo, mt = statistics.median(ours), statistics.median(theirs)
rows = [["esync", a.batch, a.threads, mo], ["pytorch-python", a.batch, a.threads, mt]]
print_table("train step lenet5: esync vs PyTorch Python", ["impl", "batch", "threads", "samples_per_s"], rows,
            {"bench": "step_vs_pytorch", "batch": a.batch, "threads": a.threads, "esync": ours, "pytorch": theirs,
             "esync_median": mo, "pytorch_median": mt, "ratio": mo / mt})
print(f"ratio esync / pytorch = {mo / mt:.3f}")
