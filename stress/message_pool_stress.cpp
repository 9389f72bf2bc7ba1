// stress/message_pool_stress.cpp: the workloads of cubby::MessageEngine.
//
//   message-pool         threads get (pool_only / always), put, put null, use
//                        OwnedMessage, resize bodies and hand messages to each
//                        other through a cubby::Queue<Message*>; every epoch a
//                        fresh engine with random options (per-thread caches
//                        included), half of them shut
//                        down while the threads are busy: exclusive
//                        ownership, reset on reuse, no leak
//   message-pool-faults  the same over a resource that fails every n-th
//                        allocation: out_of_memory reported (never null,
//                        never from pool_only), every injected failure
//                        reported exactly once, nothing lost or leaked
//
// Ownership: a holder stamps the message it acquires (got or received) by an
// atomic compare-exchange of header.user from 0 to its thread and
// acquisition number; it writes the same stamp into header.sequence, its thread into
// header.type and a pattern derived from the stamp into every body byte.
// Before giving the message up (put, or a push into the handoff queue) it
// checks all of that and exchanges the stamp back to 0.  A message handed to
// two holders at once is caught by the compare-exchange; a holder's writes lost or
// not visible to the next holder, by the header and body checks (and, under
// ThreadSanitizer, as a data race: header.sequence, header.type and the body
// are plain memory, ordered only by the pool's and the queue's handoffs).
//
// Conservation, at the end of each epoch (threads parked): every message is
// back (in the pool, or destroyed); a running engine's pool holds exactly
// live_messages() distinct messages, at most max_pooled; a shut-down engine
// has none alive; after the engine's destruction the counting resource has
// every byte back.
//
// With CUBBY_STRESS_BROKEN it also registers broken-pool-share, an
// engine that now and then hands a message already held to a second getter;
// the ownership check must catch it.
#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cubby/message_pool.hpp"
#include "cubby/queue.hpp"
#include "harness/channel_workloads.hpp"
#include "harness/workers.hpp"
#include "harness/conservation.hpp"
#include "harness/fault_resource.hpp"
#include "harness/rng.hpp"
#include "harness/workload.hpp"

namespace cubby::stress {
namespace {

constexpr std::size_t kMaxHeld = 4;    // messages one thread holds at most
constexpr std::size_t kMaxBody = 640;  // body bytes at most

// ---------------------------------------------------------------------------
// Stamps
// ---------------------------------------------------------------------------
std::uint64_t stamp_of(unsigned me, std::uint64_t n) noexcept { return (std::uint64_t{me} + 1) << 40 | (n & Tag::kSeqMask); }
unsigned thread_of(std::uint64_t stamp) noexcept { return static_cast<unsigned>((stamp >> 40) - 1); }

// holder: the stamp word.  relaxed (every access): the stamp detects two
// holders through the atomicity of exchange on one location alone; it must
// add no ordering, or it would hide a missing handoff edge (pool or queue)
// from ThreadSanitizer.
std::atomic_ref<std::uint64_t> holder(Message& m) noexcept { return std::atomic_ref<std::uint64_t>(m.header.user); }

std::byte pattern_word_byte(std::uint64_t word, std::size_t i) noexcept {
  return static_cast<std::byte>(word >> (8 * (i % 8)));
}
void fill_body(Message& m, std::uint64_t stamp) noexcept {
  auto& body = m.body();
  std::uint64_t word = 0;
  for (std::size_t i = 0; i < body.size(); ++i) {
    if (i % 8 == 0) word = mix(stamp ^ (i / 8));
    body[i] = pattern_word_byte(word, i);
  }
}
// body_mismatch: the first body byte that is not the pattern of `stamp`, or
// body.size() if all are.
std::size_t body_mismatch(const Message& m, std::uint64_t stamp) noexcept {
  const auto& body = m.body();
  std::uint64_t word = 0;
  for (std::size_t i = 0; i < body.size(); ++i) {
    if (i % 8 == 0) word = mix(stamp ^ (i / 8));
    if (body[i] != pattern_word_byte(word, i)) return i;
  }
  return body.size();
}

std::string who(std::uint64_t stamp) {
  return stamp == 0 ? std::string("nobody") : "thread " + std::to_string(thread_of(stamp));
}

// content_error: empty if m's header and body are what the holder of
// `stamp` wrote, else what differs.
std::string content_error(const Message& m, std::uint64_t stamp) {
  if (m.header.sequence != stamp) {
    return "its header.sequence says " + who(m.header.sequence) + " (acquisition " +
           std::to_string(m.header.sequence & Tag::kSeqMask) + ")";
  }
  if (m.header.type != thread_of(stamp)) return "its header.type says thread " + std::to_string(m.header.type);
  const std::size_t bad = body_mismatch(m, stamp);
  if (bad != m.body().size()) {
    return "body byte " + std::to_string(bad) + " of " + std::to_string(m.body().size()) + " was overwritten";
  }
  return {};
}

// ---------------------------------------------------------------------------
// Owned<E>: the RAII holder for engine E (OwnedMessage for MessageEngine).
// ---------------------------------------------------------------------------
template <class E>
class Guard {
 public:
  Guard(E& e, Message* m) noexcept : engine_(&e), message_(m) {}
  Guard(Guard&& o) noexcept : engine_(o.engine_), message_(std::exchange(o.message_, nullptr)) {}
  Guard& operator=(Guard&&) = delete;
  ~Guard() { reset(); }
  Message* get() const noexcept { return message_; }
  Message* release() noexcept { return std::exchange(message_, nullptr); }
  void reset() noexcept {
    if (message_ != nullptr) engine_->put(message_);
  }

