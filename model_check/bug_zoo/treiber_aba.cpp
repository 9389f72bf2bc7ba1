// ABA in a Treiber stack with node reuse.  Nodes live in a fixed pool and are
// named by index; the head is a bare index.  A pop reads head A and A.next B,
// is preempted while another thread pops A, pops B and pushes A back; its CAS
// then succeeds (head is A again) and installs B, a node that thread owns.
// Fixed: the head carries a tag bumped by every successful CAS.
#include "zoo.hpp"
using namespace zoo;

namespace {
constexpr std::uint32_t kNil = 0xFF;
struct Stack {
  mc::atomic<std::uint64_t> head{0};  // low 8 bits: index; above: tag (fixed variant)
  mc::atomic<std::uint32_t> next[3]{{kNil}, {kNil}, {kNil}};
  bool tagged = false;
  bool owned[3] = {false, false, false};

  static std::uint32_t index(std::uint64_t h) { return static_cast<std::uint32_t>(h & 0xFF); }
  std::uint64_t make(std::uint64_t old, std::uint32_t i) const { return (tagged ? ((old >> 8) + 1) << 8 : 0) | i; }

  std::uint32_t pop() {
    std::uint64_t h = head.load(memory_order_acquire);
    for (;;) {
      if (index(h) == kNil) return kNil;
      const std::uint32_t n = next[index(h)].load(memory_order_relaxed);
      if (head.compare_exchange_weak(h, make(h, n), memory_order_acquire, memory_order_acquire)) return index(h);
    }
  }
  void push(std::uint32_t i) {
    std::uint64_t h = head.load(memory_order_relaxed);
    for (;;) {
      next[i].store(index(h), memory_order_relaxed);
      if (head.compare_exchange_weak(h, make(h, i), memory_order_release, memory_order_relaxed)) return;
    }
  }
};
}  // namespace

ZOO_PAIR(treiber_aba, assertion) {
  auto* s = mc::make<Stack>();
  s->tagged = !kBuggy;
  // Stack: 0 -> 1 -> 2.
  s->next[0].store(1, memory_order_relaxed);
  s->next[1].store(2, memory_order_relaxed);
  s->head.store(0, memory_order_relaxed);
  t.thread([s] {
    const std::uint32_t a = s->pop();
    if (a != kNil) s->owned[a] = true;
  });
  t.thread([s] {
    const std::uint32_t a = s->pop();
    const std::uint32_t b = s->pop();
    if (b != kNil) s->owned[b] = true;
    if (a != kNil) s->push(a);  // reuse: the node goes back
  });
  t.after([s] {
    // No node may be both owned by a thread and still on the stack.
    std::uint32_t i = Stack::index(s->head.load(memory_order_relaxed));
    for (int guard = 0; i != kNil && guard < 4; ++guard) {
      MC_ASSERT(!s->owned[i]);
      i = s->next[i].load(memory_order_relaxed);
    }
    mc::destroy(s);
  });
}
