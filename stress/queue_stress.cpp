// stress/queue_stress.cpp: the workloads of cubby::Queue.
//
//   queue      producers/consumers over the whole single-value API, epochs
//              closed under load, random capacities (1 .. 64, powers of two
//              and not) and start tickets: conservation, per-producer FIFO,
//              progress (values move until each epoch's close)
//   queue-lin  short windows checked against a bounded FIFO of capacity 2,
//              close() as one atomic step
//   queue-late, queue-lin-late
//              queue and queue-lin with every blocking push and pop claiming
//              its ticket late (capacities 2 and up)
//   queue-bulk producers/consumers mixing push_bulk/push_bulk_for/
//              try_push_bulk and pop_bulk/pop_bulk_for/try_pop_bulk with the
//              single-value API, epochs closed
//              under load: conservation, per-producer FIFO, the untouched
//              rest of a partial bulk push, and contiguity: the values of one
//              bulk push occupy consecutive FIFO positions, so a pop_bulk
//              that received one of them not last in its run received the
//              next one right after it; progress
//
// With CUBBY_STRESS_BROKEN it also registers queue-bulk over broken
// wrappers: broken-queue-bulk-drop (try_pop_bulk loses its last value now and
// then; conservation) and broken-queue-bulk-gap (push_bulk pushes in two
// runs; contiguity, reported as fifo); queue over broken-queue-stall (a
// queue that stops taking values until close, losing nothing; progress) and
// broken-queue-early-closed (a pop answers closed while values remain;
// conservation); and queue-lin over broken-queue-lin (a try_push fails on a
// free slot; linearizability) and broken-queue-deaf-close (close() wakes
// nobody; the hang watchdog).
#include <algorithm>
#include <atomic>
#include <barrier>
#include <bit>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cubby/queue.hpp"
#include "harness/channel_workloads.hpp"
#include "harness/workers.hpp"

