#!/usr/bin/env bash
# ESync's three weightings of the workers' changes (esync run --weighting batch|samples|normalized,
# include/esync/averaging.hpp) and the default weighting with SCAFFOLD's drift correction
# (--drift-correction scaffold) beside SSGD, on iid and on by-class data: Fashion-MNIST, LeNet-5,
# 4 CPU workers slowed down 1x, 2x, 4x, 4x, 2 epochs, K_BASE local steps of the slowest worker
# per round (default 1, esync run's default), modes alternated in each of REPEAT rounds
# (default 2; medians). Writes results/experiments/weighting/kbase<K_BASE>/<partition>/summary.json.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
for part in iid by-class; do
  $PY bench/esync_vs_ssgd.py --epochs 2 --slowdown 1,2,4,4 --k-base "${K_BASE:-1}" \
    --modes esync+weighting=batch,esync+weighting=samples,esync+weighting=normalized,esync+drift-correction=scaffold,ssgd \
    --extra "--partition $part" --repeat "${REPEAT:-2}" --out "results/experiments/weighting/kbase${K_BASE:-1}/$part" --quiet
done
