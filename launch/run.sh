#!/usr/bin/env bash
# The main job. Set-up, then a real heterogeneous run on this host: Fashion-MNIST, LeNet-5,
# three worker processes slowed down 1x, 2x and 4x, trained with ESync (the state server
# assigns each its local iterations; the default assign policy, and deadline) and with SSGD, one
# epoch each, and the same trainings in PyTorch Python (bench/pytorch_esync.py: assign and SSGD)
# beside them; three alternated rounds (about 5 minutes here; the table shows medians). Logs of the last round go to results/demo/<mode>/,
# the comparison to results/demo/summary.json, the tables to stdout; `esync summarize` folds the
# logs into results/demo/logs.summary.json and launch/plot.py draws results/demo/figures/*.png.
set -euo pipefail
cd "$(dirname "$0")/.."
./launch/setup.sh
# The Debian interpreter has matplotlib (python3-matplotlib); a python3 earlier on PATH may not.
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
$PY bench/esync_vs_ssgd.py --epochs 1 --modes esync,esync+policy=deadline,ssgd,torch-esync,torch-ssgd --slowdown 1,2,4 --repeat 3 --out results/demo --quiet "$@"
# The last round's logs as one summary (ESync against SSGD as the baseline) and its figures.
./build/esync summarize results/demo/ssgd -o results/demo/ssgd.summary.json > /dev/null
./build/esync summarize results/demo/esync results/demo/ssgd --baseline results/demo/ssgd.summary.json \
  --baseline-run ssgd -o results/demo/logs.summary.json
$PY bench/tables.py --write > /dev/null  # README.md's table from results/demo/summary.json
$PY launch/plot.py results/demo/logs.summary.json -o results/demo/figures \
  --title "Fashion-MNIST lenet5, 3 workers, slowdown 1,2,4"
