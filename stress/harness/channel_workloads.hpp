// stress/harness/channel_workloads.hpp: the workloads shared by every
// primitive with the channel interface of Cubby and Queue:
//
//   Status push(T), pop(T&); bool try_push(T); optional<T> try_pop();
//   Status push_for(T, duration), pop_for(T&, duration); close(); is_closed()
//
// Each is a template over the channel type C and a factory `make(Rng&)`
// returning std::unique_ptr<C> (a fresh object, e.g. with a random start
// ticket).  A primitive's stress file instantiates them and registers the
// results; a deliberately broken wrapper (CUBBY_STRESS_BROKEN) is just
// another C.
//
//   run_transfer:        producers and consumers move tagged values in epochs
//                        that end with close() under load; checks
//                        conservation, (if fifo) per-producer order, and
//                        progress: values still move in the last 100 ms of
//                        an epoch (StallCheck; a stall would otherwise end
//                        at the close unnoticed).
//   run_handoff:         tokens circulate; each holder stamps the token it
//                        holds; checks exclusive ownership and that no token
//                        leaks.  The token's plain fields are written by every
//                        holder, so a handoff without a happens-before edge is
//                        a data race ThreadSanitizer reports.
//   run_linearizability: short windows of scripted operations from a few
//                        threads, checked against FifoSpec.
//
// The harness's own synchronisation while a workload runs is limited to
// relaxed atomics (progress counters, ownership stamps); epochs and windows
// are separated by std::barrier, whose edges lie outside the operations under
// test.  The exception is the linearizability clock, see lin::Clock.
#pragma once

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cubby/status.hpp"
#include "harness/conservation.hpp"
#include "harness/fifo_spec.hpp"
#include "harness/linearizability.hpp"
#include "harness/rng.hpp"
#include "harness/workers.hpp"
#include "harness/workload.hpp"

