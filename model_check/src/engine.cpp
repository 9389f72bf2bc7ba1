// model_check/src/engine.cpp: the model checker's engine: fibers, the
// scheduler and its choice path, the memory model, failure reports.
//
// Design notes (the ideas come from Relacy, CDSChecker and Loom; the code is
// cubby's own):
//
//  - Stateless search.  An execution is determined by its choice path: every
//    nondeterministic decision (thread, read-from store, modification-order
//    slot, spurious failure, timeout) asks choose(n).  DFS replays a prefix and
//    advances the last choice that has alternatives left.  A replay token is
//    that path, printed.
//  - Fibers.  Model threads are ucontext fibers on the calling OS thread; the
//    scheduler runs inside whichever fiber reaches a visible step and switches
//    directly to the next one, so a context switch costs only when the thread
//    changes.  Thread 0 is the test's main fiber (setup, then join, then the
//    after hooks).
//  - Memory model.  Each atomic keeps its last `history` stores in
//    modification order (mo).  A load may read any store not older than its
//    coherence lower bound: the newest store that happens-before it, or that
//    was read by a read that happens-before it (CoWR, CoRR), or that the
//    seq_cst rules of C++20 [atomics.order] p4 put before it.  Stores that
//    (plain or RMW) may be placed in mo before stores they do not happen
//    after (CoWW, CoRW respected, and for seq_cst ones the seq_cst rules;
//    never between an RMW and the store it read); an RMW reads the store
//    before its place.  Release sequences: a
//    store's "sync" clock is what an acquire reader gains; an RMW inherits the
//    sync clock of the store it read.  Fences: release fences stamp later
//    relaxed stores, acquire fences collect what earlier relaxed loads read.
//    seq_cst: S is the execution order of seq_cst operations and fences.
//  - Load speculation (Options::speculate_loads; CDSChecker's promises,
//    simplified).  A non-seq_cst load may also read a value that a store not
//    yet executed will write: the values come from the stores seen at that
//    location (by creation index) in earlier rounds of the search, so nothing
//    comes out of thin air.  The load leaves a promise; a later store of that
//    value that does not happen after the load, lands in mo after the load's
//    coherence lower bound and gives an acquire load no synchronisation it
//    missed may fulfil it (a choice).  Until then whatever could observe the
//    difference discards the execution (it is not a failure): the
//    speculating thread or one happening after the load accessing the
//    location, a seq_cst access to it, a seq_cst fence, any failure, the end
//    of the threads.  See README.md, "Load speculation".
//  - Happens-before is tracked with vector clocks (epoch per thread); cells
//    check the FastTrack condition (last write, reads since) on every access.
#include <time.h>
#include <ucontext.h>
#include <pthread.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "cubby_mc/mc.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define CUBBY_MC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CUBBY_MC_ASAN 1
#endif
#endif

// FAIL(engine, kind, message): record, then abandon the fiber.
#define CUBBY_MC_FAIL(e, kind, ...) \
  do {                              \
    (e).record(kind, __VA_ARGS__);  \
    (e).abandon();                  \
  } while (0)
#ifdef CUBBY_MC_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

namespace cubby::mc {

const char* to_string(Failure f) noexcept {
  switch (f) {
    case Failure::none: return "none";
    case Failure::assertion: return "assertion";
    case Failure::race: return "race";
    case Failure::deadlock: return "deadlock";
    case Failure::livelock: return "livelock";
    case Failure::leak: return "leak";
    case Failure::nondeterminism: return "nondeterminism";
  }
  return "?";
}

void Exec::thread(std::function<void()> fn) {
  if (threads_.size() >= 7) {
    std::fprintf(stderr, "cubby-mc: at most 7 model threads per test\n");
    std::abort();
  }
  threads_.push_back(std::move(fn));
}

namespace detail {
namespace {

using SL = ::cubby::mc::source_location;
constexpr unsigned kMaxThreads = 8;  // thread 0 (main) + 7 model threads
constexpr unsigned kMaxHistory = 8;
constexpr unsigned kMaxFutureValues = 4;  // values per location a load may speculate
constexpr std::uint32_t kNone = UINT32_MAX;
using VC = std::array<std::uint32_t, kMaxThreads>;

void join(VC& a, const VC& b) noexcept {
  for (unsigned i = 0; i < kMaxThreads; ++i) a[i] = std::max(a[i], b[i]);
}

std::string where_str(const SL& w) {
  if (w.line() == 0) return "?";
  std::string_view f = w.file_name();
  const auto slash = f.rfind('/');
  if (slash != std::string_view::npos) f.remove_prefix(slash + 1);
  return std::string(f) + ":" + std::to_string(w.line());
}

const char* order_str(std::memory_order o) {
  switch (o) {
    case std::memory_order_relaxed: return "relaxed";
    case std::memory_order_consume: return "consume";
    case std::memory_order_acquire: return "acquire";
    case std::memory_order_release: return "release";
    case std::memory_order_acq_rel: return "acq_rel";
    case std::memory_order_seq_cst: return "seq_cst";
  }
  return "?";
}
bool is_acquire(std::memory_order o) {
  return o == std::memory_order_acquire || o == std::memory_order_consume || o == std::memory_order_acq_rel ||
         o == std::memory_order_seq_cst;
}
bool is_release(std::memory_order o) {
  return o == std::memory_order_release || o == std::memory_order_acq_rel || o == std::memory_order_seq_cst;
}

struct Store {
  std::uint64_t value = 0;
  std::uint64_t uid = 0;       // identity across mo insertions
  std::uint32_t seq = 0;       // global step (position in S for seq_cst)
  std::uint32_t epoch = 0;     // writer's clock when it stored
  std::uint32_t sc_first = kNone;  // seq of the first seq_cst access (write or read) to this store
  std::uint8_t tid = 0;
  bool rmw = false;
  bool init = false;
  std::uint32_t step = 0;      // trace step that made it
  VC sync{};                   // what an acquire reader gains (release sequence)
  VC readers{};                // per thread: clock at its earliest read of this store (0: none)
};

struct Location {
  Store stores[kMaxHistory + 1];
  unsigned count = 0;
  unsigned size = 4;
  bool is_signed = false;
  std::uint8_t creator = 0;
  SL where{};
  const char* name = nullptr;
  std::uint64_t last_read_uid[kMaxThreads]{};
  std::uint8_t rereads[kMaxThreads]{};
  std::uint32_t dropped = 0;
};

// ScFence: a seq_cst fence, or one half of the asymmetric barrier pair.
// join_at: what a load after it must not read older than (rule 4.4): for a
// seq_cst fence or a heavy barrier, the join of the seq_cst fences and heavy
// barriers up to it, and of the light barriers before the last heavy one;
// for a light barrier, the join as of the last heavy barrier before it.
enum class FenceKind : std::uint8_t { seq_cst, heavy, light };
struct ScFence {
  std::uint32_t seq;
  std::uint8_t tid;
  std::uint32_t epoch;
  VC join_at;
  FenceKind kind;
};

enum class TState : std::uint8_t { unused, runnable, blocked, joining, finished };

struct Ctx {
  ucontext_t uc{};
  const void* stack_bottom = nullptr;
  std::size_t stack_size = 0;
  void* fake_stack = nullptr;
};

struct ModelThread {
  Ctx ctx;
  std::unique_ptr<char[]> stack;
  TState state = TState::unused;
  VC clock{}, acq_pending{}, rel_fence{};
  bool yielded = false;
  std::uint32_t yield_step = 0;
  std::uint32_t wait_loc = 0, wait_channels = 0, wait_expected = 0;
  bool wait_deadline = false;
  platform::FutexResult wake_result = platform::FutexResult::woken;
  SL wait_where{};
  unsigned spurious_wakeups_used = 0, spurious_cas_used = 0;
};

enum class Kind : std::uint8_t { thread, read, slot, cas, wake, fulfil, deadline, late };

// Promise: a load that read a value no executed store had written yet.
struct Promise {
  std::uint32_t loc;
  std::uint64_t value;
  std::uint64_t min_uid;  // the load's coherence lower bound: the fulfilling store goes after it in mo
  VC clock;               // the loading thread's clock at the load
  std::uint32_t epoch;    // the load's epoch in its thread: clock[tid] >= epoch is "happens after the load"
  std::uint32_t step;
  std::uint8_t tid;
  bool acquire;           // the load, or a later fence of its thread, acquires
};

// FutureValues: per location (creation index), the values a load may speculate.
using FutureValues = std::vector<std::vector<std::uint64_t>>;

struct Choice {
  std::uint16_t chosen;
  std::uint16_t count;  // 0: unknown (decoded from a token)
};

struct Event {
  std::uint32_t step;
  std::uint8_t tid;
  std::string text;
  SL where;
};

struct Live {
  void* p;
  void (*del)(void*);
  const char* type;
};

// 256 KiB: enough for the primitives' call depth even in ASan builds, and
// small enough that ASan's swapcontext interceptor clears a fiber's stack
// shadow (32 KiB) with a memset rather than an madvise system call.
constexpr std::size_t kStackSize = 256u << 10;

class Engine;
Engine* g_engine = nullptr;
void trampoline();

class Engine {
 public:
  enum class Mode : std::uint8_t { dfs, pct, random, replay };

  Options opt;
  Mode mode = Mode::dfs;
  unsigned bound = 0;        // preemption bound of this execution (kNone: unbounded)
  unsigned stale_bound = 0;  // weak-memory choices allowed in this execution (kNone: unbounded)
  const std::function<void(Exec&)>* setup = nullptr;

