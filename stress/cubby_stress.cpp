// stress/cubby_stress.cpp: the workloads of cubby::Cubby.
//
//   cubby          producers/consumers over the whole API, epochs closed
//                  under load, random start tickets (counter and turn
//                  wrap-around): conservation, per-producer FIFO
//   cubby-handoff  pointers to tokens handed through one cubby: exclusive
//                  ownership, no leak, holders' plain writes ordered
//   cubby-lin      short windows checked against a capacity-1 FIFO
//
// With CUBBY_STRESS_BROKEN (the cubby-stress-broken program) it also
// registers the same workloads over deliberately broken wrappers, each of
// which one check must catch; the `stress` ctests require them to fail.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>

#include "cubby/cubby.hpp"
#include "harness/channel_workloads.hpp"

namespace cubby::stress {
namespace {

// random_start: where the ticket counters start.  Half the objects start
// next to a wrap-around: of the 64-bit counters, or of the 31-bit turn (turn
// = 2 * lap mod 2^31 wraps at lap 2^30).
StartTicket random_start(Rng& rng) {
  switch (rng.below(4)) {
    case 0: return StartTicket{~std::uint64_t{0} - rng.below(16)};
    case 1: return StartTicket{(std::uint64_t{1} << 30) - rng.below(16)};
    case 2: return StartTicket{rng.next()};
    default: return StartTicket{0};
  }
}

template <class C>
std::unique_ptr<C> make_channel(Rng& rng) {
  return std::make_unique<C>(random_start(rng));
}

const Registrar transfer{Workload{
    "cubby", "producers/consumers, blocking/try/timed mix, close under load, wrapping tickets", Kind::blocking,
    check_conservation | check_fifo | check_progress, /*producer_consumer=*/true, /*expect_failure=*/false,
    [](Run& run) { run_transfer<Cubby<std::uint64_t>>(run, make_channel<Cubby<std::uint64_t>>, /*fifo=*/true); }}};

const Registrar handoff{Workload{
    "cubby-handoff", "tokens handed through one cubby, each holder stamps its token", Kind::blocking,
    check_ownership | check_conservation, false, false,
    [](Run& run) { run_handoff<Cubby<Token*>>(run, make_channel<Cubby<Token*>>); }, /*min_threads=*/2}};

const Registrar linearizability{Workload{
    "cubby-lin", "windows of concurrent operations checked against a capacity-1 FIFO", Kind::blocking,
    check_linearizability, false, false,
    [](Run& run) { run_linearizability<Cubby<std::uint64_t>>(run, make_channel<Cubby<std::uint64_t>>, LinShape{1, 12, true}); },
    /*min_threads=*/2, kLinMaxThreads}};

#ifdef CUBBY_STRESS_BROKEN
// ---------------------------------------------------------------------------
// Deliberately broken cubbies.  Each wraps a real Cubby and breaks one
// promise on a fixed schedule (every n-th call of the calling thread), so
// that one check of the harness must report it.
// ---------------------------------------------------------------------------
enum class Fault {
  drop,       // a push reports ok but deposits nothing      -> conservation (loss)
  duplicate,  // a popped value is put back as well          -> conservation (duplicate)
  reorder,    // a pop keeps a value back and returns it after the next one -> fifo
  refuse,     // try_push fails although the slot is free    -> linearizability only
  share,      // a pop hands out the last popped value again -> ownership
  deaf_close, // close() does nothing: blocked operations never return -> hang
};

template <class T, Fault F>
class BrokenCubby {
 public:
  explicit BrokenCubby(StartTicket start) : inner_(start) {}

  Status push(T v) { return dropped() ? Status::ok : inner_.push(v); }
  bool try_push(T v) {
    if constexpr (F == Fault::refuse) {
      if (every(5)) return false;
    }
    return dropped() || inner_.try_push(v);
  }
  template <class D>
  Status push_for(T v, D d) {
    return dropped() ? Status::ok : inner_.push_for(v, d);
  }
  Status pop(T& out) {
    if (take_held(out)) return Status::ok;
    return after_pop(inner_.pop(out), out);
  }
  std::optional<T> try_pop() {
    T out{};
    if (take_held(out)) return out;
    auto v = inner_.try_pop();
    if (v) (void)after_pop(Status::ok, *v);
    return v;
  }
  template <class D>
  Status pop_for(T& out, D d) {
    if (take_held(out)) return Status::ok;
    return after_pop(inner_.pop_for(out, d), out);
  }
  void close() {
    if constexpr (F != Fault::deaf_close) inner_.close();
  }
  bool is_closed() const { return inner_.is_closed(); }

