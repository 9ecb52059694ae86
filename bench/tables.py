#!/usr/bin/env python3
"""The tables of figures in README.md, docs/**/*.md and results/**/*.md (one page per experiment,
beside its data), written from the committed data they come from.

A Markdown file holds generated regions:

    <!-- table:NAME -->
    ...written by this script...
    <!-- /table -->

Each NAME is a generator in TABLES below: it reads committed JSON under results/ (the files the
bench scripts write, or the JSON a script printed after its '#json' line into a committed .txt)
and returns the region's Markdown: a table and, where useful, a line of per-round figures.

  python3 bench/tables.py --write   rewrite every region from its data
  python3 bench/tables.py --check   exit 1 naming each region that differs from its data, or
                                    whose data is missing; 0 when all match (a ctest)
  python3 bench/tables.py --list    the generators, their data and the scripts that make it
  python3 bench/tables.py --write results/experiments/policy/README.md   (or --check): only those files

--write leaves a region whose data is missing as it is and says so on stderr (exit 0), so a
script that has just written one data file can call it. Standard library only."""
import argparse, glob, json, math, os, re, statistics, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REGION = re.compile(r"<!-- table:([A-Za-z0-9_.-]+) -->\n(.*?)<!-- /table -->", re.S)
OPEN = re.compile(r"<!-- table:([A-Za-z0-9_.-]+) -->")


class MissingData(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Reading data

def path_of(rel):
    return os.path.join(ROOT, rel)


def load(rel):
    """A committed JSON file, or the JSON after the '#json' line of a committed .txt output."""
    p = path_of(rel)
    if not os.path.exists(p):
        raise MissingData(rel)
    with open(p) as f:
        if not rel.endswith(".txt"):
            return json.load(f)
        lines = f.read().splitlines()
    if "#json" not in lines:
        raise MissingData(rel + " (no '#json' line)")
    return json.loads(lines[lines.index("#json") + 1])


def load_jsonl(rel):
    p = path_of(rel)
    if not os.path.exists(p):
        raise MissingData(rel)
    with open(p) as f:
        return [json.loads(line) for line in f if line.strip()]


# ---------------------------------------------------------------------------------------------
# Formatting: few significant digits, the same output for the same data

def sig(x, n=3):
    """x to n significant digits, as a plain number (no exponent), thousands grouped by spaces."""
    if x is None:
        return "—"
    if x == 0:
        return "0"
    digits = n - 1 - int(math.floor(math.log10(abs(x))))
    v = round(x, digits)
    if digits <= 0:
        return f"{int(v):,}".replace(",", " ")
    return f"{v:.{digits}f}"


def sci(x, n=3):
    """Small or large magnitudes in a short exponent form (3.84e-6), else sig()."""
    if x is None:
        return "—"
    if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e6):
        m, e = f"{x:.{n - 1}e}".split("e")
        return f"{m}e{int(e)}"
    return sig(x, n)


def acc(x):
    return "—" if x is None else f"{x:.3f}"


def ratio(x):
    return "—" if x is None else f"{x:.2f}×"


def r2(x):
    return "—" if x is None else f"{x:.2f}"


def rate(x):
    """samples/s: whole numbers, 4 significant digits from 10 000 up."""
    return count(x) if x is None or abs(x) < 10000 else sig(x, 4)


def count(x):
    return "—" if x is None else f"{int(round(x)):,}".replace(",", " ")


def pct(x):
    return "—" if x is None else f"{x * 100:+.1f} %"


def secs(x):
    return "—" if x is None else sig(x, 3)


def kvec(ks):
    if not ks:
        return "—"
    return " : ".join(str(int(k)) if float(k).is_integer() else f"{k:.1f}" for k in ks)


def series(values, f):
    return ", ".join(f(v) for v in values)


def plural(n, word):
    return f"{n} {word}" + ("" if n == 1 else "s")


def table(columns, rows):
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# bench/esync_vs_ssgd.py summaries: {"runs": [{mode, final_acc, time_to, samples_per_s, k_median,
# time_ratio_vs_ssgd, throughput_ratio_vs_ssgd, time_ratio_per_round, throughput_ratio_per_round,
# all_samples_per_s, all_time_to, per_round ...}], "repeat", "targets", ...}

def mode_dir(summary_rel, mode):
    return os.path.join(os.path.dirname(summary_rel), mode.replace("+", "_").replace("=", ""))


