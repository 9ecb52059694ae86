#!/usr/bin/env python3
"""ESync against SSGD (and optionally other modes) on the same heterogeneous set-up, in one run:
Fashion-MNIST, LeNet-5, 3 CPU worker processes slowed down 1x, 2x, 4x (esync run --slowdown).
Reports, per mode: wall time to each target accuracy (rank 0's evaluations), final accuracy,
total samples/s (sum over workers), the state server's K per device (median over rounds), and
the ratios against SSGD. Writes OUT/summary.json and prints a table.
A mode may carry flags after '+': asgd+delay-adaptive, esync+servers=2 (-> --servers 2), and
esync+policy=deadline (-> --mode esync --policy deadline) runs ESync with the deadline policy
beside plain esync, whose policy is esync's default (assign); the table labels them
"esync (deadline)" and "esync (assign)". Modes torch-esync and torch-ssgd run the PyTorch Python reference
(bench/pytorch_esync.py, assign policy) on the same set-up; their ratios are against torch-ssgd,
esync's against ssgd. --basis picks the slowdown emulation rule for both (esync run
--slowdown-basis). --weighting (ESync's averaging: batch, samples, normalized) and --global-lr
go to the torch-* modes always (default batch, 1) and to esync's esync and local-sgd runs only
when given. The reference gets the same process settings as esync (common.reference_env:
OpenBLAS/OpenMP at --threads, esync's malloc thresholds), and esync runs under them too.
OUT/summary.json has every round's own values per mode (per_round) beside the medians.
Usage: python3 bench/esync_vs_ssgd.py [--epochs 2] [--modes esync,ssgd,local-sgd] [--out results/distributed]"""
import argparse, copy, json, os, statistics, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import esync_binary, print_table, reference_env


def events(path):
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                yield json.loads(line)


def time_to(evals, target):
    for e in evals:
        if e.get("acc", 0) >= target:
            return e["wall_s"]
    return None


def mode_args(entry):
    """'asgd+delay-adaptive+servers=2' -> ['--mode', 'asgd', '--delay-adaptive', '--servers', '2']"""
    name, *flags = entry.split("+")
    args = ["--mode", name]
    for f in flags:
        args += ["--" + f.split("=")[0]] + ([f.split("=", 1)[1]] if "=" in f else [])
    return args


def label(mode, a):
    """The table's name of a mode: ESync's policy spelled out, as plain esync (assign, esync's
    default) and esync+policy=assign would otherwise read alike."""
    name, *flags = mode.split("+")
    if mode == "torch-esync":
        return "torch-esync (assign)"
    if name != "esync":
        return mode
    policy = next((f.split("=", 1)[1] for f in flags if f.startswith("policy=")), None)
    rest = [f for f in flags if not f.startswith("policy=")]
    if policy is None and "--policy" in a.extra.split():
        return mode  # set through --extra: not known here
    return "+".join([name] + rest) + f" ({policy or 'assign'})"


def run_torch(mode, a):
    cmd = [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "pytorch_esync.py"), "--mode",
           mode.split("-", 1)[1], "--slowdown", a.slowdown, "--basis", a.basis, "--k-base", str(a.k_base),
           "--epochs", f"{a.epochs:g}", "--snap-every", f"{a.eval_every:g}", "--threads", str(a.threads),
           "--weighting", a.weighting or "batch", "--global-lr", f"{a.global_lr or 1.0:g}"]
    t0 = time.time()
    r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True,
                                  env=reference_env(a.threads)).stdout.strip().splitlines()[-1])
    return {"mode": mode, "job_wall_s": time.time() - t0, "final_acc": r["final_acc"],
            "time_to": {str(t): time_to([{"wall_s": w, "acc": acc} for w, acc in r["evals"]], t) for t in a.targets},
            "samples_per_s": r["samples_per_s"], "per_worker_samples_per_s": None, "k_median": r["k_median"],
            "weighting": r.get("weighting"), "evals": r["evals"]}


