// bench/queue_bench.cpp: cubby::Queue against bounded and unbounded MPMC
// queues of other libraries, in one process.
//
// queue/<P>x<C>/<impl>: P producers push kMessages values in total into a
// queue of capacity 1024 and C consumers pop them; one iteration is the whole
// transfer (run by threads started once per benchmark, see Crew).
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
// before a wait sleeps; cubby uses the default budget
// (NativePlatform::spin_pauses/spin_yields: about 2 us of pauses, then 64
// yields).
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
//   xenium_vyukov_lines the same queue with every cell (sequence word and
//                       value) on a cache line of its own, as cubby::Queue
//                       lays out its slots: a reference for the algorithm
//                       apart from the layout, paired with cubby only
// Peers that were not found at configure time are left out (bench/CMakeLists.txt).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench_main.hpp"
#include "cubby/platform/cache_line.hpp"
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

// LineCell: a value that fills a platform::cache_line_size cell of xenium's
// queue with its sequence word (8 bytes), so that neighbouring tickets sit
// on different lines.  The padding is never copied: a move copies the
// word, so each operation touches only the first 16 bytes of its cell.
// xenium allocates the cells with new[], which aligns them to 16 bytes, so
// those 16 bytes never straddle two lines.
struct LineCell {
  std::uint64_t v = 0;
  char pad[cubby::platform::cache_line_size - 2 * sizeof(std::uint64_t)];
  LineCell() noexcept {}
  explicit LineCell(std::uint64_t x) noexcept : v(x) {}
  LineCell(LineCell&& o) noexcept : v(o.v) {}
  LineCell& operator=(LineCell&& o) noexcept {
    v = o.v;
    return *this;
  }
};
struct XeniumVyukovLines {
  xenium::vyukov_bounded_queue<LineCell> q{kCapacity};
  void push(std::uint64_t v) {
    retry([&] { return q.try_push(LineCell{v}); });
  }
  std::uint64_t pop() {
    LineCell v;
    retry([&] { return q.try_pop(v); });
    return v.v;
  }
};
#endif

std::uint64_t process_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

// Crew: the threads of a benchmark's transfers, started once and reused by
// every transfer.  Starting and joining 8 threads costs this VM about 0.35 ms
// of process CPU and 0.25 ms of wall time (measured: 5 ns of CPU per message
// of a 4x4 transfer, a tenth of cubby's), the same for every queue; counted
// in each transfer, it pulled every ratio towards 1.  Between transfers the
// threads sleep in a futex wait (std::atomic::wait), costing no CPU.
class Crew {
 public:
  explicit Crew(int n) : n_(n) {
    for (int i = 0; i < n; ++i) threads_.emplace_back([this, i] { work(i); });
  }
  Crew(const Crew&) = delete;
  Crew& operator=(const Crew&) = delete;
  ~Crew() {
    stop_.store(true, std::memory_order_relaxed);  // published by the release bump below
    go_.fetch_add(1, std::memory_order_release);
    go_.notify_all();
    for (auto& t : threads_) t.join();
  }

  // run: calls job(i) on crew thread i for every i, and returns once all have.
  template <class Job>
  void run(Job& job) {
    job_ = &job;
    call_ = [](void* j, int i) { (*static_cast<Job*>(j))(i); };
    done_.store(0, std::memory_order_relaxed);  // published by the release bump below
    go_.fetch_add(1, std::memory_order_release);  // pairs with the workers' acquire load
    go_.notify_all();
    for (int d = done_.load(std::memory_order_acquire); d != n_; d = done_.load(std::memory_order_acquire)) {
      done_.wait(d, std::memory_order_acquire);  // acquire: pairs with the workers' release increments
    }
  }

 private:
  void work(int i) {
    std::uint32_t seen = 0;
    for (;;) {
      go_.wait(seen, std::memory_order_acquire);
      seen = go_.load(std::memory_order_acquire);  // acquire: pairs with run()'s and ~Crew's release bump
      if (stop_.load(std::memory_order_relaxed)) return;
      call_(job_, i);
      if (done_.fetch_add(1, std::memory_order_release) + 1 == n_) done_.notify_one();
    }
  }

  const int n_;
  std::atomic<std::uint32_t> go_{0};
  std::atomic<int> done_{0};
  std::atomic<bool> stop_{false};
  void* job_ = nullptr;
  void (*call_)(void*, int) = nullptr;
  std::vector<std::thread> threads_;
};

// Transfer: one run of P producers and C consumers through q: wall and
// process CPU time, and whether every value arrived exactly once (by sum).
struct Transfer {
  double real_ns = 0;
  double cpu_ns = 0;
  bool ok = false;
};