def logged_policy(summary_rel, mode):
    """ESync's K policy as the state server logged it beside the summary (the last round's logs),
    or None."""
    p = path_of(os.path.join(mode_dir(summary_rel, mode), "coordinator-0.jsonl"))
    if not os.path.exists(p):
        return None
    with open(p) as f:
        first = f.readline()
    try:
        return json.loads(first).get("policy")
    except ValueError:
        return None


def esync_policy(run, summary_rel):
    """ESync's K policy: as the state server logged it beside the summary, else as the mode
    string names it (esync+policy=assign), else None."""
    name, *flags = run["mode"].split("+")
    if name != "esync":
        return None
    flag = next((f.split("=", 1)[1] for f in flags if f.startswith("policy=")), None)
    return logged_policy(summary_rel, run["mode"]) or flag


def run_label(run, doc, summary_rel):
    """The mode with ESync's policy spelled out, as bench/esync_vs_ssgd.py names it, the policy
    read from the run's logs where they are committed."""
    mode = run["mode"]
    name, *flags = mode.split("+")
    if mode == "torch-esync":
        return "torch-esync (assign)"
    if name != "esync":
        return run.get("label") or mode
    policy = esync_policy(run, summary_rel)
    if policy is None:
        return run.get("label") or mode
    rest = [f for f in flags if not f.startswith("policy=")]
    return "+".join([name] + rest) + f" ({policy})"


def target_key(doc, run):
    t = (doc.get("targets") or [None])[0]
    if t is not None and str(t) in run["time_to"]:
        return str(t)
    return min(run["time_to"], key=float)


def target_text(key):
    return f"{float(key):.2f}"


def baseline_of(doc, run):
    base = "torch-ssgd" if run["mode"].startswith("torch-") else "ssgd"
    return next((r for r in doc["runs"] if r["mode"] == base), None)


def rounds_of(doc):
    return int(doc.get("repeat", 1))


def per_round(run, key):
    """(samples/s per round, time to target per round) from the summary."""
    if run.get("per_round"):
        return ([r["samples_per_s"] for r in run["per_round"]],
                [r["time_to"].get(key) for r in run["per_round"]])
    return run.get("all_samples_per_s") or [run["samples_per_s"]], \
        (run.get("all_time_to") or {}).get(key) or [run["time_to"].get(key)]


def time_ratio(doc, run, key):
    if "time_ratio_vs_ssgd" in run:
        return run["time_ratio_vs_ssgd"]
    b = baseline_of(doc, run)
    t, bt = run["time_to"].get(key), b and b["time_to"].get(key)
    return t / bt if t and bt else None


def throughput_ratio(doc, run):
    if "throughput_ratio_vs_ssgd" in run:
        return run["throughput_ratio_vs_ssgd"]
    b = baseline_of(doc, run)
    return run["samples_per_s"] / b["samples_per_s"] if b else None


def is_baseline(run):
    return run["mode"] in ("ssgd", "torch-ssgd")


def comparison(rel, runs=None, groups=None, group_col=None):
    """One row per run: final accuracy, time to the first target, samples/s, K per device and the
    ratios against the SSGD run of the same implementation, then one line with the per-round
    ratios when there were several rounds. groups: [(label, rel)], the labels in a first column
    named group_col."""
    groups = groups or [(None, rel)]
    rows, notes, key = [], [], None
    for glabel, grel in groups:
        doc = load(grel)
        for run in doc["runs"]:
            if runs and run["mode"] not in runs:
                continue
            key = target_key(doc, run)
            row = [] if glabel is None else [glabel]
            row += [run_label(run, doc, grel), acc(run["final_acc"]), secs(run["time_to"].get(key)),
                    rate(run["samples_per_s"]), kvec(run.get("k_median")),
                    ratio(time_ratio(doc, run, key)), ratio(throughput_ratio(doc, run))]
            rows.append(row)
            if rounds_of(doc) > 1 and not is_baseline(run) and run.get("throughput_ratio_per_round"):
                notes.append((glabel, run_label(run, doc, grel), run.get("time_ratio_per_round") or [],
                              run["throughput_ratio_per_round"]))
    cols = ([group_col] if group_col else []) + [
        "run", "final acc", f"time to {target_text(key)} (s)", "samples/s", "K per device",
        "time vs SSGD", "samples/s vs SSGD"]
    out = table(cols, rows)
    if notes:
        n = rounds_of(load(groups[0][1]))
        parts_t = "; ".join(f"{name} {series(t, lambda v: r2(v))}" for _, name, t, _ in notes)
        parts_s = "; ".join(f"{name} {series(s, lambda v: r2(v))}" for _, name, _, s in notes)
        out += (f"\n\nMedians of {n} alternated rounds. Round by round, against the SSGD run of the same "
                f"round, time to {target_text(key)}: {parts_t}. Samples/s: {parts_s}.")
    return out


