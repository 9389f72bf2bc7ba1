// Notify before the store: the waker wakes, then publishes.  A waiter that
// checked the old value and parks after the wake sleeps forever.  Fixed:
// store, then wake.
#include "zoo.hpp"
using namespace zoo;

ZOO_PAIR(notify_before_store, deadlock) {
  struct S {
    mc::atomic<std::uint32_t> ready{0};
  };
  auto* s = mc::make<S>();
  t.thread([s] {
    while (s->ready.load(memory_order_acquire) == 0) mc::futex_wait(s->ready, 0, 1u);
  });
  t.thread([s, kBuggy] {
    if (kBuggy) {
      mc::futex_wake(s->ready, 1u);
      s->ready.store(1, memory_order_release);
    } else {
      s->ready.store(1, memory_order_release);
      mc::futex_wake(s->ready, 1u);
    }
  });
  t.after([s] { mc::destroy(s); });
}
