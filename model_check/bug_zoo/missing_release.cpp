// Missing release on publication: the payload is written, then the flag is
// set relaxed; a reader that sees the flag reads the payload unordered (a
// data race).  Fixed: release/acquire.
#include "zoo.hpp"
using namespace zoo;

ZOO_PAIR(missing_release, race) {
  struct S {
    mc::atomic<int> ready{0};
    mc::cell<int> payload{0};
  };
  auto* s = mc::make<S>();
  t.thread([s, kBuggy] {
    s->payload.store(42);
    s->ready.store(1, kBuggy ? memory_order_relaxed : memory_order_release);
  });
  t.thread([s] {
    if (s->ready.load(memory_order_acquire) == 1) MC_ASSERT(s->payload.load() == 42);
  });
  t.after([s] { mc::destroy(s); });
}
