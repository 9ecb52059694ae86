#!/usr/bin/env bash
# Set-up (packages + build), then every test through ctest. CUDA tests skip, and say so,
# where no GPU is visible.
set -euo pipefail
cd "$(dirname "$0")/.."
./launch/setup.sh
cd build
ctest --output-on-failure -j "$(nproc)" --timeout 900
