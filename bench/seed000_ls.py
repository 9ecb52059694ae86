#!/usr/bin/env python3
"""Experiment 2 (issue 5): seed 000 reproduced. Least squares as the seed sets it (n = 10000,
d = 400, A ~ U[0,1)/sqrt(d), b = A x* + 0.1 eps, F = 1/2 mean((Ax - b)^2), x0 = 0), M workers on
a parameter server, the seed's iterations and tuned learning rates:
  single         one worker, batch 256, lr 0.43, 800 M steps             (esync local)
  sync           M workers, batch 256/M each, 800 rounds, seed lr 0.19   (ssgd over the PS)
  async          M workers, batch 256, 800 M pushes, lr 0.43             (asgd)
  async-cached   M workers, batch 256/M, 800 M pushes, seed lr 0.001     (asgd --async-cached)
  delay-adaptive as async, lr 0.43 M / max(M, tau)                       (asgd --delay-adaptive)
The seed's server SUMS the M gradients (sync) or the M cached gradients (async-cached); esync's
rules average them, so the same step is lr_seed * M here. An "iteration" on the
x-axis is one gradient, as in the seed's plots: samples seen / the batch of one gradient.
Writes OUT/seed000.json (curves, delay histograms, timings) and OUT/*.png; prints a table.
Usage: /usr/bin/python3 bench/seed000_ls.py [--workers 32] [--iterations 800] [--out DIR]"""
import argparse, json, os, shutil, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import esync_binary, print_table

LS = ["--dataset", "least-squares", "--ls-matrix", "uniform", "--model", "linreg", "--optimizer", "sgd", "--threads", "1"]


def events(path, kind):
    with open(path) as f:
        return [e for e in map(json.loads, filter(str.strip, f)) if e.get("ev") == kind]


