#!/usr/bin/env bash
# check.sh BUILD_DIR SOURCE_DIR: installs the built library into a scratch
# prefix and builds tests/consumer against it with find_package, with
# add_subdirectory, and with pkg-config; runs each program.  When the build
# has the model checker, the consumer's model test must build and pass too.
set -euo pipefail
build=$1 src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mc=OFF
grep -q '^CUBBY_BUILD_MODEL_CHECK:BOOL=ON' "$build/CMakeCache.txt" && mc=ON
cmake --install "$build" --prefix "$work/prefix" >/dev/null
here="$src/tests/consumer"
run() {  # run DIR: the programs of the consumer built in DIR
  "$1/app"
  if [ "$mc" = ON ]; then "$1/mc_app"; fi
}
cmake -S "$here" -B "$work/pkg" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/pkg" >/dev/null
run "$work/pkg"
cmake -S "$here" -B "$work/sub" -G Ninja -DCUBBY_SOURCE_DIR="$src" -DCUBBY_BUILD_MODEL_CHECK=$mc >/dev/null
cmake --build "$work/sub" >/dev/null
run "$work/sub"
pc_path="$work/prefix/lib/pkgconfig:$work/prefix/lib/x86_64-linux-gnu/pkgconfig"
c++ "$here/main.cpp" -o "$work/pc-app" $(PKG_CONFIG_PATH="$pc_path" pkg-config --cflags --libs cubby)
"$work/pc-app"
echo "consumer: find_package, add_subdirectory and pkg-config builds all ran (model checker: $mc)"
