// Notify-one where notify-all is needed: two waiters sleep on the same word
// for the same event, on different futex channels (bits 0 and 1).  Buggy:
// the event wakes channel 0 only; the other waiter sleeps forever.  Fixed:
// wake every channel.
#include "zoo.hpp"
using namespace zoo;

ZOO_PAIR(notify_one, deadlock) {
  struct S {
    mc::atomic<std::uint32_t> event{0};
  };
  auto* s = mc::make<S>();
  for (std::uint32_t ch : {1u, 2u}) {
    t.thread([s, ch] {
      while (s->event.load(memory_order_acquire) == 0) mc::futex_wait(s->event, 0, ch);
    });
  }
  t.thread([s, kBuggy] {
    s->event.store(1, memory_order_release);
    mc::futex_wake(s->event, kBuggy ? 1u : 0xFFFFFFFFu);
  });
  t.after([s] { mc::destroy(s); });
}
