// SPSC ring publishing its tail index relaxed: the consumer sees the index
// move but reads the slot unordered with the producer's write (a race).
// Fixed: the tail is published with release (and read with acquire).
#include "zoo.hpp"
using namespace zoo;

ZOO_PAIR(spsc_relaxed_index, race) {
  struct S {
    mc::atomic<std::uint32_t> head{0}, tail{0};
    mc::cell<int> ring[2];
  };
  auto* s = mc::make<S>();
  t.thread([s, kBuggy] {
    for (int v = 1; v <= 2; ++v) {
      const std::uint32_t tl = s->tail.load(memory_order_relaxed);
      while (tl - s->head.load(memory_order_acquire) == 2) mc::yield();
      s->ring[tl % 2].store(v);
      s->tail.store(tl + 1, kBuggy ? memory_order_relaxed : memory_order_release);
    }
  });
  t.thread([s] {
    for (int want = 1; want <= 2; ++want) {
      const std::uint32_t hd = s->head.load(memory_order_relaxed);
      while (s->tail.load(memory_order_acquire) == hd) mc::yield();
      MC_ASSERT(s->ring[hd % 2].load() == want);
      s->head.store(hd + 1, memory_order_release);
    }
  });
  t.after([s] { mc::destroy(s); });
}
