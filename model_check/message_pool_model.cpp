// Model tests of the message pool (include/cubby/message_pool.hpp,
// BasicMessageEngine<mc::ModelPlatform>) and of its free list,
// detail::PtrStack (include/cubby/detail/index_stack.hpp).  The labelled
// edges [P1] (push publishes), [P2] (pop acquires) and [P3] (shutdown's no-op
// RMW against a racing put) each have a test that fails when that one edge is
// weakened (model_check/CMakeLists.txt registers the weakened builds).
//
// Memory: the engine allocates through a CountingResource made per
// execution; the after hook checks that everything is released.  An
// execution the checker abandons (a failure) skips the engine's destructor
// (it would assert on messages still held) and the resource frees what is
// left, so nothing leaks across executions.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <new>
#include <vector>

#include "cubby/detail/index_stack.hpp"
#include "cubby/message_pool.hpp"
#include "cubby_mc/platform.hpp"

namespace mc = cubby::mc;
using cubby::Message;
using cubby::MessagePoolOptions;
using cubby::Strategy;

namespace {

using Engine = cubby::BasicMessageEngine<mc::ModelPlatform>;

// CountingResource: new/delete with a count of outstanding blocks.  Model
// threads run on one OS thread, so plain counters are exact.  A deallocate of
// a block it does not hold (a double destroy) is counted, not performed.
class CountingResource : public std::pmr::memory_resource {
 public:
  ~CountingResource() override {
    for (const Block& b : blocks_) ::operator delete(b.p, std::align_val_t{b.align});
  }
  std::size_t outstanding() const noexcept { return blocks_.size(); }
  std::size_t bad_frees() const noexcept { return bad_frees_; }

 private:
  struct Block {
    void* p;
    std::size_t bytes, align;
  };
  void* do_allocate(std::size_t bytes, std::size_t align) override {
    void* p = ::operator new(bytes, std::align_val_t{align});
    blocks_.push_back({p, bytes, align});
    return p;
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t align) override {
    auto it = std::find_if(blocks_.begin(), blocks_.end(), [p](const Block& b) { return b.p == p; });
    if (it == blocks_.end() || it->bytes != bytes || it->align != align) {
      ++bad_frees_;
      return;
    }
    ::operator delete(p, std::align_val_t{align});
    blocks_.erase(it);
  }
  bool do_is_equal(const std::pmr::memory_resource& o) const noexcept override { return this == &o; }

  std::vector<Block> blocks_;
  std::size_t bad_frees_ = 0;
};

// Pool: a resource and an engine over it.  finish() (from the after hook)
// destroys the engine and checks that every block came back; if the
// execution was abandoned the engine is not destroyed (see above).
struct Pool {
  explicit Pool(MessagePoolOptions o) { ::new (static_cast<void*>(engine_bytes)) Engine(o, &res); }
  ~Pool() = default;  // engine_ deliberately not destroyed unless finish() ran
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  Engine& e() noexcept { return *std::launder(reinterpret_cast<Engine*>(engine_bytes)); }
  void finish() {
    e().~Engine();
    MC_ASSERT(res.outstanding() == 0);  // nothing leaked (the node array included)
    MC_ASSERT(res.bad_frees() == 0);    // nothing destroyed twice
  }

  CountingResource res;
  alignas(Engine) unsigned char engine_bytes[sizeof(Engine)];
};

Message* get(Engine& e, Strategy s) {
  cubby::GetResult r = e.get(s);
  MC_ASSERT(r.has_value());
  return r.value();
}

// Owners: a per-message ownership record for the K messages a test knows
// (learned in setup): `holders` counts who holds it (a get that finds it
// non-zero is a double hand-out), `stamp` is race-checked data each holder
// writes (the pool must order one holder's accesses before the next's).
template <std::size_t K>
struct Owners {
  std::array<Message*, K> msg{};
  std::array<mc::atomic<int>, K> holders{};
  std::array<mc::cell<int>, K> stamp{};

