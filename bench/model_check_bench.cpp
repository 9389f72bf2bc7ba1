// bench/model_check_bench.cpp: the model checker's speed, in executions per
// second, on the two-thread cubby model test (cubby_push_pop in
// model_check/cubby_model.cpp: a pusher pushes two values, a popper pops
// them; dfs, preemption bound 3, stale bound 2).  The target is at
// least 20,000 executions per second.
//
// One iteration is one whole exhaustive search of that test (mc::check, the
// same call the test runner makes), so the figure includes everything a
// model test pays per execution: the fibers' context switches, the choice
// path's replay, the memory model and the cubby code itself.
//
// Counters: `executions` per search (the same every run: the search is
// deterministic), `exec/s` (executions per CPU second) and `s/20k` (CPU
// seconds per 20,000 executions, the judged metric: lower is better, target
// <= 1, i.e. >= 20,000 executions per second).
#include <cstdint>

#include "bench_main.hpp"
#include "cubby_mc/mc.hpp"
#include "cubby_push_pop.hpp"

namespace {

void BM_cubby_push_pop(benchmark::State& state) {
  namespace mc = cubby::mc;
  const mc::Options options = cubby_model::push_pop_options();
  std::uint64_t executions = 0;
  for (auto _ : state) {
    const mc::Result r = mc::check("cubby_push_pop", options, cubby_model::push_pop);
    if (!r.passed(options) || !r.exhaustive) {
      state.SkipWithError("the model test failed or did not finish its search");
      return;
    }
    executions += r.executions;
  }
  const auto per_search = static_cast<double>(executions) / static_cast<double>(state.iterations());
  state.counters["executions"] = per_search;
  state.counters["exec/s"] = benchmark::Counter(static_cast<double>(executions), benchmark::Counter::kIsRate);
  state.counters["s/20k"] =
      benchmark::Counter(static_cast<double>(executions) / 20000.0, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_cubby_push_pop)->Name("model_check/cubby_push_pop")->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  return cubby_bench::run(argc, argv,
                          {
                              {"model check, cubby_push_pop: CPU s per 20,000 executions (>= 20,000/s)",
                               "model_check/cubby_push_pop", "", "s/20k", 1.0},
                          });
}
