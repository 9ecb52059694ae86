#!/usr/bin/env python3
"""How well `esync simulate` predicts real runs, from committed runs only, and the predictions at
scale that results/experiments/simulate/README.md shows.

Every input is a committed esync.summary/1 document (`esync summarize` of committed JSONL logs;
the two that are not committed yet are made here from the committed logs beside them). Three
kinds of rows go to results/experiments/simulate/validation.json:
  - in-sample: `esync simulate` calibrates on a run and replays that run (its first line);
  - out-of-sample, another mode of the same script run: calibrated on one mode's run (say ESync),
    predicting another mode's measured run (SSGD, local-SGD, ESync --overlap; ASGD and DC-ASGD,
    over the parameter server, from a PS run or from an allreduce run) made on the same set-up in
    the same script run;
  - out-of-sample, the same mode in another script run: calibrated on one run, predicting the
    same mode's run made by another script run on the same set-up (another hour of the host), or
    behind another network delay (--delay).
A prediction runs the target's worker count, rounds, K_base 4 (every run here), k_fixed, shards
and delay; `command` in each row repeats it. The model's random draws use its fixed seed, so the
file is the same for the same inputs and binary.

It also writes, from the same committed calibrations:
  - results/experiments/simulate/prediction.{txt,json}: throughput at 3 … 4096 workers, speed mix
    1,2,4 repeated, calibrated on the synchronous ESync run of results/distributed/overlap/delay-none;
  - results/experiments/simulate/overlap-delay-{none,constant-10ms,constant-50ms,exponential-50ms}.{txt,json}:
    every synchronous and overlapped model-averaging mode at 3, 32 and 512 workers, calibrated on
    the synchronous ESync run behind 50 ms (results/distributed/overlap/delay-50ms).
Then `python3 bench/tables.py --write` renders them. Inputs in results/demo/ are not used: the
demo is re-run by launch/run.sh.
Usage: python3 bench/simulate_validation.py   (about a minute; ESYNC=path picks the binary)"""
import json, os, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import ROOT, esync_binary

OUT = "results/experiments/simulate"

# Calibration sources and targets: name -> (summary, set-up, log dirs to summarize if the summary
# is not committed).
SOURCES = {
    "loopback": ("results/distributed/overlap/delay-none/logs.summary.json",
                 "3 workers slowed 1,2,4, loopback (results/distributed, --overlap set)", None),
    "delay-50ms": ("results/distributed/overlap/delay-50ms/logs.summary.json",
                   "the same behind --delay constant:50ms", None),
    "modes": ("results/distributed/modes/logs.summary.json",
              "3 workers slowed 1,2,4, loopback, every mode in one script run (results/distributed)",
              ["esync", "esync_policydeadline", "ssgd", "local-sgd", "asgd", "dcasgd", "esync_servers1"]),
    "nominal": ("results/distributed/vs_pytorch/nominal/logs.summary.json",
                "3 workers slowed 1,2,4, loopback, beside the PyTorch reference (results/distributed)",
                ["esync", "ssgd"]),
    "iid": ("results/experiments/heterogeneity/iid/logs.summary.json",
            "4 workers slowed 1,1,2,4, iid data (results/experiments)", None),
    "by-class": ("results/experiments/heterogeneity/by-class/logs.summary.json",
                 "the same on by-class data", None),
}

