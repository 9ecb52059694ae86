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
# What it runs: every CUDA kernel against its CPU twin (test_kernels *Cuda*), the NCCL collective's
# tests (test_nccl), `esync bench step` (CPU: the baseline of a later GPU step), and records what
# is refused: training on a GPU (`esync local --device cuda:0`) is not built yet (README, "GPU
# hosts"). Exit 3, one line, where no GPU is visible; 1 on a build or tool failure.
# ESYNC_DEVICE_CHECK_REHEARSE=1 skips the GPU check and takes Debian's LibTorch: it rehearses the
# unpacking and the build on a machine without a GPU (the GPU tests then skip).
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
  export LD_LIBRARY_PATH=$deps/usr/lib/x86_64-linux-gnu:$deps/usr/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  prefix_args=(-DCMAKE_PREFIX_PATH="$deps/usr" -DCMAKE_INCLUDE_PATH="$deps/usr/include")
  data_dir=$deps/usr/share/datasets/fashion-mnist
  say "unpacked $(ls "$debs"/*.deb | wc -l) packages into $deps"
fi

# 4. The build: esync and the GPU tests, against that LibTorch, CUDA on.
mkdir -p "$out"
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DESYNC_LIBTORCH="$torch_dir" \
  -DESYNC_CUDA="${ESYNC_DEVICE_CHECK_REHEARSE:+AUTO}${ESYNC_DEVICE_CHECK_REHEARSE:-ON}" "${prefix_args[@]}" \
  > "$out/configure.log" 2>&1 || {
  tail -20 "$out/configure.log" >&2
  die "cmake configure failed ($out/configure.log)"
}
grep -E 'esync: (CUDA|LibTorch|NCCL)' "$out/configure.log" || true
cmake --build build-gpu --target esync test_kernels test_nccl > "$out/build.log" 2>&1 || {
  grep -m 20 -E 'error|Error' "$out/build.log" >&2 || tail -20 "$out/build.log" >&2
  die "build failed ($out/build.log)"
}
build_s=$(($(date +%s) - start))
say "built in ${build_s} s"

# 5. The checks. A failing test is a result, not a stop: every check runs and is recorded.
rc_kernels=0 rc_nccl=0
build-gpu/tests/test_kernels --gtest_filter="*Cuda*" --gtest_output=json:"$out/kernels.json" > "$out/kernels.txt" 2>&1 || rc_kernels=$?
build-gpu/tests/test_nccl --gtest_output=json:"$out/nccl.json" > "$out/nccl.txt" 2>&1 || rc_nccl=$?
build-gpu/esync bench step --seconds 3 > "$out/bench_step.txt" 2>&1 || true
refusal=$(build-gpu/esync local --device cuda:0 --epochs 1 --data-dir "$data_dir" 2>&1 || true)

python3 - "$out" "$rc_kernels" "$rc_nccl" "$build_s" "$refusal" "$torch_dir" << 'PY'
import json, subprocess, sys
out, rc_k, rc_n, build_s, refusal, torch_dir = sys.argv[1:]
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
       "local_cuda": refusal.strip()}
json.dump(doc, open(f"{out}/device_check.json", "w"), indent=1)
k, n = doc["kernels"], doc["nccl"]
open(f"{out}/README.md", "w").write(f"""# GPU host check (`launch/device-check.sh`)

GPU: {gpu or 'none visible'}. LibTorch: `{torch_dir}`. Build: {build_s} s.

| check | tests | failed | skipped | exit |
|---|---|---|---|---|
| CUDA kernels against their CPU twins (`test_kernels`, `*Cuda*`) | {k['tests']} | {k['failures']} | {k['skipped']} | {k['exit']} |
| NCCL collective (`test_nccl`) | {n['tests']} | {n['failures']} | {n['skipped']} | {n['exit']} |

`esync local --device cuda:0`: {refusal.strip() or '(trained)'}

Raw output: `kernels.txt`, `nccl.txt`, `bench_step.txt`; everything above: `device_check.json`.
""")
print(f"device-check: kernels {k['tests']} tests, {k['failures']} failed; nccl {n['tests']} tests, "
      f"{n['failures']} failed; results in {out}")
PY
