// bench/queue_bench.cpp: cubby::Queue against bounded and unbounded MPMC
// queues of other libraries, in one process.
//
// queue/<P>x<C>/<impl>: P producers push kMessages values in total into a
// queue of capacity 1024 and C consumers pop them; one iteration is the whole
// transfer (threads are started inside it; that costs well under 1% of it).
// Consumers stop on a sentinel pushed after the producers finish (for queues
// that do not order producers, the benchmark then collects what is left), and
// the sum of what was received is checked.
//   real_time       wall time of one transfer (lower = more throughput)
//   items_per_second  messages per second
//   cpu_ns/msg      process CPU time (all threads) per message: what waiting
//                   costs when there are more threads than cores
//   futex/msg       cubby's futex syscalls per message
//
// cubby_spin16_0 is cubby::Queue with a spin budget of 16 pauses and no yield
// before a wait sleeps (the default: NativePlatform::spin_pauses/spin_yields).
//
// Peers, each used through its own blocking call where it has one, else
// through a try-operation retried with the same spin-then-yield loop
// (kSpinPauses pauses, then a yield per retry; never sleeps):
//   moodycamel          moodycamel::ConcurrentQueue, try_dequeue retried;
//                       enqueue never fails (the queue is unbounded)
//   moodycamel_blocking moodycamel::BlockingConcurrentQueue, wait_dequeue
//                       (semaphore); enqueue unbounded as above
//   boost_lockfree      boost::lockfree::queue, bounded_push / pop retried
//   tbb_bounded         tbb::concurrent_bounded_queue, push / pop (blocking)
//   atomic_queue        atomic_queue::AtomicQueueB, try_push / try_pop retried
//   xenium_vyukov       xenium::vyukov_bounded_queue, try_push / try_pop retried
// Peers that were not found at configure time are left out (bench/CMakeLists.txt).
#include <atomic>
#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench_main.hpp"
#include "cubby/platform/futex.hpp"
#include "cubby/platform/native.hpp"

#if __has_include("cubby/queue.hpp")
#include "cubby/queue.hpp"
#define CUBBY_BENCH_HAVE_CUBBY_QUEUE 1
#endif
#if defined(CUBBY_BENCH_HAVE_MOODYCAMEL)
#include <concurrentqueue/blockingconcurrentqueue.h>
#include <concurrentqueue/concurrentqueue.h>
#endif
#if defined(CUBBY_BENCH_HAVE_BOOST_LOCKFREE)
#include <boost/lockfree/queue.hpp>
#endif
#if defined(CUBBY_BENCH_HAVE_TBB)
#include <tbb/concurrent_queue.h>
#endif
#if defined(CUBBY_BENCH_HAVE_ATOMIC_QUEUE)
#include <atomic_queue/atomic_queue.h>
#endif
#if defined(CUBBY_BENCH_HAVE_XENIUM)
#include <xenium/vyukov_bounded_queue.hpp>
#endif