namespace cubby::stress {
namespace {

// random_queue_start: next to the 2^64 wrap, anywhere, or 0.  A capacity
// that is not a power of two cannot cross the wrap (Queue rejects a start
// above 2^63 for it): it starts next to 2^63 or anywhere below.
StartTicket random_queue_start(Rng& rng, std::size_t capacity) {
  const bool power_of_two = std::has_single_bit(capacity);
  const std::uint64_t top = power_of_two ? ~std::uint64_t{0} : std::uint64_t{1} << 63;
  switch (rng.below(3)) {
    case 0: return StartTicket{top - rng.below(64)};
    case 1: return StartTicket{power_of_two ? rng.next() : rng.next() >> 1};
    default: return StartTicket{0};
  }
}

using U64Queue = Queue<std::uint64_t>;

const Registrar transfer{Workload{
    "queue", "producers/consumers, blocking/try/timed mix, close under load, random capacity", Kind::blocking,
    check_conservation | check_fifo | check_progress, /*producer_consumer=*/true, /*expect_failure=*/false, [](Run& run) {
      run_transfer<U64Queue>(
          run,
          [](Rng& rng) {
            static constexpr std::size_t capacities[] = {1, 2, 3, 4, 7, 16, 64};
            const std::size_t capacity = capacities[rng.below(std::size(capacities))];
            return std::make_unique<U64Queue>(capacity, random_queue_start(rng, capacity));
          },
          /*fifo=*/true);
    }}};

// FixedQueue: the inline-slot form, at a capacity that is not a power of two
// (slot index by division, and the start-ticket rule that comes with it).
using U64FixedQueue = FixedQueue<std::uint64_t, 7>;
const Registrar fixed{Workload{
    "fixed-queue", "queue's workload over FixedQueue<T, 7> (inline slots), random start tickets", Kind::blocking,
    check_conservation | check_fifo | check_progress, /*producer_consumer=*/true, /*expect_failure=*/false, [](Run& run) {
      run_transfer<U64FixedQueue>(
          run, [](Rng& rng) { return std::make_unique<U64FixedQueue>(random_queue_start(rng, 7)); }, /*fifo=*/true);
    }}};

const Registrar linearizability{Workload{
    "queue-lin", "windows of concurrent operations checked against a bounded FIFO", Kind::blocking,
    check_linearizability, false, false, [](Run& run) {
      // close() is one atomic step (queue.hpp, "The close rule"), as the Cubby's.
      run_linearizability<U64Queue>(
          run, [](Rng& rng) { return std::make_unique<U64Queue>(2, random_queue_start(rng, 2)); },
          LinShape{2, 12, /*atomic_close=*/true});
    }, /*min_threads=*/2, kLinMaxThreads}};

// LateClaimPlatform: the native platform, with every blocking push and pop of
// a queue of capacity 2 or more claiming its ticket late (queue.hpp,
// "Arrival order"); natively only a thread that has lately yielded does.
struct LateClaimPlatform : platform::NativePlatform {
  static bool claim_late() noexcept { return true; }
};
using U64LateQueue = Queue<std::uint64_t, LateClaimPlatform>;

const Registrar transfer_late{Workload{
    "queue-late", "queue's workload with every blocking operation claiming its ticket late", Kind::blocking,
    check_conservation | check_fifo | check_progress, /*producer_consumer=*/true, /*expect_failure=*/false, [](Run& run) {
      run_transfer<U64LateQueue>(
          run,
          [](Rng& rng) {
            static constexpr std::size_t capacities[] = {2, 3, 4, 7, 16, 64};
            const std::size_t capacity = capacities[rng.below(std::size(capacities))];
            return std::make_unique<U64LateQueue>(capacity, random_queue_start(rng, capacity));
          },
          /*fifo=*/true);
    }}};

const Registrar linearizability_late{Workload{
    "queue-lin-late", "queue-lin with every blocking operation claiming its ticket late", Kind::blocking,
    check_linearizability, false, false, [](Run& run) {
      run_linearizability<U64LateQueue>(
          run, [](Rng& rng) { return std::make_unique<U64LateQueue>(2, random_queue_start(rng, 2)); },
          LinShape{2, 12, /*atomic_close=*/true});
    }, /*min_threads=*/2, kLinMaxThreads}};

// ---------------------------------------------------------------------------
// run_bulk_transfer: run_transfer (channel_workloads.hpp) with the bulk
// operations of Queue in the mix.  C: Queue<std::uint64_t> or a wrapper.
// ---------------------------------------------------------------------------

// Seam: two values a pop_bulk received one after the other that are not
// consecutive values of one producer.  Legal only if a ends its producer's
// push (single or bulk) and b begins one.
struct Seam {
  std::uint64_t a, b;
};

template <class C, class Make>
void run_bulk_transfer(Run& run, Make make) {
  const unsigned P = run.producers(), Q = run.consumers();
  std::vector<std::uint64_t> pushed(P, 0);
  // ends[p][s]: p#s was the last value of one push (written by producer p
  // only; read by the coordinator between epochs and after the join).
  std::vector<std::vector<bool>> ends(P);
  std::vector<ConsumerLog> logs;
  for (unsigned q = 0; q <= Q; ++q) logs.emplace_back(q, P, /*fifo=*/true);  // logs[Q]: leftovers
  std::vector<std::vector<Seam>> seams(Q);  // per consumer, checked and cleared after each epoch
  std::vector<std::uint64_t> bulk_pops(Q, 0), bulk_values(Q, 0);
  // Shared between epochs only, written by the coordinator between the two
  // barrier phases in which no worker touches them.
  std::unique_ptr<C> current;
  std::size_t max_batch = 1;
  bool done = false;
  std::barrier sync(static_cast<std::ptrdiff_t>(P + Q + 1));
  StallCheck stall(Q);

  auto producer = [&](unsigned p) {
    Rng rng(run.seed_for(1 + p));
    ThreadCounter& ops = run.counter(p);
    WorstWait worst;
    std::uint64_t seq = 0;
    std::vector<std::uint64_t> buf;
    std::vector<bool>& end = ends[p];
    auto record = [&](std::size_t k) {  // a push of k values went in
      for (std::size_t i = 0; i < k; ++i) end.push_back(i + 1 == k);
      seq += k;
    };
    auto untouched = [&](std::size_t from, const char* op) {
      for (std::size_t i = from; i < buf.size(); ++i) {
        if (buf[i] != Tag::make(p, seq + i)) {
          run.violation(std::string("conservation: ") + op + " changed value " + std::to_string(i) + " of " +
                        std::to_string(buf.size()) + ", which it did not push (" + std::to_string(from) + " pushed)");
          return;
        }
      }
    };
    for (;;) {
      sync.arrive_and_wait();
      if (done) break;
      C& c = *current;
      for (;;) {
        const auto op = rng.below(10);
        bool closed = false;
        Stopwatch sw;
        if (op < 6) {
          buf.resize(1 + rng.below(max_batch));
          for (std::size_t i = 0; i < buf.size(); ++i) buf[i] = Tag::make(p, seq + i);
          std::size_t k = 0;
          if (op < 4) {
            // op 3: the timed form, which may also stop at its deadline with
            // a prefix pushed (the rest keeps its numbers for the retry).
            const bool timed = op == 3;
            const Status s = timed ? c.push_bulk_for(std::span<std::uint64_t>(buf),
                                                     std::chrono::microseconds(rng.below(200)), &k)
                                   : c.push_bulk(std::span<std::uint64_t>(buf), &k);
            const char* name = timed ? "push_bulk_for" : "push_bulk";
            if ((s == Status::ok) != (k == buf.size()) || k > buf.size() || (s == Status::timeout && !timed)) {
              run.violation(std::string("conservation: ") + name + " of " + std::to_string(buf.size()) + " returned " +
                            to_string(s) + " with " + std::to_string(k) + " pushed");
            }
            closed = s == Status::closed;
            untouched(k, name);
          } else {
            k = c.try_push_bulk(std::span<std::uint64_t>(buf));
            closed = k == 0 && c.is_closed();
            untouched(k, "try_push_bulk");
          }
          // push_bulk_for's values go in as runs, other pushes possibly
          // between (one run per wait): each may end a run.
          if (op == 3) {
            for (std::size_t i = 0; i < std::min(k, buf.size()); ++i) record(1);
          } else {
            record(std::min(k, buf.size()));
          }
        } else {
          const Status s = mixed_push(c, Tag::make(p, seq), rng);
          if (s == Status::ok) record(1);  // a failed push keeps its number for the retry
          closed = s == Status::closed;
        }
        worst.see(sw.elapsed());
        ops.add();
        if (closed) break;
      }
      sync.arrive_and_wait();
    }
    pushed[p] = seq;  // read after join
    worst.flush(run);
  };
  auto consumer = [&](unsigned q) {
    Rng rng(run.seed_for(1 + P + q));
    ThreadCounter& ops = run.counter(P + q);
    WorstWait worst;
    ConsumerLog& log = logs[q];
    std::vector<std::uint64_t> buf;
    // drain: after close, pop_bulk until it reports closed (queue drained).
    auto drain = [&](C& c) {
      for (;;) {
        buf.resize(1 + rng.below(max_batch));
        std::size_t got = 0;
        const Status s = c.pop_bulk(std::span<std::uint64_t>(buf), &got);
        ops.add();
        for (std::size_t i = 0; i < got && i < buf.size(); ++i) log.receive(run, buf[i]);
        if (s != Status::ok) return;
      }
    };
    for (;;) {
      sync.arrive_and_wait();
      if (done) break;
      C& c = *current;
      for (;;) {
        const auto op = rng.below(10);
        bool closed = false;
        Stopwatch sw;
        if (op < 6) {
          buf.resize(1 + rng.below(max_batch));
          std::size_t got = 0;
          if (op < 4) {
            // op 3: the timed form: at least one value (ok), or none
            // (timeout, or closed and drained).
            const bool timed = op == 3;
            const Status s = timed ? c.pop_bulk_for(std::span<std::uint64_t>(buf),
                                                    std::chrono::microseconds(rng.below(200)), &got)
                                   : c.pop_bulk(std::span<std::uint64_t>(buf), &got);
            // Not closed after it returned: the pop took one run of tickets
            // and received every one (only close refuses a ticket), so its
            // values are consecutive FIFO positions.
            const bool one_run = s == Status::ok && !c.is_closed();
            const bool counted = timed ? (s == Status::ok) == (got >= 1) && got <= buf.size()
                                       : (s == Status::ok) == (got == buf.size()) && got <= buf.size() &&
                                             s != Status::timeout;
            if (!counted) {
              run.violation(std::string("conservation: ") + (timed ? "pop_bulk_for" : "pop_bulk") + " of " +
                            std::to_string(buf.size()) + " returned " + to_string(s) + " with " + std::to_string(got) +
                            " received");
              got = std::min(got, buf.size());
            }
            if (one_run) {
              ++bulk_pops[q];
              bulk_values[q] += got;
              for (std::size_t i = 0; i + 1 < got; ++i) {
                if (buf[i + 1] != buf[i] + 1) seams[q].push_back({buf[i], buf[i + 1]});
              }
            }
            closed = s == Status::closed;
          } else {
            got = std::min(c.try_pop_bulk(std::span<std::uint64_t>(buf)), buf.size());
            closed = got == 0 && c.is_closed();
          }
          worst.see(sw.elapsed());
          for (std::size_t i = 0; i < got; ++i) log.receive(run, buf[i]);
          stall.received(q, got);
          if (closed) {
            if (op >= 4) drain(c);  // pop_bulk reported closed: already drained
            break;
          }
        } else {
          std::uint64_t v = 0;
          const Status s = mixed_pop(c, v, rng);
          worst.see(sw.elapsed());
          if (s == Status::ok) {
            log.receive(run, v);
            stall.received(q);
          }
          if (s == Status::closed) {
            drain(c);
            break;
          }
        }
        ops.add();
      }
      sync.arrive_and_wait();
    }
    worst.flush(run);
  };

  Workers threads;
  for (unsigned p = 0; p < P; ++p) threads.add([&, p] { producer(p); });
  for (unsigned q = 0; q < Q; ++q) threads.add([&, q] { consumer(q); });
  threads.start();

  // check_seams: each seam a pop_bulk saw is between two pushes.
  std::uint64_t seams_checked = 0;
  auto check_seams = [&] {
    auto is_end = [&](std::uint64_t v) {
      const unsigned p = Tag::producer(v);
      return p < P && Tag::seq(v) < ends[p].size() && ends[p][Tag::seq(v)];
    };
    auto name = [](std::uint64_t v) { return "p" + std::to_string(Tag::producer(v)) + "#" + std::to_string(Tag::seq(v)); };
    for (unsigned q = 0; q < Q; ++q) {
      for (const Seam& s : seams[q]) {
        ++seams_checked;
        if (!Tag::valid(s.a, P) || !Tag::valid(s.b, P)) continue;  // conservation reports it
        const bool b_starts = Tag::seq(s.b) == 0 || is_end(s.b - 1);
        if (!is_end(s.a) || !b_starts) {
          run.violation("fifo: a bulk push did not take consecutive positions: consumer " + std::to_string(q) +
                        "'s pop_bulk received " + name(s.a) + " then " + name(s.b) + ", but " +
                        (is_end(s.a) ? name(s.b - 1) + " and " + name(s.b) : name(s.a) + " and " + name(s.a + 1)) +
                        " were pushed by one bulk push");
        }
      }
      seams[q].clear();
    }
  };

  Rng rng(run.seed_for(0));
  unsigned epochs = 0;
  std::uint64_t leftovers = 0;
  for (;; ++epochs) {
    static constexpr std::size_t capacities[] = {1, 2, 3, 4, 7, 16, 64};
    const std::size_t capacity = capacities[rng.below(std::size(capacities))];
    current = make(capacity, rng);
    max_batch = std::min<std::size_t>(2 * capacity + 1, 24);
    done = run.stopping();
    sync.arrive_and_wait();  // epoch starts
    if (done) break;
    stall.sleep_epoch(run, std::chrono::milliseconds(10 + rng.below(190)));
    current->close();
    sync.arrive_and_wait();  // every worker saw closed
    leftovers += drain_after_consumers(run, *current, logs[Q]);
    check_seams();
  }
  threads.join();
  verify_conservation(run, pushed, logs);
  std::uint64_t total = 0, pops = 0, popped = 0;
  for (const auto n : pushed) total += n;
  for (unsigned q = 0; q < Q; ++q) pops += bulk_pops[q], popped += bulk_values[q];
  run.note(std::to_string(epochs) + " epochs closed under load, " + std::to_string(total) + " values transferred, " +
           std::to_string(leftovers) + " drained after the consumers; " + std::to_string(pops) +
           " one-run pop_bulks of " + std::to_string(popped) + " values, " + std::to_string(seams_checked) +
           " seams between pushes checked");
}

template <class C>
std::unique_ptr<C> make_bulk_queue(std::size_t capacity, Rng& rng) {
  return std::make_unique<C>(capacity, random_queue_start(rng, capacity));
}

const Registrar bulk{Workload{
    "queue-bulk", "producers/consumers mixing bulk and single operations, close under load", Kind::blocking,
    check_conservation | check_fifo | check_progress, /*producer_consumer=*/true, /*expect_failure=*/false,
    [](Run& run) { run_bulk_transfer<U64Queue>(run, make_bulk_queue<U64Queue>); }}};

#ifdef CUBBY_STRESS_BROKEN
// ---------------------------------------------------------------------------
// Deliberately broken bulk queues: a real Queue whose bulk operations break
// one promise now and then (every n-th call of the calling thread).
// ---------------------------------------------------------------------------
enum class BulkFault {
  drop,   // try_pop_bulk of two or more loses its last value -> conservation (loss)
  split,  // push_bulk pushes in two runs, others may come between -> fifo (contiguity)
};

template <BulkFault F>
class BrokenBulkQueue : public U64Queue {
 public:
  using U64Queue::U64Queue;

