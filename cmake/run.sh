#!/usr/bin/env bash
# cubby's entry point: installs what is missing (Debian 12, as root), builds,
# and runs one of the jobs README opens with.
#
#   cmake/run.sh main   release build, then the stress harness over every
#                       primitive (cubby-stress all --quick)
#   cmake/run.sh test   the whole test suite: dev (g++), dev-clang, tsan and
#                       asan builds, each running its ctest suite
#   cmake/run.sh deps   only install the dependencies
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

packages=(cmake ninja-build g++ clang pkg-config libboost-atomic1.81-dev libboost1.81-dev
          libgtest-dev libgmock-dev libbenchmark-dev libconcurrentqueue-dev libtbb-dev)

deps() {
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "== installing: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    # libboost1.81-dev conflicts with the default libboost1.74-dev; apt removes it.
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

build() {  # build PRESET [extra cmake args...]
  local preset=$1; shift
  echo "== configure + build: $preset"
  cmake --preset "$preset" "$@" >"build-$preset.log" 2>&1 || { cat "build-$preset.log"; return 1; }
  cmake --build --preset "$preset" 2>&1 | tail -n 3
}

run_tests() {  # run_tests PRESET [ctest args...]
  local preset=$1; shift
  echo "== ctest: $preset"
  ctest --preset "$preset" -j 2 "$@"
}

case "${1:-}" in
  deps) deps ;;
  main)
    deps
    build release
    ./build/release/stress/cubby-stress all --quick
    ;;
  test)
    deps
    start=$SECONDS
    build dev && run_tests dev
    build dev-clang -DCUBBY_BUILD_BENCH=OFF -DCUBBY_BUILD_STRESS=OFF && run_tests dev-clang -L unit
    build asan && run_tests asan
    build tsan && run_tests tsan
    echo "== whole suite passed in $((SECONDS - start)) s"
    ;;
  *)
    echo "usage: cmake/run.sh main|test|deps" >&2
    exit 2
    ;;
esac
