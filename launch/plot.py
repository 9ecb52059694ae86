#!/usr/bin/env python3
"""Figures (PNG) from esync summaries (`esync summarize`, schema esync.summary/1).

Usage: python3 launch/plot.py SUMMARY.json [MORE.json ...] -o OUTDIR [--title TEXT]

Every run of every summary is one series. Writes, each with labelled axes, units and a legend:
  accuracy_vs_time.png   accuracy (or relative gap) of rank 0's evaluations against wall time
  throughput.png         samples/s per device (worker), grouped by run
  traffic.png            bytes sent + received per device
  time_split.png         computing-time ratio: compute / communication / wait / injected, stacked
  staleness.png          staleness histogram per asynchronous run (mean / median / max in the legend)
  comm_heatmap.png       per-worker communication time over the job, one panel per run
  k_per_round.png        local steps K assigned per round per device (runs that have K > 1)
Needs matplotlib (Debian python3-matplotlib); uses the Agg backend, no display."""
import argparse, json, os, sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

COLORS = plt.rcParams["axes.prop_cycle"].by_key()["color"]


def load_runs(paths):
    runs = []
    for p in paths:
        with open(p) as f:
            doc = json.load(f)
        if doc.get("schema") != "esync.summary/1":
            sys.exit(f"plot.py: {p}: not an esync.summary/1 document")
        for r in doc["runs"]:
            r["_name"] = r.get("label") or r.get("mode") or os.path.basename(p)
            runs.append(r)
    if not runs:
        sys.exit("plot.py: no runs in the summaries given")
    return runs


def save(fig, out, name):
    path = os.path.join(out, name)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"plot.py: wrote {path}")


def accuracy(runs, out, title):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    metric = None
    for i, r in enumerate(runs):
        acc = r.get("accuracy") or {}
        curve = acc.get("curve") or []
        if not curve:
            continue
        metric = metric or acc.get("metric")
        ax.plot([c[0] for c in curve], [c[2] for c in curve], marker=".", color=COLORS[i % len(COLORS)],
                label=f"{r['_name']} ({r.get('mode', '?')})")
    if metric == "rel_gap":
        ax.set_yscale("log")
        ax.set_ylabel("relative gap (F - F*) / (F0 - F*)")
    else:
        ax.set_ylabel("test accuracy")
    ax.set_xlabel("wall time (s)")
    ax.set_title(f"{title}: accuracy vs time")
    ax.grid(alpha=0.3)
    ax.legend()
    save(fig, out, "accuracy_vs_time.png")


def per_worker_bars(runs, out, title, key, ylabel, fname, scale=1.0):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    width = 0.8 / max(1, len(runs))
    for i, r in enumerate(runs):
        ws = r.get("workers", [])
        xs = np.arange(len(ws)) + i * width
        ax.bar(xs, [key(w) / scale for w in ws], width, color=COLORS[i % len(COLORS)], label=r["_name"])
    n = max(len(r.get("workers", [])) for r in runs)
    ax.set_xticks(np.arange(n) + 0.4 - width / 2)
    ax.set_xticklabels([f"worker {k}" for k in range(n)])
    ax.set_ylabel(ylabel)
    ax.set_title(f"{title}: {ylabel.split(' (')[0]} per device")
    ax.grid(axis="y", alpha=0.3)
    ax.legend()
    save(fig, out, fname)


