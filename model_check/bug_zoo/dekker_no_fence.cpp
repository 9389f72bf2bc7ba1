// Store buffering (Dekker): each thread raises its flag, then enters the
// critical section if the other's flag is down.  Without a seq_cst fence
// between the store and the load both may read the other's flag stale and
// enter together (a race on the section's data).  Fixed: seq_cst fences.
#include "zoo.hpp"
using namespace zoo;

ZOO_PAIR(dekker_no_fence, race) {
  struct S {
    mc::atomic<int> flag[2]{{0}, {0}};
    mc::cell<int> shared{0};
  };
  auto* s = mc::make<S>();
  for (int me : {0, 1}) {
    t.thread([s, me, kBuggy] {
      s->flag[me].store(1, memory_order_relaxed);
      if (!kBuggy) mc::fence(memory_order_seq_cst);
      if (s->flag[1 - me].load(memory_order_relaxed) == 0) s->shared.write() += 1;  // critical section
    });
  }
  t.after([s] { mc::destroy(s); });
}
