#!/usr/bin/env bash
# bench/run.sh: runs the benchmark suite and records the run as
#   bench/results/<commit>-<cpu>-<compiler>.json   (benchmarks + ratios + command)
#   bench/results/<commit>-<cpu>-<compiler>.txt    (the console output)
# <commit> is `git rev-parse --short HEAD`, with "-dirty" when include/, src/,
# bench/ or model_check/ differ from it; <cpu> is /proc/cpuinfo's model name;
# <compiler> is the build's compiler id and version.
#
# usage: bench/run.sh [BUILD_DIR] [-- BENCHMARK_ARGS...]
#   BUILD_DIR       a configured build with CUBBY_BUILD_BENCH=ON (default:
#                   build/bench, configured here as Release if absent; extra
#                   cmake arguments, e.g. the peer paths, from $CUBBY_BENCH_CMAKE_ARGS);
#                   model-check-bench runs too if it has CUBBY_BUILD_MODEL_CHECK=ON
#   BENCHMARK_ARGS  replace the default arguments given to every binary:
#                   --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#                   --benchmark_enable_random_interleaving=true
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

build=build/bench
if (($#)) && [ "$1" != "--" ]; then build=$1; shift; fi
args=(--benchmark_repetitions=5 --benchmark_report_aggregates_only=true --benchmark_enable_random_interleaving=true)
if (($#)) && [ "$1" = "--" ]; then shift; args=("$@"); fi

if [ ! -f "$build/CMakeCache.txt" ]; then
  # shellcheck disable=SC2086  # CUBBY_BENCH_CMAKE_ARGS is a list of words
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCUBBY_BUILD_BENCH=ON \
    -DCUBBY_BUILD_TESTS=OFF -DCUBBY_BUILD_STRESS=OFF -DCUBBY_BUILD_MODEL_CHECK=ON ${CUBBY_BENCH_CMAKE_ARGS:-}
fi
binaries=(cubby-bench queue-bench message-pool-bench)
# The model checker's executions per second: only builds that have the checker.
if grep -q '^CUBBY_BUILD_MODEL_CHECK:BOOL=ON$' "$build/CMakeCache.txt"; then binaries+=(model-check-bench); fi
cmake --build "$build" --target "${binaries[@]}"

commit=$(git rev-parse --short HEAD)
git diff --quiet HEAD -- include src bench model_check 2>/dev/null &&
  [ -z "$(git status --porcelain -- include src bench model_check)" ] || commit+=-dirty
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed -E 's/^ +//; s/[^A-Za-z0-9]+/-/g; s/-+$//')
compiler=$(sed -nE 's/^set\(CMAKE_CXX_COMPILER_(ID|VERSION) "([^"]*)"\)$/\2/p' "$build"/CMakeFiles/*/CMakeCXXCompiler.cmake |
           head -n 2 | tr '\n' '-' | sed 's/-$//' | tr '[:upper:]' '[:lower:]')
name="${commit}-${cpu:-unknown}-${compiler:-unknown}"
mkdir -p bench/results
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

: >"bench/results/$name.txt"
for b in "${binaries[@]}"; do
  cmd=("$build/bench/$b" "${args[@]}" --benchmark_out="$tmp/$b.json" --benchmark_out_format=json)
  echo "\$ ${cmd[*]}" | tee -a "bench/results/$name.txt"
  "${cmd[@]}" 2>&1 | tee -a "bench/results/$name.txt"
done

# One file: the first binary's context, every benchmark, the RATIO lines.
python3 - "$tmp" "bench/results/$name.json" "bench/results/$name.txt" "${args[*]}" "${binaries[@]}" <<'EOF'
import json, re, sys
tmp, out, txt, args, binaries = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
merged = {"benchmarks": [], "ratios": [], "arguments": args}
for b in binaries:
    with open(f"{tmp}/{b}.json") as f:
        run = json.load(f)
    merged.setdefault("context", run["context"])
    for bench in run["benchmarks"]:
        bench["binary"] = b
        merged["benchmarks"].append(bench)
line = re.compile(r"^RATIO (.*) = (\S+) \(target <= (\S+)\) (MET|MISSED)\s+\[(.*)\]$")
with open(txt) as f:
    for text in f:
        m = line.match(text.rstrip("\n"))
        if m:
            merged["ratios"].append({"label": m[1], "value": float(m[2]), "target": float(m[3]),
                                     "met": m[4] == "MET", "measured": m[5]})
with open(out, "w") as f:
    json.dump(merged, f, indent=1)
EOF
echo "== wrote bench/results/$name.json and .txt"
grep '^RATIO' "bench/results/$name.txt" || true
