// stress/harness/workload.hpp: what a workload is, what it is given, what it
// reports, and the table workloads register themselves into.
//
// A workload is one function `void(Run&)` in its primitive's file
// (stress/cubby_stress.cpp, ...), registered with a static Registrar.  It
// starts its threads, runs until Run::stopping(), checks what it recorded and
// reports each broken invariant with Run::violation().  The driver (main.cpp)
// owns everything else: options, the stop condition, progress, the summary
// and the exit status.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cubby/platform/cache_line.hpp"
#include "harness/rng.hpp"

namespace cubby::stress {

// Config: the parsed command line, as one workload sees it.
struct Config {
  unsigned threads = 0;     // total threads (0: the workload's default)
  unsigned producers = 0;   // split for producer/consumer workloads (0: derived)
  unsigned consumers = 0;
  double seconds = 0;       // stop after this long ...
  std::uint64_t ops = 0;    // ... or after this many operations (whichever is set)
  std::uint64_t seed = 0;
  bool quick = false;
  bool verbose = false;
  bool strict_close = false;  // linearizability: close() may not void a push in line
  static constexpr double kDefaultHangSeconds = 60;
  double hang_seconds = kDefaultHangSeconds;  // no operation for this long: a hang (stress/main.cpp)
};

// Kind: how a workload's threads spend their time; sets the default thread
// count.  Blocking workloads oversubscribe the cores on purpose: threads that
// sleep in the primitive are the interesting ones.
enum class Kind { blocking, nonblocking };

// Check: the kinds of invariant a workload verifies (for --list and the report).
enum Check : unsigned {
  check_conservation = 1u << 0,
  check_fifo = 1u << 1,
  check_linearizability = 1u << 2,
  check_ownership = 1u << 3,
  check_faults = 1u << 4,
  check_progress = 1u << 5,  // values keep moving until each epoch's close (StallCheck)
};
std::string checks_to_string(unsigned checks);

class Run;

struct Workload {
  std::string name;
  std::string description;
  Kind kind = Kind::blocking;
  unsigned checks = 0;
  bool producer_consumer = false;  // takes --producers/--consumers
  bool expect_failure = false;     // a deliberately broken variant (CUBBY_STRESS_BROKEN)
  std::function<void(Run&)> body;
  // The thread counts `body` runs with (per side for producer/consumer
  // workloads): the driver clamps what was asked into this range, says so,
  // and reports the counts that ran.
  unsigned min_threads = 1;
  unsigned max_threads = 0;  // 0: no limit
};

// Registry: the table of workloads, sorted by name when listed.
std::vector<Workload>& registry();
struct Registrar {
  explicit Registrar(Workload w) { registry().push_back(std::move(w)); }
};

// ThreadCounter: one thread's progress, on its own cache line.
struct alignas(platform::cache_line_size) ThreadCounter {
  // relaxed (both sides): a statistic for the progress display and the stop
  // test; it publishes no data and must not, or it would hide from
  // ThreadSanitizer a missing edge in the primitive under test.
  std::atomic<std::uint64_t> ops{0};
  void add(std::uint64_t n = 1) noexcept { ops.store(ops.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
};

// Run: one execution of one workload.  Thread-safe where marked.
class Run {
 public:
  using clock = std::chrono::steady_clock;

  Run(const Workload& w, const Config& cfg, unsigned threads, unsigned producers, unsigned consumers);

  const Workload& workload() const noexcept { return workload_; }
  const Config& config() const noexcept { return config_; }
  unsigned threads() const noexcept { return threads_; }
  unsigned producers() const noexcept { return producers_; }
  unsigned consumers() const noexcept { return consumers_; }
  // seed_for: the seed of stream `index` of this workload (one per thread).
  std::uint64_t seed_for(std::uint64_t index) const noexcept { return derive_seed(config_.seed, workload_.name, index); }

  // counter: the progress counter of worker `i` (< threads()).  Thread-safe.
  ThreadCounter& counter(unsigned i) noexcept { return counters_[i]; }

  // stopping: whether the workload should wind down now.  Thread-safe.
  // relaxed: a flag only; the workers' results reach the checker through
  // std::thread::join, never through this flag.
  bool stopping() const noexcept { return stop_.load(std::memory_order_relaxed); }
  // wait_until_stopping: blocks the calling thread (the workload's own
  // coordinator) until the stop condition holds.
  void wait_until_stopping() const;

  // violation: records one broken invariant (thread-safe).  Only the first few
  // messages are kept; all are counted.
  void violation(std::string message);
  // note_wait: the longest single operation seen by a thread (thread-safe).
  void note_wait(std::chrono::nanoseconds d) noexcept;
  // note: a line for the report (thread-safe), e.g. a count of timeouts.
  void note(std::string line);

  // ---- driver side ----
  void start() noexcept;
  void request_stop() noexcept;
  std::uint64_t ops_done() const noexcept;
  double elapsed_seconds() const noexcept;
  // progress_fraction: 0..1 by elapsed time or by ops, whichever bounds the run.
  double progress_fraction() const noexcept;
  bool stop_condition_met() const noexcept;
  std::uint64_t violation_count() const noexcept;
  std::vector<std::string> violation_messages() const;
  std::vector<std::string> notes() const;
  // worst_wait: nullopt if no thread of the workload measured its waits.
  std::optional<std::chrono::nanoseconds> worst_wait() const noexcept;

 private:
  const Workload& workload_;
  Config config_;
  unsigned threads_, producers_, consumers_;
  std::vector<ThreadCounter> counters_;
  // relaxed: see stopping().
  std::atomic<bool> stop_{false};
  // relaxed: a running maximum (a statistic, read after the join); -1: none
  // measured.
  std::atomic<std::int64_t> worst_wait_ns_{-1};
  clock::time_point start_{};
  mutable std::mutex mutex_;  // guards the three below
  std::uint64_t violations_ = 0;
  std::vector<std::string> messages_;
  std::vector<std::string> notes_;
};

// Stopwatch: times one operation for Run::note_wait.
class Stopwatch {
 public:
  Stopwatch() noexcept : start_(std::chrono::steady_clock::now()) {}
  std::chrono::nanoseconds elapsed() const noexcept { return std::chrono::steady_clock::now() - start_; }

 private:
  std::chrono::steady_clock::time_point start_;
};

// WorstWait: a thread-local maximum, flushed into the Run once at the end so
// the hot loop touches no shared line.
class WorstWait {
 public:
  void see(std::chrono::nanoseconds d) noexcept {
    if (d > worst_) worst_ = d;
  }
  void flush(Run& run) const noexcept { run.note_wait(worst_); }

 private:
  std::chrono::nanoseconds worst_{0};
};

}  // namespace cubby::stress
