#!/usr/bin/env python3
"""Training-step throughput, esync vs PyTorch Python, same model, batch and threads, random
input in both (`esync bench step` and bench/pytorch_step.py), measured in one run. The two
alternate (esync, PyTorch, esync, PyTorch ...) so machine noise hits both; the ratio is of
medians. Both run with the settings esync gives itself (common.reference_env: OpenBLAS and
OpenMP at --threads, esync's malloc thresholds). Prints the medians, every round's values and
the ratio; writes the JSON to --out.
Usage: /usr/bin/python3 bench/step_vs_pytorch.py [--batch 64] [--threads 1] [--rounds 5] [--out FILE]"""
import argparse, json, os, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import print_table, reference_env, run_esync, write_pair

ap = argparse.ArgumentParser()
ap.add_argument("--batch", type=int, default=64)
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--rounds", type=int, default=5)
ap.add_argument("--seconds", type=float, default=4.0)
ap.add_argument("--out", default="results/foundation/step_vs_pytorch.json")
a = ap.parse_args()

ours, theirs = [], []
for _ in range(a.rounds):
    r = run_esync(["bench", "step", "--model", "lenet5", "--batch", str(a.batch), "--threads", str(a.threads),
                   "--seconds", str(a.seconds)], a.threads)
    ours.append(r["rows"][0]["samples_per_s"])
    py = subprocess.run([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "pytorch_step.py"),
                         "--batch", str(a.batch), "--threads", str(a.threads), "--seconds", str(a.seconds)],
                        check=True, capture_output=True, text=True, env=reference_env(a.threads)).stdout
    theirs.append(json.loads(py.strip().splitlines()[-1])["samples_per_s"])
doc = write_pair(a.out, {"bench": "step_vs_pytorch", "batch": a.batch, "threads": a.threads, "rounds": a.rounds,
                          "seconds": a.seconds}, ours, theirs, "pytorch")
mo, mt = doc["esync_median"], doc["pytorch_median"]
rows = [["esync", a.batch, a.threads, mo, " ".join(f"{v:.0f}" for v in ours)],
        ["pytorch-python", a.batch, a.threads, mt, " ".join(f"{v:.0f}" for v in theirs)]]
print_table(f"train step lenet5: esync vs PyTorch Python, medians of {a.rounds} rounds",
            ["impl", "batch", "threads", "samples_per_s (median)", "per round"], rows, doc)
print(f"ratio esync / pytorch = {mo / mt:.3f} (per round: {' '.join(f'{r:.3f}' for r in doc['ratio_per_round'])})")