def time_split(runs, out, title):
    parts = [("compute_frac", "compute"), ("comm_frac", "communication"), ("wait_frac", "wait"),
             ("injected_frac", "injected (slowdown, delay)")]
    labels, rows = [], []
    for r in runs:
        for w in r.get("workers", []):
            labels.append(f"{r['_name']}\nw{w['rank']}")
            rows.append([w.get("time_split", {}).get(k, 0.0) for k, _ in parts])
    rows = np.array(rows) if rows else np.zeros((0, len(parts)))
    fig, ax = plt.subplots(figsize=(max(7, 0.6 * len(labels)), 4.5))
    bottom = np.zeros(len(labels))
    for j, (_, name) in enumerate(parts):
        ax.bar(range(len(labels)), rows[:, j] * 100, bottom=bottom, color=COLORS[j], label=name)
        bottom += rows[:, j] * 100
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_ylabel("share of the worker's time (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"{title}: computing-time ratio")
    ax.legend(fontsize=8, loc="lower right")
    save(fig, out, "time_split.png")


def staleness(runs, out, title):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    any_data = False
    for i, r in enumerate(runs):
        hist = {}
        for w in r.get("workers", []):
            for tau, count in w.get("staleness", {}).get("hist", []):
                hist[tau] = hist.get(tau, 0) + count
        if not hist or max(hist) == 0:  # synchronous runs: all zero, would dwarf the rest
            continue
        taus = sorted(hist)
        counts = np.array([hist[t] for t in taus], dtype=float)
        mean = float(np.dot(taus, counts) / counts.sum())
        cum = np.cumsum(counts)
        median = taus[int(np.searchsorted(cum, cum[-1] / 2))]
        ax.bar(np.array(taus) + 0.8 * i / len(runs), counts, 0.8 / len(runs), color=COLORS[i % len(COLORS)],
               label=f"{r['_name']}: mean {mean:.2f}, median {median}, max {taus[-1]}")
        any_data = True
    ax.set_xlabel("staleness tau (server versions since the worker's copy)")
    ax.set_ylabel("pushes")
    ax.set_title(f"{title}: staleness")
    ax.grid(axis="y", alpha=0.3)
    if any_data:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no staleness (synchronous runs only)", ha="center", transform=ax.transAxes)
    save(fig, out, "staleness.png")


def comm_heatmap(runs, out, title, bins=60):
    fig, axes = plt.subplots(len(runs), 1, figsize=(8, 1.2 + 1.3 * len(runs)), squeeze=False)
    for ax, r in zip(axes[:, 0], runs):
        ws = r.get("workers", [])
        end = max([p[0] for w in ws for p in w.get("timeline", {}).get("points", [])] + [1e-9])
        grid = np.zeros((len(ws), bins))
        for k, w in enumerate(ws):
            for t, c, _ in w.get("timeline", {}).get("points", []):
                grid[k, min(bins - 1, int(t / end * bins))] += c
        width = end / bins
        im = ax.imshow(grid / width * 100, aspect="auto", cmap="magma", extent=[0, end, len(ws) - 0.5, -0.5],
                       interpolation="nearest")
        ax.set_yticks(range(len(ws)))
        ax.set_yticklabels([f"w{w['rank']}" for w in ws])
        ax.set_title(f"{r['_name']}", fontsize=9)
        fig.colorbar(im, ax=ax).set_label("% of time in comm.", fontsize=8)
    axes[-1, 0].set_xlabel("wall time (s)")
    fig.suptitle(f"{title}: communication per worker over time")
    save(fig, out, "comm_heatmap.png")


def k_per_round(runs, out, title):
    with_k = [r for r in runs if any(w.get("k", {}).get("assigned_median", 1) and
                                     w.get("k", {}).get("assigned_median", 1) > 1 for w in r.get("workers", []))]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, r in enumerate(with_k):
        for j, w in enumerate(r.get("workers", [])):
            pr = w.get("k", {}).get("per_round", [])
            ax.plot([p[0] for p in pr], [p[1] for p in pr], color=COLORS[j % len(COLORS)],
                    linestyle=["-", "--", ":", "-."][i % 4], label=f"{r['_name']} worker {w['rank']}")
    ax.set_xlabel("round")
    ax.set_ylabel("local steps K assigned")
    ax.set_title(f"{title}: K per round per device")
    ax.grid(alpha=0.3)
    if with_k:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no run with local steps", ha="center", transform=ax.transAxes)
    save(fig, out, "k_per_round.png")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("summaries", nargs="+")
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--title", default="esync")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    runs = load_runs(a.summaries)
    accuracy(runs, a.out, a.title)
    per_worker_bars(runs, a.out, a.title, lambda w: w.get("samples_per_s", 0.0), "throughput (samples/s)", "throughput.png")
    per_worker_bars(runs, a.out, a.title, lambda w: w.get("bytes_sent", 0) + w.get("bytes_recv", 0),
                    "traffic (MB sent + received)", "traffic.png", scale=1e6)
    time_split(runs, a.out, a.title)
    staleness(runs, a.out, a.title)
    comm_heatmap(runs, a.out, a.title)
    k_per_round(runs, a.out, a.title)


if __name__ == "__main__":
    main()
