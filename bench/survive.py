#!/usr/bin/env python3
"""A worker of `esync run` jobs killed at random moments: does the job survive, and how fast?

For each job kind (TRANSPORT:MODE: `ps:` over one parameter-server shard, `ar:` an allreduce
group over gloo), REPEAT jobs of 3 workers, 2 epochs of Fashion-MNIST; in each, one worker drawn
among ranks 0..2 (when rank 0, the evaluator, is lost, the lowest surviving rank evaluates the
final model) gets SIGKILL at a moment drawn uniformly in [0, 5] s after its first completed
round. Recorded per job: the launcher's exit code, whether it named the loss (launcher-0.jsonl),
the final accuracy and epochs, when the victim was dropped (the shard's `lost` event; in an
allreduce job the state server's), and the recovery: from the kill to the evaluating rank's first
round completed without the victim (after the drop where the rule waits for every worker: esync
over the shard, every allreduce job; after the kill otherwise), with the longest gap between
that rank's rounds in between (the stall).

    bench/survive.py [--repeat 10] [--jobs ps:esync,ps:asgd,ps:dcasgd,ar:ssgd,ar:esync,ar:local-sgd]
                     [--out results/experiments/survive]
    bench/survive.py --table-only            # README.md from the committed runs.json
The README's table is written by bench/tables.py (survive) from runs.json; runs.json gains the
new jobs' rows (a kind run again replaces its rows).
"""
import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def events(path, ev):
    out = []
    try:
        with open(path) as f:
            for line in f:
                try:
                    j = json.loads(line)
                except ValueError:
                    continue
                if j.get("ev") == ev:
                    out.append(j)
    except OSError:
        pass
    return out


