#!/usr/bin/env bash
# Downloads the Debian packages a GPU host without a package registry needs to build esync
# against its own PyTorch's LibTorch (launch/device-check.sh), into DIR (default launch/debs,
# ignored by git; carry it beside the tree). Run it on a machine that reaches Debian's archive
# (bookworm, amd64): it only downloads (`apt-get download`), it installs nothing.
#   launch/fetch-debs.sh [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-launch/debs}

# Headers, CMake configs and libraries of the build; the runtime libraries they link to that an
# Ubuntu or other non-Debian image may lack or hold under another soname; the dataset.
PACKAGES=(
  libzmq3-dev cppzmq-dev libzmq5 libsodium23 libpgm-5.3-0 libnorm1 libbsd0 libmd0
  libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0 libcom-err2 libkeyutils1
  libcxxopts-dev nlohmann-json3-dev
  libgloo-dev libgloo0 libhiredis0.14 libibverbs1 libnl-3-200 libnl-route-3-200
  libgtest-dev
  zlib1g-dev zlib1g
  dataset-fashion-mnist
)

mkdir -p "$dir"
(cd "$dir" && apt-get download "${PACKAGES[@]}") || {
  echo "fetch-debs: apt-get download failed (is Debian's archive reachable, and 'apt-get update' done?)" >&2
  exit 1
}
echo "fetch-debs: $(ls "$dir"/*.deb | wc -l) packages, $(du -sh "$dir" | cut -f1) in $dir"