 private:
  E* engine_;
  Message* message_;
};
template <class E>
struct OwnedOf {
  using type = Guard<E>;
};
template <>
struct OwnedOf<MessageEngine> {
  using type = OwnedMessage;
};

// ---------------------------------------------------------------------------
// The workload
// ---------------------------------------------------------------------------
struct PoolStats {
  std::uint64_t gets = 0, empty = 0, out_of_memory = 0, shut_down = 0, null_puts = 0;
  std::uint64_t handed = 0, received = 0, owned = 0, resized = 0, body_failures = 0, warm = 0;
  void merge(const PoolStats& o) noexcept {
    gets += o.gets, empty += o.empty, out_of_memory += o.out_of_memory, shut_down += o.shut_down;
    null_puts += o.null_puts, handed += o.handed, received += o.received, owned += o.owned;
    resized += o.resized, body_failures += o.body_failures, warm += o.warm;
  }
};

struct Held {
  Message* m;
  std::uint64_t stamp;
};

template <class E>
void run_message_pool(Run& run, bool faults) {
  const unsigned T = run.threads();  // >= 2 (registered with min_threads 2)
  FaultyResource resource;
  std::unique_ptr<E> engine;
  std::unique_ptr<Queue<Message*>> handoff;
  std::vector<PoolStats> stats(T);
  // Shared between epochs only, written by the coordinator between the two
  // barrier phases in which no worker touches them.
  bool done = false;
  // relaxed: a flag only; what the workers did reaches the coordinator
  // through the barrier, never through this flag.
  std::atomic<bool> epoch_over{false};
  std::barrier sync(static_cast<std::ptrdiff_t>(T + 1));

  auto worker = [&](unsigned me) {
    Rng rng(run.seed_for(1 + me));
    ThreadCounter& ops = run.counter(me);
    WorstWait worst;
    PoolStats& st = stats[me];
    std::vector<Held> held;
    std::uint64_t acquisitions = 0;

    // get_one: a get and the checks of its result; the message or null.
    auto get_one = [&](E& e, Strategy s) -> Message* {
      const GetResult r = e.get(s);
      if (!r) {
        const PoolError err = r.error();
        if (err == PoolError::out_of_memory) {
          ++st.out_of_memory;
          if (s == Strategy::pool_only) run.violation("faults: get(pool_only) reported out_of_memory; it never allocates");
          if (!faults) run.violation("faults: get(always) reported out_of_memory, but no allocation failed");
        } else if (err == PoolError::shut_down) {
          ++st.shut_down;
          if (!e.is_shut_down()) run.violation("faults: get() reported shut_down, but is_shut_down() is false");
        } else {
          run.violation("faults: get() reported error " + std::to_string(static_cast<unsigned>(err)));
        }
        return nullptr;
      }
      Message* m = r.value();
      if (m == nullptr) {
        ++st.empty;
        if (s == Strategy::always) run.violation("faults: get(always) returned null, neither a message nor an error");
      } else {
        ++st.gets;
      }
      return m;
    };
    // acquire: stamps m as ours; false (m untouched) if someone holds it.
    auto acquire = [&](Message* m, bool fresh, std::uint64_t& stamp) -> bool {
      stamp = stamp_of(me, ++acquisitions);
      // A compare-exchange, so that a loser leaves the winner's stamp alone.
      std::uint64_t prev = 0;
      if (!holder(*m).compare_exchange_strong(prev, stamp, std::memory_order_relaxed)) {  // relaxed: see holder()
        run.violation("ownership: thread " + std::to_string(me) + (fresh ? " got" : " received") +
                      " a message that " + who(prev) + " still holds");
        return false;
      }
      if (fresh) {
        if (m->header.type != 0 || m->header.flags != 0 || m->header.sequence != 0 || !m->body().empty()) {
          run.violation("ownership: thread " + std::to_string(me) + " got a message that was not reset (sequence " +
                        std::to_string(m->header.sequence) + ", " + std::to_string(m->body().size()) + " body bytes)");
        }
        if (m->body().capacity() != 0) ++st.warm;
      } else if (const std::string e = content_error(*m, m->header.sequence); !e.empty()) {
        run.violation("ownership: thread " + std::to_string(me) + " received a message from " +
                      who(m->header.sequence) + " but " + e);
      }
      m->header.type = me;
      m->header.flags = static_cast<std::uint32_t>(rng.next());
      m->header.sequence = stamp;
      fill_body(*m, stamp);
      return true;
    };
    // let_go: checks what we wrote and removes our stamp (before a put or a
    // push: once there, someone may take the message at once).
    auto let_go = [&](Message* m, std::uint64_t stamp) {
      if (const std::string e = content_error(*m, stamp); !e.empty()) {
        run.violation("ownership: thread " + std::to_string(me) + "'s message changed while it held it: " + e);
      }
      const std::uint64_t prev = holder(*m).exchange(0, std::memory_order_relaxed);  // relaxed: see holder()
      if (prev != stamp) {
        run.violation("ownership: thread " + std::to_string(me) + " releasing its message found it stamped by " +
                      who(prev));
      }
    };
    auto put_checked = [&](E& e, Message* m) {
      e.put(m);
      if (m != nullptr) run.violation("ownership: put() left the caller's pointer set");
    };
    auto take = [&](std::size_t i) {
      const Held h = held[i];
      held[i] = held.back();
      held.pop_back();
      return h;
    };

    for (;;) {
      sync.arrive_and_wait();
      if (done) break;
      E& e = *engine;
      Queue<Message*>& q = *handoff;
      // relaxed: see epoch_over.
      while (!epoch_over.load(std::memory_order_relaxed)) {
        Stopwatch sw;
        const auto op = rng.below(100);
        const Strategy strategy = rng.chance(50) ? Strategy::pool_only : Strategy::always;
        if (op < 28) {  // get
          if (held.size() >= kMaxHeld) {
            const Held h = take(rng.below(held.size()));
            let_go(h.m, h.stamp);
            put_checked(e, h.m);
          }
          if (Message* m = get_one(e, strategy)) {
            std::uint64_t stamp = 0;
            if (acquire(m, true, stamp)) {
              held.push_back({m, stamp});
            } else {
              put_checked(e, m);  // someone else's: give it back untouched
            }
          }
        } else if (op < 46) {  // put
          if (!held.empty()) {
            const Held h = take(rng.below(held.size()));
            let_go(h.m, h.stamp);
            put_checked(e, h.m);
          }
        } else if (op < 56) {  // hand one to another thread
          if (!held.empty()) {
            const std::size_t i = rng.below(held.size());
            const Held h = held[i];
            let_go(h.m, h.stamp);
            const bool pushed = rng.chance(50) ? q.try_push(h.m)
                                               : q.push_for(h.m, std::chrono::microseconds(rng.below(100))) == Status::ok;
            if (pushed) {
              (void)take(i);
              ++st.handed;
            } else {
              // Not deposited: still ours.  relaxed: see holder().
              std::uint64_t prev = 0;
              if (!holder(*h.m).compare_exchange_strong(prev, h.stamp, std::memory_order_relaxed)) {
                run.violation("ownership: thread " + std::to_string(me) + " kept a message that " + who(prev) +
                              " took meanwhile");
              }
            }
          }
        } else if (op < 70) {  // take one from another thread
          if (held.size() < kMaxHeld) {
            Message* m = nullptr;
            const bool popped = rng.chance(50) ? q.pop_for(m, std::chrono::microseconds(rng.below(100))) == Status::ok
                                               : [&] {
                                                   auto v = q.try_pop();
                                                   if (v) m = *v;
                                                   return v.has_value();
                                                 }();
            if (popped) {
              std::uint64_t stamp = 0;
              if (m == nullptr) {
                run.violation("ownership: the handoff queue delivered a null message");
              } else if (acquire(m, false, stamp)) {
                held.push_back({m, stamp});
                ++st.received;
              } else {
                put_checked(e, m);
              }
            }
          }
        } else if (op < 82) {  // resize a body
          if (!held.empty()) {
            Held& h = held[rng.below(held.size())];
            const std::size_t old_size = h.m->body().size();
            const std::size_t size = rng.chance(15) ? 0 : 1 + rng.below(kMaxBody);
            try {
              h.m->body().resize(size);
              ++st.resized;
            } catch (const std::bad_alloc&) {
              // Strong guarantee: the body is as it was.
              ++st.body_failures;
              if (!faults) run.violation("faults: a body resize failed, but no allocation failed");
              if (h.m->body().size() != old_size) run.violation("faults: a failed body resize changed the body's size");
            }
            fill_body(*h.m, h.stamp);
          }
        } else if (op < 92) {  // OwnedMessage
          if (Message* m = get_one(e, strategy)) {
            typename OwnedOf<E>::type owned(e, m);
            std::uint64_t stamp = 0;
            if (acquire(owned.get(), true, stamp)) {
              ++st.owned;
              let_go(owned.get(), stamp);
              switch (rng.below(3)) {
                case 0: {  // moved, then put back by the new owner's destructor
                  typename OwnedOf<E>::type other(std::move(owned));
                  if (owned.get() != nullptr) run.violation("ownership: a moved-from OwnedMessage still holds its message");
                  break;
                }
                case 1: owned.reset(); break;
                default: {
                  Message* raw = owned.release();
                  put_checked(e, raw);
                }
              }
            }
          }
        } else {  // put(null)
          Message* none = nullptr;
          e.put(none);
          if (none != nullptr) run.violation("ownership: put(null) produced a message");
          ++st.null_puts;
        }
        worst.see(sw.elapsed());
        ops.add();
      }
      // Epoch over: give everything back.
      for (const Held& h : held) {
        let_go(h.m, h.stamp);
        put_checked(e, h.m);
      }
      held.clear();
      sync.arrive_and_wait();
    }
    worst.flush(run);
  };

  Workers threads;
  for (unsigned i = 0; i < T; ++i) threads.add([&, i] { worker(i); });
  threads.start();

  Rng rng(run.seed_for(0));
  static constexpr std::uint64_t kFailEvery[] = {2, 3, 5, 17, 97};
  std::uint64_t epochs = 0, shutdowns_under_load = 0, construction_failures = 0, drained = 0, reuse_checks = 0;
  for (;; ++epochs) {
    // A fresh engine with random options (under faults its construction may
    // fail: it must then give every byte back).
    MessagePoolOptions options;
    options.initial_pooled = static_cast<std::uint32_t>(rng.below(17));
    options.max_pooled = options.initial_pooled + static_cast<std::uint32_t>(rng.below(rng.chance(20) ? 2 : 49));
    options.body_reserve = rng.chance(30) ? 1 + rng.below(256) : 0;
    // Per-thread caches: none, fewer than the threads (the rest use the
    // stack), or the default.
    options.thread_caches = rng.chance(20) ? 0 : rng.chance(30) ? 1 + static_cast<std::uint32_t>(rng.below(4)) : 64;
    const std::uint64_t every = faults ? kFailEvery[rng.below(std::size(kFailEvery))] : 0;
    for (unsigned attempt = 0;; ++attempt) {
      resource.fail_every(attempt < 3 ? every : 0);
      try {
        engine = std::make_unique<E>(options, &resource);
        break;
      } catch (const std::bad_alloc&) {
        ++construction_failures;
        if (!faults) run.violation("faults: the engine's construction failed, but no allocation failed");
        if (resource.bytes_outstanding() != 0) {
          run.violation("faults: a failed construction kept " + std::to_string(resource.bytes_outstanding()) + " bytes");
        }
      }
    }
    resource.fail_every(every);
    handoff = std::make_unique<Queue<Message*>>(1 + rng.below(8));
    const bool shutdown_under_load = rng.chance(50);
    epoch_over.store(false, std::memory_order_relaxed);  // relaxed: see epoch_over; the barrier orders it
    done = run.stopping();
    sync.arrive_and_wait();  // epoch starts
    if (done) break;
    sleep_while_running(run, std::chrono::milliseconds(10 + rng.below(90)));
    if (shutdown_under_load) {
      engine->shutdown();
      ++shutdowns_under_load;
      sleep_while_running(run, std::chrono::milliseconds(2 + rng.below(20)));
    }
    epoch_over.store(true, std::memory_order_relaxed);  // relaxed: see epoch_over
    sync.arrive_and_wait();  // every worker gave its messages back

    // Checks, alone: no allocation fails from here to the next epoch.
    resource.fail_every(0);
    E& e = *engine;
    while (auto v = handoff->try_pop()) {
      Message* m = *v;
      // relaxed: see holder(); the workers are parked.
      if (const std::uint64_t h = holder(*m).load(std::memory_order_relaxed); h != 0) {
        run.violation("ownership: a message left in the handoff queue is still stamped by " + who(h));
      }
      if (const std::string err = content_error(*m, m->header.sequence); !err.empty()) {
        run.violation("ownership: a message left in the handoff queue by " + who(m->header.sequence) + ": " + err);
      }
      e.put(m);
      ++drained;
    }
    handoff.reset();
    const bool shut = e.is_shut_down();
    if (shut) {
      for (const Strategy s : {Strategy::pool_only, Strategy::always}) {
        const GetResult r = e.get(s);
        if (r || r.error() != PoolError::shut_down) run.violation("faults: a get() after shutdown() did not report shut_down");
        if (r && r.value() != nullptr) {
          Message* m = r.value();
          e.put(m);
        }
      }
      if (e.live_messages() != 0) {
        run.violation("conservation: " + std::to_string(e.live_messages()) +
                      " messages alive after shutdown() and every message put back (leaked)");
      }
    } else {
      // The pool holds every live message, each once.
      const std::size_t live = e.live_messages();
      if (live > options.max_pooled) {
        run.violation("conservation: " + std::to_string(live) + " messages alive with none held, but the pool keeps at most " +
                      std::to_string(options.max_pooled));
      }
      std::vector<Message*> pooled;
      while (pooled.size() <= live + 1) {
        const GetResult r = e.get(Strategy::pool_only);
        if (!r || r.value() == nullptr) break;
        pooled.push_back(r.value());
      }
      std::sort(pooled.begin(), pooled.end());
      const auto distinct = static_cast<std::size_t>(std::unique(pooled.begin(), pooled.end()) - pooled.begin());
      if (distinct != pooled.size()) {
        run.violation("conservation: the pool handed out " + std::to_string(pooled.size() - distinct) +
                      " message(s) twice in a row of gets");
      }
      pooled.resize(distinct);  // put back each once (a duplicate would be destroyed twice)
      if (pooled.size() != live) {
        run.violation("conservation: live_messages() is " + std::to_string(live) + " with none held, but the pool held " +
                      std::to_string(pooled.size()) + " (messages lost or made up)");
      }
      for (Message* m : pooled) e.put(m);
      // Reuse keeps the body's capacity: put a message with a body, get it
      // back (alone, so the most recent), and regrow it without allocating.
      if (options.max_pooled > 0) {
        const GetResult r = e.get(Strategy::always);
        if (!r || r.value() == nullptr) {
          run.violation("faults: get(always) failed with no fault injected and no other thread");
        } else {
          Message* m = r.value();
          Message* const first = m;
          const std::size_t size = 1 + rng.below(kMaxBody);
          m->body().resize(size);
          const std::size_t capacity = m->body().capacity();
          e.put(m);
          const GetResult again = e.get(Strategy::pool_only);
          if (!again || again.value() == nullptr) {
            run.violation("conservation: a message put into a pool with room was not pooled");
          } else {
            m = again.value();
            if (m->header.sequence != 0 || m->header.type != 0 || !m->body().empty()) {
              run.violation("ownership: a message came back from the pool not reset");
            }
            if (m == first) {
              ++reuse_checks;
              const std::uint64_t before = resource.allocations();
              if (m->body().capacity() < capacity) {
                run.violation("ownership: a reused message's body lost its capacity (" + std::to_string(capacity) +
                              " -> " + std::to_string(m->body().capacity()) + ")");
              }
              m->body().resize(size);
              if (resource.allocations() != before) run.violation("ownership: regrowing a reused message's body allocated");
            }
            e.put(m);
          }
        }
      }
      if (rng.chance(50)) {
        e.shutdown();
        if (rng.chance(50)) e.shutdown();  // idempotent
        if (e.live_messages() != 0) {
          run.violation("conservation: " + std::to_string(e.live_messages()) + " messages alive after shutdown() with none held");
        }
      }
    }
    engine.reset();
    if (resource.bytes_outstanding() != 0 || resource.allocations() != resource.deallocations()) {
      run.violation("conservation: after the engine's destruction the resource still has " +
                    std::to_string(resource.bytes_outstanding()) + " bytes in " +
                    std::to_string(resource.allocations() - resource.deallocations()) + " allocations (leaked)");
    }
    // Every injected failure was reported once: by a get (out_of_memory), a
    // body resize (bad_alloc) or a construction (bad_alloc).
    PoolStats total;
    for (const auto& s : stats) total.merge(s);
    const std::uint64_t reported = total.out_of_memory + total.body_failures + construction_failures;
    if (reported != resource.failures()) {
      run.violation("faults: the resource failed " + std::to_string(resource.failures()) + " allocations, but " +
                    std::to_string(reported) + " failures were reported (" + std::to_string(total.out_of_memory) +
                    " out_of_memory, " + std::to_string(total.body_failures) + " body, " +
                    std::to_string(construction_failures) + " construction)");
    }
  }
  threads.join();

  PoolStats total;
  for (const auto& s : stats) total.merge(s);
  run.note(std::to_string(epochs) + " engines, " + std::to_string(shutdowns_under_load) + " shut down under load; " +
           std::to_string(total.gets) + " gets (" + std::to_string(total.warm) + " with a body buffer already there), " +
           std::to_string(total.empty) + " empty pool_only, " + std::to_string(total.shut_down) + " shut_down, " +
           std::to_string(total.out_of_memory) + " out_of_memory; " + std::to_string(total.handed) + " handed over (" +
           std::to_string(total.received) + " received, " + std::to_string(drained) + " drained at epoch end), " +
           std::to_string(total.owned) + " OwnedMessage, " + std::to_string(total.resized) + " body resizes, " +
           std::to_string(total.null_puts) + " put(null), " + std::to_string(reuse_checks) + " capacity-reuse checks");
  if (faults && resource.failures() == 0) run.violation("faults: no allocation failed on purpose; the check checked nothing");
  if (faults) {
    run.note(std::to_string(resource.failures()) + " allocations failed on purpose: " + std::to_string(total.out_of_memory) +
             " out_of_memory, " + std::to_string(total.body_failures) + " body resizes, " +
             std::to_string(construction_failures) + " constructions");
  }
}

const Registrar pool{Workload{
    "message-pool", "get/put/OwnedMessage/handoff via a queue, bodies resized, shutdown under load", Kind::blocking,
    check_ownership | check_conservation, /*producer_consumer=*/false, /*expect_failure=*/false,
    [](Run& run) { run_message_pool<MessageEngine>(run, /*faults=*/false); }, /*min_threads=*/2}};

const Registrar pool_faults{Workload{
    "message-pool-faults", "message-pool over a resource failing every n-th allocation", Kind::blocking,
    check_ownership | check_conservation | check_faults, false, false,
    [](Run& run) { run_message_pool<MessageEngine>(run, /*faults=*/true); }, /*min_threads=*/2}};

#ifdef CUBBY_STRESS_BROKEN
// WrappedEngine: forwards to a real MessageEngine; each broken engine below
// hides the member it breaks (run_message_pool calls them on its own type).
class WrappedEngine {
 public:
  WrappedEngine(MessagePoolOptions options, std::pmr::memory_resource* resource) : inner_(options, resource) {}
  GetResult get(Strategy s) { return inner_.get(s); }
  void put(Message*& m) { inner_.put(m); }
  void shutdown() { inner_.shutdown(); }
  bool is_shut_down() const { return inner_.is_shut_down(); }
  std::size_t live_messages() const { return inner_.live_messages(); }