def one_job(esync, kind, logs, rng):
    transport, mode = kind.split(":")
    victim = rng.randint(0, 2)
    delay = rng.uniform(0.0, 5.0)
    shutil.rmtree(logs, ignore_errors=True)
    os.makedirs(logs)
    cmd = [esync, "run", "--workers", "3", "--mode", mode, "--servers", "1" if transport == "ps" else "0",
           "--epochs", "2", "--threads", "1", "--timeout", "1200", "--log-dir", logs]
    with open(os.path.join(logs, "run.out"), "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        victim_log = os.path.join(logs, f"worker-{victim}.jsonl")
        while not events(victim_log, "sync") and proc.poll() is None:
            time.sleep(0.05)
        time.sleep(delay)
        start = events(victim_log, "start")
        t_kill = time.time()
        killed = False
        if start and proc.poll() is None:
            try:
                os.kill(start[0]["pid"], signal.SIGKILL)
                killed = True
            except ProcessLookupError:
                pass
        rc = proc.wait(timeout=1500)
    # The final model's evaluation: rank 0's, or the lowest survivor's when rank 0 was lost.
    evaluator = 1 if victim == 0 else 0
    end = events(os.path.join(logs, f"worker-{evaluator}.jsonl"), "end")
    final = end[-1].get("summary", {}).get("final", {}) if end else {}
    rounds = sorted(e["t"] for e in events(os.path.join(logs, f"worker-{evaluator}.jsonl"), "sync"))
    # When the shard (the state server, for an allreduce group) stopped counting on the victim: a
    # synchronous round waits for it until then.
    dropper = "server-0.jsonl" if transport == "ps" else "coordinator-0.jsonl"
    drops = [e["t"] for e in events(os.path.join(logs, dropper), "lost") if e.get("rank") == victim]
    dropped = drops[0] if drops else None
    waits_for_it = mode == "esync" or transport == "ar"
    regroups = events(os.path.join(logs, f"worker-{evaluator}.jsonl"), "regroup")
    resume_at = dropped if waits_for_it and dropped else t_kill
    after = [t for t in rounds if t > resume_at]
    recovered = after[0] if after else None
    # The longest gap between the evaluating rank's rounds from the last before the kill to the recovery.
    between = [t for t in rounds if recovered and t_kill < t <= recovered]
    window = [t for t in rounds if t <= t_kill][-1:] + between
    gaps = [b - a for a, b in zip(window, window[1:])]
    lost = events(os.path.join(logs, "launcher-0.jsonl"), "lost")
    victim_ended = bool(events(victim_log, "end"))
    return {"mode": mode, "transport": transport, "victim": victim, "delay_s": round(delay, 3), "killed": killed and not victim_ended,
            "exit": rc, "named": any(l.get("rank") == victim for l in lost),
            "acc": final.get("acc"), "epoch": final.get("epoch"),
            "dropped_s": round(dropped - t_kill, 3) if dropped else None,
            "recovery_s": round(recovered - t_kill, 3) if recovered else None,
            "stall_s": round(max(gaps), 3) if gaps else None,
            "regroup_s": round(regroups[0]["seconds"], 3) if regroups else None}


def write_readme(out, doc):
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(f"""# A worker killed mid-job, through `esync run`

Made by `bench/survive.py` ({doc['host']}, {doc['cores']} cores); the table is written by
`bench/tables.py` from `runs.json`. Each job: 3 workers (`--on-failure continue`, the default),
2 epochs of Fashion-MNIST, LeNet-5, one thread per worker, either over one parameter-server shard
(`--servers 1`) or as an allreduce group over gloo. One worker, drawn among ranks 0, 1 and 2,
gets SIGKILL at a moment drawn uniformly in 0-5 s after its first completed round. When the
victim is rank 0, the evaluator, the lowest surviving rank evaluates the final model, and the
recovery is measured on that rank's rounds. Heartbeat timeout: the default, 10 s.

<!-- table:survive -->
<!-- /table -->

- **Exit 0**: the launcher's exit code.
- **Loss named**: the launcher's `lost` event in `launcher-0.jsonl` names the victim. The
  summary lists it under `job.lost`.
- **Dropped**: from the kill to the shard's `lost` event for the victim; for an allreduce group,
  to the state server's.
- **Recovery**: from the kill to the evaluating rank's first round completed without the victim.
  Where the rule waits for every worker (esync over the shard, every allreduce group) that is the
  first round after the drop; under the asynchronous rules, the first after the kill.
- **Stall**: the longest gap between that rank's rounds from the kill to the recovery.

The synchronous rules wait for every live worker at each round, so a killed worker holds the
round until the state server declares it lost, once its heartbeats have stopped for the heartbeat
timeout. A shard learns of the loss by watching the state server's `lost/<n>` keys and drops the
worker. Left to itself, it would wait out the round's wait timeout (60 s). An allreduce group's
survivors notice the failed collective at once. They report to the state server and re-form once
it names the members, which is right after the loss is declared; they then take the model of the
last round a survivor completed (docs/DESIGN.md, "An allreduce group re-forms"). Meeting again
and taking the model costs tens of milliseconds next to the heartbeat timeout. The
asynchronous rules (asgd, dcasgd) never wait for the killed worker. An asynchronous job may end
before the drop, and the drop is then missing from its row.
""")



def write_table(out):
    readme = os.path.join(out, "README.md")
    rc = subprocess.call([sys.executable, os.path.join(ROOT, "bench/tables.py"), "--write", readme])
    print(open(readme).read())
    return rc


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--jobs", default="ps:esync,ps:asgd,ps:dcasgd,ar:ssgd,ar:esync,ar:local-sgd")
    ap.add_argument("--out", default=os.path.join(ROOT, "results/experiments/survive"))
    ap.add_argument("--esync", default=os.path.join(ROOT, "build/esync"))
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--table-only", action="store_true")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    runs_file = os.path.join(a.out, "runs.json")
    if a.table_only:
        write_readme(a.out, json.load(open(runs_file)))
        return write_table(a.out)
    seed = a.seed if a.seed is not None else random.SystemRandom().randrange(2**31)
    rng = random.Random(seed)
    kinds = a.jobs.split(",")
    doc = {"seeds": [], "host": os.uname().nodename, "cores": os.cpu_count(), "runs": []}
    if os.path.exists(runs_file):  # the other kinds' rows stay
        old = json.load(open(runs_file))
        doc["seeds"] = old.get("seeds", [old["seed"]] if "seed" in old else [])
        doc["runs"] = [r for r in old["runs"] if f"{r.get('transport', 'ps')}:{r['mode']}" not in kinds]
    doc["seeds"].append(seed)
    logs = os.path.join(a.out, "logs")
    for kind in kinds:
        for i in range(a.repeat):
            r = one_job(a.esync, kind, os.path.join(logs, f"{kind.replace(':', '-')}-{i}"), rng)
            doc["runs"].append(r)
            print(json.dumps(r), flush=True)
            json.dump(doc, open(runs_file, "w"), indent=1)
    shutil.rmtree(logs, ignore_errors=True)  # the figures are in runs.json
    write_readme(a.out, doc)
    return write_table(a.out)


if __name__ == "__main__":
    sys.exit(main())