def run_single(a, log_dir):
    steps = a.iterations * a.workers
    cmd = [esync_binary(), "local", *LS, "--lr", "0.43", "--batch", "256", "--steps", str(steps),
           "--eval-every-steps", str(max(1, steps // 200)), "--log-dir", log_dir, "--quiet"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    ev = events(os.path.join(log_dir, "local-0.jsonl"), "eval")
    return {"curve": [(e["round"], e["wall_s"], e["gap"]) for e in ev], "delays": None}


def run_ps(a, log_dir, lr, batch, epochs, flags):
    cmd = [esync_binary(), "run", "--workers", str(a.workers), "--servers", "1", *LS, "--lr", f"{lr:g}",
           "--batch", str(batch), "--epochs", str(epochs), "--eval-every", f"{a.eval_every:g}", "--log-dir", log_dir,
           "--timeout", "1800", *flags]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    ev = events(os.path.join(log_dir, "worker-0.jsonl"), "eval")
    ps = events(os.path.join(log_dir, "server-0.jsonl"), "ps")[-1]
    ends = [events(os.path.join(log_dir, f"worker-{r}.jsonl"), "end")[0]["summary"] for r in range(a.workers)]
    return {"curve": [(e["samples_seen"] / batch, e["wall_s"], e["gap"]) for e in ev],
            "delays": {int(k): v for k, v in ps["staleness_hist"].items()}, "pushes": ps["pushes"],
            "train_wall_s": max(s["train_wall_s"] for s in ends),
            "compute_s": sum(s["compute_s"] for s in ends) / len(ends), "comm_s": sum(s["comm_s"] for s in ends) / len(ends),
            "wait_s": sum(s["wait_s"] for s in ends) / len(ends)}


def hist_stats(h):
    n = sum(h.values())
    mean = sum(k * v for k, v in h.items()) / n
    acc, median = 0, None
    for k in sorted(h):
        acc += h[k]
        if median is None and acc >= n / 2:
            median = k
    return {"count": n, "mean": mean, "median": median, "max": max(h)}


def plot(doc, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    for x, label, name in [(0, "gradients computed", "loss_vs_gradients"), (1, "wall time (s)", "loss_vs_time")]:
        fig, ax = plt.subplots(figsize=(8, 5))
        top = 3 * doc["runs"]["single"]["curve"][0][2]  # the y range: up to 3x the initial gap
        for run, r in doc["runs"].items():
            pts = []
            for p in r["curve"]:
                if p[2] is None or p[2] > top:  # diverged: mark where it left the plot
                    break
                pts.append((p[x], p[2]))
            line, = ax.plot([p[0] for p in pts], [p[1] for p in pts], label=run + (" (diverged)" if len(pts) < len(r["curve"]) else ""))
            if len(pts) < len(r["curve"]):
                ax.plot([pts[-1][0]], [pts[-1][1]], "x", color=line.get_color(), markersize=10)
        ax.set_yscale("log")
        ax.set_ylim(top=top)
        ax.set_xlabel(label)
        ax.set_ylabel("F(x) - F*")
        ax.set_title(f"seed 000 least squares, M = {doc['workers']}, d = 400, batch 256")
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(out, name + ".png"), dpi=110)
        plt.close(fig)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    stable = [k for k in doc["runs"] if " lr " in k] + ["async-cached"]  # runs that did not diverge
    for ax, run in zip(axes, stable):
        h, s = doc["runs"][run]["delays"], doc["runs"][run]["delay_stats"]
        keys = sorted(int(k) for k in h)  # JSON keys are strings
        ax.bar(keys, [h[k] if k in h else h[str(k)] for k in keys], width=1.0, color="#999999")
        for v, style, lab in [(s["mean"], "--", "mean"), (s["median"], ":", "median"), (s["max"], "-.", "max"),
                              (doc["workers"], "-", "M")]:
            ax.axvline(v, linestyle=style, label=f"{lab} = {v:.1f}")
        ax.set_xlabel("delay (server updates between pull and push)")
        ax.set_ylabel("pushes")
        ax.set_title(run)
        ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out, "delay_histograms.png"), dpi=110)
    plt.close(fig)


ap = argparse.ArgumentParser()
ap.add_argument("--workers", type=int, default=32)
ap.add_argument("--iterations", type=int, default=800, help="the seed's iterations (rounds; x M pushes async)")
ap.add_argument("--eval-every", type=float, default=0.25, help="seconds between rank 0's evaluations")
ap.add_argument("--stable-lr", type=float, default=0.1, help="the extra async runs' lr")
ap.add_argument("--out", default="results/experiments/seed000")
ap.add_argument("--replot", action="store_true", help="redraw the figures from OUT/seed000.json")
a = ap.parse_args()
os.makedirs(a.out, exist_ok=True)
if a.replot:
    plot(json.load(open(os.path.join(a.out, "seed000.json"))), a.out)
    sys.exit(0)
m, n = a.workers, 10000
small = max(1, 256 // m)
# Epochs that give the seed's gradient counts: rounds x 256 samples (sync, cached: batch 256/M
# per push) or M x iterations pushes of 256 (async).
ep_small = max(1, round(a.iterations * small * m / n))
ep_big = max(1, round(a.iterations * m * 256 / n))
plan = {"single": None,
        "sync": (0.19 * m, small, ep_small, ["--mode", "ssgd"]),
        "async": (0.43, 256, ep_big, ["--mode", "asgd"]),
        "delay-adaptive": (0.43, 256, ep_big, ["--mode", "asgd", "--delay-adaptive"]),
        "async-cached": (0.001 * m, small, ep_small, ["--mode", "asgd", "--async-cached"]),
        # The seed's async lr is past the stability bound of delayed gradient descent here (see
        # results/experiments/seed000/README.md): the same run at a step size that bound allows.
        f"async lr {a.stable_lr:g}": (a.stable_lr, 256, ep_big, ["--mode", "asgd"]),
        f"delay-adaptive lr {a.stable_lr:g}": (a.stable_lr, 256, ep_big, ["--mode", "asgd", "--delay-adaptive"])}
doc = {"bench": "seed000_ls", "workers": m, "iterations": a.iterations, "runs": {}}
tmp = os.path.join(a.out, "logs")
for name, p in plan.items():
    log_dir = os.path.join(tmp, name)
    shutil.rmtree(log_dir, ignore_errors=True)
    t0 = time.time()
    r = run_single(a, log_dir) if p is None else run_ps(a, log_dir, *p)
    r["job_wall_s"] = time.time() - t0
    r["lr"] = 0.43 if p is None else p[0]
    if r["delays"]:
        r["delay_stats"] = hist_stats(r["delays"])
    doc["runs"][name] = r
    print(f"{name}: done in {r['job_wall_s']:.0f} s", file=sys.stderr)
shutil.rmtree(tmp, ignore_errors=True)  # curves and histograms are kept, not the raw logs
rows = []
for name, r in doc["runs"].items():
    c = r["curve"]
    d = r.get("delay_stats") or {}
    # Where a run diverged (F went to inf/NaN, logged as null): the first such evaluation.
    bad = next((p for p in c if p[2] is None or p[2] > 1e6), None)
    r["diverged_at_gradient"] = bad[0] if bad else None
    rows.append([name, r["lr"], c[-1][0], c[-1][1], "diverged" if bad else c[-1][2], bad[0] if bad else "",
                 d.get("mean", ""), d.get("median", ""), d.get("max", "")])
with open(os.path.join(a.out, "seed000.json"), "w") as f:
    json.dump(doc, f, indent=1)
plot(doc, a.out)
print_table(f"seed 000 least squares, M = {m}", ["run", "lr", "gradients", "time_s", "final F-F*", "diverged at",
            "delay mean", "delay median", "delay max"], rows,
            {k: {kk: v for kk, v in r.items() if kk not in ("curve", "delays")} for k, r in doc["runs"].items()})
