#!/usr/bin/env bash
# The main job. Set-up, then a real heterogeneous run on this host: Fashion-MNIST, LeNet-5,
# three worker processes slowed down 1x, 2x and 4x, trained with ESync (the state server
# assigns each its local iterations) and with SSGD, one epoch each, three alternated rounds
# (about 90 s here; the table shows medians). Logs of the last round go to results/demo/<mode>/,
# the comparison to results/demo/summary.json, and the table to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
./launch/setup.sh
python3 bench/esync_vs_ssgd.py --epochs 1 --modes esync,ssgd --slowdown 1,2,4 --repeat 3 --out results/demo --quiet "$@"