  // ---- per execution ----
  ModelThread threads[kMaxThreads];
  unsigned nthreads = 0;
  unsigned cur = 0;
  std::vector<Location> locs;
  std::uint32_t nlocs = 0;
  std::vector<ScFence> fences;
  VC sc_join{};     // seq_cst fences, heavy barriers, light barriers before a heavy one
  VC fence_join{};  // seq_cst fences and heavy barriers only: what a later seq_cst access sees
  VC heavy_join{};  // sc_join as of the start of the last heavy barrier (without light_join)
  VC light_join{};  // light barriers
  std::uint32_t seq = 0;
  std::uint64_t uid = 0;
  std::uint32_t steps = 0;
  unsigned preemptions = 0;
  unsigned stale_used = 0;
  std::vector<Promise> promises;  // outstanding speculated loads
  bool discarded = false;         // the execution was dropped (an unjustified speculation)
  std::uint32_t generation = 0;
  std::uint32_t ncells = 0;
  std::vector<Live> live;
  Exec exec;
  Failure failure = Failure::none;
  std::string message;
  bool inert = true;     // outside an execution: objects work, nothing is recorded
  bool peeking = false;  // inside an invariant hook
  bool tracing = false;
  bool in_threads = false;  // the model threads run (invariants are checked)
  std::vector<Event> trace;
  Ctx sched;

  // ---- load speculation, per search ----
  FutureValues seen_values;    // stored per location so far in this search
  FutureValues future_values;  // what loads speculate: seen_values frozen at the start of a dfs
                               // round (a choice's alternatives must not change on replay)

  // ---- choice path ----
  std::vector<Choice> path;
  std::size_t pos = 0;
  std::mt19937_64 rng{1};
  // pct
  unsigned prio[kMaxThreads]{};
  std::vector<std::uint32_t> change_points;
  std::uint32_t pct_len = 64;

  Engine() {
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
      void* addr = nullptr;
      std::size_t size = 0;
      pthread_attr_getstack(&attr, &addr, &size);
      sched.stack_bottom = addr;
      sched.stack_size = size;
      pthread_attr_destroy(&attr);
    }
  }

  // ------------------------------------------------------------ fibers ----

  void switch_ctx(Ctx& from, Ctx& to, bool from_dies) {
#ifdef CUBBY_MC_ASAN
    __sanitizer_start_switch_fiber(from_dies ? nullptr : &from.fake_stack, to.stack_bottom, to.stack_size);
#else
    (void)from_dies;
#endif
    swapcontext(&from.uc, &to.uc);
#ifdef CUBBY_MC_ASAN
    __sanitizer_finish_switch_fiber(from.fake_stack, nullptr, nullptr);
#endif
  }

  void prepare_fiber(unsigned tid) {
    ModelThread& t = threads[tid];
    if (!t.stack) t.stack = std::make_unique<char[]>(kStackSize);
#ifdef CUBBY_MC_ASAN
    __asan_unpoison_memory_region(t.stack.get(), kStackSize);
#endif
    getcontext(&t.ctx.uc);
    t.ctx.uc.uc_stack.ss_sp = t.stack.get();
    t.ctx.uc.uc_stack.ss_size = kStackSize;
    t.ctx.uc.uc_link = nullptr;
    t.ctx.stack_bottom = t.stack.get();
    t.ctx.stack_size = kStackSize;
    t.ctx.fake_stack = nullptr;
    makecontext(&t.ctx.uc, &trampoline, 0);
  }

  // ---------------------------------------------------------- choices ----

  // record: notes the first failure.  abandon: leaves the current fiber for
  // good.  Kept apart (FAIL below) so that every temporary of the message is
  // destroyed before the fiber's frames are abandoned (no leak under LSan).
  void record(Failure kind, const std::string& msg) {
    // A failure while a promise is outstanding may stem from a speculated
    // value no store will justify: reporting it could be a false positive, so
    // the execution is discarded.  Nondeterminism is the test's, not the
    // execution's: always reported.
    if (!promises.empty() && kind != Failure::nondeterminism) {
      discarded = true;
      peeking = false;
      if (tracing) trace.push_back({steps, static_cast<std::uint8_t>(cur), "*** discarded: " + msg, SL{}});
      return;
    }
    if (failure == Failure::none) {
      failure = kind;
      message = msg;
    }
    peeking = false;
    if (tracing) trace.push_back({steps, static_cast<std::uint8_t>(cur), std::string("*** ") + to_string(kind) + ": " + msg, SL{}});
  }
  [[noreturn]] void abandon() {
    switch_ctx(threads[cur].ctx, sched, true);
    std::abort();  // never resumed
  }
  [[noreturn]] void discard() {
    discarded = true;
    abandon();
  }

  unsigned choose(unsigned n, Kind kind, const unsigned* cand = nullptr) {
    if (n <= 1) return 0;
    if (pos < path.size()) {
      const Choice c = path[pos++];
      if ((c.count != 0 && c.count != n) || c.chosen >= n) {
        CUBBY_MC_FAIL(*this, Failure::nondeterminism, "the test made different choices when replayed (does it read a clock, a global, "
                                      "or random numbers outside the model?)");
      }
      return c.chosen;
    }
    unsigned v = 0;
    if (mode == Mode::random) {
      v = static_cast<unsigned>(rng() % n);
    } else if (mode == Mode::pct) {
      if (kind == Kind::thread && cand != nullptr) {
        for (unsigned i = 1; i < n; ++i)
          if (prio[cand[i]] > prio[cand[v]]) v = i;
      } else {
        v = static_cast<unsigned>(rng() % n);
      }
    }
    path.push_back({static_cast<std::uint16_t>(v), static_cast<std::uint16_t>(n)});
    ++pos;
    return v;
  }

  bool next_path() {
    while (!path.empty()) {
      Choice& c = path.back();
      if (c.chosen + 1u < c.count) {
        ++c.chosen;
        return true;
      }
      path.pop_back();
    }
    return false;
  }

  // ---------------------------------------------------------- schedule ----

  bool eligible(unsigned t) const {
    const ModelThread& th = threads[t];
    if (th.state == TState::runnable) return true;
    if (th.state != TState::blocked) return false;
    if (th.wait_deadline && opt.timeouts) return true;
    return th.spurious_wakeups_used < opt.spurious_wakeups;
  }

  void pick(bool cur_enabled) {
    ModelThread& c = threads[cur];
    if (mode == Mode::pct) {
      for (std::size_t i = 0; i < change_points.size(); ++i) {
        if (change_points[i] == steps) prio[cur] = static_cast<unsigned>(i);
      }
    }
    unsigned cand[kMaxThreads];
    unsigned n = 0;
    const bool cur_pref = cur_enabled && !c.yielded;
    const bool bounded = bound != kNone && preemptions >= bound;
    if (cur_pref) cand[n++] = cur;
    if (!(cur_pref && bounded)) {
      // A thread that yielded waits for another thread's write; until one
      // happens it runs only if every other eligible thread yielded too, and
      // never picks itself while another can run (fair spinning).
      for (unsigned t = 0; t < nthreads; ++t)
        if (t != cur && eligible(t) && !threads[t].yielded) cand[n++] = t;
      if (n == 0) {
        // Every eligible thread spins: run the one that yielded longest ago
        // (round robin, no choice), so an unfair cycle is never explored.
        unsigned best = kMaxThreads;
        for (unsigned t = 0; t < nthreads; ++t)
          if (t != cur && eligible(t) && (best == kMaxThreads || threads[t].yield_step < threads[best].yield_step)) best = t;
        if (best != kMaxThreads) cand[n++] = best;
        if (n == 0 && cur_enabled) cand[n++] = cur;
        // A thread that has just parked may time out (or wake spuriously)
        // itself when no other thread can run: not a deadlock.
        if (n == 0 && !cur_enabled && eligible(cur)) cand[n++] = cur;
      }
    }
    if (n == 0) CUBBY_MC_FAIL(*this, Failure::deadlock, describe_deadlock());
    const unsigned next = cand[choose(n, Kind::thread, cand)];
    if (cur_pref && next != cur) ++preemptions;
    ModelThread& nt = threads[next];
    nt.yielded = false;
    if (nt.state == TState::blocked) {
      nt.state = TState::runnable;
      if (nt.wait_deadline && opt.timeouts) {
        nt.wake_result = platform::FutexResult::timed_out;
        if (tracing) event(next, "futex_wait   " + obj(nt.wait_loc) + "  -> timed out", nt.wait_where);
      } else {
        nt.wake_result = platform::FutexResult::woken;
        ++nt.spurious_wakeups_used;
        if (tracing) event(next, "futex_wait   " + obj(nt.wait_loc) + "  -> spurious wake-up", nt.wait_where);
      }
    }
    if (next != cur) {
      const unsigned from = cur;
      cur = next;
      switch_ctx(threads[from].ctx, nt.ctx, threads[from].state == TState::finished);
    }
  }

  // step: called before every visible operation of the current thread.
  void step() {
    if (++steps > opt.max_steps) {
      CUBBY_MC_FAIL(*this, Failure::livelock, "no progress: " + std::to_string(opt.max_steps) +
                                  " visible steps in one execution (a spin that never ends?)");
    }
    if (in_threads && !exec.invariant_.empty()) {
      peeking = true;
      for (auto& f : exec.invariant_) f();
      peeking = false;
    }
    pick(true);
  }

