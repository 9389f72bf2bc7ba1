// Non-atomic read-modify-write of a counter: load, add, store.  Two threads
// increment; one increment is lost.  Fixed: fetch_add.
#include "zoo.hpp"
using namespace zoo;

ZOO_PAIR(counter_rmw, assertion) {
  struct S {
    mc::atomic<int> count{0};
  };
  auto* s = mc::make<S>();
  for (int i = 0; i < 2; ++i) {
    t.thread([s, kBuggy] {
      if (kBuggy) {
        s->count.store(s->count.load(memory_order_relaxed) + 1, memory_order_relaxed);
      } else {
        s->count.fetch_add(1, memory_order_relaxed);
      }
    });
  }
  t.after([s] {
    MC_ASSERT(s->count.load() == 2);
    mc::destroy(s);
  });
}