// transfer: crew threads 0..C-1 consume, C..C+P-1 produce; the last producer
// to finish pushes the consumers' sentinels.
template <class Q>
Transfer transfer(Crew& crew, Q& q, int producers, int consumers) {
  const std::uint64_t per_producer = kMessages / static_cast<std::uint64_t>(producers);
  const std::uint64_t total = per_producer * static_cast<std::uint64_t>(producers);
  const std::uint64_t expected_sum = total * (total + 1) / 2;
  const std::uint64_t cpu_before = process_cpu_ns();
  const auto t0 = std::chrono::steady_clock::now();
  std::atomic<std::uint64_t> sum{0};
  std::atomic<int> producing{producers};
  auto job = [&](int i) {
    if (i < consumers) {
      std::uint64_t mine = 0;
      for (std::uint64_t v = q.pop(); v != kSentinel; v = q.pop()) mine += v;
      sum.fetch_add(mine, std::memory_order_relaxed);
      return;
    }
    const std::uint64_t first = static_cast<std::uint64_t>(i - consumers) * per_producer + 1;
    for (std::uint64_t v = first; v < first + per_producer; ++v) q.push(v);
    // acq_rel: the last producer's sentinels go after every producer's values.
    if (producing.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      for (int c = 0; c < consumers; ++c) q.push(kSentinel);
    }
  };
  crew.run(job);
  if constexpr (requires(Q& queue, std::uint64_t& v) { queue.try_pop(v); }) {
    for (std::uint64_t v = 0; q.try_pop(v);) sum.fetch_add(v == kSentinel ? 0 : v, std::memory_order_relaxed);
  }
  const auto t1 = std::chrono::steady_clock::now();
  Transfer r;
  r.real_ns = static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count()) /
              static_cast<double>(total);
  r.cpu_ns = static_cast<double>(process_cpu_ns() - cpu_before) / static_cast<double>(total);
  r.ok = sum.load() == expected_sum;
  return r;
}

template <class Q>
void BM_Queue(benchmark::State& state, int producers, int consumers) {
  auto q = std::make_unique<Q>();
  const std::uint64_t total = kMessages / static_cast<std::uint64_t>(producers) * static_cast<std::uint64_t>(producers);
  double cpu_ns = 0;
  Crew crew(producers + consumers);
  const std::uint64_t futex_before = cubby::platform::futex_syscall_count();
  for (auto _ : state) {
    const Transfer r = transfer(crew, *q, producers, consumers);
    cpu_ns += r.cpu_ns;
    if (!r.ok) {
      state.SkipWithError("consumers received the wrong values");
      break;
    }
  }
  const std::uint64_t futex_calls = cubby::platform::futex_syscall_count() - futex_before;
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * total));
  state.counters["cpu_ns/msg"] = benchmark::Counter(cpu_ns, benchmark::Counter::kAvgIterations);
  // cubby's futex syscalls (waits + wakes) per message; 0 for the peers.
  state.counters["futex/msg"] = benchmark::Counter(static_cast<double>(futex_calls) / static_cast<double>(total),
                                                   benchmark::Counter::kAvgIterations);
}

// BM_QueuePaired: X and Y in alternating transfers (a few ms each), so that
// both see the same machine; on a VM the host's moves of the virtual CPUs
// change a transfer's time by several times from one second to the next,
// which makes separately timed benchmarks incomparable.  Counters are medians
// over pairs: x_ns and y_ns (wall time per message), x/y (the median of the
// per-pair ratios of wall time) and cpu x/y (of process CPU time).
template <class X, class Y>
void BM_QueuePaired(benchmark::State& state, int producers, int consumers) {
  auto x = std::make_unique<X>();
  auto y = std::make_unique<Y>();
  std::vector<double> x_ns;
  std::vector<double> y_ns;
  std::vector<double> ratio;
  std::vector<double> cpu_ratio;
  Crew crew(producers + consumers);
  for (auto _ : state) {
    const Transfer a = transfer(crew, *x, producers, consumers);
    const Transfer b = transfer(crew, *y, producers, consumers);
    if (!a.ok || !b.ok) {
      state.SkipWithError("consumers received the wrong values");
      break;
    }
    x_ns.push_back(a.real_ns);
    y_ns.push_back(b.real_ns);
    ratio.push_back(a.real_ns / b.real_ns);
    cpu_ratio.push_back(a.cpu_ns / b.cpu_ns);
  }
  state.counters["x_ns"] = cubby_bench::median(x_ns);
  state.counters["y_ns"] = cubby_bench::median(y_ns);
  state.counters["x/y"] = cubby_bench::median(ratio);
  state.counters["cpu x/y"] = cubby_bench::median(cpu_ratio);
}