  std::size_t index(const Message* m) {
    for (std::size_t i = 0; i < K; ++i)
      if (msg[i] == m) return i;
    MC_ASSERT(false && "a message the pool did not have");
    return 0;
  }
  // learn: takes every pooled message out and puts them back (setup).
  void learn(Engine& e) {
    for (auto& m : msg) {
      m = get(e, Strategy::pool_only);
      MC_ASSERT(m != nullptr);
    }
    for (std::size_t i = K; i-- > 0;) {
      Message* m = msg[i];
      e.put(m);
    }
  }
  // own / disown: around a holder's use of m.
  void own(const Message* m, int me) {
    const std::size_t i = index(m);
    MC_ASSERT(holders[i].fetch_add(1, std::memory_order_relaxed) == 0);
    stamp[i].store(me);
  }
  void disown(const Message* m, int me) {
    const std::size_t i = index(m);
    MC_ASSERT(stamp[i].load() == me);
    MC_ASSERT(holders[i].fetch_sub(1, std::memory_order_relaxed) == 1);
  }
};

}  // namespace

// ------------------------------------------------------------ get / put ----

// [P1][P2] Two threads get and put two messages, twice each: a message is
// never handed to two owners at once, and each owner's use of it happens
// before the next owner's (the stamp cell is race-checked).  pool_only may
// return null only while the other thread holds both messages.
MC_TEST(pool_get_put_exclusive, mc::Options{}.bound(1)) {
  struct S {
    Pool p{MessagePoolOptions{.initial_pooled = 2, .max_pooled = 2}};
    Owners<2> o;
  };
  auto* s = mc::make<S>();
  s->o.learn(s->p.e());
  auto body = [s](int me) {
    for (int round = 0; round < 2; ++round) {
      Message* m = get(s->p.e(), Strategy::pool_only);
      MC_ASSERT(m != nullptr);  // two messages, two threads, one each at most
      s->o.own(m, me);
      m->header.user = static_cast<std::uint64_t>(me);
      s->o.disown(m, me);
      s->p.e().put(m);
      MC_ASSERT(m == nullptr);
    }
  };
  t.thread([body] { body(1); });
  t.thread([body] { body(2); });
  t.after([s] {
    MC_ASSERT(s->p.e().live_messages() == 2);
    // Both are back in the pool, reset.
    Message* a = get(s->p.e(), Strategy::pool_only);
    Message* b = get(s->p.e(), Strategy::pool_only);
    MC_ASSERT(a != nullptr && b != nullptr && a != b);
    MC_ASSERT(a->header.user == 0 && b->header.user == 0);
    MC_ASSERT(get(s->p.e(), Strategy::pool_only) == nullptr);
    s->p.e().put(a);
    s->p.e().put(b);
    s->p.finish();
    mc::destroy(s);
  });
}

// pool_only returns null only when the pool is empty.  One message; T1
// takes it and puts it back, marking its phase (1: getting or holding, 2:
// put back) with seq_cst stores; T2 gets with pool_only and reads the phase
// before and after.  A null is correct only if T1's [get, put] interval
// overlapped T2's get: phase >= 1 after it and phase <= 1 before it.  (A
// phase of 0 after, or 2 before, orders T1's pool operations entirely
// after, or before, T2's get, by the seq_cst accesses and [P1]/[P2].)
MC_TEST(pool_only_null_only_when_empty, mc::Options{}.bound(2)) {
  struct S {
    Pool p{MessagePoolOptions{.initial_pooled = 1, .max_pooled = 1}};
    mc::atomic<int> phase{0};
    bool got1 = false, got2 = false;
    int before = -1, after = -1;
  };
  auto* s = mc::make<S>();
  t.thread([s] {
    s->phase.store(1);
    Message* m = get(s->p.e(), Strategy::pool_only);
    s->got1 = m != nullptr;
    s->p.e().put(m);
    s->phase.store(2);
  });
  t.thread([s] {
    s->before = s->phase.load();
    Message* m = get(s->p.e(), Strategy::pool_only);
    s->after = s->phase.load();
    s->got2 = m != nullptr;
    s->p.e().put(m);
  });
  t.after([s] {
    MC_ASSERT(s->got1 || s->got2);
    if (!s->got2) MC_ASSERT(s->got1 && s->after >= 1 && s->before <= 1);
    if (!s->got1) MC_ASSERT(s->got2);
    MC_ASSERT(s->p.e().live_messages() == 1);
    s->p.finish();
    mc::destroy(s);
  });
}

