#!/usr/bin/env bash
# The main job. Set-up, then (until the distributed runtime lands) a single-device training
# run: LeNet-5 on Fashion-MNIST for 3 epochs with esync's defaults, writing its JSONL log and
# summary under results/local/ and printing the test accuracy per epoch.
set -euo pipefail
cd "$(dirname "$0")/.."
./launch/setup.sh
out=results/local
mkdir -p "$out"
./build/esync local --dataset fashion-mnist --model lenet5 --epochs 3 --batch 64 \
  --lr 0.02 --momentum 0.9 --lr-schedule cosine --log-dir "$out" --save "$out/lenet5.ckpt" "$@" |
  tee "$out/stdout.txt"
sed -n '/^#json$/{n;p}' "$out/stdout.txt" > "$out/summary.json"
rm -f "$out/stdout.txt" "$out/lenet5.ckpt"
python3 - "$out/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print("epoch  test_acc  test_loss  wall_s")
for e in s["evals"]:
    print(f"{e['epoch']:5d}  {e.get('acc', float('nan')):8.4f}  {e['loss']:9.4f}  {e['wall_s']:6.1f}")
print(f"train throughput: {s['samples_per_s']:.0f} samples/s ({s['model']}, {s['num_params']} parameters)")
PY