 private:
  static bool every(unsigned n) {
    thread_local unsigned calls = 0;
    return ++calls % n == 0;
  }
  static bool dropped() { return F == Fault::drop && every(499); }

  // reorder: a value kept back by this thread is delivered by its next pop.
  static bool take_held(T& out) {
    if (F != Fault::reorder || !held_) return false;
    out = *held_;
    held_.reset();
    return true;
  }

  Status after_pop(Status s, T& out) {
    if (s != Status::ok) return s;
    if constexpr (F == Fault::duplicate) {
      if (every(499)) (void)inner_.push_for(out, std::chrono::milliseconds(1));
    } else if constexpr (F == Fault::reorder) {
      if (every(53)) {
        if (auto newer = inner_.try_pop()) {
          held_ = out;  // the older value comes after the newer one
          out = *newer;
        }
      }
    } else if constexpr (F == Fault::share) {
      if (every(97)) {
        // relaxed: the bug needs no ordering, and adding some would only hide it
        if (const T shared = last_.load(std::memory_order_relaxed)) out = shared;
      }
      last_.store(out, std::memory_order_relaxed);  // relaxed: as above
    }
    return s;
  }

  Cubby<T> inner_;
  static thread_local std::optional<T> held_;  // reorder: the value kept back by this thread
  std::atomic<T> last_{};                      // share: the last value popped
};

template <class T, Fault F>
thread_local std::optional<T> BrokenCubby<T, F>::held_;

template <Fault F>
void broken_transfer(Run& run) {
  using C = BrokenCubby<std::uint64_t, F>;
  run_transfer<C>(run, make_channel<C>, /*fifo=*/true);
}

const Registrar broken_drop{Workload{"broken-cubby-drop", "cubby that loses a pushed value now and then",
                                     Kind::blocking, check_conservation, true, true, broken_transfer<Fault::drop>}};
const Registrar broken_duplicate{Workload{"broken-cubby-dup", "cubby that delivers a value twice now and then",
                                          Kind::blocking, check_conservation, true, true,
                                          broken_transfer<Fault::duplicate>}};
const Registrar broken_reorder{Workload{"broken-cubby-reorder", "cubby that swaps two values now and then",
                                        Kind::blocking, check_fifo, true, true, broken_transfer<Fault::reorder>}};
const Registrar broken_refuse{Workload{
    "broken-cubby-lin", "cubby whose try_push sometimes fails on a free slot", Kind::blocking, check_linearizability,
    false, true, [](Run& run) {
      using C = BrokenCubby<std::uint64_t, Fault::refuse>;
      run_linearizability<C>(run, make_channel<C>, LinShape{1, 12, true});
    }, /*min_threads=*/2, kLinMaxThreads}};
const Registrar broken_share{Workload{"broken-cubby-handoff", "cubby that hands one pointer to two poppers",
                                      Kind::blocking, check_ownership, false, true, [](Run& run) {
                                        using C = BrokenCubby<Token*, Fault::share>;
                                        run_handoff<C>(run, make_channel<C>);
                                      }, /*min_threads=*/2}};
// A close() that wakes nobody (here: does nothing) leaves the window's
// blocking operations waiting for good, the watchdog's close too: the
// driver's hang watchdog must report it (with the seed) and end the run.
const Registrar broken_deaf_close{Workload{
    "broken-cubby-deaf-close", "cubby whose close() wakes nobody", Kind::blocking, check_progress, false, true,
    [](Run& run) {
      using C = BrokenCubby<std::uint64_t, Fault::deaf_close>;
      run_linearizability<C>(run, make_channel<C>, LinShape{1, 12, true});
    }, /*min_threads=*/2, kLinMaxThreads}};
#endif

}  // namespace
}  // namespace cubby::stress