SAME = "another mode, same script run"
OTHER_RUN = "same mode, another script run"
OTHER_NET = "same mode, another network delay"
TRANSPORT = "a parameter-server mode from an allreduce run, same script run"
# (calibration source, run) -> [(target source, run, model mode, relation)]
PLAN = [
    (("loopback", "esync"), [("loopback", "ssgd", "ssgd", SAME),
                             ("loopback", "esync_overlap", "esync+overlap", SAME),
                             ("modes", "esync", "esync", OTHER_RUN),
                             ("nominal", "esync", "esync", OTHER_RUN),
                             ("delay-50ms", "esync", "esync", OTHER_NET)]),
    (("loopback", "ssgd"), [("loopback", "esync", "esync", SAME),
                            ("modes", "ssgd", "ssgd", OTHER_RUN),
                            ("nominal", "ssgd", "ssgd", OTHER_RUN),
                            ("delay-50ms", "ssgd", "ssgd", OTHER_NET)]),
    (("delay-50ms", "esync"), [("delay-50ms", "ssgd", "ssgd", SAME),
                               ("delay-50ms", "esync_overlap", "esync+overlap", SAME),
                               ("loopback", "esync", "esync", OTHER_NET)]),
    (("delay-50ms", "ssgd"), [("delay-50ms", "esync", "esync", SAME)]),
    (("modes", "esync"), [("modes", "ssgd", "ssgd", SAME), ("modes", "local-sgd", "local-sgd", SAME),
                          ("modes", "asgd", "asgd", SAME), ("modes", "dcasgd", "dcasgd", SAME)]),
    (("modes", "ssgd"), [("modes", "esync", "esync", SAME), ("modes", "local-sgd", "local-sgd", SAME)]),
    (("modes", "esync_policydeadline"), []),
    (("modes", "local-sgd"), []),
    (("modes", "asgd"), [("modes", "dcasgd", "dcasgd", SAME)]),
    (("modes", "dcasgd"), []),
    (("modes", "esync_servers1"), []),
    (("nominal", "esync"), []),
    (("nominal", "ssgd"), []),
    (("iid", "esync"), [("iid", "ssgd", "ssgd", SAME), ("iid", "local-sgd", "local-sgd", SAME),
                        ("iid", "asgd", "asgd", SAME), ("iid", "dcasgd", "dcasgd", SAME),
                        ("by-class", "esync", "esync", OTHER_RUN)]),
    (("iid", "ssgd"), [("iid", "esync", "esync", SAME), ("by-class", "ssgd", "ssgd", OTHER_RUN)]),
    (("iid", "local-sgd"), []),
    (("iid", "asgd"), [("iid", "dcasgd", "dcasgd", SAME)]),
    (("iid", "dcasgd"), []),
]


def rel(p):
    return os.path.relpath(p, ROOT)


def summaries():
    """The summaries, made from the committed logs where they are not committed."""
    docs = {}
    for name, (path, _, dirs) in SOURCES.items():
        if dirs:
            logdirs = [os.path.join(os.path.dirname(path), d) for d in dirs]
            subprocess.run([esync_binary(), "summarize"] + logdirs + ["-o", path], cwd=ROOT, check=True,
                           stdout=subprocess.DEVNULL)
        with open(os.path.join(ROOT, path)) as f:
            docs[name] = json.load(f)
    return docs


def run_of(doc, label):
    return next(r for r in doc["runs"] if r["label"] == label)


def target_settings(run):
    """The simulation settings that match a measured run."""
    cfg = run.get("config", {})
    rounds = max(int(w.get("rounds", 0)) for w in run["workers"])
    return {"workers": len(run["workers"]), "rounds": max(rounds, 20), "delay": cfg.get("delay") or "none",
            "k_fixed": int(cfg.get("k_fixed", 4)), "shards": max(1, int(cfg.get("servers", 0) or 0))}


