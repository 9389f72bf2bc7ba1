#!/usr/bin/env bash
# check.sh BUILD_DIR SOURCE_DIR: installs the built library into a scratch
# prefix and builds tests/consumer against it with find_package, with
# add_subdirectory, and with pkg-config; runs each program.
set -euo pipefail
build=$1 src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
here="$src/tests/consumer"
cmake -S "$here" -B "$work/pkg" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/pkg" >/dev/null
"$work/pkg/app"
cmake -S "$here" -B "$work/sub" -G Ninja -DCUBBY_SOURCE_DIR="$src" >/dev/null
cmake --build "$work/sub" >/dev/null
"$work/sub/app"
PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig:$work/prefix/lib/x86_64-linux-gnu/pkgconfig" \
  c++ "$here/main.cpp" -o "$work/pc-app" $(PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig:$work/prefix/lib/x86_64-linux-gnu/pkgconfig" pkg-config --cflags --libs cubby)
"$work/pc-app"
echo "consumer: find_package, add_subdirectory and pkg-config builds all ran"
