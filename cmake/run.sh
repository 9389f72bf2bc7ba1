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

# libconcurrentqueue-dev and libtbb-dev are benchmark peers (moodycamel, TBB).
packages=(cmake ninja-build g++ clang pkg-config libboost-atomic1.81-dev
          libgtest-dev libbenchmark-dev libconcurrentqueue-dev libtbb-dev)

deps() {
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "== installing: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    # libboost1.81-dev (pulled in by libboost-atomic1.81-dev) conflicts with the
    # default libboost1.74-dev: apt removes that, and whatever depends on it.
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

# Each build and run_tests stands on a line of its own: under set -e, a
# failure inside an && list does not stop the script.
build() {  # build PRESET [TARGET]: configure and build; output in build-PRESET.log
  local preset=$1 target=${2:-} log="build-$1.log"
  echo "== configure + build: $preset"
  if ! { cmake --preset "$preset" && cmake --build --preset "$preset" ${target:+--target "$target"}; } >"$log" 2>&1; then
    tail -n 100 "$log"
    echo "== build failed: $preset (whole output in $log)" >&2
    return 1
  fi
  tail -n 1 "$log"
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
    build release cubby-stress
    ./build/release/stress/cubby-stress all --quick
    ;;
  test)
    deps
    start=$SECONDS
    build dev
    run_tests dev
    build dev-clang  # every target: clang's -Werror sees bench and stress too
    run_tests dev-clang
    build asan
    run_tests asan
    build tsan
    run_tests tsan
    echo "== whole suite passed in $((SECONDS - start)) s"
    ;;
  *)
    echo "usage: cmake/run.sh main|test|deps" >&2
    exit 2
    ;;
esac