def simulate(source, label, mode, s, tmp):
    path = SOURCES[source][0]
    args = ["simulate", path, "--run", label, "--workers", str(s["workers"]), "--modes", mode,
            "--rounds", str(s["rounds"]), "--delay", s["delay"], "--k-base", "4"]
    if mode.startswith("local-sgd"):
        args += ["--k-fixed", str(s["k_fixed"])]
    if mode in ("asgd", "dcasgd"):
        args += ["--shards", str(s["shards"])]
    out = os.path.join(tmp, "sim.json")
    subprocess.run([esync_binary()] + args + ["-o", out], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    with open(out) as f:
        doc = json.load(f)
    return doc, "esync " + " ".join(args)


def validation(docs, tmp):
    rows = []
    for (src, label), targets in PLAN:
        run = run_of(docs[src], label)
        own = target_settings(run)
        doc, cmd = simulate(src, label, run["mode"], own, tmp)
        rep = doc["replay"]
        rows.append({"calibrated_on": f"{src}: {label}", "predicting": f"{src}: {label}", "relation": "the run itself",
                     "sample": "in-sample", "predicted_samples_per_s": rep["predicted_samples_per_s"],
                     "measured_samples_per_s": rep["measured_samples_per_s"], "error": rep["error"],
                     "command": cmd + "  (its replay line)"})
        for tsrc, tlabel, mode, relation in targets:
            trun = run_of(docs[tsrc], tlabel)
            doc, cmd = simulate(src, label, mode, target_settings(trun), tmp)
            pred = doc["rows"][0]["samples_per_s"]
            meas = trun["job"]["samples_per_s"]
            ps = [int(r.get("config", {}).get("servers", 0) or 0) > 0 for r in (run, trun)]
            if relation == SAME and ps[0] != ps[1]:
                relation = TRANSPORT
            rows.append({"calibrated_on": f"{src}: {label}", "predicting": f"{tsrc}: {tlabel}" +
                         (f" (as {mode})" if mode != trun["mode"] else ""), "relation": relation,
                         "sample": "out-of-sample", "predicted_samples_per_s": pred, "measured_samples_per_s": meas,
                         "error": pred / meas - 1, "command": cmd})
        print(f"simulate_validation: calibrated on {src}: {label}: {1 + len(targets)} rows", file=sys.stderr)
    return rows


def predictions(tmp):
    """prediction.{txt,json} and overlap-delay-*.{txt,json}, each with the summary it was calibrated on."""
    jobs = [("prediction", "loopback", "esync",
             ["--workers", "3,8,32,128,512,1024,4096", "--speed-mix", "1,2,4"])]
    for d in ("none", "constant:10ms", "constant:50ms", "exponential:50ms"):
        jobs.append((f"overlap-delay-{d.replace(':', '-')}", "delay-50ms", "esync",
                     ["--workers", "3,32,512", "--speed-mix", "1,2,4", "--modes",
                      "ssgd,esync,esync+overlap,local-sgd,local-sgd+overlap", "--delay", d]))
    for name, src, label, extra in jobs:
        path = SOURCES[src][0]
        args = ["simulate", path, "--run", label] + extra
        js = os.path.join(ROOT, OUT, name + ".json")
        with open(os.path.join(ROOT, OUT, name + ".txt"), "w") as txt:
            subprocess.run([esync_binary()] + args + ["-o", js], cwd=ROOT, check=True, stdout=txt)
        with open(js) as f:
            doc = json.load(f)
        doc["calibrated_from"] = {"summary": path, "run": label, "command": "esync " + " ".join(args)}
        with open(js, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        print(f"simulate_validation: wrote {OUT}/{name}.{{txt,json}}", file=sys.stderr)


def main():
    os.makedirs(os.path.join(ROOT, OUT), exist_ok=True)
    docs = summaries()
    with tempfile.TemporaryDirectory() as tmp:
        rows = validation(docs, tmp)
        predictions(tmp)
    doc = {"bench": "simulate_validation",
           "sources": {k: {"summary": v[0], "set_up": v[1]} for k, v in SOURCES.items()},
           "rows": rows}
    with open(os.path.join(ROOT, OUT, "validation.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    for r in rows:
        print(f"{r['calibrated_on']:>28} -> {r['predicting']:<40} {r['sample']:<13} "
              f"{r['predicted_samples_per_s']:9.0f} {r['measured_samples_per_s']:9.0f} {r['error'] * 100:+6.1f} %")


if __name__ == "__main__":
    main()
