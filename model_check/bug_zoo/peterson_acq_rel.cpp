// Peterson's lock with acquire/release only: "flag[me] = 1; turn = other"
// may be reordered after the loads of the other's flag (store buffering), so
// both threads enter.  Fixed: seq_cst operations.
#include "zoo.hpp"
using namespace zoo;

ZOO_PAIR(peterson_acq_rel, race) {
  struct S {
    mc::atomic<int> flag[2]{{0}, {0}};
    mc::atomic<int> turn{0};
    mc::cell<int> shared{0};
  };
  auto* s = mc::make<S>();
  for (int me : {0, 1}) {
    t.thread([s, me, kBuggy] {
      const auto st = kBuggy ? memory_order_release : memory_order_seq_cst;
      const auto ld = kBuggy ? memory_order_acquire : memory_order_seq_cst;
      const int other = 1 - me;
      s->flag[me].store(1, st);
      s->turn.store(other, st);
      while (s->flag[other].load(ld) == 1 && s->turn.load(ld) == other) mc::yield();
      s->shared.write() += 1;  // critical section
      s->flag[me].store(0, st);
    });
  }
  t.after([s] {
    MC_ASSERT(s->shared.load() == 2);
    mc::destroy(s);
  });
}