def run(mode, a):
    if mode.startswith("torch-"):
        return run_torch(mode, a)
    log_dir = os.path.join(a.out, mode.replace("+", "_").replace("=", ""))
    cmd = [esync_binary(), "run", "--workers", str(len(a.slowdown.split(",")))] + mode_args(mode) + [
           "--slowdown", a.slowdown, "--epochs", f"{a.epochs:g}", "--threads", str(a.threads),
           "--eval-every", f"{a.eval_every:g}", "--log-dir", log_dir, "--timeout", "1800",
           "--slowdown-basis", a.basis] + a.extra.split()
    if mode.split("+")[0] == "esync":  # esync run refuses a flag the mode does not use
        cmd += ["--k-base", str(a.k_base)]
    if mode.split("+")[0] in ("esync", "local-sgd"):  # the model-averaging modes
        # only when given: esync's --weighting is newer than some builds
        cmd += ["--weighting", a.weighting] if a.weighting else []
        cmd += ["--global-lr", f"{a.global_lr:g}"] if a.global_lr else []
    t0 = time.time()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL if a.quiet else None, env=reference_env(a.threads))
    wall = time.time() - t0
    evals = [e for e in events(os.path.join(log_dir, "worker-0.jsonl")) if e["ev"] == "eval"]
    ends, ks = [], {}
    for r in range(len(a.slowdown.split(","))):
        for e in events(os.path.join(log_dir, f"worker-{r}.jsonl")):
            if e["ev"] == "end":
                ends.append(e["summary"])
            # K as done (the deadline policy may end a round before the assigned K), from round 2 on
            elif e["ev"] == "sync" and e.get("round", 0) >= 2 and mode.split("+")[0] in ("esync", "local-sgd"):
                ks.setdefault(r, []).append(e["k_done"])
    return {"mode": mode, "job_wall_s": wall, "final_acc": evals[-1].get("acc"),
            "time_to": {str(t): time_to(evals, t) for t in a.targets},
            "samples_per_s": sum(s["samples_per_s"] for s in ends),
            "per_worker_samples_per_s": [s["samples_per_s"] for s in ends],
            "k_median": [statistics.median(ks[r]) for r in sorted(ks)] if ks else None,
            "evals": [(e["wall_s"], e.get("acc")) for e in evals]}


ap = argparse.ArgumentParser()
ap.add_argument("--epochs", type=float, default=2)
ap.add_argument("--modes", default="esync,ssgd")
ap.add_argument("--slowdown", default="1,2,4")
ap.add_argument("--k-base", type=int, default=4)
ap.add_argument("--eval-every", type=float, default=0.5)
ap.add_argument("--basis", choices=["nominal", "measured"], default="nominal",
                help="slowdown emulation: nominal (esync's default) or measured (DESIGN's literal rule)")
ap.add_argument("--targets", default="0.8,0.85")
ap.add_argument("--out", default="results/distributed")
ap.add_argument("--quiet", action="store_true")
ap.add_argument("--threads", type=int, default=1,
                help="intra-op threads per worker process, esync's and the PyTorch reference's alike")
ap.add_argument("--extra", default="", help="flags added to every esync run, e.g. '--partition by-class'")
ap.add_argument("--repeat", type=int, default=1, help="alternated rounds; the table shows medians")
ap.add_argument("--weighting", choices=["batch", "samples", "normalized"],
                help="ESync's averaging: torch-esync's always (default batch), esync's only when given")
ap.add_argument("--global-lr", type=float, help="eta: torch-esync's always (default 1), esync's only when given")
a = ap.parse_args()
a.targets = [float(t) for t in a.targets.split(",")]
os.makedirs(a.out, exist_ok=True)
# Rounds alternate the modes (A B A B ...) so a noisy moment of the machine hits both; the last
# round's logs stay in OUT/<mode>/. Each mode's row is the median over rounds.
rounds = [[run(m, a) for m in a.modes.split(",")] for _ in range(a.repeat)]


