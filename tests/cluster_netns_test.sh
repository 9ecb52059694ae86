#!/usr/bin/env bash
# Cluster.NetnsThreeHosts: launch/cluster.sh on three "hosts" that are network namespaces of this
# machine, each with its own address on a private bridge, `ip netns exec` as the remote shell.
#   1. --dry-run: one coordinator and three worker lines, right hosts, the token masked.
#   2. a 3-host ESync job under CURVE (Fashion-MNIST, one epoch): every worker bound its namespace's address,
#      rank 0's last test accuracy >= 0.78, nothing left running.
#   3. a job whose workers fail (no data): each is named lost with its host, and cluster.sh exits
#      non-zero once every worker is lost.
#   4. TERM to cluster.sh mid-job (ssh-like remote shell): it exits, nothing is left running;
#      before it, the live progress line (from the state server's metrics) shows the job.
#   5. a parameter-server job with more shards than hosts (4 on 3: the first host runs shards 0
#      and 3) and --overlap: every shard bound its host's address, the job converges.
#   6. a parameter-server ESync job loses its third host mid-job (every process of that namespace
#      killed): cluster.sh names the lost worker and its host, the job finishes, exit 0, and the
#      shard dropped the worker.
#   7. an allreduce ESync job loses worker 2's process; with --restart 1 cluster.sh starts it again
#      on its host, the group re-forms without it and then with it again, within 5 rounds of the
#      newcomer being ready, and the job converges.
# Exit 77 (skip, one line) without root or where namespaces or veth pairs cannot be made. The
# namespaces, their addresses and the bridge exist only for the test and go on every exit path.
set -euo pipefail
esync=$(realpath "${1:?usage: cluster_netns_test.sh PATH/TO/esync}")
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cluster=$root/launch/cluster.sh
export ESYNC_BIN=$esync
tmp=$(mktemp -d /tmp/esync-netns-test.XXXXXX)
fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }
t0=$SECONDS

# A /24 that no interface of this machine uses (the namespaces are private, but a clash would
# make the logs ambiguous to a reader).
used=$(ip -4 -o addr show 2>/dev/null || true)
for x in $(seq $(($$ % 200 + 20)) 254) $(seq 20 254); do
  [[ $used == *" 10.231.$x."* ]] || break
done
net=10.231.$x
printf '# test hosts\n%s.1 cpu\n%s.2 cpu   # rank 1\n\n%s.3 cpu\n' "$net" "$net" "$net" >"$tmp/hosts"
# The remote shell: host address -> its namespace. Called as rsh-ssh it joins its arguments into
# one shell line, as ssh does (case 4), so the launcher's quoting is tried both ways.
ns=(esync-h1-$$ esync-h2-$$ esync-h3-$$) sw=esync-sw-$$
cat >"$tmp/rsh" <<EOF
#!/usr/bin/env bash
case \$1 in $net.1) ns=${ns[0]} ;; $net.2) ns=${ns[1]} ;; $net.3) ns=${ns[2]} ;;
  *) echo "rsh: unknown host \$1" >&2; exit 255 ;; esac
shift
[ "\${0##*/}" = rsh-ssh ] && exec ip netns exec "\$ns" sh -c "\$*"
exec ip netns exec "\$ns" "\$@"
EOF
chmod +x "$tmp/rsh"
ln -s rsh "$tmp/rsh-ssh"

leftovers() { # processes in our namespaces, or whose command line names our files
  { for n in "${ns[@]}"; do ip netns pids "$n" 2>/dev/null || true; done; pgrep -f -- "$tmp/" || true; } | sort -u
}
cleanup() {
  local code=$? p
  # A cluster.sh still running (the test was interrupted) stops its own job first: TERM reaches
  # it directly or through timeout(1). Whatever is left after 15 s is killed.
  for p in $(jobs -pr); do kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 150); do [[ -z $(jobs -pr) ]] && break; sleep 0.1; done
  for p in $(leftovers); do kill -KILL "$p" 2>/dev/null || true; done
  for n in "${ns[@]}" "$sw"; do ip netns del "$n" 2>/dev/null || true; done
  rm -rf "$tmp"
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- 1. dry run (needs no root)
token=$(head -c16 /dev/urandom | od -An -tx1 | tr -d ' \n')
out=$(ESYNC_TOKEN=$token timeout 60 bash "$cluster" --rsh "$tmp/rsh" --hostfile "$tmp/hosts" --dry-run \
  -- --mode esync --log-dir "$tmp/dry") || fail "cluster.sh --dry-run exited $?"