def pairs(groups, first_col):
    """ESync against SSGD per implementation (esync's modes, and the PyTorch reference's torch-*
    modes), one row each: samples/s, time to the target, ratios, K; per-round ratios below."""
    rows, notes, key = [], [], None
    for glabel, grel in groups:
        doc = load(grel)
        for impl, e_mode, s_mode in (("esync", "esync", "ssgd"), ("PyTorch reference", "torch-esync", "torch-ssgd")):
            e = next((r for r in doc["runs"] if r["mode"] == e_mode), None)
            s = next((r for r in doc["runs"] if r["mode"] == s_mode), None)
            if not e or not s:
                continue
            key = target_key(doc, e)
            rows.append([glabel, impl, rate(e["samples_per_s"]), rate(s["samples_per_s"]),
                         ratio(throughput_ratio(doc, e)), secs(e["time_to"].get(key)), secs(s["time_to"].get(key)),
                         ratio(time_ratio(doc, e, key)), kvec(e.get("k_median"))])
            if rounds_of(doc) > 1:
                notes.append(f"{glabel}, {impl}: {series(e.get('throughput_ratio_per_round') or [], r2)}"
                             f" and {series(e.get('time_ratio_per_round') or [], r2)}")
    t = target_text(key)
    out = table([first_col, "implementation", "ESync samples/s", "SSGD samples/s", "samples/s ratio",
                 f"ESync to {t} (s)", f"SSGD to {t} (s)", "time ratio", "K per device"], rows)
    if notes:
        out += ("\n\nMedians of the rounds; round by round, samples/s ratio and time ratio: "
                + "; ".join(notes) + ".")
    return out


# ---------------------------------------------------------------------------------------------
# The generators

def demo():
    return comparison("results/demo/summary.json")


def policy():
    rel = "results/experiments/policy/summary.json"
    out = comparison(rel)
    doc = load(rel)
    by = {esync_policy(r, rel): r for r in doc["runs"] if r["mode"].split("+")[0] == "esync"}
    d, a = by.get("deadline"), by.get("assign")
    if d and a and rounds_of(doc) > 1:
        key = target_key(doc, d)
        ds, dt = per_round(d, key)
        as_, at = per_round(a, key)
        sr = [x / y for x, y in zip(ds, as_)]
        tr = [x / y if x and y else None for x, y in zip(dt, at)]
        out += (f"\n\ndeadline against assign, round by round: samples/s {series(sr, r2)}; "
                f"time to {target_text(key)} {series(tr, r2)}.")
    return out


def weighting(k_base=1):
    docs = {p: load(f"results/experiments/weighting/kbase{k_base}/{p}/summary.json") for p in ("iid", "by-class")}
    key = target_key(docs["iid"], docs["iid"]["runs"][0])
    ssgd_bc = next((r for r in docs["by-class"]["runs"] if r["mode"] == "ssgd"), None)
    rows = []
    for run in docs["iid"]["runs"]:
        mode = run["mode"]
        other = next((r for r in docs["by-class"]["runs"] if r["mode"] == mode), None)
        w = next((f.split("=", 1)[1] for f in mode.split("+")[1:] if f.startswith("weighting=")), None)
        scaffold = "drift-correction=scaffold" in mode.split("+")[1:]
        name = (f"ESync, `--weighting {w}`" if w else "ESync, `--drift-correction scaffold`" if scaffold
                else "SSGD" if mode == "ssgd" else mode)
        gap = (other["final_acc"] - ssgd_bc["final_acc"]) * 100 if other and ssgd_bc and mode != "ssgd" else None
        rows.append([name, acc(run["final_acc"]), secs(run["time_to"].get(key)), rate(run["samples_per_s"]),
                     acc(other and other["final_acc"]), secs(other and other["time_to"].get(key)),
                     rate(other and other["samples_per_s"]), "—" if gap is None else f"{gap:+.1f} points"])
    t = target_text(key)
    out = table(["averaging", "iid: final acc", f"iid: to {t} (s)", "iid: samples/s", "by-class: final acc",
                 f"by-class: to {t} (s)", "by-class: samples/s", "by-class acc − SSGD's"], rows)
    n = rounds_of(docs["iid"])
    out += f"\n\nK_base {docs['iid'].get('k_base')}; medians of {n} alternated rounds per partition."
    return out


