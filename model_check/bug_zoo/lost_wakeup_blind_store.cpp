// Lost wake-up from a blind store.  The futex word holds READY (bit 0) and
// SLEEPER (bit 1).  The waiter announces SLEEPER with a CAS, then sleeps.
// Buggy waker: checks for a sleeper, then stores READY blindly; a sleeper
// that announced in between is neither seen nor woken.  Fixed: one exchange
// both publishes READY and reports whether a sleeper had announced.
#include "zoo.hpp"
using namespace zoo;

ZOO_PAIR(lost_wakeup_blind_store, deadlock) {
  struct S {
    mc::atomic<std::uint32_t> word{0};
  };
  auto* s = mc::make<S>();
  t.thread([s] {
    std::uint32_t w = s->word.load(memory_order_acquire);
    while ((w & 1u) == 0) {
      if ((w & 2u) != 0 || s->word.compare_exchange_weak(w, w | 2u, memory_order_acquire)) mc::futex_wait(s->word, w | 2u, 1u);
      w = s->word.load(memory_order_acquire);
    }
  });
  t.thread([s, kBuggy] {
    if (kBuggy) {
      const bool sleeper = (s->word.load(memory_order_relaxed) & 2u) != 0;
      s->word.store(1u, memory_order_release);  // blind: overwrites an announcement it never saw
      if (sleeper) mc::futex_wake(s->word, 1u);
    } else {
      if ((s->word.exchange(1u, memory_order_acq_rel) & 2u) != 0) mc::futex_wake(s->word, 1u);
    }
  });
  t.after([s] { mc::destroy(s); });
}