  void tick() { ++threads[cur].clock[cur]; }
  // progress: a write happened; threads spinning on a yield may see it.
  void progress() {
    for (unsigned t = 0; t < nthreads; ++t) threads[t].yielded = false;
  }
  bool weak_ok() const { return stale_bound == kNone || stale_used < stale_bound; }

  std::string describe_deadlock() {
    std::string s = "deadlock: every live thread is blocked";
    for (unsigned t = 1; t < nthreads; ++t) {
      const ModelThread& th = threads[t];
      s += "\n    T" + std::to_string(t) + ": ";
      if (th.state == TState::finished) {
        s += "finished";
      } else if (th.state == TState::blocked) {
        const Location& L = locs[th.wait_loc];
        s += "futex_wait on " + obj(th.wait_loc) + " (value " + val(L, L.stores[L.count - 1].value) +
             " == expected, channels " + hex(th.wait_channels) +
             (!th.wait_deadline ? ", no deadline" : opt.timeouts ? ", deadline" : ", deadline, timeouts disabled") + ") at " +
             where_str(th.wait_where);
      } else {
        s += "runnable?";
      }
    }
    return s;
  }

  // ------------------------------------------------------------ tracing ----

  static std::string hex(std::uint64_t v) {
    char b[24];
    std::snprintf(b, sizeof b, "0x%" PRIx64, v);
    return b;
  }
  static std::string val(const Location& L, std::uint64_t v) {
    if (L.is_signed) {
      const unsigned shift = 64 - 8 * L.size;
      const auto sv = static_cast<std::int64_t>(v << shift) >> shift;
      return std::to_string(sv);
    }
    if (v < 65536) return std::to_string(v);
    return hex(v);
  }
  std::string obj(std::uint32_t id) const {
    std::string s = "a";  // not "a" + to_string(): gcc 12 -O3 warns falsely (-Wrestrict, GCC bug 105329)
    s += std::to_string(id);
    if (id < nlocs && locs[id].name != nullptr) s += "(" + std::string(locs[id].name) + ")";
    return s;
  }
  void event(unsigned tid, std::string text, const SL& where) {
    trace.push_back({steps, static_cast<std::uint8_t>(tid), std::move(text), where});
  }
  // pad: s left-aligned in a column of w; a longer s still gets one space,
  // so it never runs into the next column ("0x200000000relaxed").
  static std::string pad(std::string s, std::size_t w) {
    s.append(s.size() < w ? w - s.size() : 1, ' ');
    return s;
  }

  // ------------------------------------------------------ memory model ----

  std::uint32_t new_location(std::uint64_t init, unsigned size, bool is_signed, const SL& where) {
    if (nlocs == locs.size()) locs.emplace_back();
    Location& L = locs[nlocs];
    L.count = 1;
    L.size = size;
    L.is_signed = is_signed;
    L.where = where;
    L.name = nullptr;
    L.dropped = 0;
    L.creator = static_cast<std::uint8_t>(cur);
    std::fill(std::begin(L.last_read_uid), std::end(L.last_read_uid), 0);
    std::fill(std::begin(L.rereads), std::end(L.rereads), 0);
    Store& s = L.stores[0];
    s = Store{};
    s.value = init;
    s.uid = ++uid;
    s.seq = seq++;
    s.tid = static_cast<std::uint8_t>(cur);
    s.epoch = inert ? 0 : threads[cur].clock[cur];
    s.init = true;
    s.step = steps;
    if (!inert && tracing) event(cur, pad("init", 13) + pad(obj(nlocs), 14) + "= " + val(L, init), where);
    return nlocs++;
  }

  // fence_before: the latest fence of `kind` that happens before T's next
  // step (its own included).  Later fences of one kind have larger joins.
  const ScFence* fence_before(const ModelThread& T, FenceKind kind) const {
    for (auto it = fences.rbegin(); it != fences.rend(); ++it)
      if (it->kind == kind && it->epoch <= T.clock[it->tid]) return &*it;
    return nullptr;
  }

  static bool readers_le(const Store& s, const VC& c) {
    for (unsigned u = 0; u < kMaxThreads; ++u)
      if (s.readers[u] != 0 && s.readers[u] <= c[u]) return true;
    return false;
  }

  // lower_bound: the oldest mo index thread T may read (or place a store after).
  unsigned lower_bound(const Location& L, const ModelThread& T, bool sc) const {
    const ScFence* xs[3] = {nullptr, nullptr, nullptr};
    if (!fences.empty()) {
      for (const FenceKind k : {FenceKind::seq_cst, FenceKind::heavy, FenceKind::light}) {
        xs[static_cast<int>(k)] = fence_before(T, k);
      }
    }
    for (unsigned i = L.count - 1; i > 0; --i) {
      const Store& s = L.stores[i];
      if (s.epoch <= T.clock[s.tid] || readers_le(s, T.clock)) return i;  // CoWR, CoRR
      if (sc) {
        // [atomics.order] 4.1: an earlier seq_cst access to s or later.
        if (s.sc_first != kNone) return i;
        // 4.2: s (or a read of it) happens before an executed seq_cst fence.
        if (s.epoch <= fence_join[s.tid] || readers_le(s, fence_join)) return i;
      }
      for (const ScFence* x : xs) {
        if (x == nullptr) continue;
        // 4.3: a seq_cst access to s came before the fence x that happens
        // before us (a light barrier is not ordered against seq_cst accesses).
        if (x->kind != FenceKind::light && s.sc_first < x->seq) return i;
        // 4.4: s happens before a fence that precedes x in S and pairs with it.
        if (s.epoch <= x->join_at[s.tid] || readers_le(s, x->join_at)) return i;
      }
    }
    return 0;
  }

  void saw(Location& L, const Store& s, bool stale) {
    if (!stale) {
      L.last_read_uid[cur] = s.uid;
      L.rereads[cur] = 0;
    } else if (L.last_read_uid[cur] == s.uid) {
      ++L.rereads[cur];
    } else {
      L.last_read_uid[cur] = s.uid;
      L.rereads[cur] = 0;
    }
  }

  // observe: thread cur reads store index i (as a load or the read of an RMW).
  void observe(Location& L, unsigned i, std::memory_order mo) {
    ModelThread& T = threads[cur];
    Store& s = L.stores[i];
    // The earliest read counts: whatever happens after it must read s or
    // later (CoRR), and a later read by the same thread would hide it.
    if (s.readers[cur] == 0) s.readers[cur] = T.clock[cur];
    if (mo == std::memory_order_seq_cst) s.sc_first = std::min(s.sc_first, seq);
    saw(L, s, i + 1 != L.count);
    if (is_acquire(mo)) {
      join(T.clock, s.sync);
    } else {
      join(T.acq_pending, s.sync);
    }
  }

  std::string read_note(const Location& L, unsigned i) const {
    if (i + 1 == L.count) return "";
    return "  [STALE: " + std::to_string(L.count - 1 - i) + " newer store" + (L.count - 1 - i > 1 ? "s" : "") +
           ", read the one from step " + std::to_string(L.stores[i].step) + (L.stores[i].init ? " (init)" : "") + "]";
  }

  // ------------------------------------------------- load speculation ----

  // touch: thread cur is about to access location id.  While a promise on id
  // is outstanding, neither the speculating thread nor any thread that
  // happens after the load may access id (what it reads or where its store
  // goes in mo depends on the fulfilling store, not placed yet), nor may a
  // seq_cst access to id run (S is the execution order, and [atomics.order]
  // p4 would have to order it against the fulfilling store): discard.
  void touch(std::uint32_t id, bool sc) {
    for (const Promise& p : promises)
      if (p.loc == id && (sc || threads[cur].clock[p.tid] >= p.epoch)) discard();
  }

  // note_value: a store wrote v to location id; later rounds may speculate it.
  void note_value(std::uint32_t id, std::uint64_t v) {
    if (!opt.speculate_loads) return;
    if (id >= seen_values.size()) seen_values.resize(id + 1);
    std::vector<std::uint64_t>& seen = seen_values[id];
    if (seen.size() < kMaxFutureValues && std::find(seen.begin(), seen.end(), v) == seen.end()) seen.push_back(v);
  }

  // future: the values a load of id with order mo may speculate (none: nullptr).
  // Only while another model thread can still run a store that does not
  // happen after the load (the main thread's after hooks happen after all).
  const std::vector<std::uint64_t>* future(std::uint32_t id, std::memory_order mo) const {
    if (!opt.speculate_loads || mo == std::memory_order_seq_cst || !in_threads || !weak_ok() ||
        id >= future_values.size() || future_values[id].empty())
      return nullptr;
    for (unsigned t = 1; t < nthreads; ++t)
      if (t != cur && (threads[t].state == TState::runnable || threads[t].state == TState::blocked))
        return &future_values[id];
    return nullptr;
  }

  // speculate: thread cur's load of id returns v, which a later store must write.
  std::uint64_t speculate(std::uint32_t id, std::uint64_t v, unsigned lb, std::memory_order mo, const SL& where) {
    const ModelThread& T = threads[cur];
    const Location& L = locs[id];
    ++stale_used;
    promises.push_back({id, v, L.stores[lb].uid, T.clock, T.clock[cur], steps, static_cast<std::uint8_t>(cur),
                        is_acquire(mo)});
    ++seq;
    if (tracing) {
      event(cur, pad("load", 13) + pad(obj(id), 14) + pad("-> " + val(L, v), 16) + pad(order_str(mo), 9) +
                     "  [SPECULATED: a later store must write " + val(L, v) + "]",
            where);
    }
    tick();
    return v;
  }