def heterogeneity():
    return comparison(None, groups=[("iid", "results/experiments/heterogeneity/iid/summary.json"),
                                    ("by-class", "results/experiments/heterogeneity/by-class/summary.json")],
                      group_col="partition")


def modes():
    return comparison("results/distributed/modes/summary.json")


def vs_pytorch():
    return pairs([("nominal", "results/distributed/vs_pytorch/nominal/summary.json"),
                  ("nominal, another run", "results/distributed/vs_pytorch/nominal-repeat/summary.json"),
                  ("measured", "results/distributed/vs_pytorch/measured/summary.json")], "slowdown rule")


def threads():
    return pairs([("2 (measured rule)", "results/distributed/threads/measured-threads2.json")],
                 "threads per process")


def overlap():
    rows, key = [], None
    for net, rel in (("loopback", "results/distributed/overlap/delay-none/summary.json"),
                     ("`--delay constant:50ms`", "results/distributed/overlap/delay-50ms/summary.json")):
        doc = load(rel)
        for run in doc["runs"]:
            key = target_key(doc, run)
            sps, t = per_round(run, key)
            name = {"esync": "esync", "esync+overlap": "esync `--overlap`"}.get(run["mode"], run["mode"])
            rows.append([net, name, series(sps, rate), series(t, secs), rate(run["samples_per_s"]),
                         ratio(throughput_ratio(doc, run)), acc(run["final_acc"])])
    return table(["network", "mode", "samples/s per round", f"time to {target_text(key)} per round (s)",
                  "samples/s (median)", "samples/s vs SSGD", "final acc"], rows)


def overlap_variants():
    recs = load_jsonl("results/distributed/overlap/variants.jsonl")
    names = {"sync": "synchronous ESync", "own": "`--overlap` (each worker goes on from its own model)",
             "extrap": "common restart from G + γ(G − G_prev)"}
    order = []
    for r in recs:
        k = (r["v"], r["gamma"]) if r["v"] == "extrap" else (r["v"], None)
        if k not in order:
            order.append(k)
    rows = []
    for v, g in order:
        rs = [r for r in recs if r["v"] == v and (g is None or r["gamma"] == g)]
        label = names.get(v, v) + (f", γ = {g:g}" if g is not None else "")
        to = [r.get("to_0.80") for r in rs]
        rows.append([label, ", ".join("never" if x is None else f"{x / 1000:.0f} k" for x in to),
                     series([r["final"] for r in rs], acc)])
    seeds = sorted({r["seed"] for r in recs})
    return table([f"variant (seeds {', '.join(map(str, seeds))})", "samples to 0.80", "accuracy after 1 epoch"], rows)


def lr_sweep():
    docs = [load("results/distributed/lr_sweep/run1.summary.json"),
            load("results/distributed/lr_sweep/run2.summary.json")]
    default_lr = 0.02  # esync run's --lr and --local-lr
    times, glr = {"esync": {}, "ssgd": {}}, {}
    for doc in docs:
        for run in doc["runs"]:
            name, *flags = run["mode"].split("+")
            opts = dict(f.split("=", 1) for f in flags if "=" in f)
            t = run["time_to"].get(target_key(doc, run))
            if "global-lr" in opts:
                glr[float(opts["global-lr"])] = t
                continue
            lr = float(opts.get("local-lr" if name == "esync" else "lr", default_lr))
            times[name][lr] = t
            if name == "esync":
                glr.setdefault(1.0, t)
    lrs = sorted(set(times["esync"]) | set(times["ssgd"]))
    rows = [["ESync (`--local-lr`)"] + [secs(times["esync"].get(x)) for x in lrs],
            ["SSGD (`--lr`)"] + [secs(times["ssgd"].get(x)) for x in lrs]]
    out = table(["time to 0.80 (s) at lr"] + [f"{x:g}" for x in lrs], rows)
    out += ("\n\nESync at `--local-lr` 0.02 with `--global-lr` "
            + ", ".join(f"{g:g}: {secs(t)} s" for g, t in sorted(glr.items())) + ".")
    return out