  // drop: the last value received is lost (any count is a legal answer of
  // try_pop_bulk, so only conservation can tell).
  std::size_t try_pop_bulk(std::span<std::uint64_t> out) noexcept {
    const std::size_t got = U64Queue::try_pop_bulk(out);
    return F == BulkFault::drop && got >= 2 && every(31) ? got - 1 : got;
  }
  Status push_bulk(std::span<std::uint64_t> values, std::size_t* pushed = nullptr) noexcept {
    if (F != BulkFault::split || values.size() < 2 || !every(7)) return U64Queue::push_bulk(values, pushed);
    const std::size_t half = values.size() / 2;
    std::size_t first = 0, second = 0;
    Status s = U64Queue::push_bulk(values.first(half), &first);
    std::this_thread::yield();  // let another producer in between
    if (s == Status::ok) s = U64Queue::push_bulk(values.subspan(half), &second);
    if (pushed != nullptr) *pushed = first + second;
    return s;
  }

 private:
  static bool every(unsigned n) noexcept {
    thread_local unsigned calls = 0;
    return ++calls % n == 0;
  }
};

template <BulkFault F>
void broken_bulk(Run& run) {
  using C = BrokenBulkQueue<F>;
  run_bulk_transfer<C>(run, make_bulk_queue<C>);
}

// A queue that stops taking values 20 ms after it was made (each epoch makes
// one; the progress check watches the last 100 ms of every epoch of at
// least 120 ms, so every checked epoch sees the stall, however slowly the
// machine runs): then its push waits until close(), try_push reports full
// and push_for times out,
// each keeping its value, and pops wait for values that never come.  Nothing
// is lost or duplicated, and close() ends every wait: only the progress
// check can tell.
class StallingQueue : public U64Queue {
 public:
  using U64Queue::U64Queue;
  Status push(const std::uint64_t& v) noexcept {
    if (!stalled()) return U64Queue::push(v);
    while (!is_closed()) std::this_thread::sleep_for(std::chrono::microseconds(100));
    return Status::closed;
  }
  bool try_push(const std::uint64_t& v) noexcept { return !stalled() && U64Queue::try_push(v); }
  template <class Rep, class Period>
  Status push_for(const std::uint64_t& v, std::chrono::duration<Rep, Period> timeout) noexcept {
    if (!stalled()) return U64Queue::push_for(v, timeout);
    std::this_thread::sleep_for(timeout);
    return is_closed() ? Status::closed : Status::timeout;
  }