echo "$out"
[[ $out != *"$token"* ]] || fail "--dry-run shows the token"
[[ $(grep -c $'^coordinator\t'"$net.1"$'\tESYNC_TOKEN=\\*\\*\\*' <<<"$out") == 1 ]] || fail "no coordinator line on $net.1"
grep $'^coordinator\t' <<<"$out" | grep -q -- "--port 29500 .*--bind $net.1" || fail "coordinator: no --port 29500 --bind $net.1"
for r in 0 1 2; do
  [[ $(grep -c $'^worker-'$r$'\t'"$net.$((r + 1))"$'\tESYNC_TOKEN=\\*\\*\\*.* worker --coordinator '"$net.1:29500 " <<<"$out") == 1 ]] ||
    fail "no worker-$r line on $net.$((r + 1)) with the coordinator at $net.1:29500"
done
[[ $(grep -c $'\t' <<<"$out") == 4 ]] || fail "expected 4 process lines"
echo "case 1 (dry run): ok"

# --- the three hosts: namespaces, veth pairs into a bridge in a fourth "switch" namespace
[[ $(id -u) == 0 ]] || skip "network namespaces need root"
command -v ip >/dev/null || skip "no ip command (iproute2)"
[[ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]] ||
  skip "Fashion-MNIST is not installed (Debian package dataset-fashion-mnist)"
ip netns add "$sw" 2>/dev/null || skip "cannot create a network namespace (ip netns add)"
ip netns exec "$sw" true 2>/dev/null || skip "cannot enter a network namespace (ip netns exec)"
ip -n "$sw" link add br0 type bridge 2>/dev/null || skip "cannot create a bridge in a namespace"
ip -n "$sw" link set br0 up
for i in 1 2 3; do
  n=${ns[i - 1]}
  ip netns add "$n" || fail "ip netns add $n"
  ip -n "$sw" link add "p$i" type veth peer name eth0 netns "$n" 2>/dev/null || skip "cannot create veth pairs"
  ip -n "$sw" link set "p$i" master br0 up
  ip -n "$n" addr add "$net.$i/24" dev eth0
  ip -n "$n" link set eth0 up
  ip -n "$n" link set lo up
done
echo "hosts: ${ns[*]} = $net.1-3 (bridge in $sw)"

cluster_flags=() # cluster.sh's own, for the next run
run() { # LOGDIR TIMEOUT ESYNC_RUN_ARGS...: cluster.sh on the three namespaces
  local dir=$1 limit=$2
  shift 2
  # In the background: a signal to this script is then handled at once, not after the job.
  timeout "$limit" bash "$cluster" --rsh "$tmp/rsh" --hostfile "$tmp/hosts" "${cluster_flags[@]}" -- "$@" --log-dir "$dir" &
  wait $!
}
nothing_left() {
  local left
  for _ in $(seq 50); do left=$(leftovers) && [[ -z $left ]] && return 0; sleep 0.1; done
  ps -o pid,args -p "$(paste -sd, <<<"$left")" >&2 || true
  fail "$1: processes left running"
}

check_logs() { # DIR: runs the Python checks on stdin with d (DIR), net and events(file, ev) defined
  python3 -c 'import json, sys
d, net = sys.argv[1], sys.argv[2]
def events(f, ev):
    return [e for e in map(json.loads, open(f"{d}/{f}")) if e.get("ev") == ev]
exec(sys.stdin.read())' "$1" "$net"
}

# --- 2. the real job
t=$SECONDS
run "$tmp/job" 150 --mode esync --slowdown 1,2,4 --k-base 4 --dataset fashion-mnist --epochs 1 \
  --eval-every 2 --threads 1 --curve || fail "cluster.sh exited $?"