 protected:
  MessageEngine inner_;
};

// ---------------------------------------------------------------------------
// SharingEngine: a deliberately broken engine.  Every 61st get() of a thread
// returns the message most recently got by another thread (if still out)
// instead of another, so two threads hold it.  It stays memory-safe: it counts the holders of
// each message it handed out and passes a put on to the real engine only
// when the last holder puts the message back.
// ---------------------------------------------------------------------------
class SharingEngine : public WrappedEngine {
 public:
  using WrappedEngine::WrappedEngine;

  GetResult get(Strategy s) {
    thread_local unsigned calls = 0;
    if (++calls % 61 == 0) {
      const std::lock_guard lock(mutex_);
      if (last_ != nullptr && last_getter_ != std::this_thread::get_id()) {
        ++holders_[last_];
        return GetResult::success(last_);
      }
    }
    const GetResult r = inner_.get(s);
    if (r && r.value() != nullptr) {
      const std::lock_guard lock(mutex_);
      ++holders_[r.value()];
      last_ = r.value();
      last_getter_ = std::this_thread::get_id();
    }
    return r;
  }
  void put(Message*& m) {
    if (m != nullptr) {
      const std::lock_guard lock(mutex_);
      const auto it = holders_.find(m);
      if (it != holders_.end() && --it->second > 0) {
        m = nullptr;  // another holder still has it
        return;
      }
      if (it != holders_.end()) holders_.erase(it);
      if (last_ == m) last_ = nullptr;
    }
    inner_.put(m);
  }