namespace {

constexpr std::size_t kCapacity = 1024;
constexpr std::uint64_t kMessages = 1u << 16;
constexpr std::uint64_t kSentinel = ~std::uint64_t{0};  // messages are 1..kMessages
constexpr unsigned kSpinPauses = 128;

// retry: calls `attempt` until it succeeds: spin, then yield per retry.
template <class Attempt>
void retry(Attempt attempt) {
  for (unsigned n = 0; !attempt(); ++n) {
    if (n < kSpinPauses) {
      cubby::platform::cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }
}

// ---- adapters: push(v) and pop() that wait, however the queue waits ----

#if defined(CUBBY_BENCH_HAVE_CUBBY_QUEUE)
template <class Platform = cubby::DefaultPlatform>
struct CubbyQueue {
  cubby::Queue<std::uint64_t, Platform> q{kCapacity};
  void push(std::uint64_t v) { (void)q.push(v); }
  std::uint64_t pop() {
    std::uint64_t v = 0;
    (void)q.pop(v);
    return v;
  }
};
#endif

#if defined(CUBBY_BENCH_HAVE_MOODYCAMEL)
// Neither moodycamel queue orders values of different producers, so a
// consumer can meet its sentinel while values remain: try_pop lets the
// benchmark collect those after the consumers stop (see BM_Queue).
struct Moodycamel {
  moodycamel::ConcurrentQueue<std::uint64_t> q{kCapacity};
  void push(std::uint64_t v) { q.enqueue(v); }
  bool try_pop(std::uint64_t& v) { return q.try_dequeue(v); }
  std::uint64_t pop() {
    std::uint64_t v = 0;
    retry([&] { return q.try_dequeue(v); });
    return v;
  }
};
struct MoodycamelBlocking {
  moodycamel::BlockingConcurrentQueue<std::uint64_t> q{kCapacity};
  void push(std::uint64_t v) { q.enqueue(v); }
  bool try_pop(std::uint64_t& v) { return q.try_dequeue(v); }
  std::uint64_t pop() {
    std::uint64_t v = 0;
    q.wait_dequeue(v);
    return v;
  }
};
#endif

#if defined(CUBBY_BENCH_HAVE_BOOST_LOCKFREE)
struct BoostLockfree {
  boost::lockfree::queue<std::uint64_t> q{kCapacity};
  void push(std::uint64_t v) {
    retry([&] { return q.bounded_push(v); });
  }
  std::uint64_t pop() {
    std::uint64_t v = 0;
    retry([&] { return q.pop(v); });
    return v;
  }
};
#endif

#if defined(CUBBY_BENCH_HAVE_TBB)
struct TbbBounded {
  tbb::concurrent_bounded_queue<std::uint64_t> q;
  TbbBounded() { q.set_capacity(kCapacity); }
  void push(std::uint64_t v) { q.push(v); }
  std::uint64_t pop() {
    std::uint64_t v = 0;
    q.pop(v);
    return v;
  }
};
#endif

#if defined(CUBBY_BENCH_HAVE_ATOMIC_QUEUE)
// Its own push/pop spin without ever yielding, which on a machine with fewer
// cores than threads runs for whole scheduler slices (hundreds of times
// slower here); the try-operations with the common retry loop instead.
struct AtomicQueue {
  atomic_queue::AtomicQueueB<std::uint64_t> q{kCapacity};  // 0 is its empty marker
  void push(std::uint64_t v) {
    retry([&] { return q.try_push(std::uint64_t{v}); });
  }
  std::uint64_t pop() {
    std::uint64_t v = 0;
    retry([&] { return q.try_pop(v); });
    return v;
  }
};
#endif

#if defined(CUBBY_BENCH_HAVE_XENIUM)
struct XeniumVyukov {
  xenium::vyukov_bounded_queue<std::uint64_t> q{kCapacity};
  void push(std::uint64_t v) {
    retry([&] { return q.try_push(v); });
  }
  std::uint64_t pop() {
    std::uint64_t v = 0;
    retry([&] { return q.try_pop(v); });
    return v;
  }
};
#endif

std::uint64_t process_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

template <class Q>
void BM_Queue(benchmark::State& state, int producers, int consumers) {
  auto q = std::make_unique<Q>();
  const std::uint64_t per_producer = kMessages / static_cast<std::uint64_t>(producers);
  const std::uint64_t total = per_producer * static_cast<std::uint64_t>(producers);
  const std::uint64_t expected_sum = total * (total + 1) / 2;
  std::uint64_t cpu_ns = 0;
  const std::uint64_t futex_before = cubby::platform::futex_syscall_count();
  for (auto _ : state) {
    const std::uint64_t cpu_before = process_cpu_ns();
    std::atomic<std::uint64_t> sum{0};
    std::vector<std::thread> popping;
    for (int c = 0; c < consumers; ++c) {
      popping.emplace_back([&] {
        std::uint64_t mine = 0;
        for (std::uint64_t v = q->pop(); v != kSentinel; v = q->pop()) mine += v;
        sum.fetch_add(mine, std::memory_order_relaxed);
      });
    }
    std::vector<std::thread> pushing;
    for (int p = 0; p < producers; ++p) {
      pushing.emplace_back([&, p] {
        const std::uint64_t first = static_cast<std::uint64_t>(p) * per_producer + 1;
        for (std::uint64_t v = first; v < first + per_producer; ++v) q->push(v);
      });
    }
    for (auto& t : pushing) t.join();
    for (int c = 0; c < consumers; ++c) q->push(kSentinel);
    for (auto& t : popping) t.join();
    if constexpr (requires(Q& queue, std::uint64_t& v) { queue.try_pop(v); }) {
      for (std::uint64_t v = 0; q->try_pop(v);) sum.fetch_add(v == kSentinel ? 0 : v, std::memory_order_relaxed);
    }
    cpu_ns += process_cpu_ns() - cpu_before;
    if (sum.load() != expected_sum) {
      state.SkipWithError("consumers received the wrong values");
      break;
    }
  }
  const std::uint64_t futex_calls = cubby::platform::futex_syscall_count() - futex_before;
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * total));
  state.counters["cpu_ns/msg"] = benchmark::Counter(static_cast<double>(cpu_ns) / static_cast<double>(total),
                                                    benchmark::Counter::kAvgIterations);
  // cubby's futex syscalls (waits + wakes) per message; 0 for the peers.
  state.counters["futex/msg"] = benchmark::Counter(static_cast<double>(futex_calls) / static_cast<double>(total),
                                                   benchmark::Counter::kAvgIterations);
}