def step_vs_pytorch():
    d = load("results/foundation/step_vs_pytorch.json")
    ratios = d.get("ratio_per_round") or [o / t for o, t in zip(d["esync"], d["pytorch"])]
    out = table(["implementation", "samples/s (median)", "per round"],
                [["esync (`esync bench step`)", rate(d["esync_median"]), series(d["esync"], rate)],
                 ["PyTorch Python (`bench/pytorch_step.py`)", rate(d["pytorch_median"]), series(d["pytorch"], rate)],
                 ["ratio", ratio(d["ratio"]), series(ratios, r2)]])
    return out + (f"\n\nLeNet-5, batch {d['batch']}, {plural(d['threads'], 'thread')}, {len(d['esync'])} alternated rounds; "
                  "the ratio is of the medians.")


def ssgd_vs_ddp():
    d = load("results/distributed/ssgd_vs_ddp.json")
    return ddp_table([("", d)]) + (f"\n\n{d['world']} processes × {plural(d['threads'], 'thread')}, "
                                   f"{len(d['esync'])} alternated rounds; the ratio is of the medians.")


def ssgd_vs_ddp_random_input():
    runs = [(os.path.basename(p), load(p)) for p in ("results/distributed/ssgd_vs_ddp_random_input_1.txt",
                                                     "results/distributed/ssgd_vs_ddp_random_input_2.txt")]
    rows = []
    for name, d in runs:
        rs = d.get("ratio_per_round") or [o / t for o, t in zip(d["esync"], d["ddp"])]
        rows.append([f"`{name}`", rate(d["esync_median"]), rate(d["ddp_median"]), ratio(d["ratio"]),
                     series(rs, r2)])
    return table(["run", "esync samples/s (median)", "DDP samples/s (median)", "ratio", "ratio per round"], rows)


def ddp_table(runs):
    rows = []
    for _, d in runs:
        rs = d.get("ratio_per_round") or [o / t for o, t in zip(d["esync"], d["ddp"])]
        rows += [["esync SSGD (gloo)", rate(d["esync_median"]), series(d["esync"], rate)],
                 ["PyTorch DDP (gloo)", rate(d["ddp_median"]), series(d["ddp"], rate)],
                 ["ratio", ratio(d["ratio"]), series(rs, r2)]]
    return table(["implementation", "samples/s (median)", "per round"], rows)


def fashion_local():
    rows = []
    for ep in (1, 3):
        d = load(f"results/foundation/fashion_lenet5_{ep}ep.txt")
        rows.append([ep, acc(d["final"]["acc"]), sig(d["final"]["loss"]), rate(d["samples_per_s"]),
                     secs(d.get("train_s"))])
    return table(["epochs", "test accuracy", "test loss", "samples/s", "training time (s)"], rows)


def ls_vs_pytorch():
    d = load("results/foundation/ls_vs_pytorch.txt")
    names = {"uniform": "A ~ U[0,1)/√d (seed 000)", "normal": "A ~ N(0,1), well-conditioned"}
    rows = [[names.get(c["matrix"], c["matrix"]), f"{c['lr']:g}", c["steps"], sci(c["esync_gap"]),
             sci(c["pytorch_gap"]), r2(c["gap_ratio"]), sci(c["esync_rel_gap"]), sci(c["pytorch_rel_gap"])]
            for c in d["cases"]]
    return table(["matrix", "lr", "steps", "esync F − F*", "PyTorch F − F*", "ratio", "esync (F − F*)/(F₀ − F*)",
                  "PyTorch (F − F*)/(F₀ − F*)"], rows)


def kernels():
    d = load("results/foundation/kernels.txt")
    n = max(r["n"] for r in d["rows"])
    rows = [r for r in d["rows"] if r["n"] == n]
    body = [[r["kernel"], sig(r["GB/s"]), r2(r["vs_memcpy"])] for r in rows]
    kern = [r for r in rows if not r["kernel"].startswith("memcpy")]
    low = min(kern, key=lambda r: r["vs_memcpy"])
    exp = int(round(math.log2(n)))
    return table([f"kernel (n = 2^{exp})", "GB/s", "vs memcpy"], body) + (
        f"\n\nLowest against memcpy: {low['kernel']}, {r2(low['vs_memcpy'])}.")


