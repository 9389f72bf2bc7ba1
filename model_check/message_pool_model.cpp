// Model tests of the message pool (include/cubby/message_pool.hpp,
// BasicMessageEngine<mc::ModelPlatform>) and of its stack,
// detail::IndexStack (include/cubby/detail/index_stack.hpp).  The labelled
// edges [P1] (push publishes), [P2] (pop acquires) and [P3] (shutdown's no-op
// RMW against a racing put) each have a test that fails when that one edge is
// weakened (model_check/CMakeLists.txt registers the weakened builds).
//
// Places (see the engine's class comment): a message is bound to a pool node
// at creation if one is free and keeps it; put of a placed message pushes
// its node, put of a placeless one destroys it.  The tests cover both puts,
// racing each other and shutdown, with messages held across the shutdown.
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

  // fixed: the engine's own blocks: the node array, and the cache array if
  // it has caches.
  std::size_t fixed() noexcept { return e().options().thread_caches == 0 ? 1 : 2; }

  CountingResource res;
  alignas(Engine) unsigned char engine_bytes[sizeof(Engine)];
};

// Options for the tests: `caches` per-thread caches (enough for the main
// thread, index 1, and three model threads).
MessagePoolOptions opts(std::uint32_t initial, std::uint32_t max, std::uint32_t caches = 4) {
  return MessagePoolOptions{.initial_pooled = initial, .max_pooled = max, .thread_caches = caches};
}

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
// get_put_exclusive runs it with `caches` per-thread caches: none (the
// stack alone: [P1][P2]) or four (puts fill the threads' caches, gets take
// from their own and steal from the others': [P4]).
static void get_put_exclusive(mc::Exec& t, std::uint32_t caches) {
  struct S {
    explicit S(std::uint32_t caches) : p{opts(2, 2, caches)} {}
    Pool p;
    Owners<2> o;
  };
  auto* s = mc::make<S>(caches);
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

MC_TEST(pool_get_put_exclusive, mc::Options{}.bound(1)) { get_put_exclusive(t, 0); }
MC_TEST(pool_get_put_exclusive_cached, mc::Options{}.bound(1)) { get_put_exclusive(t, 4); }

// OneMessage: a pool of one message for the cache tests, learned in setup
// (so it starts in the main thread's cache).
struct OneMessage {
  Pool p{opts(1, 1)};
  Owners<1> o;

  OneMessage() { o.learn(p.e()); }
  // use: holder `me` takes m, stamps it and puts it back (into its cache).
  void use(Message* m, int me) {
    o.own(m, me);
    m->header.user = static_cast<std::uint64_t>(me);
    o.disown(m, me);
    p.e().put(m);
  }
  // check_back: after the threads: the message is pooled, reset, alone.
  void check_back() {
    MC_ASSERT(p.e().live_messages() == 1);
    Message* m = get(p.e(), Strategy::pool_only);
    MC_ASSERT(m == o.msg[0] && m->header.user == 0);
    MC_ASSERT(get(p.e(), Strategy::pool_only) == nullptr);
    p.e().put(m);
    p.finish();
  }
};

// [P4] One message handed from cache to cache: the main thread's put (in
// setup) leaves it in its cache; T1 and T2 each get it with pool_only (from
// whichever cache holds it: the main thread's or the other's), use it and
// put it back into their own.  Uses are exclusive and ordered (stamps):
// weakening [P4] lets T2 take it from T1's cache without seeing T1's use.
MC_TEST(pool_cache_handoff, mc::Options{}.bound(2)) {
  auto* s = mc::make<OneMessage>();
  auto body = [s](int me) {
    Message* m = get(s->p.e(), Strategy::pool_only);
    if (m != nullptr) s->use(m, me);  // null: the other thread holds it
  };
  t.thread([body] { body(1); });
  t.thread([body] { body(2); });
  t.after([s] {
    s->check_back();
    mc::destroy(s);
  });
}

// [P7][P8][P9] The owner's take from its own cache races a steal.  T1 gets the
// message, puts it into its own cache and gets again (take_own: a plain
// store when no thief is counted); T2 gets with pool_only, finds the stack
// empty and steals from whichever cache holds the message.  One holder at a
// time (holders, stamps).  Weakening [P7] (both barriers left out) lets T1
// miss T2's count while T2 misses T1's busy mark: both take the message.
// Weakening [P9] lets T1, reading the count back at 0, read its cache's word
// from before T2's steal: both take it.  Weakening [P8] (the thief's acquire
// of the owner's busy = 0) lets T2's CAS take a place in the word's
// modification order before T1's plain store, reading the full word T1 had
// just emptied: both take it.
MC_TEST(pool_owner_take_races_steal, mc::Options{}.bound(2)) {
  auto* s = mc::make<OneMessage>();
  t.thread([s] {
    for (int round = 0; round < 2; ++round) {
      Message* m = get(s->p.e(), Strategy::pool_only);
      if (m != nullptr) s->use(m, 1);
    }
  });
  t.thread([s] {
    Message* m = get(s->p.e(), Strategy::pool_only);
    if (m != nullptr) s->use(m, 2);
  });
  t.after([s] {
    s->check_back();
    mc::destroy(s);
  });
}

// TwoMessages: the state of the pool_only exactness tests.  Two messages x
// and y, taken in setup; flags the threads raise; what T2 and T3 got.
struct TwoMessages {
  Pool p{opts(2, 2)};
  Message* x = nullptr;
  Message* y = nullptr;
  Message* t2 = nullptr;
  Message* t3 = nullptr;
  mc::atomic<int> ready{0};
  mc::atomic<int> flag{0};

  TwoMessages() {
    x = get(p.e(), Strategy::pool_only);
    y = get(p.e(), Strategy::pool_only);
    MC_ASSERT(x != nullptr && y != nullptr);
  }
  // must_get: a get(pool_only) that the test knows finds a message.
  void must_get(Message*& into) {
    into = get(p.e(), Strategy::pool_only);
    MC_ASSERT(into != nullptr);
  }
  // finish: after the threads, both messages go back; nothing leaked.
  void finish() {
    p.e().put(t2);
    p.e().put(t3);
    MC_ASSERT(p.e().live_messages() == 2);
    p.finish();
  }
};

// [P6] pool_only's null is exact across caches.  Two messages: x pooled in
// the main thread's cache, y held by T1.  T1 puts y (into its own cache)
// and raises a flag; T2, once it sees the flag, takes one message (x, or y);
// T3 gets with pool_only.  One of the two is pooled at every moment (T2
// takes one, after y's put), so T3 must get one.  Weakening [P6] lets T3 read
// x's cache emptied by T2 without seeing y's put (T2 saw it), in both
// passes: a null while y is pooled.
MC_TEST(pool_only_exact_across_caches,
        mc::Options{}.mode(mc::Search::pct).runs(20000).depth(3).with_seed(11)) {
  auto* s = mc::make<TwoMessages>();
  s->p.e().put(s->x);  // into the main thread's cache
  t.thread([s] {
    s->p.e().put(s->y);
    s->flag.store(1, std::memory_order_release);
  });
  t.thread([s] {
    if (s->flag.load(std::memory_order_acquire) == 1) s->must_get(s->t2);
  });
  t.thread([s] { s->must_get(s->t3); });
  t.after([s] {
    s->finish();
    mc::destroy(s);
  });
}

// [P6] pool_only's null is exact when the owner takes from its own cache
// while a thief is counted (take_own's CAS path).  Two messages, x held by
// T2 and y by T1.  T2 puts x into its own cache and raises `ready`; T1 puts
// y (into its cache) and raises `flag`; T2, once it sees the flag, gets
// again (its own cache first); T3, once it sees `ready`, gets with
// pool_only.  From T3's start one of the two is pooled at every moment, so
// T3 must get one.  The failing execution: T3's first pass finds T1's cache
// still empty and T2's holding x; T3 counts itself in as a thief, T2 sees
// the count and takes x by CAS, and T3's steal reads the word T2 emptied.
// That read (and a failed CAS) must acquire, as the passes' loads do: T2 saw
// y's put, so T3's second pass then sees it too.  Read relaxed, the second
// pass may still read T1's cache empty: a null while y is pooled.
MC_TEST(pool_only_exact_after_failed_steal, mc::Options{}.bound(2)) {
  auto* s = mc::make<TwoMessages>();
  t.thread([s] {
    s->p.e().put(s->y);  // into T1's cache (index 2)
    s->flag.store(1, std::memory_order_release);
  });
  t.thread([s] {
    s->p.e().put(s->x);  // into T2's cache (index 3)
    s->ready.store(1, std::memory_order_release);
    if (s->flag.load(std::memory_order_acquire) == 1) s->must_get(s->t2);
  });
  t.thread([s] {
    if (s->ready.load(std::memory_order_acquire) == 1) s->must_get(s->t3);
  });
  t.after([s] {
    s->finish();
    mc::destroy(s);
  });
}

// pool_only returns null only when the pool is empty.  One message; T1
// takes it and puts it back, marking its phase (1: getting or holding, 2:
// put back) with seq_cst stores; T2 gets with pool_only and reads the phase
// before and after.  A null is correct only if T1's [get, put] interval
// overlapped T2's get: phase >= 1 after it and phase <= 1 before it.
// The phase marks stand for real time.  They hold in C++ too, not only in
// the checker's default model (a load reads only stores already executed):
// T2's null rests on reading the head or a cache that T1's pop or take
// emptied, both release ([P6]), with acquire loads, so T2 then sees phase 1.
// The test also passes with load speculation (--speculate).
MC_TEST(pool_only_null_only_when_empty, mc::Options{}.bound(2)) {
  struct S {
    Pool p{opts(1, 1)};
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

// put beyond max_pooled destroys: max 1, two messages made: `a` took the one
// place, `b` has none.  Put concurrently: a is pooled, b destroyed (its
// memory released) whichever put runs first, neither twice.
MC_TEST(pool_put_beyond_max_destroys, mc::Options{}.bound(2)) {
  struct S {
    Pool p{opts(0, 1)};
    Message* a = nullptr;
    Message* b = nullptr;
    const Message* placed = nullptr;
  };
  auto* s = mc::make<S>();
  s->a = get(s->p.e(), Strategy::always);
  s->b = get(s->p.e(), Strategy::always);
  s->placed = s->a;
  MC_ASSERT(s->a != nullptr && s->b != nullptr && s->p.res.outstanding() == s->p.fixed() + 2);
  t.thread([s] { s->p.e().put(s->a); });
  t.thread([s] { s->p.e().put(s->b); });
  t.after([s] {
    MC_ASSERT(s->a == nullptr && s->b == nullptr);
    MC_ASSERT(s->p.e().live_messages() == 1);
    MC_ASSERT(s->p.res.outstanding() == s->p.fixed() + 1);  // + the pooled one
    Message* m = get(s->p.e(), Strategy::pool_only);
    MC_ASSERT(m == s->placed);
    MC_ASSERT(get(s->p.e(), Strategy::pool_only) == nullptr);
    s->p.e().put(m);
    s->p.finish();
    mc::destroy(s);
  });
}

// Placed and placeless puts racing: one place, held by the message `m`.
// T1 takes m from the pool (if it is there) and puts it back; T2 gets with
// always (m, or a new message without a place while T1 holds m) and puts
// what it got.  Each holder's use is exclusive and ordered (stamps), the
// placeless message is destroyed even when the pool is empty at its put, m
// is never destroyed, and m alone ends pooled.
MC_TEST(pool_placed_and_placeless_puts, mc::Options{}.bound(2)) {
  struct S {
    Pool p{opts(1, 1)};
    Owners<1> o;
  };
  auto* s = mc::make<S>();
  s->o.learn(s->p.e());
  t.thread([s] {
    Message* m = get(s->p.e(), Strategy::pool_only);
    if (m == nullptr) return;  // T2 holds it
    s->o.own(m, 1);
    s->o.disown(m, 1);
    s->p.e().put(m);
  });
  t.thread([s] {
    Message* m = get(s->p.e(), Strategy::always);
    MC_ASSERT(m != nullptr);
    if (m == s->o.msg[0]) {
      s->o.own(m, 2);
      s->o.disown(m, 2);
    }  // else a new message, placeless: the one place is m's
    s->p.e().put(m);
  });
  t.after([s] {
    MC_ASSERT(s->p.e().live_messages() == 1);
    MC_ASSERT(s->p.res.outstanding() == s->p.fixed() + 1);  // + m
    Message* m = get(s->p.e(), Strategy::pool_only);
    MC_ASSERT(m == s->o.msg[0]);
    MC_ASSERT(get(s->p.e(), Strategy::pool_only) == nullptr);
    s->p.e().put(m);
    s->p.finish();
    mc::destroy(s);
  });
}

// ------------------------------------------------------------- shutdown ----

// [P3] shutdown racing put: afterwards nothing is pooled and nothing leaked.
// Without caches the put pushes onto the stack.
// Either the put sees the flag (and destroys or drains itself), or
// shutdown's drain sees the pushed message.  Weakening [P3] (shutdown's
// no-op RMW relaxed) lets the put's push follow the RMW without seeing the
// flag, while the drain misses the push: the message stays pooled.
static void shutdown_races_put(mc::Exec& t, std::uint32_t caches) {
  struct S {
    explicit S(std::uint32_t caches) : p{opts(0, 2, caches)} {}
    Pool p;
    Message* m = nullptr;
  };
  auto* s = mc::make<S>(caches);
  s->m = get(s->p.e(), Strategy::always);
  t.thread([s] { s->p.e().put(s->m); });
  t.thread([s] { s->p.e().shutdown(); });
  t.after([s] {
    MC_ASSERT(s->m == nullptr);
    MC_ASSERT(s->p.e().live_messages() == 0);  // nothing pooled after shutdown
    MC_ASSERT(s->p.res.outstanding() == s->p.fixed());  // nothing but the engine's own
    s->p.finish();
    mc::destroy(s);
  });
}

MC_TEST(pool_shutdown_races_put, mc::Options{}.bound(2)) { shutdown_races_put(t, 0); }
// [P5] The same with caches: the put fills T1's cache.  Weakening [P5] (no
// barriers) lets the put miss the flag and the drain miss the message.
MC_TEST(pool_shutdown_races_cached_put, mc::Options{}.bound(2)) { shutdown_races_put(t, 4); }

// [P3] shutdown while users hold messages: `a` (an initial one) and `b`
// (created with the second place) are placed, `c` (created after) has none.
// T1 puts a and c while T2 shuts down and then puts b: every message is
// destroyed exactly once, whichever put sees the flag early, late or never
// (then shutdown's drain finds it), and nothing leaks.
MC_TEST(pool_shutdown_with_held_messages, mc::Options{}.bound(2)) {
  struct S {
    Pool p{opts(1, 2)};
    Message* a = nullptr;
    Message* b = nullptr;
    Message* c = nullptr;
  };
  auto* s = mc::make<S>();
  s->a = get(s->p.e(), Strategy::pool_only);
  s->b = get(s->p.e(), Strategy::always);
  s->c = get(s->p.e(), Strategy::always);
  MC_ASSERT(s->a != nullptr && s->b != nullptr && s->c != nullptr);
  MC_ASSERT(s->p.e().live_messages() == 3);
  t.thread([s] {
    s->p.e().put(s->a);
    s->p.e().put(s->c);
  });
  t.thread([s] {
    s->p.e().shutdown();
    s->p.e().put(s->b);
  });
  t.after([s] {
    MC_ASSERT(s->a == nullptr && s->b == nullptr && s->c == nullptr);
    MC_ASSERT(s->p.e().live_messages() == 0);  // nothing pooled after shutdown
    MC_ASSERT(s->p.res.outstanding() == s->p.fixed());  // nothing but the engine's own
    MC_ASSERT(s->p.res.bad_frees() == 0);      // nothing destroyed twice
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
    Pool p{opts(1, 2)};
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
    MC_ASSERT(s->p.res.outstanding() == s->p.fixed());  // nothing but the engine's own
    s->p.finish();
    mc::destroy(s);
  });
}

// ----------------------------------------------------------- IndexStack ----

// ABA with node reuse: T1 pops (it may read head = b's node and its next,
// then stall); T2 pops b and a and pushes b back (the same node comes back
// at the head).  T1's stale CAS must fail on the tag: every pointer is held
// by exactly one owner or in the stack, never twice.
MC_TEST(indexstack_aba_node_reuse, mc::Options{}.bound(2)) {
  using Stack = cubby::detail::IndexStack<int, mc::ModelPlatform>;
  struct S {
    Stack st{2, std::pmr::new_delete_resource()};
    int a = 1, b = 2;
    std::uint32_t ia = 0, ib = 0;
    int* t1 = nullptr;
    int* t2_kept = nullptr;
  };
  auto* s = mc::make<S>();
  s->ia = s->st.claim(&s->a);
  s->ib = s->st.claim(&s->b);
  MC_ASSERT(s->ia != 0 && s->ib != 0 && s->st.claim(&s->a) == 0);
  s->st.push(s->ia);
  s->st.push(s->ib);
  t.thread([s] { s->t1 = s->st.pop(); });
  t.thread([s] {
    int* x = s->st.pop();
    int* y = s->st.pop();
    if (x != nullptr) s->st.push(x == &s->a ? s->ia : s->ib);  // x's node is reused
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

// [P1][P2] IndexStack hand-off: two threads race to claim the one node for
// their cell and push it; the loser's claim returns 0 (nothing lost: it
// keeps its pointer).  What the winner wrote through the pointer and the
// binding claim() stored are visible to the popper (race-checked cells).
MC_TEST(indexstack_publishes, mc::Options{}.bound(2)) {
  using Stack = cubby::detail::IndexStack<mc::cell<int>, mc::ModelPlatform>;
  struct S {
    Stack st{1, std::pmr::new_delete_resource()};
    mc::cell<int> x{0}, y{0};
    bool pushed_x = false, pushed_y = false;
    mc::cell<int>* got = nullptr;
  };
  auto* s = mc::make<S>();
  t.thread([s] {
    s->x.store(1);
    if (const std::uint32_t id = s->st.claim(&s->x)) {
      s->st.push(id);
      s->pushed_x = true;
    }
  });
  t.thread([s] {
    s->y.store(2);
    if (const std::uint32_t id = s->st.claim(&s->y)) {
      s->st.push(id);
      s->pushed_y = true;
    }
  });
  t.thread([s] {
    s->got = s->st.pop();
    if (s->got == &s->x) MC_ASSERT(s->got->load() == 1);
    if (s->got == &s->y) MC_ASSERT(s->got->load() == 2);
  });
  t.after([s] {
    MC_ASSERT(s->pushed_x != s->pushed_y);  // one node: exactly one claim won
    mc::cell<int>* left = s->st.pop();
    MC_ASSERT(s->st.pop() == nullptr);
    MC_ASSERT((s->got != nullptr) != (left != nullptr));
    mc::cell<int>* won = s->pushed_x ? &s->x : &s->y;
    MC_ASSERT(s->got == won || left == won);
    mc::destroy(s);
  });
}
