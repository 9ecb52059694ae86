#!/usr/bin/env bash
# Re-measures every figure of the foundation issue and writes them under results/foundation/:
# kernels vs memcpy, train step vs PyTorch Python, least squares vs PyTorch Python, and
# Fashion-MNIST LeNet-5 accuracy after 1 and 3 epochs with the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
out=results/foundation
mkdir -p "$out"
PY=/usr/bin/python3  # Debian's python3-torch lives there, not in a pyenv
{ echo "# $(date -u +%FT%TZ) $(uname -n) $(nproc) cores"; ./build/esync bench kernels --sizes 2^10,2^16,2^20,2^24; } | tee "$out/kernels.txt"
$PY bench/step_vs_pytorch.py --batch 64 --threads 1 --rounds 5 | tee "$out/step_vs_pytorch.txt"
$PY bench/ls_vs_pytorch.py --seeds 5 | tee "$out/ls_vs_pytorch.txt"
for epochs in 1 3; do
  ./build/esync local --dataset fashion-mnist --model lenet5 --epochs $epochs --batch 64 --lr 0.02 \
    --momentum 0.9 --lr-schedule cosine --threads 1 --quiet | tee "$out/fashion_lenet5_${epochs}ep.txt"
done
