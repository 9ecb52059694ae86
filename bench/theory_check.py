#!/usr/bin/env python3
"""Experiment 3 (issue 5): seed 003's runtime theory, measured. M workers whose step times are
exponential with rate lam (mean 1/lam): a synchronous round waits for the slowest of M, so its
mean is H_M / lam (H_M the M-th harmonic number); asynchronous updates arrive as M independent
streams, one every 1 / (lam M) on average.

Emulation: a tiny model (least squares, linreg, batch 16: compute ~0.1 ms) and `--delay
exponential:MEAN` on every synchronisation, so each worker's step time is the exponential delay
plus a small constant. Sync: `esync run --mode ssgd` (gloo allreduce), mean round time = the
job's training time / rounds. Async: `--mode asgd` (parameter server), time per update = training
time / all workers' pushes. Prints a table and JSON; writes OUT/theory.json.
Usage: python3 bench/theory_check.py [--workers 1,2,4,8,16] [--mean-ms 40] [--seconds 8] [--out DIR]"""
import argparse, json, os, shutil, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import esync_binary, print_table


def run(mode, m, a):
    log_dir = os.path.join(a.out, f"{mode}-{m}")
    shutil.rmtree(log_dir, ignore_errors=True)
    cmd = [esync_binary(), "run", "--workers", str(m), "--mode", mode, "--dataset", "least-squares",
           "--ls-matrix", "normal", "--model", "linreg", "--optimizer", "sgd", "--lr", "0.01", "--batch", "16",
           "--epochs", "0", "--time-budget", f"{a.seconds:g}", "--delay", f"exponential:{a.mean_ms:g}ms",
           "--threads", "1", "--eval-every", "1000", "--log-dir", log_dir, "--timeout", "600"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    ends = []
    for r in range(m):
        with open(os.path.join(log_dir, f"worker-{r}.jsonl")) as f:
            ends += [json.loads(l)["summary"] for l in f if '"ev":"end"' in l]
    wall = max(e["train_wall_s"] for e in ends)
    steps = [e["steps"] for e in ends]
    shutil.rmtree(log_dir, ignore_errors=True)  # only the figures are kept
    return wall, steps


def harmonic(m):
    return sum(1.0 / k for k in range(1, m + 1))


ap = argparse.ArgumentParser()
ap.add_argument("--workers", default="1,2,4,8,16")
ap.add_argument("--mean-ms", type=float, default=40)
ap.add_argument("--seconds", type=float, default=8)
ap.add_argument("--out", default="results/experiments/theory")
a = ap.parse_args()
os.makedirs(a.out, exist_ok=True)
mean_s = a.mean_ms / 1e3
rows, doc = [], {"bench": "theory_check", "mean_step_s": mean_s, "seconds": a.seconds, "points": []}
for m in [int(x) for x in a.workers.split(",")]:
    wall, steps = run("ssgd", m, a)
    sync_round = wall / steps[0]  # every rank does one step per round
    wall_a, steps_a = run("asgd", m, a)
    per_update = wall_a / sum(steps_a)
    p = {"workers": m, "sync_round_s": sync_round, "sync_theory_s": harmonic(m) * mean_s,
         "async_update_s": per_update, "async_theory_s": mean_s / m}
    p["sync_ratio"] = p["sync_round_s"] / p["sync_theory_s"]
    p["async_ratio"] = p["async_update_s"] / p["async_theory_s"]
    doc["points"].append(p)
    rows.append([m, p["sync_round_s"] * 1e3, p["sync_theory_s"] * 1e3, p["sync_ratio"],
                 p["async_update_s"] * 1e3, p["async_theory_s"] * 1e3, p["async_ratio"]])
with open(os.path.join(a.out, "theory.json"), "w") as f:
    json.dump(doc, f, indent=1)
print_table(f"exponential step times, mean {a.mean_ms:g} ms (rate {1 / mean_s:g}/s)",
            ["M", "sync round ms", "H_M/lam ms", "measured/theory", "async ms/update", "1/(lam M) ms",
             "measured/theory"], rows, doc)
