#!/usr/bin/env bash
# Every C++ and CUDA source follows the repository's .clang-format. Fix with
#   clang-format -i $(find src include kernels tests bench -name '*.[ch]pp' -o -name '*.cu' -o -name '*.cuh')
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format > /dev/null || { echo "clang-format is not installed (launch/setup.sh installs it)"; exit 1; }
mapfile -t files < <(find src include kernels tests bench \( -name '*.cpp' -o -name '*.hpp' -o -name '*.cu' -o -name '*.cuh' \) | sort)
report=$(clang-format --dry-run "${files[@]}" 2>&1 || true)
bad=$(grep -c 'warning:' <<< "$report" || true)
if [ "$bad" -gt 0 ]; then
  grep 'warning:' <<< "$report" | cut -d: -f1 | sort | uniq -c | sort -rn | head -20
  echo "format: $bad places in ${#files[@]} files differ from .clang-format ($(clang-format --version))"
  exit 1
fi
echo "format: ${#files[@]} files follow .clang-format"
