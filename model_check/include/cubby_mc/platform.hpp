// cubby_mc/platform.hpp: ModelPlatform, the platform seam (see
// cubby/platform/native.hpp) implemented by the model checker.  Instantiate a
// primitive with it to explore its interleavings:
//
//   cubby::Cubby<int, cubby::mc::ModelPlatform> c;
//
// Every atomic operation, fence and futex call is a visible step of the model
// thread that makes it; cells are race-checked.  Spinning is switched off
// (spin_pauses = spin_yields = 0): a blocking wait goes straight to the futex,
// which keeps executions short; the spin path is exercised by pause()/yield()
// being yield points.
#pragma once

#ifdef CUBBY_MC_RELACY
#include "cubby_mc/relacy_platform.hpp"
#else

#include <cstdint>

#include "cubby/platform/futex.hpp"
#include "cubby_mc/mc.hpp"

namespace cubby::mc {

struct ModelPlatform {
  template <class T>
  using atomic = mc::atomic<T>;
  template <class T>
  using cell = mc::cell<T>;

  static constexpr unsigned spin_pauses = 0;
  static constexpr unsigned spin_yields = 0;

  static platform::FutexResult wait(atomic<std::uint32_t>& word, std::uint32_t expected, std::uint32_t channels,
                                    const platform::SteadyTime* deadline,
                                    source_location where = source_location::current()) {
    return detail::futex_wait(word.id(), expected, channels, deadline != nullptr, where);
  }
  static void wake(atomic<std::uint32_t>& word, std::uint32_t channels,
                   source_location where = source_location::current()) {
    detail::futex_wake(word.id(), channels, where);
  }
  // deadline_passed: either answer, explored (never with no_timeouts()).
  // Timed futex waits may also time out at any step.  A check that finds
  // the deadline passed is explored on its own: the operation's path from
  // there (what it re-reads before it answers timeout) differs from a
  // timed-out sleep's.
  static bool deadline_passed(const platform::SteadyTime&, source_location where = source_location::current()) {
    return detail::deadline_passed(where);
  }
  // claim_late: either answer, explored, with Options::late_claims (the
  // --late-claims flag); otherwise false, so that tests of arrival order see
  // tickets taken on arrival.
  static bool claim_late(source_location where = source_location::current()) { return detail::claim_late(where); }
  static void pause(source_location where = source_location::current()) { detail::yield("pause", where); }
  static void yield(source_location where = source_location::current()) { detail::yield("yield", where); }
  static void fence(std::memory_order mo, source_location where = source_location::current()) {
    detail::fence(mo, where);
  }
  // The asymmetric pair, modelled as what it guarantees: a light and a heavy
  // barrier order like two seq_cst fences; a light barrier alone (a compiler
  // barrier natively) orders nothing else (see detail::barrier).
  static void light_barrier(source_location where = source_location::current()) {
    detail::barrier(false, where);
  }
  static void heavy_barrier(source_location where = source_location::current()) {
    detail::barrier(true, where);
  }
  static std::uint32_t thread_index() { return detail::thread_index(); }
  static std::uint32_t thread_index_bound() { return detail::thread_index_bound(); }
};

}  // namespace cubby::mc

#endif  // CUBBY_MC_RELACY
