// bench/cubby_bench.cpp: the cubby's handoff latency against its floor and
// against a mutex and condition variable, all in one process.
//
// roundtrip/*: thread A sends a value to thread B through one exchange and B
//   sends it back through a second one; one iteration is one round trip.
//     cubby               two Cubby<uint64_t> (A pushes c1, B pops c1 and
//                         pushes c2, A pops c2)
//     cubby_spin<P>_<Y>   the same with a spin budget of P pauses and Y yields
//                         before sleeping (default: NativePlatform's about
//                         2 us of pauses, then 64 yields)
//     atomic_floor        the floor: both threads bounce one std::atomic word,
//                         spinning with the same pause instruction
//     atomic_floor_busy   the same without the pause
//     mutex_cv            two slots guarded by std::mutex + condition_variable
//   A and B are pinned to two different CPUs.
//   futex/iter counts the futex syscalls the library made per round trip
//   (platform::futex_syscall_count()): 0 when both threads stay running.
// paired/<x>_vs_<y>: x and y in alternating slices of the same run; the
//   steadiest comparison on a shared machine (see BM_Paired).
// pushpop/*: one thread, push then pop of one value, uncontended.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <pthread.h>
#include <sched.h>

#include "bench_main.hpp"
#include "cubby/cubby.hpp"
#include "cubby/platform/cache_line.hpp"
#include "cubby/platform/futex.hpp"
#include "cubby/platform/native.hpp"

namespace {

using cubby::platform::cache_line_size;

constexpr std::uint64_t kStop = ~std::uint64_t{0};

using cubby_bench::BudgetPlatform;

[[noreturn]] void lost_value() {
  std::fputs("round trip returned the wrong value\n", stderr);
  std::abort();
}

// ---- the exchanges: round_trip(k) runs on A, echo() on B, stop() on A ----

template <class Platform>
struct CubbyPair {
  cubby::Cubby<std::uint64_t, Platform> there;
  cubby::Cubby<std::uint64_t, Platform> back;

  void round_trip(std::uint64_t k) {
    there.push(k);
    std::uint64_t v = 0;
    back.pop(v);
    if (v != k) lost_value();
  }
  void echo() {
    std::uint64_t v = 0;
    while (there.pop(v) == cubby::Status::ok && v != kStop) back.push(v);
    back.push(kStop);  // acknowledges the stop
  }
  void stop() {
    there.push(kStop);
    std::uint64_t ack = 0;
    back.pop(ack);
  }
};

// One word: A writes odd values, B answers each with the next even one.
template <bool Pause>
struct AtomicFloor {
  alignas(cache_line_size) std::atomic<std::uint64_t> word{0};

  static void relax() {
    if constexpr (Pause) cubby::platform::cpu_relax();
  }
  void round_trip(std::uint64_t k) {
    word.store(2 * k + 1, std::memory_order_release);
    while (word.load(std::memory_order_acquire) != 2 * k + 2) relax();
  }
  void echo() {
    for (;;) {
      const std::uint64_t v = word.load(std::memory_order_acquire);
      if (v == kStop) {
        word.store(0, std::memory_order_release);  // acknowledges the stop
        return;
      }
      if ((v & 1) != 0) {
        word.store(v + 1, std::memory_order_release);
      } else {
        relax();
      }
    }
  }
  void stop() {
    word.store(kStop, std::memory_order_release);
    while (word.load(std::memory_order_acquire) != 0) relax();
  }
};

// A one-value slot guarded by a mutex; the classic blocking exchange.
struct alignas(cache_line_size) LockedSlot {
  std::mutex m;
  std::condition_variable cv;
  bool full = false;
  std::uint64_t value = 0;

  void push(std::uint64_t v) {
    {
      std::unique_lock lock(m);
      cv.wait(lock, [this] { return !full; });
      value = v;
      full = true;
    }
    cv.notify_one();
  }
  std::uint64_t pop() {
    std::uint64_t v = 0;
    {
      std::unique_lock lock(m);
      cv.wait(lock, [this] { return full; });
      v = value;
      full = false;
    }
    cv.notify_one();
    return v;
  }
};

struct MutexCvPair {
  LockedSlot there;
  LockedSlot back;

