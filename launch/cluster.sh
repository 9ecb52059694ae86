#!/usr/bin/env bash
# One esync job over several hosts. `esync run --dry-run` builds the process list, so every job
# flag and default stays in one place (the C++); this script only places the processes (the
# coordinator on the first host, worker R on the host of the R-th device of the hostfile, PS
# shards round-robin over the hosts), starts them through a remote shell, watches them, stops all
# of them on the first failure, on a timeout or on Ctrl-C, and gathers the logs for
# `esync summarize`. A job with --on-failure continue (the default) survives a lost worker, as
# under `esync run`: the shards drop it, or an allreduce group re-forms without it.
# Usage below; launch/CLUSTER.md explains the set-up.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: launch/cluster.sh --hostfile FILE [--rsh CMD] [--port P] [--esync PATH] [--restart N] [--device cpu|cuda] [--dry-run] [--] ARGS...
  --hostfile FILE  lines "HOST DEVICE..." (HOST a name or IPv4, DEVICE cpu|cuda:N); '#' comments;
                   or "HOST slots=N" as DeepSpeed and MPI hostfiles write it (max_slots= ignored)
  --device KIND    what a slot is: cpu (default: N cpu workers) or cuda (cuda:0 to cuda:N-1)
  --rsh CMD        remote shell, run as: CMD HOST bash -s (the commands on stdin)
                   default: ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new
  --port P         the coordinator's port on the first host (default 29500)
  --esync PATH     the esync binary on the remote hosts (default: the local binary's path)
  --restart N      restart a lost worker on its host, up to N times each (default 0); it takes
                   its rank back and rejoins the job (under --on-failure continue)
  --dry-run        print every command with its host (token masked); start nothing
ARGS are `esync run` flags (not --workers: the devices come from the hostfile). The live progress
line reads the state server's metrics: --metrics-port defaults to PORT + 1 (-1: no metrics, no line).
Environment: ESYNC_TOKEN (job token; generated if unset), ESYNC_BIN (local esync: ../build/esync).
EOF
}
progress_shown=0
say() {
  ((progress_shown)) && printf '\r\033[K' >&2 && progress_shown=0
  echo "cluster.sh: $*" >&2
}
die() { say "$*"; exit 2; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
local_esync=$(realpath -m "${ESYNC_BIN:-$here/../build/esync}")
hostfile="" rsh="ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new" port=29500
remote_esync="" dry=0 run_args=() restart_max=0 slot_device=cpu
while (($#)); do
  case $1 in
    --hostfile) hostfile=${2:?--hostfile needs a file}; shift 2 ;;
    --rsh) rsh=${2:?--rsh needs a command}; shift 2 ;;
    --port) port=${2:?--port needs a number}; shift 2 ;;
    --esync) remote_esync=${2:?--esync needs a path}; shift 2 ;;
    --restart) restart_max=${2:?--restart needs a number}; shift 2 ;;
    --device) slot_device=${2:?--device needs cpu or cuda}; shift 2 ;;
    --dry-run) dry=1; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; run_args+=("$@"); break ;;
    *) run_args+=("$1"); shift ;;
  esac
done
[[ -r $hostfile ]] || { usage >&2; die "cannot read the hostfile '$hostfile'"; }
[[ $port =~ ^[0-9]+$ ]] && ((port > 0 && port < 65536)) || die "--port $port is not a port"
[[ $restart_max =~ ^[0-9]+$ ]] || die "--restart $restart_max is not a whole number"
[[ $slot_device == cpu || $slot_device == cuda ]] || die "--device $slot_device: expected cpu or cuda"
[[ -x $local_esync ]] || die "no esync binary at $local_esync (build it, or set ESYNC_BIN)"
remote_esync=${remote_esync:-$local_esync}
read -ra rsh_cmd <<<"$rsh"