  static unsigned index_of(const Location& L, std::uint64_t store_uid) {
    for (unsigned i = 0; i < L.count; ++i)
      if (L.stores[i].uid == store_uid) return i;
    return kNone;
  }

  // fulfil: thread cur's store of uid w_uid to location id was just placed
  // in mo; it may fulfil each outstanding promise it can justify (a choice
  // per promise: the load may as well read a later store of the same value).
  // It does not happen after the load: touch() discarded such threads.
  void fulfil(std::uint32_t id, std::uint64_t w_uid, const SL& where) {
    Location& L = locs[id];
    const unsigned w = index_of(L, w_uid);
    for (std::size_t k = 0; k < promises.size();) {
      const Promise& p = promises[k];
      const unsigned floor = index_of(L, p.min_uid);  // kNone: dropped from history, older than all
      bool ok = p.loc == id && p.value == L.stores[w].value && (floor == kNone || floor < w);
      // An acquire load would synchronise with w; after the fact only if
      // that adds nothing the loading thread has not already seen.
      for (unsigned u = 0; ok && p.acquire && u < kMaxThreads; ++u) ok = L.stores[w].sync[u] <= p.clock[u];
      if (!ok || choose(2, Kind::fulfil) != 0) {
        ++k;
        continue;
      }
      Store& s = L.stores[w];
      // CoRR, CoWR for the load's thread and whatever happens after it; the
      // earliest read counts (see observe).
      if (s.readers[p.tid] == 0 || p.epoch < s.readers[p.tid]) s.readers[p.tid] = p.epoch;
      if (!p.acquire) join(threads[p.tid].acq_pending, s.sync);  // for its later acquire fences
      if (tracing) {
        event(cur, pad("", 13) + pad(obj(id), 14) + "  fulfils the promise of T" + std::to_string(p.tid) +
                       "'s load at step " + std::to_string(p.step),
              where);
      }
      promises.erase(promises.begin() + static_cast<std::ptrdiff_t>(k));
    }
  }

  std::uint64_t load(std::uint32_t id, std::memory_order mo, const SL& where) {
    if (inert || peeking) return locs[id].stores[locs[id].count - 1].value;
    step();
    touch(id, mo == std::memory_order_seq_cst);
    Location& L = locs[id];
    const ModelThread& T = threads[cur];
    const unsigned lb = weak_ok() ? lower_bound(L, T, mo == std::memory_order_seq_cst) : L.count - 1;
    unsigned cand[kMaxHistory + 1];
    unsigned n = 0;
    for (unsigned i = L.count; i-- > lb;) {
      if (i + 1 != L.count && L.last_read_uid[cur] == L.stores[i].uid && L.rereads[cur] >= opt.stale_rereads) continue;
      cand[n++] = i;
    }
    const std::vector<std::uint64_t>* fv = future(id, mo);
    const unsigned nf = fv != nullptr ? static_cast<unsigned>(fv->size()) : 0;
    const unsigned k = choose(n + nf, Kind::read);
    if (k >= n) return speculate(id, (*fv)[k - n], lb, mo, where);
    const unsigned i = cand[k];
    if (i + 1 != L.count) ++stale_used;
    observe(L, i, mo);
    const std::uint64_t v = L.stores[i].value;
    ++seq;
    if (tracing) event(cur, pad("load", 13) + pad(obj(id), 14) + pad("-> " + val(L, v), 16) + pad(order_str(mo), 9) + read_note(L, i), where);
    tick();
    return v;
  }

  // mo_note: the trace's note for a store placed before `before` newer ones.
  static std::string mo_note(unsigned before) {
    return before > 0 ? "  [mo: placed before " + std::to_string(before) + " newer store(s)]" : "";
  }

  void insert(Location& L, unsigned p, const Store& w) {
    for (unsigned j = L.count; j > p; --j) L.stores[j] = L.stores[j - 1];
    L.stores[p] = w;
    ++L.count;
    if (L.count > opt.history) {
      for (unsigned j = 0; j + 1 < L.count; ++j) L.stores[j] = L.stores[j + 1];
      --L.count;
      ++L.dropped;
    }
  }

  Store make_store(std::uint64_t v, std::memory_order mo, bool rmw) {
    const ModelThread& T = threads[cur];
    Store w;
    w.value = v;
    w.uid = ++uid;
    w.seq = seq++;
    w.epoch = T.clock[cur];
    w.tid = static_cast<std::uint8_t>(cur);
    w.rmw = rmw;
    w.step = steps;
    if (mo == std::memory_order_seq_cst) w.sc_first = w.seq;
    w.sync = is_release(mo) ? T.clock : T.rel_fence;
    return w;
  }

  void store(std::uint32_t id, std::uint64_t v, std::memory_order mo, const SL& where) {
    if (inert || peeking) {
      Location& L = locs[id];
      L.stores[L.count - 1].value = v;
      return;
    }
    step();
    touch(id, mo == std::memory_order_seq_cst);
    Location& L = locs[id];
    const Store w = make_store(v, mo, false);
    unsigned p = L.count;
    if (opt.store_reorder && L.count > 1 && weak_ok()) {
      // A seq_cst store stays after every store a seq_cst access already
      // touched and after what seq_cst fences order before it (the seq_cst
      // lower bound: S is the execution order and must agree with mo).
      const unsigned lb = lower_bound(L, threads[cur], mo == std::memory_order_seq_cst);
      unsigned cand[kMaxHistory + 1];
      unsigned n = 0;
      cand[n++] = L.count;
      for (unsigned q = L.count - 1; q > lb; --q)
        if (!L.stores[q].rmw) cand[n++] = q;
      p = cand[choose(n, Kind::slot)];
      if (p != L.count) ++stale_used;
    }
    const unsigned before = L.count - p;
    insert(L, p, w);
    saw(L, w, false);
    progress();
    note_value(id, v);
    if (tracing) {
      event(cur, pad("store", 13) + pad(obj(id), 14) + pad("<- " + val(L, v), 16) + pad(order_str(mo), 9) +
                     mo_note(before),
            where);
    }
    if (!promises.empty()) fulfil(id, w.uid, where);
    tick();
  }

  static std::uint64_t apply(Rmw op, std::uint64_t old, std::uint64_t x, unsigned size) {
    std::uint64_t r = 0;
    switch (op) {
      case Rmw::exchange: r = x; break;
      case Rmw::add: r = old + x; break;
      case Rmw::sub: r = old - x; break;
      case Rmw::bit_or: r = old | x; break;
      case Rmw::bit_and: r = old & x; break;
      case Rmw::bit_xor: r = old ^ x; break;
    }
    return size >= 8 ? r : (r & ((std::uint64_t{1} << (8 * size)) - 1));
  }
  static const char* rmw_name(Rmw op) {
    switch (op) {
      case Rmw::exchange: return "exchange";
      case Rmw::add: return "fetch_add";
      case Rmw::sub: return "fetch_sub";
      case Rmw::bit_or: return "fetch_or";
      case Rmw::bit_and: return "fetch_and";
      case Rmw::bit_xor: return "fetch_xor";
    }
    return "rmw";
  }

  // rmw_slots: the modification-order slots an RMW of thread cur may take:
  // always the end (it reads the newest store); with store_reorder also a
  // slot p before stores that do not happen before it (lower_bound; the
  // seq_cst one for a seq_cst RMW), reading the store at p - 1.  A slot
  // right before an RMW is taken: that RMW reads the store before it
  // (atomicity).  Returns how many slots were written to `out`.
  unsigned rmw_slots(const Location& L, std::memory_order mo, unsigned* out) {
    unsigned n = 0;
    out[n++] = L.count;
    if (opt.store_reorder && L.count > 1 && weak_ok()) {
      const unsigned lb = lower_bound(L, threads[cur], mo == std::memory_order_seq_cst);  // as store()
      for (unsigned q = L.count - 1; q > lb; --q)
        if (!L.stores[q].rmw) out[n++] = q;
    }
    return n;
  }

  // rmw_commit: thread cur reads the store at slot - 1 of id and puts `v`
  // at `slot` (L.count: the end); returns the new store's uid.
  std::uint64_t rmw_commit(std::uint32_t id, unsigned slot, std::uint64_t v, std::memory_order mo) {
    Location& L = locs[id];
    if (slot != L.count) ++stale_used;
    observe(L, slot - 1, mo);
    Store w = make_store(v, mo, true);
    join(w.sync, L.stores[slot - 1].sync);  // continues the release sequence it read
    insert(L, slot, w);
    saw(L, w, false);
    progress();
    note_value(id, v);
    return w.uid;
  }

  std::uint64_t rmw(std::uint32_t id, Rmw op, std::uint64_t x, std::memory_order mo, const SL& where) {
    Location& L0 = locs[id];
    if (inert || peeking) {
      const std::uint64_t old = L0.stores[L0.count - 1].value;
      L0.stores[L0.count - 1].value = apply(op, old, x, L0.size);
      return old;
    }
    step();
    touch(id, mo == std::memory_order_seq_cst);
    Location& L = locs[id];
    unsigned slots[kMaxHistory + 1];
    const unsigned n = rmw_slots(L, mo, slots);
    const unsigned slot = slots[choose(n, Kind::slot)];
    const unsigned before = L.count - slot;
    const std::uint64_t old = L.stores[slot - 1].value;
    const std::uint64_t v = apply(op, old, x, L.size);
    const std::uint64_t w_uid = rmw_commit(id, slot, v, mo);
    if (tracing) {
      event(cur, pad(rmw_name(op), 13) + pad(obj(id), 14) + pad(val(L, old) + " -> " + val(L, v), 16) + order_str(mo) +
                     mo_note(before),
            where);
    }
    if (!promises.empty()) fulfil(id, w_uid, where);
    tick();
    return old;
  }