// put beyond max_pooled destroys: max 1, two messages put concurrently:
// one is pooled, the other destroyed (its memory released), neither twice.
MC_TEST(pool_put_beyond_max_destroys, mc::Options{}.bound(2)) {
  struct S {
    Pool p{MessagePoolOptions{.initial_pooled = 0, .max_pooled = 1}};
    Message* a = nullptr;
    Message* b = nullptr;
  };
  auto* s = mc::make<S>();
  s->a = get(s->p.e(), Strategy::always);
  s->b = get(s->p.e(), Strategy::always);
  MC_ASSERT(s->a != nullptr && s->b != nullptr && s->p.res.outstanding() == 3);  // node array + 2
  t.thread([s] { s->p.e().put(s->a); });
  t.thread([s] { s->p.e().put(s->b); });
  t.after([s] {
    MC_ASSERT(s->a == nullptr && s->b == nullptr);
    MC_ASSERT(s->p.e().live_messages() == 1);
    MC_ASSERT(s->p.res.outstanding() == 2);  // node array + the pooled one
    Message* m = get(s->p.e(), Strategy::pool_only);
    MC_ASSERT(m != nullptr);
    MC_ASSERT(get(s->p.e(), Strategy::pool_only) == nullptr);
    s->p.e().put(m);
    s->p.finish();
    mc::destroy(s);
  });
}

// ------------------------------------------------------------- shutdown ----

// [P3] shutdown racing put: afterwards nothing is pooled and nothing leaked.
// Either the put sees the flag (and destroys or drains itself), or
// shutdown's drain sees the pushed message.  Weakening [P3] (shutdown's
// no-op RMW relaxed) lets the put's push follow the RMW without seeing the
// flag, while the drain misses the push: the message stays pooled.
MC_TEST(pool_shutdown_races_put, mc::Options{}.bound(2)) {
  struct S {
    Pool p{MessagePoolOptions{.initial_pooled = 0, .max_pooled = 2}};
    Message* m = nullptr;
  };
  auto* s = mc::make<S>();
  s->m = get(s->p.e(), Strategy::always);
  t.thread([s] { s->p.e().put(s->m); });
  t.thread([s] { s->p.e().shutdown(); });
  t.after([s] {
    MC_ASSERT(s->m == nullptr);
    MC_ASSERT(s->p.e().live_messages() == 0);  // nothing pooled after shutdown
    MC_ASSERT(s->p.res.outstanding() == 1);    // only the node array
    s->p.finish();
    mc::destroy(s);
  });
}

// shutdown racing two puts and a get(always): the get either fails with
// shut_down or gets a message (pooled or new) that its put then destroys;
// nothing stays pooled, nothing leaks.  Three threads: bounded by PCT.
MC_TEST(pool_shutdown_races_get_put,
        mc::Options{}.mode(mc::Search::pct).runs(20000).depth(3).with_seed(7)) {
  struct S {
    Pool p{MessagePoolOptions{.initial_pooled = 1, .max_pooled = 2}};
    Message* a = nullptr;
  };
  auto* s = mc::make<S>();
  s->a = get(s->p.e(), Strategy::pool_only);
  t.thread([s] { s->p.e().put(s->a); });
  t.thread([s] { s->p.e().shutdown(); });
  t.thread([s] {
    cubby::GetResult r = s->p.e().get(Strategy::always);
    if (!r.has_value()) {
      MC_ASSERT(r.error() == cubby::PoolError::shut_down);
      return;
    }
    Message* m = r.value();
    MC_ASSERT(m != nullptr);
    s->p.e().put(m);
  });
  t.after([s] {
    MC_ASSERT(s->p.e().is_shut_down());
    MC_ASSERT(s->p.e().live_messages() == 0);
    MC_ASSERT(s->p.res.outstanding() == 1);  // only the node array
    s->p.finish();
    mc::destroy(s);
  });
}

