#!/usr/bin/env bash
# The check of a GPU host: builds esync against the host's own PyTorch LibTorch and CUDA
# toolkit, then runs what exists on a GPU today, and writes results/gpu/ (JSON + README).
# For a host with nvcc, CMake, ninja and a PyTorch install but no package registry: the other
# dependencies come from Debian .deb files carried beside the tree (launch/fetch-debs.sh fetches
# them on a machine that reaches Debian's archive), unpacked into build-gpu/deps with dpkg -x.
#
#   launch/fetch-debs.sh                      # elsewhere, once: launch/debs/*.deb
#   launch/device-check.sh [OUT]              # on the GPU host (OUT: results/gpu)
#
# Through a remote runner that returns a few files, pack the results after it, under a limit
# that leaves the packing time, e.g.
#   timeout 540 launch/device-check.sh; tar czf "$OUT/gpu.tgz" results/gpu   (launch/debs carried)
#
# What it runs: every CUDA kernel and the Place dispatch against their CPU twins (test_kernels
# *Cuda*), the NCCL collective's tests (test_nccl), the model-averaging round on GPUs over NCCL
# against its host result and the overlapped reduction beside a held compute stream
# (test_model_averaging), `esync bench kernels --device cuda:0` (GB/s
# against a device-to-device copy), one epoch of Fashion-MNIST with `esync local` on cuda:0 and
# on the CPU (accuracy, samples/s), an all-GPU job (`--workers cuda:0`: NCCL, the synchroniser on
# the GPU) with ESync and SSGD, and a mixed job `--workers cuda:0,cpu,cpu` (the GPU worker
# synchronising through pinned host copies over gloo) with ESync against SSGD. env.txt records
# what the build linked (which library gloo's symbols come from, LibTorch, CUDA, NCCL).
# Exit 3, one line, where no GPU is visible; 1 on a build or tool failure.
# ESYNC_DEVICE_CHECK_REHEARSE=1 skips the GPU check and takes Debian's LibTorch: it rehearses the
# unpacking and the build on a machine without a GPU (the GPU tests then skip, the cuda:0 runs
# record their one-line refusal; ESYNC_REHEARSE_DEVICE=cpu runs them on the CPU instead).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/gpu}
debs=${ESYNC_DEBS:-launch/debs}
say() { echo "device-check: $*"; }
die() {
  echo "device-check: $*" >&2
  exit 1
}

# 1. A GPU first: without one this is the whole run.
if [[ -z ${ESYNC_DEVICE_CHECK_REHEARSE:-} ]]; then
  smi=${ESYNC_NVIDIA_SMI:-nvidia-smi}  # the tests name a stub
  if ! command -v "$smi" > /dev/null || ! "$smi" -L 2> /dev/null | grep -q '^GPU '; then
    echo "device-check: no GPU is visible (nvidia-smi -L lists none); run this on a GPU host" >&2
    exit 3
  fi
fi
start=$(date +%s)

# 2. LibTorch: the PyTorch install's (a rehearsal: the system's).
if [[ -n ${ESYNC_DEVICE_CHECK_REHEARSE:-} ]]; then
  torch_dir=/usr/lib/x86_64-linux-gnu/cmake/Torch
else
  torch_dir=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)' 2> /dev/null) ||
    die "python3 has no torch: name a CUDA LibTorch with ESYNC_LIBTORCH=DIR"
  torch_dir=${ESYNC_LIBTORCH:-$torch_dir}
fi