def seed000():
    d = load("results/experiments/seed000/seed000.json")
    rows = []
    for name, r in d["runs"].items():
        last = r["curve"][-1]
        ds = r.get("delay_stats") or {}
        div = r.get("diverged_at_gradient")
        rows.append([name, f"{r['lr']:g}", count(last[0]) if not div else "—",
                     secs(last[1]) if not div else "—",
                     f"**diverged** after ≈ {sig(div, 2)} gradients" if div else sci(last[2]),
                     "—" if not ds else f"{sig(ds['mean'], 3)} / {ds['median']} / {ds['max']}"])
    return table(["run", "lr", "gradients", "time (s)", "final F − F*", "delay mean / median / max"], rows)


def theory():
    d = load("results/experiments/theory/theory.json")
    rows = [[p["workers"], sig(p["sync_round_s"] * 1e3), sig(p["sync_theory_s"] * 1e3), r2(p["sync_ratio"]),
             sig(p["async_update_s"] * 1e3), sig(p["async_theory_s"] * 1e3), r2(p["async_ratio"])]
            for p in d["points"]]
    return table(["M", "sync round (ms)", "H_M / λ (ms)", "measured / theory", "async per update (ms)",
                  "1 / (λM) (ms)", "measured / theory"], rows)


def survive():
    d = load("results/experiments/survive/runs.json")
    rows = []
    kind = lambda r: ("over the shard" if r.get("transport", "ps") == "ps" else "allreduce", r["mode"])
    for job in dict.fromkeys(kind(r) for r in d["runs"]):
        rs = [r for r in d["runs"] if kind(r) == job]
        def spread(key):
            v = [r[key] for r in rs if r.get(key) is not None]
            return f"{statistics.median(v):.2f} / {max(v):.2f}" if v else "—"
        accs = [r["acc"] for r in rs if r["acc"] is not None]
        rows.append([job[1], job[0], len(rs), ", ".join(str(sum(r["victim"] == q for r in rs)) for q in range(3)),
                     sum(r["killed"] for r in rs), sum(r["exit"] == 0 for r in rs), sum(r["named"] for r in rs),
                     f"{min(accs):.3f} / {statistics.median(accs):.3f}" if accs else "—",
                     spread("dropped_s"), spread("recovery_s"), spread("stall_s")])
    return table(["mode", "transport", "jobs", "victims (rank 0, 1, 2)", "killed mid-job", "exit 0", "loss named",
                  "accuracy min / median", "dropped (s) median / max", "recovery (s) median / max",
                  "stall (s) median / max"], rows)


def simulate_validation():
    d = load("results/experiments/simulate/validation.json")
    groups = {}
    for r in d["rows"]:
        groups.setdefault((r["sample"], r["relation"]), []).append(abs(r["error"]))
    summary = [[f"{rel} ({kind})", len(e), f"{statistics.median(e) * 100:.1f} %", f"{max(e) * 100:.1f} %",
                f"{sum(x <= 0.15 for x in e)} of {len(e)}"] for (kind, rel), e in groups.items()]
    out = table(["predicting", "predictions", "median error (absolute)", "largest (absolute)", "within ±15 %"],
                summary)
    rows = [[r["calibrated_on"], r["predicting"], r["sample"], rate(r["predicted_samples_per_s"]),
             rate(r["measured_samples_per_s"]), pct(r["error"])] for r in d["rows"]]
    out += ("\n\n<details><summary>Every prediction</summary>\n\n"
            + table(["calibrated on", "predicting", "sample", "predicted samples/s", "measured", "error"], rows)
            + "\n\nSources: " + "; ".join(f"{k}: `{v['summary']}`" for k, v in d["sources"].items())
            + ".\n\n</details>")
    return out


def simulate_prediction():
    d = load("results/experiments/simulate/prediction.json")
    by = {}
    for r in d["rows"]:
        by.setdefault(r["workers"], {})[r["mode"]] = r["samples_per_s"]
    modes = [m for m in ("ssgd", "esync", "local-sgd", "asgd") if any(m in v for v in by.values())]
    rows = [[w] + [rate(by[w].get(m)) for m in modes] +
            [ratio(by[w]["esync"] / by[w]["ssgd"]) if "esync" in by[w] and "ssgd" in by[w] else "—"]
            for w in sorted(by)]
    src = d.get("calibrated_from", {})
    rep = d.get("replay", {})
    out = table(["workers"] + [f"{m} samples/s" for m in modes] + ["esync vs ssgd"], rows)
    if src:
        out += (f"\n\nCalibrated on run `{src.get('run')}` of `{src.get('summary')}`; its replay: predicted "
                f"{rate(rep.get('predicted_samples_per_s'))} samples/s, measured "
                f"{rate(rep.get('measured_samples_per_s'))} ({pct(rep.get('error'))}).")
    return out