  bool cas(std::uint32_t id, std::uint64_t& expected, std::uint64_t desired, bool weak, std::memory_order succ,
           std::memory_order fail_mo, const SL& where) {
    Location& L0 = locs[id];
    if (inert || peeking) {
      Store& s = L0.stores[L0.count - 1];
      if (s.value == expected) {
        s.value = desired;
        return true;
      }
      expected = s.value;
      return false;
    }
    step();
    touch(id, succ == std::memory_order_seq_cst || fail_mo == std::memory_order_seq_cst);
    Location& L = locs[id];
    ModelThread& T = threads[cur];
    const unsigned last = L.count - 1;
    // outcomes: >= 0: fail reading that index; -1: success at the end; -2:
    // spurious failure; <= -3: success at slot -3 - o (reading the store
    // before it, which holds `expected`: see rmw_slots).
    int out[2 * kMaxHistory + 3];
    unsigned n = 0;
    if (L.stores[last].value == expected) {
      out[n++] = -1;
      if (weak && T.spurious_cas_used < opt.spurious_cas && weak_ok()) out[n++] = -2;
    } else {
      out[n++] = static_cast<int>(last);
    }
    unsigned slots[kMaxHistory + 1];
    const unsigned ns = rmw_slots(L, succ, slots);
    for (unsigned k = 1; k < ns; ++k)
      if (L.stores[slots[k] - 1].value == expected) out[n++] = -3 - static_cast<int>(slots[k]);
    if (opt.stale_cas && weak_ok()) {
      const unsigned lb = lower_bound(L, T, fail_mo == std::memory_order_seq_cst);
      for (unsigned i = last; i-- > lb;) {
        if (L.stores[i].value == expected) continue;
        if (L.last_read_uid[cur] == L.stores[i].uid && L.rereads[cur] >= opt.stale_rereads) continue;
        out[n++] = static_cast<int>(i);
      }
    }
    const int o = out[choose(n, Kind::cas)];
    const std::uint64_t e = expected;
    if (o == -1 || o <= -3) {
      const unsigned slot = o == -1 ? L.count : static_cast<unsigned>(-3 - o);
      const unsigned before = L.count - slot;
      const std::uint64_t w_uid = rmw_commit(id, slot, desired, succ);
      if (tracing) {
        event(cur, pad(weak ? "cas_weak" : "cas", 13) + pad(obj(id), 14) + pad(val(L, e) + " -> " + val(L, desired), 16) +
                       pad(order_str(succ), 9) + "  ok" +
                       mo_note(before),
              where);
      }
      if (!promises.empty()) fulfil(id, w_uid, where);
      tick();
      return true;
    }
    const unsigned i = o == -2 ? last : static_cast<unsigned>(o);
    if (o == -2) ++T.spurious_cas_used;
    if (i != last || o == -2) ++stale_used;
    observe(L, i, fail_mo);
    ++seq;
    expected = L.stores[i].value;
    if (tracing) {
      event(cur, pad(weak ? "cas_weak" : "cas", 13) + pad(obj(id), 14) +
                     pad("-> " + val(L, expected) + " (want " + val(L, e) + ")", 16) + pad(order_str(fail_mo), 9) +
                     (o == -2 ? "  FAILED spuriously" : "  failed") + read_note(L, i),
            where);
    }
    tick();
    return false;
  }

  void fence(std::memory_order mo, const SL& where) {
    if (inert || peeking) return;
    step();
    // S is the execution order: a seq_cst fence before the fulfilling store
    // could be ordered against it wrongly ([atomics.order] p4.2, p4.4).
    if (mo == std::memory_order_seq_cst && !promises.empty()) discard();
    ModelThread& T = threads[cur];
    if (is_acquire(mo)) {
      join(T.clock, T.acq_pending);
      // The fence would collect what the speculated load synchronises with;
      // from now on the fulfilling store may bring nothing new.
      for (Promise& p : promises)
        if (p.tid == cur) p.acquire = true;
    }
    if (is_release(mo)) T.rel_fence = T.clock;
    if (mo == std::memory_order_seq_cst) {
      join(sc_join, T.clock);
      join(fence_join, T.clock);
      fences.push_back({seq, static_cast<std::uint8_t>(cur), T.clock[cur], sc_join, FenceKind::seq_cst});
    }
    ++seq;
    if (tracing) event(cur, pad("fence", 13) + pad("", 14) + pad("", 16) + order_str(mo), where);
    tick();
  }

  // barrier: the asymmetric pair (see detail::barrier in mc.hpp).  A heavy
  // barrier is also a seq_cst fence of its own thread (the native one ends
  // with one); a light barrier is only a point in S that heavy barriers
  // order against.
  void barrier(bool heavy, const SL& where) {
    if (inert || peeking) return;
    step();
    if (!promises.empty()) discard();  // S is the execution order, as for fence()
    ModelThread& T = threads[cur];
    if (heavy) {
      join(T.clock, T.acq_pending);
      for (Promise& p : promises)
        if (p.tid == cur) p.acquire = true;
      T.rel_fence = T.clock;
      // What came before a light barrier that precedes us in S is ordered
      // before us, and so before every fence after us in S; what came before
      // us or a seq_cst fence that precedes us, before every later light
      // barrier.  Not what came before an earlier light barrier: the heavy
      // barrier's per-CPU fences run concurrently, so the one behind an
      // earlier light barrier is not ordered before the one ahead of a later
      // light barrier (light, heavy, light is no chain), nor before a later
      // seq_cst access (fence_join), which may be performed as early.
      join(sc_join, T.clock);
      join(fence_join, T.clock);
      heavy_join = sc_join;
      join(sc_join, light_join);
      fences.push_back({seq, static_cast<std::uint8_t>(cur), T.clock[cur], sc_join, FenceKind::heavy});
    } else {
      join(light_join, T.clock);
      fences.push_back({seq, static_cast<std::uint8_t>(cur), T.clock[cur], heavy_join, FenceKind::light});
    }
    ++seq;
    if (tracing) event(cur, heavy ? "heavy barrier" : "light barrier", where);
    tick();
  }

  void yield(const char* what, const SL& where) {
    if (inert || peeking) return;
    if (++steps > opt.max_steps) {
      CUBBY_MC_FAIL(*this, Failure::livelock, "no progress: " + std::to_string(opt.max_steps) +
                                  " visible steps in one execution (a spin that never ends?)");
    }
    if (tracing) event(cur, what, where);
    threads[cur].yielded = true;
    threads[cur].yield_step = steps;
    pick(true);
  }

  // deadline_passed: with timeouts on, both answers are explored, at every
  // check: a timed operation may find its deadline passed wherever it
  // reads the clock, not only in a futex wait.  Not a step: no thread runs
  // in between, the answer is a choice of this thread.
  bool deadline_passed(const SL& where) {
    if (inert || peeking || !opt.timeouts) return false;
    const bool passed = choose(2, Kind::deadline) == 1;
    if (tracing && passed) event(cur, "deadline passed", where);
    return passed;
  }

  // claim_late: with late claims on, both answers explored; a choice of this
  // thread, not a step (as deadline_passed).
  bool claim_late(const SL& where) {
    if (inert || peeking || !opt.late_claims) return false;
    const bool late = choose(2, Kind::late) == 1;
    if (tracing && late) event(cur, "claims its ticket late", where);
    return late;
  }

  platform::FutexResult futex_wait(std::uint32_t id, std::uint32_t expected, std::uint32_t channels, bool deadline,
                                   const SL& where) {
    if (inert || peeking) return platform::FutexResult::value_changed;
    step();
    touch(id, false);
    Location& L = locs[id];
    const std::uint64_t now = L.stores[L.count - 1].value;
    if (now != expected) {
      if (tracing) {
        event(cur, pad("futex_wait", 13) + pad(obj(id), 14) + pad("expect " + val(L, expected), 16) + "  -> value changed (" +
                       val(L, now) + ")",
              where);
      }
      return platform::FutexResult::value_changed;
    }
    ModelThread& T = threads[cur];
    T.state = TState::blocked;
    T.wait_loc = id;
    T.wait_channels = channels;
    T.wait_expected = expected;
    T.wait_deadline = deadline;
    T.wait_where = where;
    if (tracing) {
      event(cur, pad("futex_wait", 13) + pad(obj(id), 14) + pad("expect " + val(L, expected), 16) + "  parks, channels " +
                     hex(channels) + (deadline ? " (deadline)" : ""),
            where);
    }
    pick(false);
    return threads[cur].wake_result;
  }

  void futex_wake(std::uint32_t id, std::uint32_t channels, const SL& where) {
    if (inert || peeking) return;
    step();
    progress();
    std::string woke;
    for (unsigned t = 1; t < nthreads; ++t) {
      ModelThread& th = threads[t];
      if (th.state == TState::blocked && th.wait_loc == id && (th.wait_channels & channels) != 0) {
        th.state = TState::runnable;
        th.wake_result = platform::FutexResult::woken;
        woke += " T" + std::to_string(t);
      }
    }
    if (tracing) {
      event(cur, pad("futex_wake", 13) + pad(obj(id), 14) + pad("channels " + hex(channels), 16) +
                     (woke.empty() ? "  woke nobody" : "  woke" + woke),
            where);
    }
  }

