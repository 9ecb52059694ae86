#!/usr/bin/env bash
# Export.PyTorchLoadsTheModel: the model esync writes is read by Debian's PyTorch (python3-torch),
# without esync, and gives esync's own final test accuracy (within 0.005):
#   1. esync local --model cnn (BatchNorm: its statistics and counters are in the state_dict):
#      LOGDIR/model.pt loads strictly into launch/esync_models.py's Cnn;
#   2. esync run, 2 workers, ESync, one epoch of LeNet-5 with checkpoints: the job's
#      LOGDIR/model.pt, and `esync export` of the last checkpoint, which is that same model;
#   3. bad input: a missing checkpoint and a file that is no checkpoint fail in one line, exit 2;
#   4. a TorchScript model (--model FILE, made here by PyTorch) comes back as the module, trained:
#      torch.jit.load reads it and gives esync's accuracy.
# Exit 77 (skip, one line) without python3-torch or Fashion-MNIST.
set -euo pipefail
esync=$(realpath "${1:?usage: export_test.sh ESYNC}")
root=$(cd "$(dirname "$0")/.." && pwd)
py=/usr/bin/python3
fail() { echo "FAIL: $*" >&2; exit 1; }
"$py" -c 'import torch' 2>/dev/null || { echo "SKIP: Debian's python3-torch is not installed"; exit 77; }
[[ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ]] ||
  { echo "SKIP: Fashion-MNIST is not installed (dataset-fashion-mnist)"; exit 77; }
tmp=$(mktemp -d /tmp/esync-export-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# esync's accuracy (the last eval of LOG) against PyTorch's on MODEL_FILE, within 0.005.
same_accuracy() { # CASE LOG MODEL_FILE MODEL
  local ours theirs
  ours=$("$py" -c 'import json, sys
evals = [e for e in map(json.loads, open(sys.argv[1])) if e.get("ev") == "eval" and "acc" in e]
print(max(evals, key=lambda e: e["samples_seen"])["acc"])' "$2")
  theirs=$("$py" "$root/launch/esync_models.py" "$3" --model "$4" | "$py" -c 'import json, sys; print(json.load(sys.stdin)["acc"])')
  echo "$1: esync logged $ours, PyTorch measured $theirs on $(basename "$3")"
  "$py" -c "import sys; sys.exit(0 if abs($ours - $theirs) <= 0.005 else 1)" ||
    fail "$1: PyTorch's accuracy $theirs is not esync's $ours"
}

# --- 1. esync local, a model with BatchNorm
"$esync" local --model cnn --steps 60 --batch 64 --threads 2 --log-dir "$tmp/local" --quiet >/dev/null
[[ -s $tmp/local/model.pt ]] || fail "case 1: esync local wrote no model.pt"
same_accuracy "case 1 (esync local, cnn)" "$tmp/local/local-0.jsonl" "$tmp/local/model.pt" cnn

# --- 2. a distributed job, and the export of its last checkpoint
"$esync" run --workers 2 --mode esync --epochs 1 --threads 1 --checkpoint-every 40 --log-dir "$tmp/run" >"$tmp/run.out" 2>&1 ||
  { tail -n 5 "$tmp/run.out"; fail "case 2: esync run failed"; }
grep -q "\"model\":\"$tmp/run/model.pt\"" "$tmp/run/worker-0.jsonl" || fail "case 2: rank 0's end event names no model"
same_accuracy "case 2 (esync run, esync, lenet5)" "$tmp/run/worker-0.jsonl" "$tmp/run/model.pt" lenet5
last=$(ls -d "$tmp"/run/checkpoint/round-* | sort | tail -n 1)
"$esync" export "$last/worker-1.ckpt" -o "$tmp/exported.pt" >/dev/null
"$py" "$root/launch/esync_models.py" "$tmp/exported.pt" --model lenet5 >"$tmp/exported.json" ||
  fail "case 2: PyTorch cannot read the exported checkpoint"
echo "case 2: $(basename "$last")/worker-1.ckpt exported: $(cat "$tmp/exported.json")"

# --- 3. bad input
for bad in "$tmp/missing.ckpt" "$tmp/run/job.json"; do
  "$esync" export "$bad" -o "$tmp/bad.pt" >"$tmp/bad.out" 2>&1 && fail "case 3: esync export $bad succeeded"
  code=$?
  ((code == 2)) || fail "case 3: esync export $bad exited $code, not 2"
  (($(wc -l <"$tmp/bad.out") == 1)) || fail "case 3: more than one line for $bad: $(cat "$tmp/bad.out")"
  [[ ! -e $tmp/bad.pt ]] || fail "case 3: a model file was written for $bad"
done
echo "case 3 (bad input): ok"

# --- 4. a TorchScript model in, the trained module out
PYTHONPATH=$root/launch "$py" -c 'import sys, torch, esync_models
torch.jit.script(esync_models.build("mlp")).save(sys.argv[1])' "$tmp/mlp_script.pt"
"$esync" local --model "$tmp/mlp_script.pt" --steps 100 --threads 2 --log-dir "$tmp/script" --quiet >/dev/null
ours=$("$py" -c 'import json, sys
print([e for e in map(json.loads, open(sys.argv[1])) if e.get("ev") == "eval"][-1]["acc"])' "$tmp/script/local-0.jsonl")
theirs=$(PYTHONPATH=$root/launch "$py" -c 'import sys, torch, esync_models
net = torch.jit.load(sys.argv[1]).eval()
x, y = esync_models.fashion_mnist_test()
with torch.no_grad():
    print((net(x).argmax(1) == y).double().mean().item())' "$tmp/script/model.pt")
echo "case 4 (TorchScript): esync logged $ours, PyTorch measured $theirs on the module"
"$py" -c "import sys; sys.exit(0 if abs($ours - $theirs) <= 0.005 else 1)" ||
  fail "case 4: PyTorch's accuracy $theirs is not esync's $ours"
echo PASS
