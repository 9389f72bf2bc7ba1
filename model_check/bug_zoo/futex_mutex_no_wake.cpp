// A futex mutex (0 free, 1 locked, 2 locked with sleepers, after Drepper's
// "Futexes Are Tricky") whose unlock stores 0 without waking: a sleeper is
// never woken.  Fixed: unlock exchanges 0 and wakes if it saw 2.
#include "zoo.hpp"
using namespace zoo;

namespace {
struct Mutex {
  mc::atomic<std::uint32_t> word{0};
  bool buggy = false;
  void lock() {
    std::uint32_t c = 0;
    if (word.compare_exchange_strong(c, 1, memory_order_acquire)) return;
    if (c != 2) c = word.exchange(2, memory_order_acquire);
    while (c != 0) {
      mc::futex_wait(word, 2, 0xFFFFFFFFu);
      c = word.exchange(2, memory_order_acquire);
    }
  }
  void unlock() {
    if (buggy) {
      word.store(0, memory_order_release);  // skips the wake
    } else if (word.exchange(0, memory_order_release) == 2) {
      mc::futex_wake(word);
    }
  }
};
}  // namespace

ZOO_PAIR(futex_mutex_no_wake, deadlock) {
  struct S {
    Mutex m;
    mc::cell<int> data{0};
  };
  auto* s = mc::make<S>();
  s->m.buggy = kBuggy;
  for (int i = 0; i < 2; ++i) {
    t.thread([s] {
      s->m.lock();
      s->data.write() += 1;
      s->m.unlock();
    });
  }
  t.after([s] {
    MC_ASSERT(s->data.load() == 2);
    mc::destroy(s);
  });
}