echo "case 2: cluster.sh took $((SECONDS - t)) s"
nothing_left "case 2"
check_logs "$tmp/job" <<'EOF' || fail "case 2: the logs"
for r in range(3):
    start = events(f"worker-{r}.jsonl", "start")
    bind = start[0].get("bind") if start else None
    assert bind == f"{net}.{r + 1}", f"worker-{r} bound {bind!r}, expected {net}.{r + 1}"
    print(f"worker-{r}: bind {bind}")
assert events("coordinator-0.jsonl", "start")[0].get("curve") is True, "the coordinator ran without CURVE"
acc = events("worker-0.jsonl", "eval")[-1]["acc"]
print(f"final test accuracy {acc}")
assert acc >= 0.78, f"accuracy {acc} < 0.78"
assert json.load(open(f"{d}/summary.json")), "empty summary"
EOF
echo "case 2 (3-host ESync job): ok"

# --- 3. every worker fails (no data): a non-zero exit naming a worker and its host
mkdir "$tmp/empty"
run "$tmp/fail" 60 --mode esync --data-dir "$tmp/empty" --epochs 1 >"$tmp/fail.out" 2>&1 && code=0 || code=$?
err=$(<"$tmp/fail.out")
echo "$err" | tail -n 4
((code != 0 && code != 124)) || fail "case 3: cluster.sh exited $code"
# Each lost (--on-failure continue), then the job fails for want of workers.
grep -Eq "cluster.sh: worker-[0-2] on $net\.[1-3] lost \(exit code [1-9]" <<<"$err" || fail "case 3: no worker named"
grep -q "cluster.sh: every worker was lost" <<<"$err" || fail "case 3: the job's failure is not named"
nothing_left "case 3"
echo "case 3 (failing workers): ok, exit $code"

# --- 4. TERM mid-job, through the ssh-like remote shell
bash "$cluster" --rsh "$tmp/rsh-ssh" --hostfile "$tmp/hosts" -- --mode esync --epochs 0 --time-budget 120 \
  --threads 1 --log-dir "$tmp/term" >"$tmp/term.out" 2>&1 &