  // ------------------------------------------------------------- cells ----

  void cell_new(CellMeta& m, const SL& where) {
    m = CellMeta{};
    m.id = ++ncells;
    m.generation = generation;
    m.w_where = where;
    if (inert) return;
    m.w_tid = static_cast<std::uint8_t>(cur);
    m.w_epoch = threads[cur].clock[cur];
  }

  std::string cell_name(const CellMeta& m) const {
    std::string s = "c";  // see obj()
    s += std::to_string(m.id);
    if (m.name != nullptr) s += "(" + std::string(m.name) + ")";
    return s;
  }

  void cell_access(CellMeta& m, bool write, const SL& where) {
    if (inert || peeking) return;
    if (m.generation != generation) {
      CUBBY_MC_FAIL(*this, Failure::assertion, "a cell made in an earlier execution was used (make shared state per execution, in setup)");
    }
    const ModelThread& T = threads[cur];
    if (tracing) event(cur, pad(write ? "cell write" : "cell read", 13) + cell_name(m), where);
    if (m.w_tid != cur && m.w_epoch > T.clock[m.w_tid]) {
      CUBBY_MC_FAIL(*this, Failure::race, "data race on cell " + cell_name(m) + ": " + (write ? "write" : "read") + " by T" +
                              std::to_string(cur) + " at " + where_str(where) + " and write by T" + std::to_string(m.w_tid) +
                              " at " + where_str(m.w_where) + " are not ordered by happens-before");
    }
    if (!write) {
      m.reads[cur] = T.clock[cur];
      m.r_where[cur] = where;
      return;
    }
    for (unsigned u = 0; u < kMaxThreads; ++u) {
      if (u != cur && m.reads[u] != 0 && m.reads[u] > T.clock[u]) {
        CUBBY_MC_FAIL(*this, Failure::race, "data race on cell " + cell_name(m) + ": write by T" + std::to_string(cur) + " at " +
                                where_str(where) + " and read by T" + std::to_string(u) + " at " +
                                where_str(m.r_where[u]) + " are not ordered by happens-before");
      }
    }
    m.w_tid = static_cast<std::uint8_t>(cur);
    m.w_epoch = T.clock[cur];
    m.w_where = where;
    std::fill(std::begin(m.reads), std::end(m.reads), 0);
  }

  // --------------------------------------------------------- execution ----

  void main_body() {
    (*setup)(exec);
    for (auto& f : exec.before_) f();
    ModelThread& M = threads[0];
    nthreads = static_cast<unsigned>(exec.threads_.size()) + 1;
    for (unsigned t = 1; t < nthreads; ++t) {
      ModelThread& th = threads[t];
      reset_thread(th);
      th.clock = M.clock;
      th.clock[t] = 1;
      th.state = TState::runnable;
      prepare_fiber(t);
    }
    ++M.clock[0];
    if (nthreads > 1) {
      M.state = TState::joining;
      in_threads = true;
      pick(false);
      in_threads = false;
    }
    if (!promises.empty()) discard();  // nothing after the threads can fulfil a promise
    for (unsigned t = 1; t < nthreads; ++t) join(M.clock, threads[t].clock);
    for (auto& f : exec.after_) f();
    if (!live.empty()) {
      {
        std::string s = std::to_string(live.size()) + " object(s) made with mc::make and never destroyed:";
        for (const Live& l : live) s += std::string(" ") + l.type;
        record(Failure::leak, s);
      }
      abandon();
    }
    threads[0].state = TState::finished;
    switch_ctx(threads[0].ctx, sched, true);
  }

  void thread_body() {
    const unsigned me = cur;
    bool threw = false;
    {
      std::string err;
      try {
        exec.threads_[me - 1]();
      } catch (const std::exception& e) {
        err = e.what();
      } catch (...) {
        err = "unknown exception";
      }
      if ((threw = !err.empty())) record(Failure::assertion, "T" + std::to_string(me) + " threw: " + err);
    }
    if (threw) abandon();
    threads[me].state = TState::finished;
    progress();
    if (tracing) event(me, "finished", SL{});
    bool all = true;
    for (unsigned t = 1; t < nthreads; ++t) all = all && threads[t].state == TState::finished;
    if (all) threads[0].state = TState::runnable;
    pick(false);
  }

  static void reset_thread(ModelThread& t) {
    t.state = TState::unused;
    t.clock.fill(0);
    t.acq_pending.fill(0);
    t.rel_fence.fill(0);
    t.yielded = false;
    t.wait_loc = t.wait_channels = t.wait_expected = 0;
    t.wait_deadline = false;
    t.spurious_wakeups_used = t.spurious_cas_used = 0;
  }

  Failure run_one() {
    for (auto& t : threads) reset_thread(t);
    nthreads = 1;
    cur = 0;
    nlocs = 0;
    fences.clear();
    sc_join.fill(0);
    fence_join.fill(0);
    heavy_join.fill(0);
    light_join.fill(0);
    seq = 1;
    steps = 0;
    preemptions = 0;
    stale_used = 0;
    promises.clear();
    discarded = false;
    ++generation;
    ncells = 0;
    failure = Failure::none;
    message.clear();
    trace.clear();
    pos = 0;
    if (mode == Mode::pct) {
      std::vector<unsigned> order;
      for (unsigned t = 0; t < kMaxThreads; ++t) order.push_back(t);
      std::shuffle(order.begin(), order.end(), rng);
      for (unsigned t = 0; t < kMaxThreads; ++t) prio[t] = opt.pct_depth + order[t];
      change_points.clear();
      for (unsigned i = 1; i < opt.pct_depth; ++i)
        change_points.push_back(1 + static_cast<std::uint32_t>(rng() % std::max<std::uint32_t>(pct_len, 1)));
    }
    ModelThread& M = threads[0];
    M.clock[0] = 1;
    M.state = TState::runnable;
    prepare_fiber(0);
    inert = false;
    switch_ctx(sched, M.ctx, false);
    inert = true;
    peeking = false;
    in_threads = false;
    pct_len = std::max(pct_len, steps);
    for (const Live& l : live) l.del(l.p);
    live.clear();
    exec = Exec{};
    return failure;
  }

  // ------------------------------------------------------------ report ----

