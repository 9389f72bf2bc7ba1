// bench/bench_main.hpp: the shared main of the benchmark binaries.
//
// Absolute times on a shared machine mean little; ratios between benchmarks
// of one run mean more.  Each binary declares the ratios it is judged by
// (numerator / denominator of one metric, with a target), and after the runs
// this main prints one line per ratio:
//
//   RATIO <label> = <value> (target <= <t>) MET|MISSED   [num ..., den ...]
//
// A metric is the median over repetitions (the `median` aggregate when
// --benchmark_repetitions > 1, else the single run).  A denominator may list
// several benchmarks separated by '|': the best (lowest) of those that ran is
// used, e.g. "the best peer".  Every ratio is written so that lower is better
// and the target is an upper bound.  run.sh collects the RATIO lines.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "cubby/platform/native.hpp"

namespace cubby_bench {

// median: the median of v (reorders v); 0 if empty.
inline double median(std::vector<double>& v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

// BudgetPlatform: the native platform with another spin budget before a
// blocking wait sleeps (Pauses pause instructions, then Yields yields), to
// measure the budget's effect through the platform seam.
template <unsigned Pauses, unsigned Yields>
struct BudgetPlatform : cubby::platform::NativePlatform {
  static constexpr unsigned spin_pauses = Pauses;
  static constexpr unsigned spin_yields = Yields;
};

struct Ratio {
  const char* label;
  const char* numerator;    // benchmark name prefix (up to a '/' boundary)
  const char* denominator;  // one or more prefixes separated by '|'; "" if
                            // the metric is a ratio counter itself
  const char* metric;       // "real_time", "cpu_time" or a counter name
  double target;            // met when numerator / denominator <= target
};

class RatioReporter : public benchmark::ConsoleReporter {
 public:
  explicit RatioReporter(std::vector<Ratio> ratios)
      : benchmark::ConsoleReporter(benchmark::ConsoleReporter::OO_Tabular), ratios_(std::move(ratios)) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.error_occurred) {
        ++errors_;
        continue;
      }
      Entry& e = entries_[run.run_name.str()];
      if (run.run_type == Run::RT_Aggregate) {
        if (run.aggregate_name == "median") e.median = metrics_of(run);
      } else {
        e.samples.push_back(metrics_of(run));
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }

  // errors: how many runs reported an error (a wrong result, a failed call).
  int errors() const noexcept { return errors_; }

  // print_ratios: the RATIO lines; after RunSpecifiedBenchmarks.
  void print_ratios() const {
    if (ratios_.empty() || entries_.empty()) return;
    std::printf("\nratios (median of repetitions; lower is better):\n");
    for (const Ratio& r : ratios_) {
      std::string num_name;
      std::string den_name;
      const double num = best_of(r.numerator, r.metric, num_name);
      // An empty denominator: the numerator's metric is a ratio already.
      const double den = *r.denominator == '\0' ? 1.0 : best_of(r.denominator, r.metric, den_name);
      if (num < 0 || den <= 0) {
        std::printf("RATIO %s = n/a (not run)\n", r.label);
        continue;
      }
      const double v = num / den;
      std::printf("RATIO %s = %.3f (target <= %.3g) %s   [%s %s / %s]\n", r.label, v, r.target,
                  v <= r.target ? "MET" : "MISSED", r.metric, num_name.c_str(), den_name.c_str());
    }
    std::fflush(stdout);
  }

 private:
  using Metrics = std::map<std::string, double>;
  struct Entry {
    Metrics median;
    std::vector<Metrics> samples;
  };

  static Metrics metrics_of(const Run& run) {
    Metrics m;
    m["real_time"] = run.GetAdjustedRealTime();
    m["cpu_time"] = run.GetAdjustedCPUTime();
    for (const auto& [name, counter] : run.counters) m[name] = counter.value;
    return m;
  }

  static bool matches(std::string_view name, std::string_view prefix) {
    return name.substr(0, prefix.size()) == prefix && (name.size() == prefix.size() || name[prefix.size()] == '/');
  }

  // The metric of one benchmark: its median aggregate, else the median sample.
  double metric_of(const Entry& e, const std::string& metric) const {
    if (!e.median.empty()) {
      const auto it = e.median.find(metric);
      return it == e.median.end() ? -1 : it->second;
    }
    std::vector<double> v;
    for (const Metrics& m : e.samples) {
      const auto it = m.find(metric);
      if (it != m.end()) v.push_back(it->second);
    }
    if (v.empty()) return -1;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  }

  // best_of: the lowest metric among the benchmarks matching any prefix of
  // `alternatives` ('|'-separated); -1 if none ran.
  double best_of(std::string_view alternatives, const std::string& metric, std::string& which) const {
    double best = -1;
    while (!alternatives.empty()) {
      const auto bar = alternatives.find('|');
      const std::string_view prefix = alternatives.substr(0, bar);
      alternatives = bar == std::string_view::npos ? std::string_view{} : alternatives.substr(bar + 1);
      for (const auto& [name, entry] : entries_) {
        if (!matches(name, prefix)) continue;
        const double v = metric_of(entry, metric);
        if (v >= 0 && (best < 0 || v < best)) {
          best = v;
          which = name;
        }
      }
    }
    return best;
  }

  std::vector<Ratio> ratios_;
  std::map<std::string, Entry> entries_;
  int errors_ = 0;
};

// run: the body of each binary's main().  Exit status 1 if a benchmark
// reported an error, so that the smoke test (ctest -L bench) catches it.
inline int run(int argc, char** argv, std::vector<Ratio> ratios) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  RatioReporter reporter(std::move(ratios));
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.print_ratios();
  benchmark::Shutdown();
  return reporter.errors() == 0 ? 0 : 1;
}

}  // namespace cubby_bench