 private:
  std::mutex mutex_;
  std::unordered_map<Message*, unsigned> holders_;  // messages out, and how many hold each
  Message* last_ = nullptr;                          // the most recently got, if still out
  std::thread::id last_getter_;                      // the thread that got it
};

const Registrar broken_share{Workload{"broken-pool-share", "engine that hands one message to two getters",
                                      Kind::blocking, check_ownership, false, true,
                                      [](Run& run) { run_message_pool<SharingEngine>(run, /*faults=*/false); },
                                      /*min_threads=*/2}};

// FaultyEngine: a deliberately broken engine, by Fault: `swallow` retries a
// get() that failed for lack of memory once, without reporting the failure
// (the faults check must see an injected failure go unreported); `leak`
// loses every 50th message a thread gets from the pool: the caller sees an
// empty pool, the message stays alive (the conservation check must see it
// alive after shutdown()).  The lost messages go back to the engine only
// when FaultyEngine is destroyed, after the checks (an engine destroyed
// while a message is out ends the process).
enum class PoolFault { swallow, leak };
template <PoolFault F>
class FaultyEngine : public WrappedEngine {
 public:
  using WrappedEngine::WrappedEngine;
  FaultyEngine(const FaultyEngine&) = delete;
  FaultyEngine& operator=(const FaultyEngine&) = delete;
  ~FaultyEngine() {
    for (Message* m : lost_) inner_.put(m);
  }