namespace cubby::stress {

// random_timeout: 0 (a deadline already due) a quarter of the time, else up
// to 200 us: short enough to time out often under contention.
inline std::chrono::microseconds random_timeout(Rng& rng) {
  return rng.chance(25) ? std::chrono::microseconds(0) : std::chrono::microseconds(rng.below(200));
}

// sleep_while_running: sleeps about `d`, returning early when the run stops.
inline void sleep_while_running(const Run& run, std::chrono::milliseconds d) {
  const auto until = std::chrono::steady_clock::now() + d;
  while (!run.stopping() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

// One operation of the mix: blocking half the time, try a fifth, timed the rest.
template <class C, class T>
Status mixed_push(C& c, T v, Rng& rng) {
  const auto pick = rng.below(10);
  if (pick < 5) return c.push(v);
  if (pick < 7) return c.try_push(v) ? Status::ok : (c.is_closed() ? Status::closed : Status::timeout);
  return c.push_for(v, random_timeout(rng));
}
template <class C, class T>
Status mixed_pop(C& c, T& out, Rng& rng) {
  const auto pick = rng.below(10);
  if (pick < 5) return c.pop(out);
  if (pick < 7) {
    if (auto v = c.try_pop()) {
      out = *v;
      return Status::ok;
    }
    return c.is_closed() ? Status::closed : Status::timeout;
  }
  return c.pop_for(out, random_timeout(rng));
}

// StallCheck: whether values keep moving through an epoch.  Consumers count
// what they receive (relaxed, as ThreadCounter: a statistic that publishes
// nothing); the coordinator sleeps through the epoch with sleep_epoch, which
// checks that the count grew during the epoch's last kWindow.  Without it a
// primitive that stalls (every operation blocked or timing out while
// producers and consumers run) would go unnoticed: the epoch's close() wakes
// every thread, and no value is lost or duplicated.
class StallCheck {
 public:
  static constexpr std::chrono::milliseconds kWindow{100};

  explicit StallCheck(unsigned consumers) : moved_(consumers) {}
  // received: consumer q received n values (only consumer q calls it).
  void received(unsigned q, std::uint64_t n = 1) noexcept { moved_[q].add(n); }
  // sleep_epoch: sleeps `len`, returning early when the run stops; an epoch
  // of at least 1.2 kWindow is checked over its last kWindow.
  void sleep_epoch(Run& run, std::chrono::milliseconds len) const {
    if (len < kWindow + kWindow / 5) return sleep_while_running(run, len);
    sleep_while_running(run, len - kWindow);
    const std::uint64_t before = total();
    const auto t0 = std::chrono::steady_clock::now();
    sleep_while_running(run, kWindow);
    if (run.stopping() || std::chrono::steady_clock::now() - t0 < kWindow) return;
    if (total() == before) {
      run.violation("progress: no value moved in the last " + std::to_string(kWindow.count()) +
                    " ms of an epoch while producers and consumers ran (a stall)");
    }
  }

 private:
  std::uint64_t total() const noexcept {
    std::uint64_t n = 0;
    // relaxed: a statistic (see ThreadCounter).
    for (const auto& c : moved_) n += c.ops.load(std::memory_order_relaxed);
    return n;
  }
  std::vector<ThreadCounter> moved_;
};

// drain_after_consumers: after an epoch's close(), once every consumer has
// popped until `closed`, takes what is left into `log`.  `closed` is final
// (no push that returns ok deposits after it), so nothing should be: a value
// left here was pushed with ok and no consumer would have received it.
template <class C>
std::uint64_t drain_after_consumers(Run& run, C& c, ConsumerLog& log) {
  std::uint64_t left = 0;
  while (auto v = c.try_pop()) {
    ++left;
    log.receive(run, *v);
  }
  if (left > 0) {
    run.violation("conservation: " + std::to_string(left) +
                  " value(s) left after every consumer popped until closed (a pop's closed was not final)");
  }
  return left;
}

// ---------------------------------------------------------------------------
// run_transfer
// ---------------------------------------------------------------------------
template <class C, class Make>
void run_transfer(Run& run, Make make, bool fifo) {
  const unsigned P = run.producers(), Q = run.consumers();
  std::vector<std::uint64_t> pushed(P, 0);
  std::vector<ConsumerLog> logs;
  for (unsigned q = 0; q <= Q; ++q) logs.emplace_back(q, P, fifo);  // logs[Q]: leftovers after each epoch
  // Shared between epochs only, written by the coordinator between the two
  // barrier phases in which no worker touches them.
  std::unique_ptr<C> current;
  bool done = false;
  std::barrier sync(static_cast<std::ptrdiff_t>(P + Q + 1));
  StallCheck stall(Q);

  auto producer = [&](unsigned p) {
    Rng rng(run.seed_for(1 + p));
    ThreadCounter& ops = run.counter(p);
    WorstWait worst;
    std::uint64_t seq = 0;
    for (;;) {
      sync.arrive_and_wait();
      if (done) break;
      C& c = *current;
      for (;;) {
        Stopwatch sw;
        const Status s = mixed_push(c, Tag::make(p, seq), rng);
        worst.see(sw.elapsed());
        ops.add();
        if (s == Status::ok) ++seq;  // a failed push keeps its number for the retry
        if (s == Status::closed) break;
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
    for (;;) {
      sync.arrive_and_wait();
      if (done) break;
      C& c = *current;
      for (;;) {
        std::uint64_t v = 0;
        Stopwatch sw;
        const Status s = mixed_pop(c, v, rng);
        worst.see(sw.elapsed());
        ops.add();
        if (s == Status::ok) {
          log.receive(run, v);
          stall.received(q);
        }
        if (s != Status::closed) continue;
        // Closed: values deposited before close() are still owed; drain them.
        while (c.pop(v) == Status::ok) {
          ops.add();
          log.receive(run, v);
        }
        break;
      }
      sync.arrive_and_wait();
    }
    worst.flush(run);
  };

  Workers threads;
  for (unsigned p = 0; p < P; ++p) threads.add([&, p] { producer(p); });
  for (unsigned q = 0; q < Q; ++q) threads.add([&, q] { consumer(q); });
  threads.start();

  Rng rng(run.seed_for(0));
  unsigned epochs = 0;
  std::uint64_t leftovers = 0;
  for (;; ++epochs) {
    current = make(rng);
    done = run.stopping();
    sync.arrive_and_wait();  // epoch starts
    if (done) break;
    // Each epoch ends with close() while producers and consumers are busy.
    stall.sleep_epoch(run, std::chrono::milliseconds(10 + rng.below(190)));
    current->close();
    sync.arrive_and_wait();  // every worker saw closed
    leftovers += drain_after_consumers(run, *current, logs[Q]);
  }
  threads.join();
  verify_conservation(run, pushed, logs);
  std::uint64_t total = 0;
  for (const auto n : pushed) total += n;
  run.note(std::to_string(epochs) + " epochs closed under load, " + std::to_string(total) + " values transferred, " +
           std::to_string(leftovers) + " left in the primitive and drained after the consumers");
}

// ---------------------------------------------------------------------------
// run_handoff
// ---------------------------------------------------------------------------
struct Token {
  // holder: 0 free, else the holder's thread index + 1.  relaxed (every
  // access): the stamp detects overlapping ownership through the atomicity of
  // exchange on one location alone; it must add no ordering, or it would hide
  // a missing handoff edge in the primitive from ThreadSanitizer.
  std::atomic<unsigned> holder{0};
  std::uint64_t uses = 0;   // plain: written by each holder (see file comment)
  unsigned last_holder = 0;  // plain: as above
};

template <class C, class Make>
void run_handoff(Run& run, Make make) {
  const unsigned T = run.threads();  // >= 2 (registered with min_threads 2)
  const unsigned K = T - 1;  // fewer tokens than threads: someone always pops
  std::vector<Token> tokens(K);
  Rng coordinator(run.seed_for(0));
  std::unique_ptr<C> channel = make(coordinator);
  std::vector<std::vector<Token*>> held(T);
  std::vector<std::uint64_t> acquired(T, 0);

  auto stamp = [&run](Token* t, unsigned me, const char* when) {
    const unsigned prev = t->holder.exchange(me + 1, std::memory_order_relaxed);  // relaxed: see Token::holder
    if (prev != 0) {
      run.violation("ownership: thread " + std::to_string(me) + " " + when + " a token that thread " +
                    std::to_string(prev - 1) + " still holds");
    }
  };
  auto unstamp = [&run](Token* t, unsigned me) {
    const unsigned prev = t->holder.exchange(0, std::memory_order_relaxed);  // relaxed: see Token::holder
    if (prev != me + 1) {
      run.violation("ownership: thread " + std::to_string(me) + " releasing its token found it stamped by " +
                    (prev == 0 ? std::string("nobody") : "thread " + std::to_string(prev - 1)));
    }
  };

  auto worker = [&](unsigned me) {
    Rng rng(run.seed_for(1 + me));
    ThreadCounter& ops = run.counter(me);
    WorstWait worst;
    Token* mine = me < K ? &tokens[me] : nullptr;
    if (mine != nullptr) {
      stamp(mine, me, "started with");
      ++mine->uses;
      ++acquired[me];
    }
    for (;;) {
      Stopwatch sw;
      if (mine != nullptr) {
        mine->last_holder = me;
        for (auto spin = rng.below(64); spin > 0; --spin) std::atomic_signal_fence(std::memory_order_seq_cst);
        unstamp(mine, me);  // before the push: once in the channel, someone may pop it at once
        const Status s = mixed_push(*channel, mine, rng);
        worst.see(sw.elapsed());
        ops.add();
        if (s == Status::ok) {
          mine = nullptr;
          continue;
        }
        stamp(mine, me, "kept");  // not deposited: still ours
        if (s == Status::closed) break;
      } else {
        Token* t = nullptr;
        const Status s = mixed_pop(*channel, t, rng);
        worst.see(sw.elapsed());
        ops.add();
        if (s == Status::closed) break;
        if (s != Status::ok) continue;
        if (t == nullptr || t < tokens.data() || t >= tokens.data() + K) {
          run.violation("ownership: thread " + std::to_string(me) + " received a pointer that is no token");
          continue;
        }
        mine = t;
        stamp(mine, me, "received");
        ++mine->uses;
        ++acquired[me];
      }
    }
    if (mine != nullptr) held[me].push_back(mine);
    worst.flush(run);
  };

  Workers threads;
  for (unsigned i = 0; i < T; ++i) threads.add([&, i] { worker(i); });
  threads.start();
  run.wait_until_stopping();
  channel->close();
  threads.join();

  // Every token is now held by exactly one thread or left in the channel.
  std::vector<unsigned> seen(K, 0);
  auto count = [&](Token* t) {
    if (t >= tokens.data() && t < tokens.data() + K) ++seen[static_cast<std::size_t>(t - tokens.data())];
  };
  for (const auto& h : held) {
    for (Token* t : h) {
      count(t);
      unstamp(t, static_cast<unsigned>(&h - held.data()));
    }
  }
  while (auto t = channel->try_pop()) count(*t);
  std::uint64_t uses = 0, acquisitions = 0;
  for (unsigned k = 0; k < K; ++k) {
    uses += tokens[k].uses;
    if (seen[k] == 0) run.violation("ownership: token " + std::to_string(k) + " leaked (held by nobody at the end)");
    if (seen[k] > 1) run.violation("ownership: token " + std::to_string(k) + " found " + std::to_string(seen[k]) + " times at the end");
  }
  for (const auto a : acquired) acquisitions += a;
  if (uses != acquisitions) {
    run.violation("ownership: tokens count " + std::to_string(uses) + " uses but threads acquired " +
                  std::to_string(acquisitions) + " times (a holder's write was lost)");
  }
  run.note(std::to_string(acquisitions) + " acquisitions of " + std::to_string(K) + " tokens by " + std::to_string(T) + " threads");
}

// ---------------------------------------------------------------------------
// run_linearizability
// ---------------------------------------------------------------------------
// The window's width is the run's thread count: register these workloads
// with min_threads 2 and max_threads kLinMaxThreads.
constexpr unsigned kLinMaxThreads = 4;
struct LinShape {
  unsigned capacity = 1;        // the primitive's capacity (the spec's)
  unsigned ops_per_window = 12; // about, spread over the threads
  bool atomic_close = false;    // the primitive promises a linearizable close()
};

// mark_voidable: a failed push or pop that a close() began before it
// returned may have been voided by that close (see FifoSpec).
inline void mark_voidable(lin::History<FifoSpec>& h) {
  std::uint64_t first_close = ~std::uint64_t{0};
  for (const auto& op : h.ops) {
    if (op.call.kind == FifoSpec::Kind::close || op.call.kind == FifoSpec::Kind::close_begin) first_close = std::min(first_close, op.invoked);
  }
  for (auto& op : h.ops) {
    const bool failed = op.call.result == FifoSpec::Result::closed || op.call.result == FifoSpec::Result::failed;
    if (op.call.kind != FifoSpec::Kind::close && failed && first_close < op.responded) op.call.voidable = true;
  }
}

template <class C, class Make>
void run_linearizability(Run& run, Make make, LinShape shape) {
  using Spec = FifoSpec;
  using OpKind = Spec::Kind;
  using Result = Spec::Result;
  const unsigned T = run.threads();
  const unsigned per_thread = std::max(2u, shape.ops_per_window / T);

  struct Step {
    OpKind kind;
    std::uint64_t value;
    std::chrono::microseconds timeout;
  };
  std::vector<std::vector<Step>> scripts(T);
  std::vector<std::vector<lin::Op<Spec>>> records(T + 1);  // records[T]: the coordinator's close
  std::unique_ptr<C> current;
  bool done = false;
  lin::Clock clock;
  // relaxed: the coordinator only decides whether to close (an operation the
  // history records either way); the records themselves cross the barrier.
  std::atomic<unsigned> finished{0};
  std::barrier sync(static_cast<std::ptrdiff_t>(T + 1));
  // record: a close() becomes its two points (see FifoSpec), unless
  // --strict-close asks for an atomic one.
  const bool strict = shape.atomic_close || run.config().strict_close;
  auto record = [strict](std::vector<lin::Op<Spec>>& into, lin::Op<Spec> op) {
    if (op.call.kind == OpKind::close && !strict) {
      op.call.kind = OpKind::close_begin;
      into.push_back(op);
      op.call.kind = OpKind::close_end;
    }
    into.push_back(op);
  };

  auto worker = [&](unsigned me) {
    ThreadCounter& ops = run.counter(me);
    WorstWait worst;
    for (;;) {
      sync.arrive_and_wait();
      if (done) break;
      C& c = *current;
      for (const Step& step : scripts[me]) {
        lin::Op<Spec> op;
        op.thread = me;
        op.call.kind = step.kind;
        op.call.value = Spec::is_push(step.kind) ? step.value : 0;
        Stopwatch sw;
        op.invoked = clock.stamp();
        std::uint64_t out = 0;
        switch (step.kind) {
          case OpKind::push: op.call.result = Spec::from(c.push(step.value)); break;
          case OpKind::push_for: op.call.result = Spec::from(c.push_for(step.value, step.timeout)); break;
          case OpKind::try_push: op.call.result = c.try_push(step.value) ? Result::ok : Result::failed; break;
          case OpKind::pop: op.call.result = Spec::from(c.pop(out)); break;
          case OpKind::pop_for: op.call.result = Spec::from(c.pop_for(out, step.timeout)); break;
          case OpKind::try_pop:
            if (auto v = c.try_pop()) {
              out = *v;
              op.call.result = Result::ok;
            } else {
              op.call.result = Result::failed;
            }
            break;
          case OpKind::close:
          case OpKind::close_begin:
          case OpKind::close_end:
            c.close();
            op.call.result = Result::ok;
            break;
        }
        op.responded = clock.stamp();
        worst.see(sw.elapsed());
        if (Spec::is_pop(step.kind) && op.call.result == Result::ok) op.call.value = out;
        record(records[me], op);
        ops.add();
      }
      finished.fetch_add(1, std::memory_order_relaxed);  // relaxed: see `finished`
      sync.arrive_and_wait();
    }
    worst.flush(run);
  };

  Workers threads;
  for (unsigned i = 0; i < T; ++i) threads.add([&, i] { worker(i); });
  threads.start();

  Rng rng(run.seed_for(0));
  std::uint64_t windows = 0, watchdog_closes = 0, failures = 0;
  for (;; ++windows) {
    // Prepare the window: a fresh object, maybe pre-filled, and the scripts.
    lin::History<Spec> history;
    history.initial.capacity = static_cast<std::uint8_t>(shape.capacity);
    current = make(rng);
    if (rng.chance(40)) {
      const auto fill = 1 + rng.below(shape.capacity);
      for (std::uint64_t k = 0; k < fill; ++k) {
        const std::uint64_t v = 900 + k;
        if (!current->try_push(v)) break;
        history.initial.values[history.initial.size++] = v;
      }
    }
    for (unsigned t = 0; t < T; ++t) {
      scripts[t].clear();
      records[t].clear();
      for (unsigned j = 0; j < per_thread; ++j) {
        static constexpr OpKind kinds[] = {OpKind::push, OpKind::push_for, OpKind::try_push,
                                         OpKind::pop,  OpKind::pop_for,  OpKind::try_pop};
        const OpKind k = rng.chance(3) ? OpKind::close : kinds[rng.below(6)];
        const auto timeout = std::chrono::microseconds(rng.chance(30) ? 0 : rng.below(60));
        scripts[t].push_back({k, 1 + t * 32 + j, timeout});
      }
    }
    records[T].clear();
    finished.store(0, std::memory_order_relaxed);  // relaxed: see `finished`; the barrier orders it
    done = run.stopping();
    sync.arrive_and_wait();  // window starts
    if (done) break;
    // Watchdog: blocking operations may wait for partners that never come;
    // after a while the coordinator closes the object, as a recorded operation.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(3);
    while (finished.load(std::memory_order_relaxed) < T && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
    if (finished.load(std::memory_order_relaxed) < T) {
      lin::Op<Spec> op;
      op.thread = T;
      op.call.kind = OpKind::close;
      op.invoked = clock.stamp();
      current->close();
      op.responded = clock.stamp();
      record(records[T], op);
      ++watchdog_closes;
      run.counter(T).add();
    }
    sync.arrive_and_wait();  // window ends: the records are complete
    for (const auto& r : records) history.ops.insert(history.ops.end(), r.begin(), r.end());
    if (!strict) mark_voidable(history);
    if (!lin::is_linearizable(history)) {
      ++failures;
      std::string message = "linearizability: window " + std::to_string(windows) + " (" +
                            std::to_string(history.ops.size()) + " operations) has no legal order";
      if (run.violation_count() < 4) {
        const auto small = lin::shrink(history);
        message += "; smallest failing history (" + std::to_string(small.ops.size()) +
                   " operations; t" + std::to_string(T) + " is the watchdog):\n" + lin::render(small);
        if (run.config().verbose) message += "  the whole window:\n" + lin::render(history);
      }
      run.violation(message);
    }
  }
  threads.join();
  run.note(std::to_string(windows) + " windows of " + std::to_string(T) + " threads x " + std::to_string(per_thread) +
           " operations checked, " + std::to_string(watchdog_closes) + " ended by the watchdog's close, " +
           std::to_string(failures) + " not linearizable");
}

}  // namespace cubby::stress