def simulate_overlap():
    rows = []
    modes = ("esync", "esync+overlap", "local-sgd", "local-sgd+overlap")
    for name, label in (("none", "0"), ("constant-50ms", "50 ms"), ("exponential-50ms", "exponential, mean 50 ms")):
        d = load(f"results/experiments/simulate/overlap-delay-{name}.json")
        by = {}
        for r in d["rows"]:
            by.setdefault(r["workers"], {})[r["mode"]] = r.get("vs ssgd")
        rows += [[w, label] + [ratio(by[w].get(m)) for m in modes] for w in sorted(by)]
    rows.sort(key=lambda r: (r[1].startswith("exponential"), r[0], r[1]))
    return table(["workers", "delay per sync", "esync", "esync+overlap", "local-sgd", "local-sgd+overlap"], rows)


# name: (generator, data it reads, the command that makes the data)
TABLES = {
    "demo": (demo, ["results/demo/summary.json"], "launch/run.sh (bench/esync_vs_ssgd.py)"),
    "policy": (policy, ["results/experiments/policy/summary.json"], "bench/policy.sh"),
    "weighting": (weighting, ["results/experiments/weighting/kbase1/iid/summary.json",
                              "results/experiments/weighting/kbase1/by-class/summary.json"], "bench/weighting.sh"),
    "weighting_kbase4": (lambda: weighting(4), ["results/experiments/weighting/kbase4/iid/summary.json",
                                                "results/experiments/weighting/kbase4/by-class/summary.json"],
                         "K_BASE=4 bench/weighting.sh"),
    "heterogeneity": (heterogeneity, ["results/experiments/heterogeneity/iid/summary.json",
                                      "results/experiments/heterogeneity/by-class/summary.json"],
                      "bench/heterogeneity.sh"),
    "seed000": (seed000, ["results/experiments/seed000/seed000.json"], "bench/seed000_ls.py"),
    "theory": (theory, ["results/experiments/theory/theory.json"], "bench/theory_check.py"),
    "survive": (survive, ["results/experiments/survive/runs.json"], "bench/survive.py"),
    "simulate_validation": (simulate_validation, ["results/experiments/simulate/validation.json"],
                            "bench/simulate_validation.py"),
    "simulate_prediction": (simulate_prediction, ["results/experiments/simulate/prediction.json"],
                            "bench/simulate_validation.py"),
    "simulate_overlap": (simulate_overlap, ["results/experiments/simulate/overlap-delay-none.json",
                                            "results/experiments/simulate/overlap-delay-constant-50ms.json",
                                            "results/experiments/simulate/overlap-delay-exponential-50ms.json"],
                         "bench/simulate_validation.py"),
    "modes": (modes, ["results/distributed/modes/summary.json"], "bench/esync_vs_ssgd.py --out results/distributed/modes"),
    "vs_pytorch": (vs_pytorch, ["results/distributed/vs_pytorch/nominal/summary.json",
                                "results/distributed/vs_pytorch/nominal-repeat/summary.json",
                                "results/distributed/vs_pytorch/measured/summary.json"],
                   "bench/esync_vs_ssgd.py --modes esync,ssgd,torch-esync,torch-ssgd --basis nominal|measured"),
    "threads": (threads, ["results/distributed/threads/measured-threads2.json"],
                "bench/esync_vs_ssgd.py --basis measured --threads 2"),
    "lr_sweep": (lr_sweep, ["results/distributed/lr_sweep/run1.summary.json",
                            "results/distributed/lr_sweep/run2.summary.json"], "bench/esync_vs_ssgd.py (lr modes)"),
    "overlap": (overlap, ["results/distributed/overlap/delay-none/summary.json",
                          "results/distributed/overlap/delay-50ms/summary.json"],
                "bench/esync_vs_ssgd.py --modes esync,esync+overlap,ssgd --repeat 3"),
    "overlap_variants": (overlap_variants, ["results/distributed/overlap/variants.jsonl"], "bench/overlap_variants.py"),
    "ssgd_vs_ddp": (ssgd_vs_ddp, ["results/distributed/ssgd_vs_ddp.json"], "bench/ssgd_vs_ddp.py"),
    "ssgd_vs_ddp_random_input": (ssgd_vs_ddp_random_input,
                                 ["results/distributed/ssgd_vs_ddp_random_input_1.txt",
                                  "results/distributed/ssgd_vs_ddp_random_input_2.txt"],
                                 "bench/ssgd_vs_ddp.py with DDP on random input (its output, kept as .txt)"),
    "step_vs_pytorch": (step_vs_pytorch, ["results/foundation/step_vs_pytorch.json"], "bench/step_vs_pytorch.py"),
    "fashion_local": (fashion_local, ["results/foundation/fashion_lenet5_1ep.txt",
                                      "results/foundation/fashion_lenet5_3ep.txt"], "bench/foundation.sh"),
    "ls_vs_pytorch": (ls_vs_pytorch, ["results/foundation/ls_vs_pytorch.txt"], "bench/foundation.sh"),
    "kernels": (kernels, ["results/foundation/kernels.txt"], "bench/foundation.sh"),
}


