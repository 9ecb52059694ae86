#!/usr/bin/env bash
# Experiment 1 (issue 5): Fashion-MNIST LeNet-5, 4 CPU workers slowed down 1,1,2,4, every mode,
# iid and by-class partitions, one epoch each. Per partition: the comparison table
# (bench/esync_vs_ssgd.py), one summary of all runs' logs with SSGD as the baseline
# (esync summarize) and its figures (launch/plot.py), under results/experiments/heterogeneity/.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
OUT=results/experiments/heterogeneity
MODES=esync,ssgd,asgd,dcasgd,local-sgd
for part in iid by-class; do
  dir=$OUT/$part
  rm -rf "$dir"
  $PY bench/esync_vs_ssgd.py --epochs 1 --slowdown 1,1,2,4 --modes $MODES --extra "--partition $part" \
    --targets 0.8,0.85 --out "$dir" --quiet | grep -v '^{'
  ./build/esync summarize "$dir/ssgd" -o "$dir/ssgd.summary.json" > /dev/null
  ./build/esync summarize "$dir/esync" "$dir/ssgd" "$dir/asgd" "$dir/dcasgd" "$dir/local-sgd" \
    --targets 0.8,0.85 --baseline "$dir/ssgd.summary.json" --baseline-run ssgd -o "$dir/logs.summary.json" | grep -v '^{'
  $PY launch/plot.py "$dir/logs.summary.json" -o "$dir/figures" --title "4 workers 1,1,2,4, $part"
done
