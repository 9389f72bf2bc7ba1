// tests/no_alloc/first_use.cpp: the hot paths allocate nothing outside the
// memory resources they are given, not even on a thread's first call.
//
// malloc and its family are replaced for this executable (so it is built
// only without sanitizers, which replace them too) and count calls while a
// thread is inside a measured region.  Measured, each on a new thread:
// thread_index() itself; a message pool's first put() and first
// get(pool_only) on that thread; then a thousand get/put pairs; a queue's
// and a cubby's first push and pop.  Exit status 0 if nothing was allocated.
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "cubby/cubby.hpp"
#include "cubby/message_pool.hpp"
#include "cubby/platform/native.hpp"
#include "cubby/queue.hpp"

extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
}

namespace {
thread_local bool t_counting = false;  // trivial: reading it allocates nothing
int g_calls = 0;                       // written only by the counting thread, read after join
void count() noexcept {
  if (t_counting) ++g_calls;
}
}  // namespace

extern "C" {
void* malloc(std::size_t n) {
  count();
  return __libc_malloc(n);
}
void* calloc(std::size_t n, std::size_t s) {
  count();
  return __libc_calloc(n, s);
}
void* realloc(void* p, std::size_t n) {
  count();
  return __libc_realloc(p, n);
}
void* aligned_alloc(std::size_t a, std::size_t n) {
  count();
  return __libc_memalign(a, n);
}
void* memalign(std::size_t a, std::size_t n) {
  count();
  return __libc_memalign(a, n);
}
int posix_memalign(void** out, std::size_t a, std::size_t n) {
  count();
  *out = __libc_memalign(a, n);
  return *out != nullptr ? 0 : 12;  // ENOMEM
}
}

namespace {

// measured: runs f on a new thread, counting its allocations; prints and
// returns whether there were none.
template <class F>
bool measured(const char* what, F f) {
  g_calls = 0;
  std::thread t([&] {
    t_counting = true;
    f();
    t_counting = false;
  });
  t.join();
  std::printf("%-58s %d allocation(s)\n", what, g_calls);
  return g_calls == 0;
}

}  // namespace

int main() {
  bool ok = true;
  ok &= measured("thread_index() on a new thread", [] { (void)cubby::platform::thread_index(); });

  cubby::MessageEngine engine;
  cubby::Message* held = engine.get(cubby::Strategy::pool_only).value();
  ok &= measured("message pool: a thread's first put()", [&] { engine.put(held); });
  ok &= measured("message pool: a thread's first get(pool_only), then put()", [&] {
    cubby::Message* m = engine.get(cubby::Strategy::pool_only).value();
    engine.put(m);
  });
  ok &= measured("message pool: 1000 get(pool_only)/put() pairs", [&] {
    for (int i = 0; i < 1000; ++i) {
      cubby::Message* m = engine.get(cubby::Strategy::pool_only).value();
      engine.put(m);
    }
  });

  cubby::Queue<int> queue(8);
  ok &= measured("queue: a thread's first push() and pop()", [&] {
    (void)queue.push(1);
    int v = 0;
    (void)queue.pop(v);
  });
  cubby::Cubby<int> cell;
  ok &= measured("cubby: a thread's first push() and pop()", [&] {
    (void)cell.push(1);
    int v = 0;
    (void)cell.pop(v);
  });
  std::puts(ok ? "no allocation" : "FAILED: a hot path allocated");
  return ok ? 0 : 1;
}