# ---------------------------------------------------------------------------------------------

ONLY = []  # --write/--check FILE...: just these documents


def documents():
    files = [path_of("README.md")]
    files += sorted(glob.glob(path_of("docs/**/*.md"), recursive=True))
    files += sorted(glob.glob(path_of("results/**/*.md"), recursive=True))
    if ONLY:
        files = [f for f in files if os.path.abspath(f) in ONLY]
    return [f for f in files if os.path.exists(f)]


def render(name):
    """(markdown, None) or (None, the reason it cannot be made)."""
    if name not in TABLES:
        return None, f"no generator '{name}' in bench/tables.py (--list)"
    fn, sources, script = TABLES[name]
    try:
        return fn().strip("\n"), None
    except MissingData as e:
        return None, f"missing data: {e.args[0]} (made by {script})"


def region_text(name, body):
    return f"<!-- table:{name} -->\n\n{body}\n\n<!-- /table -->"


def process(write):
    problems, written, seen = [], 0, 0
    for doc in documents():
        rel = os.path.relpath(doc, ROOT)
        with open(doc) as f:
            text = f.read()
        if len(OPEN.findall(text)) != len(REGION.findall(text)):
            problems.append(f"{rel}: a '<!-- table:NAME -->' without its '<!-- /table -->'")
            continue
        cache = {}

        def repl(m):
            nonlocal seen
            name, old = m.group(1), m.group(0)
            seen += 1
            if name not in cache:
                cache[name] = render(name)
            body, why = cache[name]
            if why:
                problems.append(f"{rel}: table:{name}: {why}")
                return old
            new = region_text(name, body)
            if new != old and not write:
                problems.append(f"{rel}: table:{name}: differs from its data (python3 bench/tables.py --write)")
            return new

        new_text = REGION.sub(repl, text)
        if write and new_text != text:
            with open(doc, "w") as f:
                f.write(new_text)
            written += 1
    return problems, written, seen


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--write", action="store_true", help="rewrite every region from its data")
    g.add_argument("--check", action="store_true", help="exit 1 if a region differs from its data or lacks it")
    g.add_argument("--list", action="store_true", help="the generators, their data and where they are used")
    g.add_argument("--show", metavar="NAME", help="print one generator's Markdown")
    ap.add_argument("files", nargs="*", help="only these Markdown files (default: all of them)")
    a = ap.parse_args()
    ONLY.extend(os.path.abspath(f) for f in a.files)
    if a.list:
        used = {}
        for doc in documents():
            with open(doc) as f:
                for name in OPEN.findall(f.read()):
                    used.setdefault(name, []).append(os.path.relpath(doc, ROOT))
        for name, (_, sources, script) in TABLES.items():
            state = "" if all(os.path.exists(path_of(s)) for s in sources) else "  [data missing]"
            print(f"{name}{state}\n  data:    {', '.join(sources)}\n  made by: {script}\n"
                  f"  used in: {', '.join(used.get(name, [])) or '-'}")
        for name in sorted(set(used) - set(TABLES)):
            print(f"{name}  [no generator]\n  used in: {', '.join(used[name])}")
        return 0
    if a.show:
        body, why = render(a.show)
        if why:
            print(f"table:{a.show}: {why}", file=sys.stderr)
            return 1
        print(region_text(a.show, body))
        return 0
    problems, written, seen = process(a.write)
    for p in problems:
        print(p, file=sys.stderr)
    if a.write:
        print(f"tables.py: {seen} regions, {written} files rewritten, {len(problems)} left as they were")
        return 2 if any("no generator" in p or "without its" in p for p in problems) else 0
    print(f"tables.py: {seen} regions checked, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
