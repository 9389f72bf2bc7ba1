// Spinning on a flag nobody sets: the setter forgets it (buggy), so the
// spinner never progresses: a livelock (step bound).  Fixed: the flag is set.
#include "zoo.hpp"
using namespace zoo;

ZOO_PAIR(spin_unset_flag, livelock) {
  struct S {
    mc::atomic<bool> go{false};
    mc::cell<int> data{0};
  };
  auto* s = mc::make<S>();
  t.thread([s, kBuggy] {
    s->data.store(1);
    if (!kBuggy) s->go.store(true, memory_order_release);
  });
  t.thread([s] {
    while (!s->go.load(memory_order_acquire)) mc::pause();
    MC_ASSERT(s->data.load() == 1);
  });
  t.after([s] { mc::destroy(s); });
}
