#!/usr/bin/env python3
"""A worker of `esync run` jobs killed at random moments: does the job survive, and how fast?

For each mode, REPEAT jobs of 3 workers over one parameter-server shard, 2 epochs of
Fashion-MNIST; in each, one worker drawn among ranks 0..2 (when rank 0, the evaluator, is lost,
the lowest surviving rank evaluates the final model) gets SIGKILL at a moment drawn uniformly
in [0, 5] s after its first completed round. Recorded per job: the launcher's exit code, whether
it named the loss (launcher-0.jsonl), the final accuracy and epochs, when the shard dropped the
victim, and the recovery: from the kill to the evaluating rank's first round completed without
the victim (after the drop where the rule waits for every worker, esync; after the kill
otherwise), with the longest gap between that rank's rounds in between (the stall).

    bench/survive.py [--repeat 10] [--modes esync,asgd,dcasgd] [--out results/experiments/survive]
    bench/survive.py --table-only            # README.md from the committed runs.json
The README's table is written by bench/tables.py (survive) from runs.json.
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


def one_job(esync, mode, logs, rng):
    victim = rng.randint(0, 2)
    delay = rng.uniform(0.0, 5.0)
    shutil.rmtree(logs, ignore_errors=True)
    os.makedirs(logs)
    cmd = [esync, "run", "--workers", "3", "--mode", mode, "--servers", "1", "--epochs", "2",
           "--threads", "1", "--timeout", "1200", "--log-dir", logs]
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
    # When the shard stopped counting on the victim (a synchronous round waits for it until then).
    drops = [e["t"] for e in events(os.path.join(logs, "server-0.jsonl"), "lost") if e.get("rank") == victim]
    dropped = drops[0] if drops else None
    waits_for_it = mode == "esync"  # the synchronous rule over the shard
    resume_at = dropped if waits_for_it and dropped else t_kill
    after = [t for t in rounds if t > resume_at]
    recovered = after[0] if after else None
    # The longest gap between the evaluating rank's rounds from the last before the kill to the recovery.
    between = [t for t in rounds if recovered and t_kill < t <= recovered]
    window = [t for t in rounds if t <= t_kill][-1:] + between
    gaps = [b - a for a, b in zip(window, window[1:])]
    lost = events(os.path.join(logs, "launcher-0.jsonl"), "lost")
    victim_ended = bool(events(victim_log, "end"))
    return {"mode": mode, "victim": victim, "delay_s": round(delay, 3), "killed": killed and not victim_ended,
            "exit": rc, "named": any(l.get("rank") == victim for l in lost),
            "acc": final.get("acc"), "epoch": final.get("epoch"),
            "dropped_s": round(dropped - t_kill, 3) if dropped else None,
            "recovery_s": round(recovered - t_kill, 3) if recovered else None,
            "stall_s": round(max(gaps), 3) if gaps else None}


def write_readme(out, doc):
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(f"""# A worker killed mid-job, through `esync run`

Made by `bench/survive.py` ({doc['host']}, {doc['cores']} cores); the table is written by
`bench/tables.py` from `runs.json`. Each job: 3 workers over one parameter-server shard
(`--servers 1`, `--on-failure continue`, the default), 2 epochs of Fashion-MNIST, LeNet-5, one
thread per worker. One worker, drawn among ranks 0, 1 and 2, gets SIGKILL at a moment drawn
uniformly in 0-5 s after its first completed round. When the victim is rank 0, the evaluator,
the lowest surviving rank evaluates the final model, and the recovery is measured on that
rank's rounds. Heartbeat timeout: the default, 10 s.

<!-- table:survive -->
<!-- /table -->

- **Exit 0**: the launcher's exit code.
- **Loss named**: the launcher's `lost` event in `launcher-0.jsonl` names the victim. The
  summary lists it under `job.lost`.
- **Dropped**: from the kill to the shard's `lost` event for the victim.
- **Recovery**: from the kill to the evaluating rank's first round completed without the victim.
  Under the synchronous rule that is the first round after the drop; under the asynchronous
  rules, the first after the kill.
- **Stall**: the longest gap between that rank's rounds from the kill to the recovery.

The synchronous rule (esync over the shard) waits for every live worker at each round, so a
killed worker holds the round until the shard drops it. The shard drops it as soon as the state
server declares it lost, that is, once its heartbeats have stopped for the heartbeat timeout; the
shard learns of it by watching the state server's `lost/<n>` keys. Left to itself, a shard would
wait out the round's wait timeout (60 s). The asynchronous rules (asgd, dcasgd) never wait for
the killed worker. An asynchronous job may end before the drop, and the drop is then missing
from its row.

An allreduce job (ssgd, esync, local-sgd without `--servers`) does not survive a lost worker:
its survivors stop within the heartbeat timeout, naming the lost worker, and so does
`esync run`.
""")



def write_table(out):
    readme = os.path.join(out, "README.md")
    rc = subprocess.call([sys.executable, os.path.join(ROOT, "bench/tables.py"), "--write", readme])
    print(open(readme).read())
    return rc


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--modes", default="esync,asgd,dcasgd")
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
    doc = {"seed": seed, "host": os.uname().nodename, "cores": os.cpu_count(), "runs": []}
    logs = os.path.join(a.out, "logs")
    for mode in a.modes.split(","):
        for i in range(a.repeat):
            r = one_job(a.esync, mode, os.path.join(logs, f"{mode}-{i}"), rng)
            doc["runs"].append(r)
            print(json.dumps(r), flush=True)
            json.dump(doc, open(runs_file, "w"), indent=1)
    shutil.rmtree(logs, ignore_errors=True)  # the figures are in runs.json
    write_readme(a.out, doc)
    return write_table(a.out)


if __name__ == "__main__":
    sys.exit(main())
