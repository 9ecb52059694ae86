#!/usr/bin/env bash
# ESync's K policies against each other: deadline (the default: the pacer does K_base steps, the
# others step until the round's planned length is used up) and assign (a fixed K_i per round),
# beside SSGD: Fashion-MNIST, LeNet-5, 3 CPU workers slowed down 1x, 2x, 4x, one epoch, the modes
# alternated in each of REPEAT rounds (default 5; medians). Writes
# results/experiments/policy/summary.json.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
$PY bench/esync_vs_ssgd.py --epochs 1 --slowdown 1,2,4 --modes esync+policy=deadline,esync+policy=assign,ssgd \
  --repeat "${REPEAT:-5}" --out results/experiments/policy --quiet