def median_run(runs):
    # A deep copy: the last round's own dict (and its time_to) must keep that round's values,
    # which the per-round ratios below read.
    mid = copy.deepcopy(runs[-1])
    mid["samples_per_s"] = statistics.median(r["samples_per_s"] for r in runs)
    mid["all_samples_per_s"] = [r["samples_per_s"] for r in runs]
    for t in mid["time_to"]:
        vals = [r["time_to"][t] for r in runs]
        mid["time_to"][t] = statistics.median(vals) if None not in vals else None
        mid.setdefault("all_time_to", {})[t] = vals
    mid["final_acc"] = statistics.median(r["final_acc"] for r in runs)
    # K per device: the median of the rounds' medians (not the last round's alone)
    if all(r["k_median"] and None not in r["k_median"] for r in runs):
        mid["k_median"] = [statistics.median(ks) for ks in zip(*(r["k_median"] for r in runs))]
    # Every round's own figures, so any table can be recomputed from the JSON.
    mid["per_round"] = [{k: r[k] for k in ("samples_per_s", "time_to", "final_acc", "k_median", "job_wall_s",
                                           "per_worker_samples_per_s")} for r in runs]
    return mid


res = [median_run([rnd[i] for rnd in rounds]) for i in range(len(rounds[0]))]
rows = []
for i, r in enumerate(res):
    # each implementation against its own SSGD: esync modes against ssgd, torch-* against torch-ssgd
    base_name = "torch-ssgd" if r["mode"].startswith("torch-") else "ssgd"
    bi = next((j for j, b in enumerate(res) if b["mode"] == base_name), None)
    base = res[bi] if bi is not None else None
    t80 = r["time_to"][str(a.targets[0])]
    r["label"] = label(r["mode"], a)
    row = [r["label"], r["final_acc"], t80 if t80 is not None else "-", r["samples_per_s"], str(r["k_median"] or "-")]
    if base:
        b80 = base["time_to"][str(a.targets[0])]
        r["time_ratio_vs_ssgd"] = t80 / b80 if t80 and b80 else None
        r["throughput_ratio_vs_ssgd"] = r["samples_per_s"] / base["samples_per_s"]
        # The same ratios round by round (each against the SSGD run next to it).
        key = str(a.targets[0])
        r["time_ratio_per_round"] = [rnd[i]["time_to"][key] / rnd[bi]["time_to"][key]
                                     if rnd[i]["time_to"][key] and rnd[bi]["time_to"][key] else None for rnd in rounds]
        r["throughput_ratio_per_round"] = [rnd[i]["samples_per_s"] / rnd[bi]["samples_per_s"] for rnd in rounds]
        row += [r["time_ratio_vs_ssgd"] or "-", r["throughput_ratio_vs_ssgd"]]
    rows.append(row)
cols = ["mode", "final_acc", f"time_to_{a.targets[0]}_s", "samples_per_s", "K per device"]
if any(len(r) > 5 for r in rows):
    cols += ["time vs ssgd", "samples/s vs ssgd"]
    rows = [r + ["-", "-"] if len(r) == 5 else r for r in rows]
doc = {"bench": "esync_vs_ssgd", "repeat": a.repeat, "epochs": a.epochs, "slowdown": a.slowdown, "k_base": a.k_base,
       "basis": a.basis, "threads": a.threads, "weighting": a.weighting, "global_lr": a.global_lr,
       "extra": a.extra, "targets": a.targets, "runs": res}
with open(os.path.join(a.out, "summary.json"), "w") as f:
    json.dump(doc, f, indent=1)
print_table(f"Fashion-MNIST lenet5, {len(a.slowdown.split(','))} CPU workers, slowdown {a.slowdown} ({a.basis}), "
            f"{a.epochs} epochs",
            cols, rows, doc)
