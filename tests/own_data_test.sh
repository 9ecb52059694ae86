#!/usr/bin/env bash
# OwnData.PyTorchTensorsTrainAndBadFilesAreOneLine: a dataset saved from PyTorch
# (torch.save((x, y), "train.pt"), written here by Debian's python3-torch) trains through
# `esync run` and `esync local` to a stated accuracy, and every defect of such files is one line
# and exit 2:
#   1. float features [N, 8], 4 classes (Gaussian blobs), esync run, 2 workers, ESync, mlp:
#      test accuracy >= 0.9, the classes found from the labels;
#   2. uint8 images [N, 16, 16] without a channel dimension, saved as a dict {"x", "y"}, with
#      --num-classes 5 (one class never seen), esync local, mlp: accuracy >= 0.9;
#   3. bad files and flags: no test.pt, not a torch.save file, float labels, x of int64, a uint8
#      table that is no image, a label
#      count that is not x's, a negative label, a label outside --num-classes, test samples of
#      another shape, an image model on feature vectors, --num-classes with a built-in dataset.
# Exit 77 (skip, one line) without python3-torch.
set -euo pipefail
esync=$(realpath "${1:?usage: own_data_test.sh ESYNC}")
py=/usr/bin/python3
fail() { echo "FAIL: $*" >&2; exit 1; }
"$py" -c 'import torch' 2>/dev/null || { echo "SKIP: Debian's python3-torch is not installed"; exit 77; }
tmp=$(mktemp -d /tmp/esync-own-data.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

"$py" - "$tmp" <<'PY'
import os, sys, torch
out = sys.argv[1]
g = torch.Generator().manual_seed(5)
def blobs(n):  # 4 Gaussian blobs in 8 dimensions, 3 apart
    y = torch.randint(0, 4, (n,), generator=g)
    centres = torch.randn(4, 8, generator=g.manual_seed(1)) * 3
    return (centres[y] + torch.randn(n, 8, generator=g)).float(), y
def quadrants(n):  # 16x16 uint8 images, one bright quadrant: the class (0-3)
    y = torch.randint(0, 4, (n,), generator=g)
    x = torch.randint(0, 60, (n, 16, 16), generator=g, dtype=torch.uint8)
    for i, c in enumerate(y.tolist()):
        r, q = divmod(c, 2)
        x[i, 8 * r:8 * r + 8, 8 * q:8 * q + 8] += 150
    return x, y
def save(name, train, test, as_dict=False):
    d = os.path.join(out, name); os.makedirs(d)
    for split, (x, y) in (("train", train), ("test", test)):
        torch.save({"x": x, "y": y} if as_dict else (x, y), os.path.join(d, split + ".pt"))
save("blobs", blobs(4000), blobs(1000))
save("images", quadrants(3000), quadrants(500), as_dict=True)
x, y = blobs(200)
save("float-labels", (x, y.float()), (x, y.float()))
save("int-x", (x.long(), y), (x.long(), y))
save("uint8-table", ((x.abs() * 10).to(torch.uint8), y), ((x.abs() * 10).to(torch.uint8), y))
save("short-y", (x, y[:150]), (x, y))
neg = y.clone(); neg[17] = -1
save("negative", (x, neg), (x, y))
save("other-shape", (x, y), (x[:, :6], y))
os.makedirs(os.path.join(out, "no-test")); torch.save((x, y), os.path.join(out, "no-test", "train.pt"))
os.makedirs(os.path.join(out, "garbage"))
for s in ("train", "test"):
    open(os.path.join(out, "garbage", s + ".pt"), "wb").write(b"not a pickle at all")
PY

last_acc() { "$py" -c 'import json, sys
evals = [e for e in map(json.loads, open(sys.argv[1])) if e.get("ev") == "eval" and "acc" in e]
print(max(evals, key=lambda e: e["samples_seen"])["acc"])' "$1"; }
at_least() { "$py" -c "import sys; sys.exit(0 if $1 >= $2 else 1)"; }

# --- 1. features through esync run
"$esync" run --workers 2 --mode esync --dataset tensors --data-dir "$tmp/blobs" --model mlp --epochs 3 \
  --batch 32 --threads 1 --timeout 600 --log-dir "$tmp/run" > "$tmp/run.out" 2>&1 ||
  { cat "$tmp/run.out"; fail "case 1: esync run exited $?"; }
acc=$(last_acc "$tmp/run/worker-0.jsonl")
echo "case 1: esync run, ESync, 2 workers, blobs [N, 8] float, 4 classes: test accuracy $acc"
at_least "$acc" 0.9 || fail "case 1: accuracy $acc < 0.9"

# --- 2. images through esync local
"$esync" local --dataset tensors --data-dir "$tmp/images" --num-classes 5 --model mlp --epochs 2 --threads 1 \
  --quiet --log-dir "$tmp/local" > "$tmp/local.out" 2>&1 || { cat "$tmp/local.out"; fail "case 2: esync local exited"; }
acc=$(last_acc "$tmp/local/local-0.jsonl")
echo "case 2: esync local, images [N, 16, 16] uint8, --num-classes 5: test accuracy $acc"
at_least "$acc" 0.9 || fail "case 2: accuracy $acc < 0.9"

# --- 3. bad input: one line, exit 2, saying what is wrong
refused() { # CASE NEEDLE ESYNC-ARGS...
  local name=$1 needle=$2 rc=0
  shift 2
  "$esync" local --steps 1 --threads 1 --quiet "$@" > "$tmp/bad.out" 2>&1 || rc=$?
  [[ $rc == 2 ]] || { cat "$tmp/bad.out"; fail "$name: exit $rc, not 2"; }
  [[ $(wc -l < "$tmp/bad.out") == 1 ]] || { cat "$tmp/bad.out"; fail "$name: not one line"; }
  grep -qF -- "$needle" "$tmp/bad.out" || { cat "$tmp/bad.out"; fail "$name: no '$needle'"; }
  echo "case 3, $name: $(cat "$tmp/bad.out")"
}
t() { echo "--dataset tensors --data-dir $tmp/$1"; }
refused "no test.pt" "test.pt: cannot read the file" $(t no-test) --model mlp
refused "not torch.save" "not a file torch.save wrote" $(t garbage) --model mlp
refused "float labels" "expected integer class labels" $(t float-labels) --model mlp
refused "int64 inputs" "expected float" $(t int-x) --model mlp
refused "label count" "one label per sample" $(t short-y) --model mlp
refused "uint8 table" "uint8 is for images" $(t uint8-table) --model mlp
refused "negative label" "label -1 at row 17" $(t negative) --model mlp
refused "outside --num-classes" "is outside --num-classes 3" $(t blobs) --num-classes 3 --model mlp
refused "test shape" "samples of shape" $(t other-shape) --model mlp
refused "image model" "needs an image classification dataset" $(t blobs) --model lenet5
refused "--num-classes built-in" "--num-classes is for --dataset tensors" --num-classes 10 --model mlp
"$esync" run --dataset tensors --data-dir "$tmp/blobs" --num-classes 2 --dry-run --log-dir "$tmp/dry" > /dev/null ||
  fail "esync run --dry-run refused a tensors job (labels are checked where the data is read)"
echo "OK"