  void round_trip(std::uint64_t k) {
    there.push(k);
    if (back.pop() != k) lost_value();
  }
  void echo() {
    for (std::uint64_t v = there.pop(); v != kStop; v = there.pop()) back.push(v);
    back.push(kStop);  // acknowledges the stop
  }
  void stop() {
    there.push(kStop);
    (void)back.pop();
  }
};

// Pinning: A and B run on two different CPUs of the allowed set, so that a
// round trip is a cross-core handoff (two spinning threads sharing one CPU
// measure the scheduler instead).  No-op with fewer than two CPUs.
struct CpuPair {
  cpu_set_t allowed{};
  int a = -1;
  int b = -1;
  CpuPair() {
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return;
    for (int cpu = 0; cpu < CPU_SETSIZE && b < 0; ++cpu) {
      if (!CPU_ISSET(cpu, &allowed)) continue;
      (a < 0 ? a : b) = cpu;
    }
  }
  static bool pin(int cpu) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    return pthread_setaffinity_np(pthread_self(), sizeof one, &one) == 0;
  }
  void restore() const { pthread_setaffinity_np(pthread_self(), sizeof allowed, &allowed); }
};

template <class Exchange>
void BM_RoundTrip(benchmark::State& state) {
  auto ex = std::make_unique<Exchange>();
  const CpuPair cpus;
  if (cpus.b >= 0) CpuPair::pin(cpus.a);
  std::thread echo([&] {
    if (cpus.b >= 0) CpuPair::pin(cpus.b);
    ex->echo();
  });
  std::uint64_t k = 1;
  ex->round_trip(k++);  // B is up and waiting
  const std::uint64_t futex_before = cubby::platform::futex_syscall_count();
  for (auto _ : state) ex->round_trip(k++);
  const std::uint64_t futex_after = cubby::platform::futex_syscall_count();
  ex->stop();
  echo.join();
  if (cpus.b >= 0) cpus.restore();
  state.counters["futex/iter"] =
      benchmark::Counter(static_cast<double>(futex_after - futex_before), benchmark::Counter::kAvgIterations);
}

// BM_Paired: X and Y measured in alternating slices of kSlice round trips by
// the same two threads, so that both see the same machine (on a VM the cost
// of a cross-core handoff drifts by several times as the host moves the
// virtual CPUs, and other processes preempt the threads).  Counters are
// medians over slices, which also drops the slices that a preemption hit:
// x_ns and y_ns per round trip, and x/y, the median of the per-pair ratios;
// futex/slice counts the library's futex syscalls per pair of slices (the
// stops between slices included).
constexpr int kSlice = 256;

using cubby_bench::median;

template <class X, class Y>
void BM_Paired(benchmark::State& state) {
  auto x = std::make_unique<X>();
  auto y = std::make_unique<Y>();
  const CpuPair cpus;
  if (cpus.b >= 0) CpuPair::pin(cpus.a);
  std::atomic<bool> done{false};
  std::thread echo([&] {
    if (cpus.b >= 0) CpuPair::pin(cpus.b);
    do {
      x->echo();
      y->echo();
    } while (!done.load(std::memory_order_acquire));
  });
  using clock = std::chrono::steady_clock;
  std::vector<double> x_ns;
  std::vector<double> y_ns;
  std::vector<double> ratio;
  const auto ns_per_trip = [](clock::duration d) {
    return static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count()) / kSlice;
  };
  std::uint64_t k = 1;
  const std::uint64_t futex_before = cubby::platform::futex_syscall_count();
  for (auto _ : state) {
    const auto t0 = clock::now();
    for (int i = 0; i < kSlice; ++i) x->round_trip(k++);
    const auto t1 = clock::now();
    x->stop();
    const auto t2 = clock::now();
    for (int i = 0; i < kSlice; ++i) y->round_trip(k++);
    const auto t3 = clock::now();
    y->stop();
    x_ns.push_back(ns_per_trip(t1 - t0));
    y_ns.push_back(ns_per_trip(t3 - t2));
    ratio.push_back(x_ns.back() / y_ns.back());
  }
  const std::uint64_t futex_after = cubby::platform::futex_syscall_count();
  // B is in x->echo(): send it through y->echo() and out.
  x->stop();
  done.store(true, std::memory_order_release);
  y->stop();
  echo.join();
  if (cpus.b >= 0) cpus.restore();
  state.counters["x_ns"] = median(x_ns);
  state.counters["y_ns"] = median(y_ns);
  state.counters["x/y"] = median(ratio);
  state.counters["futex/slice"] =
      benchmark::Counter(static_cast<double>(futex_after - futex_before), benchmark::Counter::kAvgIterations);
}