// ------------------------------------------------------------- PtrStack ----

// ABA with node reuse: T1 pops (it may read head = node of `b` and its next,
// then stall); T2 pops b and a and pushes b back (the same node index may
// come back at the head).  T1's stale CAS must fail on the tag: every
// pointer is held by exactly one owner or in the stack, never twice.
MC_TEST(ptrstack_aba_node_reuse, mc::Options{}.bound(2)) {
  using Stack = cubby::detail::PtrStack<int, mc::ModelPlatform>;
  struct S {
    Stack st{2, std::pmr::new_delete_resource()};
    int a = 1, b = 2;
    int* t1 = nullptr;
    int* t2_kept = nullptr;
  };
  auto* s = mc::make<S>();
  MC_ASSERT(s->st.push(&s->a));
  MC_ASSERT(s->st.push(&s->b));
  t.thread([s] { s->t1 = s->st.pop(); });
  t.thread([s] {
    int* x = s->st.pop();
    int* y = s->st.pop();
    if (x != nullptr) MC_ASSERT(s->st.push(x));  // x's node is reused
    s->t2_kept = y;
  });
  t.after([s] {
    int seen_a = 0, seen_b = 0;
    auto count = [&](const int* p) {
      if (p == &s->a) ++seen_a;
      if (p == &s->b) ++seen_b;
    };
    count(s->t1);
    count(s->t2_kept);
    int n = 0;
    while (int* p = s->st.pop()) {
      count(p);
      MC_ASSERT(++n <= 2);
    }
    MC_ASSERT(seen_a == 1 && seen_b == 1);
    mc::destroy(s);
  });
}

// [P1][P2] PtrStack hand-off: what the pusher wrote through the pointer
// before push() is visible to the popper (a race-checked cell), and a full
// stack refuses a push without losing anything.
MC_TEST(ptrstack_publishes, mc::Options{}.bound(2)) {
  using Stack = cubby::detail::PtrStack<mc::cell<int>, mc::ModelPlatform>;
  struct S {
    Stack st{1, std::pmr::new_delete_resource()};
    mc::cell<int> x{0}, y{0};
    bool pushed_x = false, pushed_y = false;
    mc::cell<int>* got = nullptr;
  };
  auto* s = mc::make<S>();
  t.thread([s] {
    s->x.store(1);
    s->pushed_x = s->st.push(&s->x);
  });
  t.thread([s] {
    s->y.store(2);
    s->pushed_y = s->st.push(&s->y);
  });
  t.thread([s] {
    s->got = s->st.pop();
    if (s->got == &s->x) MC_ASSERT(s->got->load() == 1);
    if (s->got == &s->y) MC_ASSERT(s->got->load() == 2);
  });
  t.after([s] {
    MC_ASSERT(s->pushed_x || s->pushed_y);
    mc::cell<int>* left = s->st.pop();
    MC_ASSERT(s->st.pop() == nullptr);
    const int pushed = int(s->pushed_x) + int(s->pushed_y);
    MC_ASSERT(pushed == (s->got != nullptr ? 1 : 0) + (left != nullptr ? 1 : 0));
    MC_ASSERT(s->got == nullptr || left != s->got);
    mc::destroy(s);
  });
}
