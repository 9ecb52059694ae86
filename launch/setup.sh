#!/usr/bin/env bash
# Installs every Debian package esync's build, tests, benchmarks and demo need (only those
# missing; apt-get update once, only then), then configures and builds Release with Ninja into
# build/. Idempotent: a second run installs nothing and rebuilds only what changed.
# Extra CMake arguments: ESYNC_CMAKE_ARGS="-DESYNC_CUDA=OFF" ./launch/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  cmake ninja-build g++ pkg-config zlib1g-dev
  libtorch-dev libopenblas0-pthread            # LibTorch (CPU); OpenBLAS doubles its speed
  libzmq3-dev cppzmq-dev                       # wire protocol
  libcxxopts-dev nlohmann-json3-dev            # CLI, JSON logs and summaries
  libgloo-dev                                  # CPU collectives
  libgtest-dev                                 # tests
  dataset-fashion-mnist                        # the default dataset
  python3-torch python3-numpy python3-matplotlib  # PyTorch baselines in bench/, figures
  iproute2 openssh-client                      # launch/cluster.sh and its network-namespace test
  slurmctld slurmd slurm-client munge          # launch/slurm.sbatch's test under a real SLURM
  clang-format                                 # the format check (tests/check_format.sh)
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi

# shellcheck disable=SC2086
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release ${ESYNC_CMAKE_ARGS:-} > build.configure.log 2>&1 ||
  { cat build.configure.log; echo "setup: cmake configure failed" >&2; exit 1; }
grep -E "esync: CUDA kernels" build.configure.log || true
cmake --build build
echo "setup: built $(./build/esync version)"