using Native = cubby::platform::NativePlatform;

BENCHMARK(BM_Paired<CubbyPair<Native>, AtomicFloor<true>>)->Name("paired/cubby_vs_floor");
BENCHMARK(BM_Paired<CubbyPair<BudgetPlatform<4096, 2>>, AtomicFloor<true>>)->Name("paired/cubby_spin4096_2_vs_floor");

BENCHMARK(BM_RoundTrip<CubbyPair<Native>>)->Name("roundtrip/cubby")->UseRealTime();
BENCHMARK(BM_RoundTrip<AtomicFloor<true>>)->Name("roundtrip/atomic_floor")->UseRealTime();
BENCHMARK(BM_RoundTrip<AtomicFloor<false>>)->Name("roundtrip/atomic_floor_busy")->UseRealTime();
BENCHMARK(BM_RoundTrip<MutexCvPair>)->Name("roundtrip/mutex_cv")->UseRealTime();
BENCHMARK(BM_RoundTrip<CubbyPair<BudgetPlatform<0, 0>>>)->Name("roundtrip/cubby_spin0_0")->UseRealTime();
BENCHMARK(BM_RoundTrip<CubbyPair<BudgetPlatform<64, 2>>>)->Name("roundtrip/cubby_spin64_2")->UseRealTime();
BENCHMARK(BM_RoundTrip<CubbyPair<BudgetPlatform<4096, 2>>>)->Name("roundtrip/cubby_spin4096_2")->UseRealTime();

// ---- single thread: one push and one pop, nobody else around ----

void BM_PushPopCubby(benchmark::State& state) {
  cubby::Cubby<std::uint64_t> c;
  std::uint64_t k = 0;
  std::uint64_t v = 0;
  for (auto _ : state) {
    c.push(k++);
    c.pop(v);
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_PushPopCubby)->Name("pushpop/cubby");

void BM_PushPopCubbyTry(benchmark::State& state) {
  cubby::Cubby<std::uint64_t> c;
  std::uint64_t k = 0;
  for (auto _ : state) {
    if (!c.try_push(k++)) state.SkipWithError("try_push failed on an empty cubby");
    auto v = c.try_pop();
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_PushPopCubbyTry)->Name("pushpop/cubby_try");

void BM_PushPopMutexCv(benchmark::State& state) {
  LockedSlot s;
  std::uint64_t k = 0;
  for (auto _ : state) {
    s.push(k++);
    auto v = s.pop();
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_PushPopMutexCv)->Name("pushpop/mutex_cv");

}  // namespace

int main(int argc, char** argv) {
  return cubby_bench::run(argc, argv,
                          {
                              {"paired: cubby / atomic floor, alternating slices", "paired/cubby_vs_floor", "", "x/y",
                               1.3},
                              // Unpaired roundtrip/cubby vs roundtrip/atomic_floor is not a
                              // ratio to judge by: the two run seconds apart (see BM_Paired).
                              {"paired: cubby (spin 4096, 2) / atomic floor", "paired/cubby_spin4096_2_vs_floor", "",
                               "x/y", 1.3},
                              {"roundtrip cubby / mutex+cv (4x faster = 0.25)", "roundtrip/cubby", "roundtrip/mutex_cv",
                               "real_time", 0.25},
                              {"pushpop cubby / mutex+cv", "pushpop/cubby", "pushpop/mutex_cv", "cpu_time", 1.0},
                          });
}
