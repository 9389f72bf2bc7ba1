// Load buffering: each of two finishing threads reads the other's `done`
// flag, then raises its own; the one that saw the other's flag believes it
// finished last and runs the completion.  The design relies on at most one
// thread seeing the other's flag.  With relaxed flags C++ allows both loads
// to read the other's later store (LB, r0 = r1 = 1; visible on ARM and
// POWER), so the completion runs twice.  Fixed: acquire loads and release
// stores forbid that outcome (the second store would happen after the load
// that read it).  Only load speculation (Options::speculate_loads) produces
// the buggy outcome: without it a load reads stores that already executed,
// so this pair is written out rather than with ZOO_PAIR, to turn it on.
#include "zoo.hpp"
using namespace zoo;

static void zoo_load_buffering(mc::Exec& t, bool kBuggy);
MC_TEST(load_buffering_buggy, buggy(mc::Failure::assertion).speculate()) { zoo_load_buffering(t, true); }
MC_TEST(load_buffering_fixed, fixed().speculate()) { zoo_load_buffering(t, false); }

static void zoo_load_buffering(mc::Exec& t, bool kBuggy) {
  struct S {
    mc::atomic<int> done[2] = {0, 0};
    mc::atomic<int> completions{0};
  };
  auto* s = mc::make<S>();
  for (int me = 0; me < 2; ++me) {
    t.thread([s, me, kBuggy] {
      const bool other_done = s->done[1 - me].load(kBuggy ? memory_order_relaxed : memory_order_acquire) != 0;
      s->done[me].store(1, kBuggy ? memory_order_relaxed : memory_order_release);
      if (other_done) s->completions.fetch_add(1, memory_order_relaxed);
    });
  }
  t.after([s] {
    MC_ASSERT(s->completions.load() <= 1);
    mc::destroy(s);
  });
}