  std::string format_report(const std::string& name) const {
    std::ostringstream o;
    o << "  " << message << "\n";
    o << "  objects:\n";
    for (std::uint32_t i = 0; i < nlocs; ++i) {
      o << "    " << pad(obj(i), 16) << "atomic, " << locs[i].size << " bytes, made by T" << int(locs[i].creator) << " at "
        << where_str(locs[i].where) << "\n";
    }
    o << "  trace (" << trace.size() << " events; step, thread, operation, object, value, order, source):\n";
    for (const Event& e : trace) {
      o << "    " << pad(std::to_string(e.step), 5) << "T" << int(e.tid) << "  " << pad(e.text, 70) << "  "
        << (e.where.line() != 0 ? where_str(e.where) : "") << "\n";
    }
    o << "  per-thread view:\n";
    for (unsigned t = 0; t < nthreads; ++t) {
      o << "    T" << t << (t == 0 ? " (main: setup, after hooks)" : "") << ":\n";
      for (const Event& e : trace) {
        if (e.tid != t) continue;
        std::string text = e.text;
        o << "      " << pad(std::to_string(e.step), 5) << text << "\n";
      }
    }
    (void)name;
    return o.str();
  }
};

Engine& engine() {
  static Engine e;
  g_engine = &e;
  return e;
}

void trampoline() {
#ifdef CUBBY_MC_ASAN
  __sanitizer_finish_switch_fiber(nullptr, nullptr, nullptr);
#endif
  Engine& e = *g_engine;
  if (e.cur == 0) {
    e.main_body();
  } else {
    e.thread_body();
  }
  std::abort();  // a finished fiber is never resumed
}

// ---- replay tokens: "<test>:b<bound>:<choices>" ----
// choices: one base-36 digit per choice ("(n)" above 35); "c{r}" repeats c r times.
std::string encode_path(const std::vector<Choice>& path, std::size_t n) {
  std::string s;
  auto digit = [](unsigned v) -> std::string {
    if (v < 10) return std::string(1, static_cast<char>('0' + v));
    if (v < 36) return std::string(1, static_cast<char>('a' + (v - 10)));
    return "(" + std::to_string(v) + ")";
  };
  for (std::size_t i = 0; i < n;) {
    std::size_t j = i;
    while (j < n && path[j].chosen == path[i].chosen) ++j;
    const std::size_t run = j - i;
    if (run >= 4) {
      s += digit(path[i].chosen) + "{" + std::to_string(run) + "}";
    } else {
      for (std::size_t k = 0; k < run; ++k) s += digit(path[i].chosen);
    }
    i = j;
  }
  return s;
}

bool decode_path(std::string_view s, std::vector<Choice>& out) {
  out.clear();
  std::uint16_t last = 0;
  for (std::size_t i = 0; i < s.size();) {
    const char c = s[i];
    if (c == '{') {
      const auto close = s.find('}', i);
      if (close == std::string_view::npos || out.empty()) return false;
      const unsigned long r = std::strtoul(std::string(s.substr(i + 1, close - i - 1)).c_str(), nullptr, 10);
      for (unsigned long k = 1; k < r; ++k) out.push_back({last, 0});
      i = close + 1;
      continue;
    }
    if (c == '(') {
      const auto close = s.find(')', i);
      if (close == std::string_view::npos) return false;
      last = static_cast<std::uint16_t>(std::strtoul(std::string(s.substr(i + 1, close - i - 1)).c_str(), nullptr, 10));
      i = close + 1;
    } else if (c >= '0' && c <= '9') {
      last = static_cast<std::uint16_t>(c - '0');
      ++i;
    } else if (c >= 'a' && c <= 'z') {
      last = static_cast<std::uint16_t>(c - 'a' + 10);
      ++i;
    } else {
      return false;
    }
    out.push_back({last, 0});
  }
  return true;
}

void prepare(Engine& e, const Options& o, const std::function<void(Exec&)>& setup) {
  e.opt = o;
  e.opt.history = std::clamp(o.history, 1u, kMaxHistory);
  e.setup = &setup;
  e.tracing = false;
  e.seen_values.clear();
  e.future_values.clear();
}

// ---- the future values in a replay token: ":f<loc>=<v>,<v>/<loc>=<v>" ----
// A speculating load's alternatives include them, so a replay needs them.
std::string encode_future(const FutureValues& fv) {
  std::string s;
  for (std::size_t id = 0; id < fv.size(); ++id) {
    if (fv[id].empty()) continue;
    if (!s.empty()) s += '/';
    s += std::to_string(id);
    s += '=';
    for (std::size_t i = 0; i < fv[id].size(); ++i) {
      if (i != 0) s += ',';
      s += std::to_string(fv[id][i]);
    }
  }
  return s;
}

bool decode_future(std::string_view s, FutureValues& out) {
  out.clear();
  while (!s.empty()) {
    const auto slash = s.find('/');
    const std::string_view item = s.substr(0, slash);
    s = slash == std::string_view::npos ? std::string_view{} : s.substr(slash + 1);
    const auto eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0) return false;
    const unsigned long id = std::strtoul(std::string(item.substr(0, eq)).c_str(), nullptr, 10);
    if (id >= 1u << 20) return false;
    if (id >= out.size()) out.resize(id + 1);
    std::string_view vals = item.substr(eq + 1);
    while (!vals.empty()) {
      const auto comma = vals.find(',');
      out[id].push_back(std::strtoull(std::string(vals.substr(0, comma)).c_str(), nullptr, 10));
      vals = comma == std::string_view::npos ? std::string_view{} : vals.substr(comma + 1);
    }
  }
  return true;
}

// traced_replay: re-runs the execution `path` with tracing, fills the report.
void traced_replay(Engine& e, const std::string& name, Result& r) {
  e.mode = Engine::Mode::replay;
  e.tracing = true;
  e.run_one();
  e.tracing = false;
  r.report = e.format_report(name);
  if (e.failure != r.failure) {
    r.report += "  (note: the traced replay ended with '" + std::string(to_string(e.failure)) +
                "'; the test is not deterministic)\n";
  }
}

}  // namespace

// ---------------------------------------------------------- engine ABI ----

std::uint32_t atomic_new(std::uint64_t init, unsigned size, bool is_signed, const source_location& where) {
  return engine().new_location(init, size, is_signed, where);
}
void atomic_name(std::uint32_t id, const char* name) {
  Engine& e = *g_engine;
  if (id < e.nlocs) e.locs[id].name = name;
}
std::uint64_t atomic_load(std::uint32_t id, std::memory_order mo, const source_location& where) {
  return g_engine->load(id, mo, where);
}
void atomic_store(std::uint32_t id, std::uint64_t v, std::memory_order mo, const source_location& where) {
  g_engine->store(id, v, mo, where);
}
std::uint64_t atomic_rmw(std::uint32_t id, Rmw op, std::uint64_t operand, std::memory_order mo,
                         const source_location& where) {
  return g_engine->rmw(id, op, operand, mo, where);
}
bool atomic_cas(std::uint32_t id, std::uint64_t& expected, std::uint64_t desired, bool weak, std::memory_order success,
                std::memory_order failure, const source_location& where) {
  return g_engine->cas(id, expected, desired, weak, success, failure, where);
}
void fence(std::memory_order mo, const source_location& where) { engine().fence(mo, where); }
void barrier(bool heavy, const source_location& where) { engine().barrier(heavy, where); }
void yield(const char* what, const source_location& where) { engine().yield(what, where); }
bool deadline_passed(const source_location& where) { return engine().deadline_passed(where); }
bool claim_late(const source_location& where) { return engine().claim_late(where); }
platform::FutexResult futex_wait(std::uint32_t id, std::uint32_t expected, std::uint32_t channels, bool has_deadline,
                                 const source_location& where) {
  return g_engine->futex_wait(id, expected, channels, has_deadline, where);
}
void futex_wake(std::uint32_t id, std::uint32_t channels, const source_location& where) {
  g_engine->futex_wake(id, channels, where);
}
void cell_new(CellMeta& m, const source_location& where) { engine().cell_new(m, where); }
std::uint32_t thread_index() { return engine().cur + 1; }
std::uint32_t thread_index_bound() { return static_cast<std::uint32_t>(engine().exec.threads_.size()) + 1; }
void cell_access(CellMeta& m, bool write, const source_location& where) { g_engine->cell_access(m, write, where); }

void assert_failed(const char* expr, const source_location& where) {
  Engine& e = engine();
  if (e.inert) {
    std::fprintf(stderr, "MC_ASSERT(%s) failed at %s outside a model execution\n", expr, where_str(where).c_str());
    std::abort();
  }
  CUBBY_MC_FAIL(e, Failure::assertion, std::string(e.peeking ? "invariant " : "") + "MC_ASSERT(" + expr + ") failed in T" +
                                 std::to_string(e.cur) + " at " + where_str(where));
}

void track(void* p, void (*deleter)(void*), const char* type, const source_location&) {
  Engine& e = engine();
  if (e.inert) return;
  e.live.push_back({p, deleter, type});
}
void untrack(void* p, const source_location& where) {
  Engine& e = engine();
  if (e.inert) return;
  for (auto it = e.live.begin(); it != e.live.end(); ++it) {
    if (it->p == p) {
      e.live.erase(it);
      return;
    }
  }
  CUBBY_MC_FAIL(e, Failure::assertion, "mc::destroy of an object not made by mc::make (or destroyed twice) at " + where_str(where));
}

namespace {
struct Registered {
  std::string name;
  TestBody body;
  Options options;
};
std::vector<Registered>& registry() {
  static std::vector<Registered> r;
  return r;
}
}  // namespace

bool register_test(const char* name, TestBody body, const Options& options) {
  registry().push_back({name, body, options});
  return true;
}

}  // namespace detail

// -------------------------------------------------------------- search ----

