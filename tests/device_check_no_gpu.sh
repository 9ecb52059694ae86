#!/usr/bin/env bash
# launch/device-check.sh on a host where no GPU is visible (nvidia-smi missing, or listing
# none): exit 3 and one line on stderr that says so, before any build or unpacking.
set -uo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '#!/bin/sh\nexit 0\n' > "$tmp/nvidia-smi-none" && chmod +x "$tmp/nvidia-smi-none"
fail=0
for smi in "$tmp/absent" "$tmp/nvidia-smi-none"; do
  ESYNC_NVIDIA_SMI=$smi ESYNC_DEBS=$tmp/no-debs launch/device-check.sh "$tmp/out" > "$tmp/stdout" 2> "$tmp/stderr"
  rc=$?
  lines=$(wc -l < "$tmp/stderr")
  if [ "$rc" -ne 3 ] || [ "$lines" -ne 1 ] || ! grep -q 'no GPU is visible' "$tmp/stderr" || [ -s "$tmp/stdout" ] ||
    [ -e "$tmp/out" ]; then
    echo "FAIL with $smi: exit $rc, $lines stderr lines:"
    cat "$tmp/stderr" "$tmp/stdout"
    fail=1
  fi
done
[ "$fail" -eq 0 ] && echo "device-check: no GPU -> exit 3, one line, nothing built"
exit "$fail"
