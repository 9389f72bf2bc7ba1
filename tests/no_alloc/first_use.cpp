// tests/no_alloc/first_use.cpp: the hot paths allocate nothing outside the
// memory resources they are given, not even on a thread's first call.
//
// malloc and its family are replaced for this executable (so it is built
// only without sanitizers, which replace them too) and count calls while a
// thread is inside a measured region.  Measured, each on a new thread:
//   - thread_index() itself;
//   - a message pool's first put() and first get(pool_only) on that thread,
//     a thousand get/put pairs, and a get that steals from another thread's
//     cache (a heavy barrier);
//   - a queue's and a cubby's first push and pop, then every other
//     operation: try, timed, bulk (blocking, try and timed), size, pressure;
//   - the sleep path: a blocking pop and a blocking push that sleep until a
//     partner thread (not measured) hands over, a timed pop that sleeps
//     until its deadline, and a pop asleep when a partner closes the queue
//     (and the same for the cubby).  The partner waits until the measured
//     thread is asleep in futex(2) (tests/asleep_in_futex.hpp).
// Exit status 0 if nothing was allocated.
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <type_traits>

#include "../asleep_in_futex.hpp"

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
// returns whether there were none.  Given wake_it, a partner thread (not
// counted) waits until the measured thread is asleep in futex(2), then runs
// wake_it(), which must let f return.
struct NoPartner {};
template <class F, class Wake = NoPartner>
bool measured(const char* what, F f, Wake wake_it = {}) {
  std::atomic<pid_t> tid{0};
  g_calls = 0;
  std::thread partner;
  if constexpr (!std::is_same_v<Wake, NoPartner>) {
    partner = std::thread([&] {
      cubby::test::await_asleep(tid);
      wake_it();
    });
  }
  std::thread t([&] {
    t_counting = true;
    tid.store(cubby::test::this_tid());
    f();
    t_counting = false;
  });
  t.join();
  if (partner.joinable()) partner.join();
  std::printf("%-66s %d allocation(s)\n", what, g_calls);
  return g_calls == 0;
}

// sleep_paths: the sleep path of `p` (a Cubby or a Queue of `capacity`,
// empty, named `name`): a pop() asleep until a partner pushes, a push()
// asleep on the full primitive until a partner pops, a pop_for() asleep
// until its deadline, and a pop() asleep when a partner closes it.
template <class Primitive>
bool sleep_paths(const std::string& name, Primitive& p, int capacity) {
  using namespace std::chrono_literals;
  bool ok = true;
  auto pop = [&p] {
    int v = 0;
    (void)p.pop(v);
  };
  ok &= measured((name + ": a pop() that sleeps until a push").c_str(), pop, [&p] { (void)p.push(1); });
  for (int i = 0; i < capacity; ++i) (void)p.push(i);
  ok &= measured((name + ": a push() that sleeps until a pop").c_str(), [&p] { (void)p.push(-1); }, pop);
  while (p.try_pop()) {
  }
  ok &= measured((name + ": a pop_for() that sleeps until its deadline").c_str(), [&p] {
    int v = 0;
    (void)p.pop_for(v, 20ms);
  });
  ok &= measured((name + ": a pop() asleep when it is closed").c_str(), pop, [&p] { p.close(); });
  return ok;
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

  {
    // A message left in another thread's cache: the measured get steals it.
    // The putter stays alive meanwhile, so that its thread index (and its
    // cache) cannot pass to the measured thread.
    cubby::MessageEngine e(cubby::MessagePoolOptions{.initial_pooled = 1, .max_pooled = 1});
    cubby::Message* m = e.get(cubby::Strategy::pool_only).value();
    std::atomic<int> stage{0};
    std::thread putter([&] {
      e.put(m);
      stage.store(1);
      while (stage.load() != 2) std::this_thread::yield();
    });
    while (stage.load() != 1) std::this_thread::yield();
    const std::uint64_t barriers = cubby::platform::heavy_barrier_count();
    ok &= measured("message pool: a get(pool_only) that steals, then put()", [&] {
      cubby::Message* got = e.get(cubby::Strategy::pool_only).value();
      if (got == nullptr) std::abort();  // the message is pooled: never null
      e.put(got);
    });
    if (cubby::platform::heavy_barrier_count() == barriers) {  // a steal runs one
      std::puts("FAILED: the get did not steal (the case measures nothing)");
      ok = false;
    }
    stage.store(2);
    putter.join();
  }

  using namespace std::chrono_literals;
  cubby::Queue<int> queue(8);
  ok &= measured("queue: a thread's first push() and pop()", [&] {
    (void)queue.push(1);
    int v = 0;
    (void)queue.pop(v);
  });
  ok &= measured("queue: try, timed, bulk, size and pressure", [&] {
    int v = 0;
    std::array<int, 3> buf{1, 2, 3};
    std::size_t n = 0;
    (void)queue.try_push(1);
    (void)queue.try_pop();
    (void)queue.push_for(2, 1s);
    (void)queue.pop_for(v, 1s);
    (void)queue.pop_for(v, 0ms);  // due: timeout
    (void)queue.push_bulk(buf);
    (void)queue.pop_bulk(buf);
    (void)queue.try_push_bulk(buf);
    (void)queue.try_pop_bulk(buf);
    (void)queue.push_bulk_for(buf, 1s, &n);
    (void)queue.pop_bulk_for(buf, 1s, &n);
    (void)queue.size();
    (void)queue.pressure();
  });
  ok &= sleep_paths("queue", queue, 8);

  cubby::Cubby<int> cell;
  ok &= measured("cubby: a thread's first push() and pop()", [&] {
    (void)cell.push(1);
    int v = 0;
    (void)cell.pop(v);
  });
  ok &= measured("cubby: try and timed", [&] {
    int v = 0;
    (void)cell.try_push(1);
    (void)cell.try_pop();
    (void)cell.push_for(2, 1s);
    (void)cell.pop_for(v, 1s);
    (void)cell.pop_for(v, 0ms);  // due: timeout
    (void)cell.pressure();
  });
  ok &= sleep_paths("cubby", cell, 1);
  std::puts(ok ? "no allocation" : "FAILED: a hot path allocated");
  return ok ? 0 : 1;
}