  GetResult get(Strategy s) {
    GetResult r = inner_.get(s);
    if constexpr (F == PoolFault::swallow) {
      if (!r && r.error() == PoolError::out_of_memory) return inner_.get(s);
    } else {
      thread_local unsigned calls = 0;
      if (s == Strategy::pool_only && r && r.value() != nullptr && ++calls % 50 == 0) {
        const std::lock_guard lock(mutex_);
        lost_.push_back(r.value());
        return GetResult::success(nullptr);
      }
    }
    return r;
  }

 private:
  std::mutex mutex_;
  std::vector<Message*> lost_;  // leak: the messages lost so far
};

const Registrar broken_swallow{Workload{"broken-pool-swallow", "engine that hides a failed allocation", Kind::blocking,
                                        check_faults, false, true,
                                        [](Run& run) { run_message_pool<FaultyEngine<PoolFault::swallow>>(run, /*faults=*/true); },
                                        /*min_threads=*/2}};
const Registrar broken_leak{Workload{"broken-pool-leak", "engine that loses a pooled message now and then", Kind::blocking,
                                     check_conservation, false, true,
                                     [](Run& run) { run_message_pool<FaultyEngine<PoolFault::leak>>(run, /*faults=*/false); },
                                     /*min_threads=*/2}};
#endif

}  // namespace
}  // namespace cubby::stress