Result check(const std::string& name, const Options& options, const std::function<void(Exec&)>& setup) {
  using namespace detail;
  Engine& e = engine();
  prepare(e, options, setup);
  Result r;
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  // The time limit counts this process's CPU time, not wall time: a search
  // on a loaded machine (ctest -j, sanitizers) is not cut short by waiting
  // for a core.
  auto cpu_now = [] {
    timespec ts{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  };
  const double cpu0 = cpu_now();
  auto cpu_used = [&] { return cpu_now() - cpu0; };
  auto on_failure = [&](Failure f, const char* how) {
    r.failure = f;
    r.message = e.message;
    const std::string bound_tag = e.mode == Engine::Mode::dfs
                                      ? "b" + std::to_string(e.bound) + "." + std::to_string(e.stale_bound)
                                      : "bu";
    r.replay_token = name + ":" + bound_tag + ":" + encode_path(e.path, e.pos);
    const std::string future = encode_future(e.future_values);
    if (!future.empty()) r.replay_token += ":f" + future;
    r.message += std::string("  [") + how + "]";
    e.path.resize(e.pos);
    traced_replay(e, name, r);
  };
  if (options.search == Search::dfs) {
    e.mode = Engine::Mode::dfs;
    const unsigned rounds = std::max(options.preemption_bound, options.stale_bound);
    for (unsigned b = 0; b <= rounds && r.cut_short.empty(); ++b) {
      e.bound = std::min(b, options.preemption_bound);
      e.stale_bound = std::min(b, options.stale_bound);
      r.bound_reached = b;
      e.path.clear();
      e.future_values = e.seen_values;
      for (;;) {
        e.mode = Engine::Mode::dfs;
        const Failure f = e.run_one();
        ++r.executions;
        if (e.discarded) {
          ++r.discarded;
          e.path.resize(e.pos);
        }
        if (f != Failure::none) {
          on_failure(f, ("dfs round " + std::to_string(b) + ": " + std::to_string(e.preemptions) +
                         " preemption(s) and " + std::to_string(e.stale_used) + " stale choice(s) in this execution")
                            .c_str());
          r.bound_reached = b;
          r.seconds = elapsed();
          return r;
        }
        if (!e.next_path()) break;
        if (r.executions >= options.max_executions) {
          r.cut_short = "execution budget " + std::to_string(options.max_executions) + " hit in round " + std::to_string(b);
        } else if ((r.executions & 255) == 0 && cpu_used() > options.time_limit_s) {
          char limit[32];
          std::snprintf(limit, sizeof limit, "%g", options.time_limit_s);
          r.cut_short = std::string("time limit ") + limit + " s of CPU hit in round " + std::to_string(b);
        }
        if (!r.cut_short.empty()) break;
      }
    }
    r.exhaustive = r.cut_short.empty();
  } else {
    e.mode = options.search == Search::pct ? Engine::Mode::pct : Engine::Mode::random;
    e.bound = kNone;
    e.stale_bound = kNone;
    e.rng.seed(options.seed);
    for (std::uint64_t i = 0; i < options.iterations; ++i) {
      e.mode = options.search == Search::pct ? Engine::Mode::pct : Engine::Mode::random;
      e.path.clear();
      e.future_values = e.seen_values;  // no replay within a random search: the set may grow
      const Failure f = e.run_one();
      ++r.executions;
      if (e.discarded) ++r.discarded;
      if (f != Failure::none) {
        on_failure(f, (std::string(options.search == Search::pct ? "pct" : "random") + ", seed " +
                       std::to_string(options.seed) + ", execution " + std::to_string(i))
                          .c_str());
        r.seconds = elapsed();
        return r;
      }
      if ((i & 255) == 0 && cpu_used() > options.time_limit_s) break;
    }
  }
  r.seconds = elapsed();
  return r;
}

Result replay(const std::string& token, const Options& options, const std::function<void(Exec&)>& setup) {
  using namespace detail;
  Engine& e = engine();
  prepare(e, options, setup);
  Result r;
  const auto c1 = token.find(':');
  const auto c2 = c1 == std::string::npos ? std::string::npos : token.find(':', c1 + 1);
  if (c2 == std::string::npos || token[c1 + 1] != 'b') {
    r.failure = Failure::nondeterminism;
    r.message = "malformed replay token";
    return r;
  }
  const std::string b = token.substr(c1 + 2, c2 - c1 - 2);
  const auto dot = b.find('.');
  e.bound = b == "u" ? kNone : static_cast<unsigned>(std::stoul(b.substr(0, dot)));
  e.stale_bound = b == "u" || dot == std::string::npos ? kNone : static_cast<unsigned>(std::stoul(b.substr(dot + 1)));
  const auto c3 = token.find(':', c2 + 1);
  const std::string_view path = std::string_view(token).substr(c2 + 1, c3 == std::string::npos ? std::string::npos : c3 - c2 - 1);
  const bool future_ok = c3 == std::string::npos ||
                         (token.compare(c3, 2, ":f") == 0 && decode_future(std::string_view(token).substr(c3 + 2), e.future_values));
  if (!decode_path(path, e.path) || !future_ok) {
    r.failure = Failure::nondeterminism;
    r.message = "malformed replay token";
    return r;
  }
  r.executions = 1;
  r.replay_token = token;
  e.mode = Engine::Mode::replay;
  e.tracing = true;
  r.failure = e.run_one();
  e.tracing = false;
  r.message = e.message;
  r.report = e.format_report(token.substr(0, c1));
  return r;
}

// --------------------------------------------------------------- runner ----

namespace {

Failure parse_failure(const std::string& s, bool& any) {
  any = s == "any";
  for (auto f : {Failure::none, Failure::assertion, Failure::race, Failure::deadlock, Failure::livelock, Failure::leak,
                 Failure::nondeterminism}) {
    if (s == to_string(f)) return f;
  }
  return Failure::none;
}

}  // namespace

int run_main(int argc, char** argv) {
  using detail::registry;
  std::vector<std::string> names;
  std::string token;
  if (const char* env = std::getenv("CUBBY_MC_REPLAY")) token = env;
  bool list = false, expect_set = false, expect_any = false;
  Failure expect = Failure::none;
  Options over;
  bool set_search = false, set_seed = false, set_iter = false, set_bound = false, speculate = false, late = false;
  bool set_spurious = false, set_budget = false, partial_ok = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--list") {
      list = true;
    } else if (a == "--test") {
      names.push_back(next());
    } else if (a == "--replay") {
      token = next();
    } else if (a == "--search") {
      const std::string s = next();
      if (s != "dfs" && s != "pct" && s != "random") {
        std::fprintf(stderr, "--search takes dfs, pct or random, not '%s'\n", s.c_str());
        std::exit(2);
      }
      over.search = s == "pct" ? Search::pct : s == "random" ? Search::random : Search::dfs;
      set_search = true;
    } else if (a == "--seed") {
      over.seed = std::stoull(next());
      set_seed = true;
    } else if (a == "--iterations") {
      over.iterations = std::stoull(next());
      set_iter = true;
    } else if (a == "--bound") {
      over.preemption_bound = static_cast<unsigned>(std::stoul(next()));
      set_bound = true;
    } else if (a == "--speculate") {
      speculate = true;
    } else if (a == "--late-claims") {
      late = true;
    } else if (a == "--spurious") {
      over.spurious_wakeups = static_cast<unsigned>(std::stoul(next()));
      set_spurious = true;
    } else if (a == "--budget") {
      over.max_executions = std::stoull(next());
      set_budget = true;
    } else if (a == "--partial-ok") {
      partial_ok = true;
    } else if (a == "--expect") {
      expect = parse_failure(next(), expect_any);
      expect_set = true;
    } else if (a.rfind("--", 0) == 0) {
      std::fprintf(stderr, "unknown option '%s' (a test name is given with --test NAME, or alone)\n", a.c_str());
      std::exit(2);
    } else {
      names.push_back(a);
    }
  }
  auto& reg = registry();
  if (list) {
    for (const auto& t : reg) std::printf("%s\n", t.name.c_str());
    return 0;
  }
  auto options_for = [&](const detail::Registered& t) {
    Options o = t.options;
    if (set_search) o.search = over.search;
    if (set_seed) o.seed = over.seed;
    if (set_iter) o.iterations = over.iterations;
    if (set_bound) o.preemption_bound = over.preemption_bound;
    if (speculate) o.speculate_loads = true;
    if (late) o.late_claims = true;
    if (set_spurious) o.spurious_wakeups = over.spurious_wakeups;
    if (set_budget) o.max_executions = over.max_executions;
    if (partial_ok) o.allow_partial = true;
    if (expect_set) o.expect = expect;
    return o;
  };
  if (!token.empty()) {
    const std::string name = token.substr(0, token.find(':'));
    for (const auto& t : reg) {
      if (t.name != name) continue;
      const Result r = replay(token, options_for(t), [&](Exec& x) { t.body(x); });
      std::printf("[mc] replay %s: %s\n%s%s\n", name.c_str(), to_string(r.failure), r.report.c_str(), r.message.c_str());
      return r.failure == Failure::none ? 0 : 1;
    }
    std::fprintf(stderr, "no test named '%s'\n", name.c_str());
    return 2;
  }
  for (const auto& name : names) {
    if (std::none_of(reg.begin(), reg.end(), [&](const auto& t) { return t.name == name; })) {
      std::fprintf(stderr, "no test named '%s' (--list lists them)\n", name.c_str());
      return 2;
    }
  }
  int failed = 0, ran = 0;
  for (const auto& t : reg) {
    if (!names.empty() && std::find(names.begin(), names.end(), t.name) == names.end()) continue;
    ++ran;
    const Options o = options_for(t);
    const Result r = check(t.name, o, [&](Exec& x) { t.body(x); });
    const bool ok = expect_any ? r.failure != Failure::none : r.passed(o);
    const std::string discarded =
        o.speculate_loads ? " (" + std::to_string(r.discarded) + " discarded: unjustified speculation)" : "";
    std::printf("[mc] %-40s %s  %" PRIu64 " executions%s in %.2f s (%.0f/s), %s\n", t.name.c_str(), ok ? "PASS" : "FAIL",
                r.executions, discarded.c_str(), r.seconds,
                r.seconds > 0 ? static_cast<double>(r.executions) / r.seconds : 0.0,
                o.search != Search::dfs ? (std::string(o.search == Search::pct ? "pct" : "random") + " search").c_str()
                : r.failure != Failure::none
                    ? "stopped at the first failure"
                    : r.exhaustive ? ("exhaustive within preemption bound " + std::to_string(o.preemption_bound) +
                                      ", stale bound " + std::to_string(o.stale_bound))
                                         .c_str()
                                   : ("NOT exhaustive: " + r.cut_short).c_str());
    if (r.failure == Failure::none && o.expect == Failure::none && !expect_any && !r.exhaustive &&
        o.search == Search::dfs) {
      std::printf(o.allow_partial ? "     partial search allowed (Options::partial_ok or --partial-ok)\n"
                                  : "     FAIL: the search was cut short, so the test proves nothing beyond what it "
                                    "explored; raise Options::budget, lower the bounds, or allow it with "
                                    "Options::partial_ok() (--partial-ok)\n");
    }
    if (o.expect != Failure::none || expect_any) {
      std::printf("     expected: %s, found: %s\n", expect_any ? "any failure" : to_string(o.expect), to_string(r.failure));
    }
    if (r.failure != Failure::none) {
      std::printf("     %s: %s\n%s     replay: %s --replay '%s'   (or CUBBY_MC_REPLAY='%s')\n", to_string(r.failure),
                  r.message.c_str(), r.report.c_str(), argc > 0 ? argv[0] : "<test>", r.replay_token.c_str(),
                  r.replay_token.c_str());
    }
    std::fflush(stdout);
    if (!ok) ++failed;
  }
  if (ran == 0) {
    std::fprintf(stderr, "no test matched\n");
    return 2;
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace cubby::mc