template <class Q>
void add(const char* impl) {
  for (const int n : {1, 2, 4}) {
    const std::string name = "queue/" + std::to_string(n) + "x" + std::to_string(n) + "/" + impl;
    benchmark::RegisterBenchmark(name.c_str(), BM_Queue<Q>, n, n)->UseRealTime()->Unit(benchmark::kMillisecond);
  }
}

// Paired ratios: one per paired benchmark registered (labels and names must
// outlive run(), hence the deque).
std::deque<std::string> g_strings;
std::vector<cubby_bench::Ratio> g_paired_ratios;

const char* keep(std::string s) { return g_strings.emplace_back(std::move(s)).c_str(); }

// add_paired: paired/<n>x<n>/cubby_vs_<peer>, judged by `metric` ("x/y": wall
// time per message, "cpu x/y": CPU time) against `target`.
template <class Peer>
void add_paired(int n, const char* peer, const char* metric, double target) {
  const std::string shape = std::to_string(n) + "x" + std::to_string(n);
  const char* name = keep("paired/" + shape + "/cubby_vs_" + peer);
  benchmark::RegisterBenchmark(name, BM_QueuePaired<CubbyQueue<>, Peer>, n, n)->UseRealTime()->Unit(benchmark::kMillisecond);
  const std::string what = std::string(metric) == "x/y" ? "time" : "cpu";
  g_paired_ratios.push_back({keep("paired queue " + shape + " cubby / " + peer + " (" + what + " per message)"), name, "",
                             metric, target});
}

// add_peer: the peer's own benchmarks, and cubby paired with it: time at 1x1
// and 2x2 (target: at least the peer's throughput), and at 4x4 CPU time
// (target: half that of a peer that spins) or time (a peer that sleeps).
template <class Peer>
void add_peer(const char* peer, bool spins) {
  add<Peer>(peer);
  add_paired<Peer>(1, peer, "x/y", 1.0);
  add_paired<Peer>(2, peer, "x/y", 1.0);
  if (spins) {
    add_paired<Peer>(4, peer, "cpu x/y", 0.5);
  } else {
    add_paired<Peer>(4, peer, "x/y", 1.0);
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
  add_peer<Moodycamel>("moodycamel", true);
  add_peer<MoodycamelBlocking>("moodycamel_blocking", false);
#endif
#if defined(CUBBY_BENCH_HAVE_BOOST_LOCKFREE)
  add_peer<BoostLockfree>("boost_lockfree", true);
#endif
#if defined(CUBBY_BENCH_HAVE_TBB)
  add<TbbBounded>("tbb_bounded");  // 10-50x slower than the rest here: unpaired only
#endif
#if defined(CUBBY_BENCH_HAVE_ATOMIC_QUEUE)
  add_peer<AtomicQueue>("atomic_queue", true);
#endif
#if defined(CUBBY_BENCH_HAVE_XENIUM)
  add_peer<XeniumVyukov>("xenium_vyukov", true);
  // Not a peer of the targets (its denominators stay as above): how cubby's
  // queue compares with Vyukov's algorithm when both keep the layout rule.
  add_paired<XeniumVyukovLines>(1, "xenium_vyukov_lines", "x/y", 1.0);
  add_paired<XeniumVyukovLines>(2, "xenium_vyukov_lines", "x/y", 1.0);
  add_paired<XeniumVyukovLines>(4, "xenium_vyukov_lines", "cpu x/y", 0.5);
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
  std::vector<cubby_bench::Ratio> ratios = {
      {"queue 1x1 cubby / best peer (time per transfer)", "queue/1x1/cubby", peers_1x1.c_str(), "real_time", 1.0},
      {"queue 2x2 cubby / best peer (time per transfer)", "queue/2x2/cubby", peers_2x2.c_str(), "real_time", 1.0},
      {"queue 4x4 cubby / best spinning peer (cpu per message)", "queue/4x4/cubby", spinning, "cpu_ns/msg", 0.5},
      {"queue 4x4 cubby / moodycamel_blocking (time per transfer)", "queue/4x4/cubby", "queue/4x4/moodycamel_blocking",
       "real_time", 1.0},
  };
  ratios.insert(ratios.end(), g_paired_ratios.begin(), g_paired_ratios.end());
  return cubby_bench::run(argc, argv, std::move(ratios));
}