pid=$!
for _ in $(seq 300); do [[ -s $tmp/term/worker-2.jsonl ]] && break; sleep 0.1; done
[[ -s $tmp/term/worker-2.jsonl ]] || fail "case 4: the job did not start within 30 s"
# The live progress line, from the state server's metrics: every 10 s when not on a terminal (the
# job's 120 s budget outlasts the wait on any machine).
for _ in $(seq 600); do grep -q "^cluster.sh: .*samples/s.*| K " "$tmp/term.out" && break; sleep 0.1; done
line=$(grep "^cluster.sh: .*samples/s.*| K " "$tmp/term.out" | tail -n 1) || fail "case 4: no progress line within 60 s"
[[ $line =~ ^cluster\.sh:\ (epoch\ [0-9.]+/[0-9]+\ )?\[[#-]{20}\]\ +[0-9]+%\ \|\ [0-9]+\ samples/s.*\|\ K\ [0-9]+,[0-9]+,[0-9]+ ]] ||
  fail "case 4: the progress line is not as documented: $line"
echo "case 4: $line"
kill -TERM "$pid"
for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "case 4: cluster.sh still runs 30 s after TERM"
wait "$pid" && fail "case 4: cluster.sh exited 0 after TERM" || code=$?
tail -n 3 "$tmp/term.out"
nothing_left "case 4"
echo "case 4 (TERM): ok, exit $code"
# --- 5. 4 PS shards on 3 hosts, ESync with --overlap, least squares
t=$SECONDS
run "$tmp/ps" 150 --mode esync --servers 4 --overlap --slowdown 1,2,4 --k-base 2 --dataset least-squares \
  --ls-matrix normal --model linreg --optimizer sgd --local-lr 0.2 --batch 128 --epochs 24 --threads 1 \
  --eval-every 1 || fail "case 5: cluster.sh exited $?"
echo "case 5: cluster.sh took $((SECONDS - t)) s"
nothing_left "case 5"
check_logs "$tmp/ps" <<'EOF' || fail "case 5: the logs"
for s in range(4):
    ep = events(f"server-{s}.jsonl", "start")[0]["endpoint"]
    host = f"{net}.{s % 3 + 1}"
    assert f"//{host}:" in ep, f"server-{s} listened on {ep}, expected host {host}"
    print(f"server-{s}: {ep}")
gap = events("worker-0.jsonl", "eval")[-1]["rel_gap"]
print(f"final relative gap {gap}")
assert gap < 1e-3, f"relative gap {gap} >= 1e-3"
EOF
echo "case 5 (4 shards on 3 hosts, --overlap): ok"

# --- 6. a whole host taken down mid-job (a PS job survives it)
t=$SECONDS
run "$tmp/down" 300 --mode esync --servers 1 --epochs 1 --threads 1 >"$tmp/down.out" 2>&1 &
pid=$!
for _ in $(seq 1200); do grep -q '"sync"' "$tmp/down/worker-2.jsonl" 2>/dev/null && break; sleep 0.1; done
grep -q '"sync"' "$tmp/down/worker-2.jsonl" || fail "case 6: worker-2 did not train within 120 s"
for p in $(ip netns pids "${ns[2]}"); do kill -KILL "$p" 2>/dev/null || true; done
wait "$pid" && code=0 || code=$?
tail -n 5 "$tmp/down.out"
((code == 0)) || fail "case 6: cluster.sh exited $code after losing a host"
grep -q "cluster.sh: worker-2 on $net.3 lost" "$tmp/down.out" || fail "case 6: the lost worker is not named"
nothing_left "case 6"
check_logs "$tmp/down" <<'EOF' || fail "case 6: the logs"
assert [e["rank"] for e in events("server-0.jsonl", "lost")] == [2], "the shard did not drop worker 2"
acc = events("worker-0.jsonl", "eval")[-1]["acc"]
print(f"final test accuracy {acc} without host 3")
assert acc >= 0.78, f"accuracy {acc} < 0.78"
EOF
echo "case 6 (a host down mid-job): ok in $((SECONDS - t)) s"

# --- 7. a worker killed, restarted by cluster.sh --restart 1, back in its allreduce group
t=$SECONDS
cluster_flags=(--restart 1)
run "$tmp/rejoin" 300 --mode esync --epochs 4 --threads 1 >"$tmp/rejoin.out" 2>&1 &
pid=$!
cluster_flags=()
for _ in $(seq 1200); do grep -q '"sync"' "$tmp/rejoin/worker-2.jsonl" 2>/dev/null && break; sleep 0.1; done
grep -q '"sync"' "$tmp/rejoin/worker-2.jsonl" || fail "case 7: worker-2 did not train within 120 s"
victim=$(python3 -c 'import json, sys; print(json.loads(open(sys.argv[1]).readline())["pid"])' "$tmp/rejoin/worker-2.jsonl")
kill -KILL "$victim"
wait "$pid" && code=0 || code=$?
tail -n 5 "$tmp/rejoin.out"
((code == 0)) || fail "case 7: cluster.sh exited $code"
grep -q "cluster.sh: worker-2 on $net.3 lost (exit code 137); restarting it (1 of 1)" "$tmp/rejoin.out" ||
  fail "case 7: the restart is not named"
nothing_left "case 7"
check_logs "$tmp/rejoin" <<'EOF' || fail "case 7: the logs"
r0 = events("worker-0.jsonl", "regroup")
assert [e["members"] for e in r0] == [[0, 1], [0, 1, 2]], f"rank 0's regroups: {r0}"
ready = events("coordinator-0.jsonl", "rejoin")[0]["t"]
before = max(e["round"] for e in events("worker-0.jsonl", "sync") if e["t"] <= ready)
admitted = r0[1]["round"]
print(f"worker-2 ready after round {before}, back in the group after round {admitted}")
assert 0 <= admitted - before <= 5, "not back within 5 rounds"
acc = events("worker-0.jsonl", "eval")[-1]["acc"]
print(f"final test accuracy {acc}")
assert acc >= 0.78, f"accuracy {acc} < 0.78"
EOF
echo "case 7 (a worker restarted into its allreduce group): ok in $((SECONDS - t)) s"
echo "PASS in $((SECONDS - t0)) s"