 private:
  bool stalled() const noexcept { return std::chrono::steady_clock::now() - born_ >= std::chrono::milliseconds(20); }
  const std::chrono::steady_clock::time_point born_ = std::chrono::steady_clock::now();
};

const Registrar broken_stall{Workload{
    "broken-queue-stall", "queue that stops taking values until close (nothing lost)", Kind::blocking,
    check_progress, true, true, [](Run& run) {
      run_transfer<StallingQueue>(
          run, [](Rng&) { return std::make_unique<StallingQueue>(16); }, /*fifo=*/true);
    }}};

const Registrar broken_bulk_drop{Workload{"broken-queue-bulk-drop", "queue whose try_pop_bulk loses a value now and then",
                                          Kind::blocking, check_conservation, true, true,
                                          broken_bulk<BulkFault::drop>}};
const Registrar broken_bulk_split{Workload{"broken-queue-bulk-gap",
                                           "queue whose push_bulk lets other pushes in between",
                                           Kind::blocking, check_fifo, true, true, broken_bulk<BulkFault::split>}};

// EarlyClosedQueue: a deliberately broken queue whose blocking pop answers
// `closed` now and then once the queue is closed, though values remain: the
// consumers stop, and the values they never received are found after them.
class EarlyClosedQueue : public U64Queue {
 public:
  using U64Queue::U64Queue;
  Status pop(std::uint64_t& v) noexcept {
    thread_local unsigned calls = 0;
    if (is_closed() && ++calls % 3 == 0) return Status::closed;
    return U64Queue::pop(v);
  }
};

const Registrar broken_early_closed{Workload{
    "broken-queue-early-closed", "queue whose pop answers closed while values remain", Kind::blocking,
    check_conservation, true, true, [](Run& run) {
      run_transfer<EarlyClosedQueue>(
          run,
          [](Rng& rng) { return std::make_unique<EarlyClosedQueue>(16, random_queue_start(rng, 16)); },
          /*fifo=*/true);
    }}};

// RefusingQueue: a deliberately broken queue whose try_push fails now and
// then on a free slot.  Even the looser close reading (voidable pushes,
// which this broken queue is checked with) must find no legal order for it.
class RefusingQueue : public U64Queue {
 public:
  using U64Queue::U64Queue;
  bool try_push(const std::uint64_t& v) noexcept {
    thread_local unsigned calls = 0;
    return ++calls % 5 != 0 && U64Queue::try_push(v);
  }
};

const Registrar broken_lin{Workload{
    "broken-queue-lin", "queue whose try_push sometimes fails on a free slot", Kind::blocking, check_linearizability,
    false, true, [](Run& run) {
      run_linearizability<RefusingQueue>(
          run, [](Rng& rng) { return std::make_unique<RefusingQueue>(2, random_queue_start(rng, 2)); }, LinShape{2, 12});
    }, /*min_threads=*/2, kLinMaxThreads}};

// DeafCloseQueue: a deliberately broken queue whose close() does nothing:
// the blocking operations a window leaves waiting at its close (and the
// watchdog's own close) never return, and the driver's hang watchdog must
// report it, as for broken-cubby-deaf-close.
class DeafCloseQueue : public U64Queue {
 public:
  using U64Queue::U64Queue;
  void close() noexcept {}
};

const Registrar broken_deaf_close{Workload{
    "broken-queue-deaf-close", "queue whose close() wakes nobody", Kind::blocking, check_progress, false, true,
    [](Run& run) {
      run_linearizability<DeafCloseQueue>(
          run, [](Rng& rng) { return std::make_unique<DeafCloseQueue>(2, random_queue_start(rng, 2)); }, LinShape{2, 12});
    }, /*min_threads=*/2, kLinMaxThreads}};
#endif

}  // namespace
}  // namespace cubby::stress