# 3. The other dependencies: unpacked from the carried .deb files, or the system's.
deps=$PWD/build-gpu/deps
prefix_args=()
data_dir=/usr/share/datasets/fashion-mnist
if compgen -G "$debs/*.deb" > /dev/null; then
  rm -rf "$deps" && mkdir -p "$deps"
  for f in "$debs"/*.deb; do
    if command -v dpkg-deb > /dev/null; then
      dpkg-deb -x "$f" "$deps"
    else  # a .deb is an ar archive holding data.tar.*
      (cd "$deps" && ar p "$OLDPWD/$f" "$(ar t "$OLDPWD/$f" | grep '^data.tar')" | tar -x)
    fi
  done
  # A package's CMake config may name its library by absolute path (gloo's GlooTargets names
  # /usr/lib/libgloo.so.0.5.0): point every such file that was unpacked here to its copy here.
  while IFS= read -r cfg; do
    for f in $(grep -oE '"/usr/[^"$;]+"' "$cfg" | tr -d '"' | sort -u); do
      [[ -f $deps$f ]] && sed -i "s#\"$f\"#\"$deps$f\"#g" "$cfg"
    done
  done < <(find "$deps" -name '*.cmake')
  export LD_LIBRARY_PATH=$deps/usr/lib/x86_64-linux-gnu:$deps/usr/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  prefix_args=(-DCMAKE_PREFIX_PATH="$deps/usr" -DCMAKE_INCLUDE_PATH="$deps/usr/include")
  data_dir=$deps/usr/share/datasets/fashion-mnist
  say "unpacked $(ls "$debs"/*.deb | wc -l) packages into $deps"
fi

# NCCL: the PyTorch install's own (nvidia-nccl wheel) when it has one, so that esync and
# LibTorch load the same libnccl.so.2; else CMake looks in the CUDA toolkit.
nccl_args=()
if [[ -z ${ESYNC_DEVICE_CHECK_REHEARSE:-} ]]; then
  nccl_dir=$(python3 -c 'import nvidia.nccl as n; print(list(n.__path__)[0])' 2> /dev/null) || nccl_dir=
  if [[ -n $nccl_dir && -f $nccl_dir/include/nccl.h && -f $nccl_dir/lib/libnccl.so.2 ]]; then
    nccl_args=(-DNCCL_INCLUDE_DIR="$nccl_dir/include" -DNCCL_LIBRARY="$nccl_dir/lib/libnccl.so.2")
    export LD_LIBRARY_PATH=$nccl_dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  fi
  # Torch's CMake probes the GPU for its architecture unless told; NCCL says why it failed.
  if [[ -z ${TORCH_CUDA_ARCH_LIST:-} ]]; then
    TORCH_CUDA_ARCH_LIST=$("$smi" --query-gpu=compute_cap --format=csv,noheader 2> /dev/null | head -1) || true
    export TORCH_CUDA_ARCH_LIST
  fi
  export NCCL_DEBUG=${NCCL_DEBUG:-WARN}
fi

# 4. The build: esync and the GPU tests, against that LibTorch, CUDA on. ESYNC_DEVICE_CHECK_BUILD=DIR
# reuses a build instead (the checks only: a second run on the same host, or a rehearsal).
mkdir -p "$out"
bdir=${ESYNC_DEVICE_CHECK_BUILD:-build-gpu}
build_s=0
if [[ -n ${ESYNC_DEVICE_CHECK_BUILD:-} ]]; then
  [[ -x $bdir/esync && -x $bdir/tests/test_kernels ]] || die "$bdir holds no esync build"
  say "checks only, with the build in $bdir"
else
  # Warnings stay warnings: another compiler's new warning must not cost the host's only build.
  cuda_opt=ON
  [[ -n ${ESYNC_DEVICE_CHECK_REHEARSE:-} ]] && cuda_opt=AUTO
  cmake -S . -B "$bdir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DESYNC_LIBTORCH="$torch_dir" \
    -DESYNC_CUDA="$cuda_opt" -DESYNC_WERROR=OFF "${prefix_args[@]}" "${nccl_args[@]}" \
    > "$out/configure.log" 2>&1 || {
    tail -20 "$out/configure.log" >&2
    die "cmake configure failed ($out/configure.log)"
  }
  grep -E 'esync: (CUDA|LibTorch|NCCL)' "$out/configure.log" || true
  timeout -k 10 360 cmake --build "$bdir" --target esync test_kernels test_nccl test_model_averaging test_train > "$out/build.log" 2>&1 || {
    grep -m 20 -E 'error|Error' "$out/build.log" >&2 || tail -20 "$out/build.log" >&2
    die "build failed or ran past 360 s ($out/build.log)"
  }
  build_s=$(($(date +%s) - start))
  say "built in ${build_s} s"
fi

# 5. What the build linked: the libraries in load order (libgloo must come before LibTorch, whose
# libtorch_cpu.so may export a gloo of its own), and the versions.
{
  echo "# esync's libraries, in load order"
  readelf -d "$bdir/esync" | grep NEEDED || true
  ldd "$bdir/esync" | grep -E 'gloo|torch|nccl|cudart|zmq' || true
  tl=$(ldd "$bdir/esync" | awk '/libtorch_cpu/ {print $3}')
  [[ -n $tl ]] && echo "gloo symbols exported by $tl: $(nm -D --defined-only "$tl" 2> /dev/null | grep -c gloo)"
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' 2>&1 || true
  command -v nvcc > /dev/null && nvcc --version | tail -1
  "$bdir"/esync --version || true
  # esync's CUDA kernels link the static CUDA runtime, its symbols hidden (local): with a CUDA
  # LibTorch the process then holds two runtimes, sharing the GPU's primary context.
  static_rt=$(nm "$bdir/esync" 2> /dev/null | grep -cE ' [Tt] (cudaMalloc|cudaLaunchKernel)$' || true)
  echo "static CUDA runtime in esync: ${static_rt:-0} of 2 probe symbols"
  echo "CUDA_MODULE_LOADING=EAGER for the test binaries; TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-} NCCL: ${nccl_args[*]:-found by CMake}"
} > "$out/env.txt" 2>&1

# 6. The checks. A failing test is a result, not a stop: every check runs and is recorded.
# A rehearsal has no GPU: its cuda:0 runs record their refusal (or run on ESYNC_REHEARSE_DEVICE).
gpu_dev=cuda:0
[[ -n ${ESYNC_DEVICE_CHECK_REHEARSE:-} ]] && gpu_dev=${ESYNC_REHEARSE_DEVICE:-cuda:0}
# Every check runs under a limit of its own and within the script's budget (ESYNC_DEVICE_CHECK_BUDGET
# seconds from the start, build included): one that would start too late is skipped and says so,
# so a hung check costs its limit only and the summary is always written.
budget=${ESYNC_DEVICE_CHECK_BUDGET:-465}
within() {  # within LIMIT_S OUTPUT_FILE COMMAND...: runs it, output to the file; its exit status
  local limit=$1 file=$2 left
  shift 2
  left=$((budget - ($(date +%s) - start)))
  if ((left < 15)); then
    echo "skipped: the check's budget of $budget s was spent" > "$file"
    return 124
  fi
  timeout -k 10 $((limit < left ? limit : left)) "$@" > "$file" 2>&1
}
# The stream tests' kernels load with their module, not at their first launch, which may wait for
# the whole device while a test holds a stream (the other runs keep CUDA's lazy loading).
eager=(env CUDA_MODULE_LOADING=EAGER)
# A check that is skipped or killed writes no JSON: none may be left from an earlier run.
rm -f "$out"/{kernels,nccl,averaging,staging}.json
rc_kernels=0 rc_nccl=0 rc_avg=0 rc_staging=0
within 120 "$out/kernels.txt" "${eager[@]}" "$bdir"/tests/test_kernels --gtest_filter="*Cuda*" \
  --gtest_output=json:"$out/kernels.json" || rc_kernels=$?
within 150 "$out/nccl.txt" "${eager[@]}" "$bdir"/tests/test_nccl --gtest_output=json:"$out/nccl.json" || rc_nccl=$?
within 120 "$out/averaging.txt" "${eager[@]}" "$bdir"/tests/test_model_averaging \
  --gtest_output=json:"$out/averaging.json" || rc_avg=$?
within 90 "$out/staging.txt" "$bdir"/tests/test_train --gtest_filter='Staging.*:Batches.*' \
  --gtest_output=json:"$out/staging.json" || rc_staging=$?
# One training step (forward, backward, optimiser), LeNet-5 on the GPU and on 8 CPU threads, and
# ResNet-18 (CIFAR shape) on the GPU.
for run in "lenet5 1x28x28 gpu $gpu_dev" "lenet5 1x28x28 cpu cpu" "resnet18 3x32x32 gpu $gpu_dev"; do
  read -r model input name dev <<< "$run"
  within 60 "$out/step-$model-$name.txt" "$bdir"/esync bench step --model "$model" --input "$input" --batch 128 \
    --threads 8 --seconds 2 --device "$dev" || true
done
within 60 "$out/bench_kernels.txt" "$bdir"/esync bench kernels --device "${ESYNC_REHEARSE_DEVICE:-cuda:0}" \
  --seconds 0.1 --sizes 2^20,2^24 || true
# Training: the same epoch on the GPU and on 8 CPU threads (a ratio measured in this run), then
# the mixed job. A rehearsal has no GPU: its cuda:0 runs record their refusal.
for run in "gpu $gpu_dev" "cpu cpu"; do
  read -r name dev <<< "$run"
  rm -rf "$out/local-$name"
  within 120 "$out/local-$name.txt" "$bdir"/esync local --device "$dev" --model lenet5 --batch 128 --threads 8 \
    --epochs 1 --quiet --data-dir "$data_dir" --log-dir "$out/local-$name" || true
done
for mode in esync ssgd; do  # one GPU: a group of one, but every synchronisation through NCCL on it
  rm -rf "$out/gpu-$mode"
  within 120 "$out/gpu-$mode.txt" "$bdir"/esync run --workers "$gpu_dev:batch=256" --mode "$mode" --model lenet5 \
    --epochs 2 --data-dir "$data_dir" --timeout 60 --log-dir "$out/gpu-$mode" || true
done
for mode in esync ssgd; do
  rm -rf "$out/mixed-$mode"
  within 150 "$out/mixed-$mode.txt" "$bdir"/esync run \
    --workers "$gpu_dev:batch=256,cpu:batch=64:threads=4,cpu:batch=64:threads=4" --mode "$mode" --model lenet5 \
    --epochs 2 --data-dir "$data_dir" --timeout 60 --log-dir "$out/mixed-$mode" || true
done

python3 - "$out" "$rc_kernels" "$rc_nccl" "$rc_avg" "$rc_staging" "$build_s" "$torch_dir" << 'PY'
import glob, json, subprocess, sys
out, rc_k, rc_n, rc_a, rc_s, build_s, torch_dir = sys.argv[1:]
def events(path, ev):
    try:
        return [j for j in map(json.loads, open(path)) if j.get("ev") == ev]
    except (OSError, ValueError):
        return []
def outcome(name):
    """A run's result: its final accuracy and samples/s, or the last line it printed."""
    if name.startswith("local"):
        end = events(f"{out}/{name}/local-0.jsonl", "end")
        if end and end[-1].get("status") == "ok":
            return {"acc": end[-1]["final"].get("acc"), "samples_per_s": round(end[-1]["samples_per_s"])}
    else:
        ends = [events(f, "end") for f in sorted(glob.glob(f"{out}/{name}/worker-*.jsonl"))]
        if ends and all(e and e[-1].get("status") == "ok" for e in ends):
            sums = [e[-1]["summary"] for e in ends]
            return {"acc": sums[0]["final"].get("acc"), "samples_per_s": round(sum(s["samples_per_s"] for s in sums)),
                    "train_wall_s": round(max(s["train_wall_s"] for s in sums), 1),
                    "backend": sums[0].get("backend"), "staging": [s.get("staging") for s in sums]}
    lines = open(f"{out}/{name}.txt").read().strip().splitlines() if glob.glob(f"{out}/{name}.txt") else []
    return {"failed": lines[-1] if lines else "no output"}
def step(name):
    """`esync bench step`'s row: samples/s and ms a step, or the last line it printed."""
    try:
        lines = open(f"{out}/{name}.txt").read().splitlines()
        row = json.loads(lines[lines.index("#json") + 1])["rows"][0]
        return {"samples_per_s": round(row["samples_per_s"]), "step_ms": round(row["step_ms"], 3)}
    except (OSError, ValueError, KeyError, IndexError):
        lines = open(f"{out}/{name}.txt").read().strip().splitlines() if glob.glob(f"{out}/{name}.txt") else []
        return {"failed": lines[-1] if lines else "no output"}
def tests(name):
    try:
        d = json.load(open(f"{out}/{name}.json"))
    except (OSError, ValueError):
        return {"tests": 0, "failures": None, "skipped": None}
    cases = [c for s in d.get("testsuites", []) for c in s.get("testsuite", [])]
    return {"tests": len(cases), "failures": sum(1 for c in cases if c.get("failures")),
            "skipped": sum(1 for c in cases if c.get("result") == "SKIPPED")}
try:
    gpu = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout.strip()
except OSError:
    gpu = "none visible"
doc = {"gpu": gpu, "libtorch": torch_dir, "build_s": int(build_s),
       "kernels": dict(tests("kernels"), exit=int(rc_k)), "nccl": dict(tests("nccl"), exit=int(rc_n)),
       "averaging": dict(tests("averaging"), exit=int(rc_a)), "staging": dict(tests("staging"), exit=int(rc_s)),
       "local_cuda": outcome("local-gpu"), "local_cpu": outcome("local-cpu"),
       "gpu_esync": outcome("gpu-esync"), "gpu_ssgd": outcome("gpu-ssgd"),
       "step": {n[5:]: step(n) for n in ("step-lenet5-gpu", "step-lenet5-cpu", "step-resnet18-gpu")},
       "mixed_esync": outcome("mixed-esync"), "mixed_ssgd": outcome("mixed-ssgd")}
json.dump(doc, open(f"{out}/device_check.json", "w"), indent=1)
def fmt(o):
    if "failed" in o:
        return "failed: " + o["failed"]
    s = f"accuracy {o['acc']}, {o['samples_per_s']} samples/s"
    if "train_wall_s" in o:
        s += (f", {o['train_wall_s']} s of training, backend {o['backend']}, "
              f"staging {'/'.join(map(str, o['staging']))}")
    return s
def sfmt(o):
    return "failed: " + o["failed"] if "failed" in o else f"{o['samples_per_s']} samples/s, {o['step_ms']} ms a step"
def ratio(a, b, key):
    try:
        return f"{a[key] / b[key]:.2f}x"
    except (KeyError, TypeError, ZeroDivisionError):
        return "n/a"
k, n, a, t = doc["kernels"], doc["nccl"], doc["averaging"], doc["staging"]
open(f"{out}/README.md", "w").write(f"""# GPU host check (`launch/device-check.sh`)

GPU: {gpu or 'none visible'}. LibTorch: `{torch_dir}`. Build: {build_s} s.

| check | tests | failed | skipped | exit |
|---|---|---|---|---|
| CUDA kernels against their CPU twins (`test_kernels`, `*Cuda*`) | {k['tests']} | {k['failures']} | {k['skipped']} | {k['exit']} |
| NCCL collective (`test_nccl`) | {n['tests']} | {n['failures']} | {n['skipped']} | {n['exit']} |
| model averaging, on the GPU over NCCL and on the host; `--overlap` beside a held compute stream (`test_model_averaging`) | {a['tests']} | {a['failures']} | {a['skipped']} | {a['exit']} |
| a GPU model's staging, by transport, and its batches (`test_train`, `Staging.*:Batches.*`) | {t['tests']} | {t['failures']} | {t['skipped']} | {t['exit']} |

One epoch of Fashion-MNIST, LeNet-5, batch 128 (`esync local`; the CPU run with 8 threads):

| device | result |
|---|---|
| cuda:0 | {fmt(doc['local_cuda'])} |
| cpu | {fmt(doc['local_cpu'])} |

GPU against CPU, samples/s: {ratio(doc['local_cuda'], doc['local_cpu'], 'samples_per_s')}.

One training step, batch 128 (`esync bench step`, random input; the CPU with 8 threads):

| model | device | result |
|---|---|---|
| LeNet-5 | cuda:0 | {sfmt(doc['step']['lenet5-gpu'])} |
| LeNet-5 | cpu | {sfmt(doc['step']['lenet5-cpu'])} |
| ResNet-18, 3x32x32 | cuda:0 | {sfmt(doc['step']['resnet18-gpu'])} |

Two epochs, `--workers cuda:0:batch=256` (a group of one GPU: every synchronisation through NCCL,
the synchroniser's kernels on the GPU):

| mode | result |
|---|---|
| esync | {fmt(doc['gpu_esync'])} |
| ssgd | {fmt(doc['gpu_ssgd'])} |

Two epochs, `--workers cuda:0:batch=256,cpu:batch=64:threads=4,cpu:batch=64:threads=4` (the GPU
worker reduces over gloo through pinned host copies):

| mode | result |
|---|---|
| esync | {fmt(doc['mixed_esync'])} |
| ssgd | {fmt(doc['mixed_ssgd'])} |

ESync against SSGD: samples/s {ratio(doc['mixed_esync'], doc['mixed_ssgd'], 'samples_per_s')}, training time
{ratio(doc['mixed_esync'], doc['mixed_ssgd'], 'train_wall_s')}.

Kernel bandwidth against a device-to-device copy: `bench_kernels.txt`.

What the build linked: `env.txt`. Raw output: `kernels.txt`, `nccl.txt`, `averaging.txt`,
`staging.txt`, `step-*.txt`, `local-*.txt`, `gpu-*.txt`, `mixed-*.txt` and their log directories; everything above:
`device_check.json`.
""")
print(f"device-check: kernels {k['tests']} tests, {k['failures']} failed; nccl {n['tests']} tests, "
      f"{n['failures']} failed; averaging {a['tests']} tests, {a['failures']} failed; staging "
      f"{t['tests']} tests, {t['failures']} failed; results in {out}")
PY
