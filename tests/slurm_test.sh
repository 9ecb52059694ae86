#!/usr/bin/env bash
# Slurm.RealSingleNode: launch/slurm.sbatch under a real SLURM, not stubs. Debian's munged,
# slurmctld and slurmd are started here on this one machine, each with a key, configuration,
# ports, spool and logs of its own under a temporary directory (SLURM_CONF points every SLURM
# command at it), and stopped on every exit path. Then, through sbatch:
#   1. a 2-task ESync job on a CPU allocation, the script's devices left to their default (the
#      allocation has no GPUs, so CPUs): exit 0, final test accuracy >= 0.80;
#   2. a 3-task ESync job (--overcommit: more tasks than cores) whose worker 2 is killed once it
#      trains: the allreduce group re-forms without it, the job exits 0, names the lost worker,
#      and its accuracy is >= 0.78.
# Exit 77 (skip, one line) without root, the SLURM packages or Fashion-MNIST, or where the daemons
# cannot start (a container without what munged or slurmd need).
set -euo pipefail
esync=$(realpath "${1:?usage: slurm_test.sh ESYNC}")
root=$(cd "$(dirname "$0")/.." && pwd)
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || skip "the SLURM daemons need root"
for c in munged slurmctld slurmd sbatch sinfo scontrol; do
  command -v "$c" >/dev/null || skip "no $c (Debian packages munge slurmctld slurmd slurm-client)"
done
[[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]] ||
  skip "Fashion-MNIST is not installed (Debian package dataset-fashion-mnist)"

tmp=$(mktemp -d /tmp/esync-slurm-test.XXXXXX)
chmod 755 "$tmp"
daemons=()
cleanup() {
  scancel --quiet --full "--name=esync" 2>/dev/null || true
  for p in "${daemons[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${daemons[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# munge: a key and a socket of its own (the system's, if any, is left alone).
mkdir -m 711 "$tmp/munge"
head -c 1024 /dev/urandom >"$tmp/munge/key"
chmod 400 "$tmp/munge/key"
munged --force --foreground --key-file="$tmp/munge/key" --socket="$tmp/munge/sock" \
  --pid-file="$tmp/munge/pid" --log-file="$tmp/munge/log" --seed-file="$tmp/munge/seed" >"$tmp/munge/out" 2>&1 &
daemons+=($!)
for _ in $(seq 50); do [[ -S $tmp/munge/sock ]] && break; sleep 0.1; done
[[ -S $tmp/munge/sock ]] || { cat "$tmp/munge/log" >&2 || true; skip "munged did not start here"; }

host=$(hostname -s)
mkdir -p "$tmp/ctld" "$tmp/d"
export SLURM_CONF=$tmp/slurm.conf
cat >"$SLURM_CONF" <<EOF
ClusterName=esynctest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$tmp/munge/sock
CredType=cred/munge
StateSaveLocation=$tmp/ctld
SlurmdSpoolDir=$tmp/d
SlurmctldPidFile=$tmp/ctld.pid
SlurmdPidFile=$tmp/d.pid
SlurmctldLogFile=$tmp/ctld.log
SlurmdLogFile=$tmp/d.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=esynctest Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
EOF
slurmctld -D -i -f "$SLURM_CONF" >"$tmp/ctld.out" 2>&1 &
daemons+=($!)
slurmd -D -f "$SLURM_CONF" -N "$host" >"$tmp/d.out" 2>&1 &
daemons+=($!)
for _ in $(seq 120); do sinfo -h -o %t 2>/dev/null | grep -qE 'idle|mix|alloc' && break; sleep 0.5; done
sinfo -h -o %t 2>/dev/null | grep -qE 'idle|mix|alloc' || {
  tail -n 5 "$tmp/ctld.log" "$tmp/d.log" >&2 || true
  skip "the SLURM daemons did not bring the node up within 60 s here (their logs above)"
}
echo "SLURM up: $(sinfo -h -o '%P %D %t %c')"

accuracy() { # LOGDIR: the last evaluation's accuracy of whoever evaluated
  python3 -c 'import json, glob, sys
evals = [e for f in glob.glob(sys.argv[1] + "/worker-*.jsonl") for e in map(json.loads, open(f)) if e.get("ev") == "eval" and "acc" in e]
print(max(evals, key=lambda e: e["samples_seen"])["acc"])' "$1"
}

# --- 1. two CPU tasks, devices left to the script
t=$SECONDS
sbatch --wait --quiet --job-name=esync --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 --time=10 \
  --chdir="$root" --output="$tmp/one.out" --export=ALL,ESYNC="$esync" \
  "$root/launch/slurm.sbatch" --mode esync --epochs 1 --log-dir "$tmp/one" && code=0 || code=$?
tail -n 4 "$tmp/one.out"
((code == 0)) || fail "case 1: the job exited $code"
grep -q '"device":"cpu"' "$tmp/one/worker-1.jsonl" || fail "case 1: the workers did not default to cpu"
acc=$(accuracy "$tmp/one")
python3 -c "import sys; sys.exit(0 if $acc >= 0.80 else 1)" || fail "case 1: accuracy $acc < 0.80"
echo "case 1 (2 CPU tasks through sbatch): ok, accuracy $acc, $((SECONDS - t)) s"

# --- 2. three tasks, worker 2 killed mid-job
t=$SECONDS
sbatch --quiet --job-name=esync --nodes=1 --ntasks=3 --overcommit --time=10 \
  --chdir="$root" --output="$tmp/two.out" --export=ALL,ESYNC="$esync" \
  "$root/launch/slurm.sbatch" --mode esync --epochs 2 --log-dir "$tmp/two" >/dev/null
for _ in $(seq 1800); do grep -q '"ev":"sync"' "$tmp/two/worker-2.jsonl" 2>/dev/null && break; sleep 0.1; done
grep -q '"ev":"sync"' "$tmp/two/worker-2.jsonl" || fail "case 2: worker 2 did not train within 180 s"
victim=$(python3 -c 'import json, sys; print(json.loads(open(sys.argv[1]).readline())["pid"])' "$tmp/two/worker-2.jsonl")
kill -KILL "$victim"
for _ in $(seq 3000); do squeue -h -n esync 2>/dev/null | grep -q . || break; sleep 0.2; done
tail -n 4 "$tmp/two.out"
grep -q "slurm.sbatch: workers exited with 0" "$tmp/two.out" || fail "case 2: the job did not exit 0"
grep -q "the job finished without lost worker(s) 2" "$tmp/two.out" || fail "case 2: the lost worker is not named"
grep -q '"ev":"regroup"' "$tmp/two/worker-0.jsonl" || fail "case 2: the group did not re-form"
acc=$(accuracy "$tmp/two")
python3 -c "import sys; sys.exit(0 if $acc >= 0.78 else 1)" || fail "case 2: accuracy $acc < 0.78"
echo "case 2 (a worker killed mid-job under SLURM): ok, accuracy $acc, $((SECONDS - t)) s"
echo PASS