# --- The hostfile: hosts in order of first appearance, devices in file order (= rank order).
hosts=() devices=() device_host=(); declare -A ip=()
while IFS= read -r line || [[ -n $line ]]; do
  read -ra f <<<"${line%%#*}"
  ((${#f[@]})) || continue
  [[ -v ip[${f[0]}] ]] || { hosts+=("${f[0]}"); ip[${f[0]}]=""; }
  slots=()
  for d in "${f[@]:1}"; do
    if [[ $d =~ ^slots=([0-9]+)$ ]]; then # N workers of --device's kind
      n=$((10#${BASH_REMATCH[1]}))
      ((n >= 1 && n <= 1024)) || die "$hostfile: '$d' needs 1 to 1024 slots"
      for ((s = 0; s < n; s++)); do [[ $slot_device == cpu ]] && slots+=(cpu) || slots+=("cuda:$s"); done
    elif [[ ! $d =~ ^max_slots=[0-9]+$ ]]; then slots+=("$d"); fi
  done
  for d in "${slots[@]}"; do
    [[ $d =~ ^(cpu|cuda(:[0-9]+)?)(:(batch|threads)=[1-9][0-9]*)*$ ]] ||
      die "$hostfile: '$d' is not a device (cpu, cuda:N, with options like cpu:batch=32:threads=8) or slots=N"
    devices+=("$d") device_host+=("${f[0]}")
  done
done <"$hostfile"
((${#devices[@]})) || die "$hostfile: no devices"
# --bind needs addresses. A name is resolved here, once: every host must reach the others by it.
loopback=0
for h in "${hosts[@]}"; do
  [[ $h =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] && ip[$h]=$h ||
    ip[$h]=$(getent ahostsv4 "$h" | awk 'NR == 1 { print $1 }' || true)
  [[ -n ${ip[$h]} ]] || die "cannot resolve host '$h' to an IPv4 address"
  [[ ${ip[$h]} == 127.* ]] && loopback=$((loopback + 1))
done
# Debian maps its own hostname to 127.0.1.1: fine when every host is this one, wrong otherwise.
((loopback == 0 || loopback == ${#hosts[@]})) ||
  die "some hosts resolve to loopback addresses here; write their IPv4 addresses in $hostfile"

# --- esync run flags: the log directory (absolute: it is the same path on every host), the job
# timeout (our deadline) and --threads are read; --workers is ours.
log_dir="" job_timeout=3600 threads="" args=() curve=0 mport=""
set -- "${run_args[@]}"
while (($#)); do
  case $1 in
    --log-dir) log_dir=${2:?--log-dir needs a directory}; shift 2; continue ;;
    --log-dir=*) log_dir=${1#*=}; shift; continue ;;
    --workers | --workers=*) die "--workers comes from the hostfile" ;;
    --dry-run) dry=1; shift; continue ;;
    --curve) curve=1; shift; continue ;; # ours: the keys go to each process's environment below
    --timeout | --timeout=*) [[ $1 == *=* ]] && job_timeout=${1#*=} || job_timeout=${2:-3600} ;;
    --threads | --threads=*) threads=given ;;
    --metrics-port | --metrics-port=*) [[ $1 == *=* ]] && mport=${1#*=} || mport=${2:-} ;;
  esac
  args+=("$1"); shift
done
[[ $job_timeout =~ ^[0-9]+$ ]] || die "--timeout $job_timeout is not a whole number of seconds"
# The live progress line reads the state server's metrics: on the next port unless given.
[[ -n $mport ]] || { mport=$((port + 1)); args+=(--metrics-port "$mport"); }
log_dir=$(realpath -m "${log_dir:-logs/cluster-$(date +%Y%m%d-%H%M%S)}")
hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }
token=${ESYNC_TOKEN:-$(hex 16)} job_id=$(hex 8)
# --curve: one job keypair; every process gets the public key, servers also the secret.
curve_pub="" curve_sec=""
if ((curve)); then
  keys=$("$local_esync" keys) || die "esync keys failed (its message is above)"
  curve_pub=$(sed -n 's/^ESYNC_CURVE_SERVER=//p' <<<"$keys") curve_sec=$(sed -n 's/^ESYNC_CURVE_SECRET=//p' <<<"$keys")
fi
run_dir=/tmp/esync-cluster-$job_id # on each host: pid files of the processes started there
[[ $token =~ ^[A-Za-z0-9._-]+$ ]] || die "ESYNC_TOKEN may hold only letters, digits and . _ -"
# esync run's default divides this host's cores among all the workers; here each host divides its
# own, taken to be like this one's (pass --threads where they differ).
per_host=$(printf '%s\n' "${device_host[@]}" | sort | uniq -c | sort -rn | awk 'NR == 1 { print $1 }')
[[ -n $threads ]] || args+=(--threads $(($(nproc) / per_host > 1 ? $(nproc) / per_host : 1)))
workers=$(IFS=,; echo "${devices[*]}")
plan=$("$local_esync" run --workers "$workers" "${args[@]}" --log-dir "$log_dir" --dry-run) ||
  die "esync run --dry-run failed (its message is above)"
addr=${ip[${hosts[0]}]}:$port
roles=(); declare -A host_of=() cmd_of=()
while IFS=$'\t' read -r role cmd; do
  eval "w=($cmd)" # undoes the shell quoting of esync's own output (shell_join)
  w[0]=$remote_esync
  case $role in
    coordinator) h=${hosts[0]} ;;
    server-*) h=${hosts[${role#server-} % ${#hosts[@]}]} ;;
    worker-*) h=${device_host[${role#worker-}]} ;;
    *) die "unexpected role '$role' from esync run --dry-run" ;;
  esac
  for j in "${!w[@]}"; do
    [[ ${w[j]} == '{COORDINATOR}' ]] && w[j]=$addr
    [[ ${w[j]} == --port && $role == coordinator ]] && w[j + 1]=$port
  done
  # Workers find their own address (the one on their route to the coordinator).
  [[ $role == worker-* ]] || w+=(--bind "${ip[$h]}")
  printf -v c '%q ' "${w[@]}"
  roles+=("$role") host_of[$role]=$h cmd_of[$role]=${c% }
done <<<"$plan"
if ((dry)); then
  echo "# coordinator $addr, logs in $log_dir; each line runs as: $rsh HOST bash -s"
  ((curve)) && echo "# CURVE on: the job keypair goes in each process's environment (the secret to servers only)"
  for r in "${roles[@]}"; do printf '%s\t%s\tESYNC_TOKEN=******** %s\n' "$r" "${host_of[$r]}" "${cmd_of[$r]}"; done
  exit 0
fi

# --- Remote scripts go on the remote shell's stdin (`bash -s`), never in its arguments: no
# quoting differs between ssh (which joins its arguments into one shell line) and
# `ip netns exec` (which does not), and the token never shows on a command line.
q() { printf '%q' "$1"; }
remote() { timeout "${2:-60}" "${rsh_cmd[@]}" "$1" bash -s; } # HOST [TIMEOUT]: stdin's script
# Each process leads its own session (setsid) and writes its id to the host's run_dir: so we can
# stop its whole process group later, over ssh as over netns, even if our remote shell is gone.
start_script() { # ROLE
  local pid=$run_dir/$1.pid
  cat <<EOF
export ESYNC_TOKEN=$token
export ESYNC_CURVE_SERVER=$(q "$curve_pub") ESYNC_CURVE_SECRET=$(q "$([[ $1 == worker-* ]] || echo "$curve_sec")")
cd $(q "$PWD") 2>/dev/null || true
[ $1 = coordinator ] && rm -f $(q "$log_dir/coordinator.port")
mkdir -p $run_dir # a restarted worker's: its predecessor's exit may have removed it
setsid -w bash -c 'echo \$\$ > "\$0"; exec "\$@"' $pid ${cmd_of[$1]} </dev/null &
wait \$!; rc=\$?; rm -f $pid; rmdir $run_dir 2>/dev/null; exit \$rc
EOF
}
stop_script() { # PIDFILE...: TERM to each group, KILL to what still runs 5 s later
  cat <<EOF
for i in \$(seq 20); do ls $* >/dev/null 2>&1 && break; sleep 0.1; done  # a process just started
grp() { p=\$(cat \$1 2>/dev/null) && [ -n "\$p" ] && kill \$2 -- -\$p 2>/dev/null; }  # FILE SIGNAL
for s in TERM KILL; do
  for i in \$(seq 50); do
    alive=0
    for f in $*; do grp \$f -0 && alive=1; done
    [ \$alive = 1 ] || break
    [ \$i = 1 ] && for f in $*; do grp \$f -\$s; done
    sleep 0.1
  done
done
rm -f $*; rmdir $run_dir 2>/dev/null; exit 0
EOF
}
declare -A lpid=() rc=() stopped=() shared=() # role -> pid of its local remote shell, exit code
reap() {
  for r in "${!lpid[@]}"; do
    [[ -v rc[$r] ]] && continue
    kill -0 "${lpid[$r]}" 2>/dev/null && continue
    if wait "${lpid[$r]}"; then rc[$r]=0; else rc[$r]=$?; fi
  done
}
# Stops, on every host at once, each process not known to have ended well. A local ssh that died
# (Ctrl-C, network) says nothing of its remote process, so only an exit code 0 is taken as done.
stop() {
  local h r files pids=()
  reap
  for h in "${hosts[@]}"; do
    files=""
    for r in "${!lpid[@]}"; do
      [[ ${host_of[$r]} == "$h" && ${rc[$r]:-x} != 0 && ! -v stopped[$r] ]] || continue
      files+=" $run_dir/$r.pid" stopped[$r]=1
    done
    [[ -z $files ]] || { stop_script "$files" | remote "$h" 30 || say "could not stop$files on $h"; } &
    pids+=($!)
  done
  ((${#pids[@]} == 0)) || wait "${pids[@]}" || true
  for i in $(seq 50); do # our remote shells end with their process; a stuck one is killed
    reap
    [[ ${#rc[@]} -lt ${#lpid[@]} ]] || break
    ((i < 50)) && sleep 0.1 && continue
    for r in "${!lpid[@]}"; do [[ -v rc[$r] ]] || kill "${lpid[$r]}" 2>/dev/null || true; done
  done
}
gather() { # the logs of the hosts that do not share our log directory
  for h in "${hosts[@]}"; do
    [[ ${shared[$h]} == 1 ]] && continue
    echo "tar -C $(q "$log_dir") -cf - ." | remote "$h" 300 | tar -C "$log_dir" -xf - ||
      say "could not gather the logs of $h"
  done
}
on_exit() { local code=$?; trap '' INT TERM; stop; exit "$code"; } # a 2nd Ctrl-C can't cut it short
trap on_exit EXIT
trap 'say "interrupted: stopping everything"; exit 130' INT
trap 'say "terminated: stopping everything"; exit 143' TERM

# --- Every host: the remote shell works, esync is there; the job file reaches the hosts that
# do not see our log directory (a marker file tells who shares it, e.g. NFS or namespaces).
echo "$job_id" >"$log_dir/.cluster-job"
job_b64=$(base64 -w0 "$log_dir/job.json")
for h in "${hosts[@]}"; do
  out=$(remote "$h" 60 <<EOF
[ -x $(q "$remote_esync") ] || { echo "no esync at $(q "$remote_esync") on $h" >&2; exit 3; }
mkdir -p $(q "$log_dir") $run_dir || exit 3
if [ "\$(cat $(q "$log_dir/.cluster-job") 2>/dev/null)" = $job_id ]; then echo shared; exit 0; fi
echo $job_b64 | base64 -d > $(q "$log_dir/job.json")
EOF
  ) || die "$h: the remote shell or the set-up failed (above)"
  [[ $out == shared ]] && shared[$h]=1 || shared[$h]=0
done
rm -f "$log_dir/.cluster-job"

launch() { # ROLE: its output comes back prefixed with role and host
  local r=$1 h=${host_of[$1]}
  start_script "$r" | "${rsh_cmd[@]}" "$h" bash -s > >(sed -u "s|^|[$r@$h] |") 2>&1 &
  lpid[$r]=$!
}
echo "cluster.sh: ${#devices[@]} workers on ${#hosts[@]} hosts, coordinator $addr, logs in $log_dir"
launch coordinator
# Servers and workers once the coordinator listens: a busy port is then one clear error.
for i in $(seq 40); do
  remote "${hosts[0]}" 10 <<<"[ -s $(q "$log_dir/coordinator.port") ]" && break
  reap
  [[ ! -v rc[coordinator] ]] || die "the coordinator exited with code ${rc[coordinator]}"
  ((i < 40)) || die "the coordinator did not listen on $addr within 20 s"
  sleep 0.5
done
for r in "${roles[@]:1}"; do launch "$r"; done

# A lost worker is survivable under --on-failure continue (the shards drop it, an allreduce group
# re-forms without it), rank 0 included: another worker then evaluates the final model.
survivable=1
for ((j = 0; j < ${#args[@]}; j++)); do
  [[ ${args[j]} == --on-failure=abort || (${args[j]} == --on-failure && ${args[j + 1]:-} == abort) ]] && survivable=0
done
# One line of progress from the state server's metrics: redrawn each second on a terminal,
# printed every 10 s otherwise (no line when the metrics are off or cannot be reached). Fetched
# directly, or through the remote shell on the first host when this one cannot reach it.
next_progress=0 via_remote=0
progress() {
  ((mport > 0 && SECONDS >= next_progress)) || return 0
  local tty=0 text="" line get
  [[ -t 2 ]] && tty=1
  next_progress=$((SECONDS + (tty ? 1 : 10)))
  get="exec 3<>/dev/tcp/${addr%:*}/$mport && printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3 && cat <&3"
  ((via_remote)) || text=$(timeout 2 bash -c "$get" 2>/dev/null) || true
  if [[ $text != *esync_job_info* ]]; then
    text=$(remote "${hosts[0]}" 5 <<<"$get" 2>/dev/null) || true
    [[ $text == *esync_job_info* ]] && via_remote=1 || return 0
  fi
  line=$(awk '
    /^esync_job_progress_ratio / { p = $2 }
    /^esync_job_eta_seconds / { eta = $2 }
    /^esync_job_epochs_target / { epochs_target = $2 }
    /^esync_job_epochs / { e = $2 }
    /^esync_job_test_accuracy / { acc = $2 }
    /^esync_job_samples_seen / { seen = $2 }
    /^esync_worker_samples_per_second\{/ { rate += $2 }
    /^esync_worker_k\{/ { match($0, /rank="[0-9]+"/); r = substr($0, RSTART + 6, RLENGTH - 7); k[r] = $2; if (r + 0 > n) n = r + 0 }
    END {
      if (seen + 0 <= 0) exit  # nothing trained yet: no line
      out = (e != "" && epochs_target > 0) ? sprintf("epoch %.2f/%g ", e, epochs_target) : ""
      bar = ""; for (i = 0; i < 20; i++) bar = bar (i < int(p * 20 + 0.5) ? "#" : "-")
      out = out sprintf("[%s] %3.0f%% | %.0f samples/s", bar, p * 100, rate)
      if (eta != "") out = out sprintf(" | ETA %ds", eta)
      if (acc != "") out = out sprintf(" | acc %.4f", acc)
      if (length(k)) { out = out " | K "; for (i = 0; i <= n; i++) out = out (i ? "," : "") (i in k ? k[i] : "-") }
      print out
    }' <<<"$text")
  [[ -n $line ]] || return 0
  if ((tty)); then printf '\r\033[Kcluster.sh: %s' "$line" >&2 && progress_shown=1; else echo "cluster.sh: $line"; fi
}
declare -A lost=() restarts=()
deadline=$((SECONDS + job_timeout))
while :; do
  sleep 0.5
  progress
  reap
  for r in "${roles[@]}"; do
    [[ ${rc[$r]:-0} == 0 || -v lost[$r] ]] && continue
    if ((survivable)) && [[ $r == worker-* ]] && ((${restarts[$r]:-0} < restart_max)); then
      # The same command on the same host, told that its rank is held until the state server
      # declares the previous process lost (esync worker --rejoin).
      restarts[$r]=$((${restarts[$r]:-0} + 1))
      say "$r on ${host_of[$r]} lost (exit code ${rc[$r]}); restarting it (${restarts[$r]} of $restart_max)"
      [[ ${cmd_of[$r]} == *" --rejoin" ]] || cmd_of[$r]+=" --rejoin"
      unset "rc[$r]" "stopped[$r]"
      launch "$r"
      continue
    fi
    if ((survivable)) && [[ $r == worker-* ]]; then
      lost[$r]=1
      say "$r on ${host_of[$r]} lost (exit code ${rc[$r]}); the job goes on without it"
      continue
    fi
    say "$r on ${host_of[$r]} exited with code ${rc[$r]}; stopping the rest"
    stop; gather; say "logs in $log_dir"; exit 1
  done
  done=1 left=0
  for r in "${roles[@]}"; do
    [[ $r == worker-* && ${rc[$r]:-x} == 0 ]] && left=1
    [[ $r != worker-* || ${rc[$r]:-x} == 0 || -v lost[$r] ]] || done=0
  done
  if ((done && !left)); then
    say "every worker was lost (${!lost[*]}); stopping the rest"
    stop; gather; say "logs in $log_dir"; exit 1
  fi
  ((done)) && break
  ((SECONDS < deadline)) || { say "timed out after $job_timeout s"; stop; exit 124; }
done
next_progress=0 && progress # the last state, before the coordinator stops
((progress_shown)) && echo >&2
stop # the coordinator and the servers serve until they are stopped
gather
"$local_esync" summarize "$log_dir" -o "$log_dir/summary.json" | sed '/^#json/,$d'
((${#lost[@]} == 0)) || echo "cluster.sh: the job finished without ${#lost[@]} lost worker(s): ${!lost[*]}"
echo "cluster.sh: done, logs in $log_dir"