template <class Q>
void add(const char* impl) {
  for (const int n : {1, 2, 4}) {
    const std::string name = "queue/" + std::to_string(n) + "x" + std::to_string(n) + "/" + impl;
    benchmark::RegisterBenchmark(name.c_str(), BM_Queue<Q>, n, n)->UseRealTime()->Unit(benchmark::kMillisecond);
  }
}

}  // namespace

int main(int argc, char** argv) {
#if defined(CUBBY_BENCH_HAVE_CUBBY_QUEUE)
  add<CubbyQueue<>>("cubby");
  // The spin budget's effect on CPU time when threads outnumber cores.
  add<CubbyQueue<cubby_bench::BudgetPlatform<16, 0>>>("cubby_spin16_0");
#endif
#if defined(CUBBY_BENCH_HAVE_MOODYCAMEL)
  add<Moodycamel>("moodycamel");
  add<MoodycamelBlocking>("moodycamel_blocking");
#endif
#if defined(CUBBY_BENCH_HAVE_BOOST_LOCKFREE)
  add<BoostLockfree>("boost_lockfree");
#endif
#if defined(CUBBY_BENCH_HAVE_TBB)
  add<TbbBounded>("tbb_bounded");
#endif
#if defined(CUBBY_BENCH_HAVE_ATOMIC_QUEUE)
  add<AtomicQueue>("atomic_queue");
#endif
#if defined(CUBBY_BENCH_HAVE_XENIUM)
  add<XeniumVyukov>("xenium_vyukov");
#endif
  const char* peers =
      "queue/PC/moodycamel|queue/PC/moodycamel_blocking|queue/PC/boost_lockfree|queue/PC/tbb_bounded|"
      "queue/PC/atomic_queue|queue/PC/xenium_vyukov";
  const char* spinning = "queue/4x4/moodycamel|queue/4x4/boost_lockfree|queue/4x4/atomic_queue|queue/4x4/xenium_vyukov";
  static const std::string peers_1x1 = [&] {
    std::string s = peers;
    for (auto at = s.find("PC"); at != std::string::npos; at = s.find("PC")) s.replace(at, 2, "1x1");
    return s;
  }();
  static const std::string peers_2x2 = [&] {
    std::string s = peers;
    for (auto at = s.find("PC"); at != std::string::npos; at = s.find("PC")) s.replace(at, 2, "2x2");
    return s;
  }();
  return cubby_bench::run(argc, argv,
                          {
                              {"queue 1x1 cubby / best peer (time per transfer)", "queue/1x1/cubby", peers_1x1.c_str(),
                               "real_time", 1.0},
                              {"queue 2x2 cubby / best peer (time per transfer)", "queue/2x2/cubby", peers_2x2.c_str(),
                               "real_time", 1.0},
                              {"queue 4x4 cubby / best spinning peer (cpu per message)", "queue/4x4/cubby", spinning,
                               "cpu_ns/msg", 0.5},
                              {"queue 4x4 cubby / moodycamel_blocking (time per transfer)", "queue/4x4/cubby",
                               "queue/4x4/moodycamel_blocking", "real_time", 1.0},
                          });
}
