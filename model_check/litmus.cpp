// Litmus tests of the model checker's memory model: for each classic shape
// (MP, SB, LB, IRIW, CoRR, CoWW, 2+2W) and each ordering variant (relaxed,
// release/acquire, seq_cst), explore every execution and compare the set of
// observed outcomes with the set C++20 allows.  The checker must observe
// every allowed outcome and never a forbidden one.  Load speculation is on
// (Options::speculate_loads): without it LB relaxed 11 is never produced.
// A few rows record a known limit instead: allowed outcomes the checker is
// known never to produce (README.md, "Known limits"); such a row passes only
// while exactly those are missing, so a change that fixes (or widens) the
// limit shows up as a mismatch.  The futex rows' outcomes are what a wait
// returned: t timed out, v value changed, w woken.
//
//   mc_litmus            runs the table, exits 1 on a mismatch
//   mc_litmus --table    also prints it as Markdown (README.md's table)
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "cubby_mc/mc.hpp"

namespace mc = cubby::mc;
namespace platform = cubby::platform;

namespace {

using Outcomes = std::set<std::string>;

struct Orders {
  const char* name;
  std::memory_order st, ld;  // stores, loads
};
constexpr Orders kRelaxed{"relaxed", std::memory_order_relaxed, std::memory_order_relaxed};
constexpr Orders kRelAcq{"rel/acq", std::memory_order_release, std::memory_order_acquire};
constexpr Orders kSeqCst{"seq_cst", std::memory_order_seq_cst, std::memory_order_seq_cst};
// Mixed orders for LB: synchronisation needs a release store read by an
// acquire load, so neither of these forbids 11 (the speculation's sync rule).
constexpr Orders kRelRlx{"rel st, rlx ld", std::memory_order_release, std::memory_order_relaxed};
constexpr Orders kRlxAcq{"rlx st, acq ld", std::memory_order_relaxed, std::memory_order_acquire};
// Rows whose orders are spelt out in the shape (relaxed where it says none).
constexpr Orders kFutex{"futex", std::memory_order_relaxed, std::memory_order_relaxed};
constexpr Orders kMixedNoSpec{"mixed, no spec", std::memory_order_relaxed, std::memory_order_relaxed};
constexpr Orders kRelaxedNoSpec{"relaxed, no spec", std::memory_order_relaxed, std::memory_order_relaxed};

struct Litmus {
  const char* name;
  const char* shape;
  Orders orders;
  std::function<void(mc::Exec&, Outcomes*, Orders)> body;
  Outcomes allowed;        // by C++20
  Outcomes known_missing{};  // of those, never produced: a known limit of the checker
  bool speculate = true;     // load speculation for this row (off: as the primitives' tests run)
  Outcomes universe{};       // every conceivable outcome (empty: all bit strings of the width)
};

std::string digits(std::initializer_list<int> v) {
  std::string s;
  for (int x : v) s += std::to_string(x);
  return s;
}

struct Two {
  mc::atomic<int> x{0}, y{0};
  int r[4] = {0, 0, 0, 0};
};

void mp(mc::Exec& t, Outcomes* out, Orders o) {
  auto* s = mc::make<Two>();
  t.thread([s, o] {
    s->x.store(1, o.st == std::memory_order_seq_cst ? o.st : std::memory_order_relaxed);
    s->y.store(1, o.st);
  });
  t.thread([s, o] {
    s->r[0] = s->y.load(o.ld);
    s->r[1] = s->x.load(o.ld == std::memory_order_seq_cst ? o.ld : std::memory_order_relaxed);
  });
  t.after([s, out] {
    out->insert(digits({s->r[0], s->r[1]}));
    mc::destroy(s);
  });
}

void sb(mc::Exec& t, Outcomes* out, Orders o) {
  auto* s = mc::make<Two>();
  t.thread([s, o] {
    s->x.store(1, o.st);
    s->r[0] = s->y.load(o.ld);
  });
  t.thread([s, o] {
    s->y.store(1, o.st);
    s->r[1] = s->x.load(o.ld);
  });
  t.after([s, out] {
    out->insert(digits({s->r[0], s->r[1]}));
    mc::destroy(s);
  });
}

void lb(mc::Exec& t, Outcomes* out, Orders o) {
  auto* s = mc::make<Two>();
  t.thread([s, o] {
    s->r[0] = s->x.load(o.ld);
    s->y.store(1, o.st);
  });
  t.thread([s, o] {
    s->r[1] = s->y.load(o.ld);
    s->x.store(1, o.st);
  });
  t.after([s, out] {
    out->insert(digits({s->r[0], s->r[1]}));
    mc::destroy(s);
  });
}

// LB+fences: an acq_rel fence between each load and store makes the fences
// synchronise when a load reads the other thread's store: 11 is forbidden.
void lb_fences(mc::Exec& t, Outcomes* out, Orders o) {
  auto* s = mc::make<Two>();
  t.thread([s, o] {
    s->r[0] = s->x.load(o.ld);
    mc::fence(std::memory_order_acq_rel);
    s->y.store(1, o.st);
  });
  t.thread([s, o] {
    s->r[1] = s->y.load(o.ld);
    mc::fence(std::memory_order_acq_rel);
    s->x.store(1, o.st);
  });
  t.after([s, out] {
    out->insert(digits({s->r[0], s->r[1]}));
    mc::destroy(s);
  });
}

// CoRR+hb: read-read coherence through happens-before.  T2 reads x, then
// releases y, then reads x again; T3 acquires y and reads x.  If T2's first
// read saw 1 and T3 saw y, T3's read must see 1 too (the first read
// happens before it): 110 is forbidden.  T2's second read must not hide the
// first from the checker's coherence record.
void corr_hb(mc::Exec& t, Outcomes* out, Orders o) {
  auto* s = mc::make<Two>();
  t.thread([s] { s->x.store(1, std::memory_order_relaxed); });
  t.thread([s, o] {
    s->r[0] = s->x.load(std::memory_order_relaxed);
    s->y.store(1, o.st);
    s->r[3] = s->x.load(std::memory_order_relaxed);
  });
  t.thread([s, o] {
    s->r[1] = s->y.load(o.ld);
    s->r[2] = s->x.load(std::memory_order_relaxed);
  });
  t.after([s, out] {
    out->insert(digits({s->r[0], s->r[1], s->r[2]}));
    mc::destroy(s);
  });
}

// The asymmetric barrier pair (platform light_barrier / heavy_barrier):
// SB with a barrier between each thread's relaxed store and load.  Light
// against heavy (or heavy against heavy) orders like two seq_cst fences, so
// 00 is forbidden; light against light (two compiler barriers) orders
// nothing: 00 is allowed.
enum class Bar { light, heavy, none };
void barrier(Bar b) {
  if (b != Bar::none) mc::detail::barrier(b == Bar::heavy, mc::source_location::current());
}
// sb_barriers: thread 0 uses the orders of the row, thread 1 those of `o1`
// (seq_cst: a light barrier against seq_cst accesses).
std::function<void(mc::Exec&, Outcomes*, Orders)> sb_barriers(Bar b0, Bar b1, Orders o1 = kRelaxed) {
  return [b0, b1, o1](mc::Exec& t, Outcomes* out, Orders o) {
    auto* s = mc::make<Two>();
    t.thread([s, o, b0] {
      s->x.store(1, o.st);
      barrier(b0);
      s->r[0] = s->y.load(o.ld);
    });
    t.thread([s, o1, b1] {
      s->y.store(1, o1.st);
      barrier(b1);
      s->r[1] = s->x.load(o1.ld);
    });
    t.after([s, out] {
      out->insert(digits({s->r[0], s->r[1]}));
      mc::destroy(s);
    });
  };
}
// x=1; light barrier; y=1 (relaxed): the writer of the light-barrier MP rows.
template <class S>
void store_light_store(S* s) {
  s->x.store(1, std::memory_order_relaxed);
  barrier(Bar::light);
  s->y.store(1, std::memory_order_relaxed);
}
// MP through light barriers only: they are no release or acquire fences, so
// the flag can be seen before the data (10 allowed).
void mp_light(mc::Exec& t, Outcomes* out, Orders) {
  auto* s = mc::make<Two>();
  t.thread([s] { store_light_store(s); });
  t.thread([s] {
    s->r[0] = s->y.load(std::memory_order_relaxed);
    barrier(Bar::light);
    s->r[1] = s->x.load(std::memory_order_relaxed);
  });
  t.after([s, out] {
    out->insert(digits({s->r[0], s->r[1]}));
    mc::destroy(s);
  });
}

// Known limits (rows run without speculation, as the primitives' tests do).
// MP with seq_cst on one side and a relaxed reads-from edge between the
// threads: C++20 allows 10 (S need only agree with strongly-happens-before
// and coherence), but the checker's S is the execution order, which the
// relaxed reads-from already fixes, so it never produces 10.
enum class ScMp { sc_store_sc_load, fence_sc_load, sc_store_fence };
std::function<void(mc::Exec&, Outcomes*, Orders)> mp_sc(ScMp kind) {
  return [kind](mc::Exec& t, Outcomes* out, Orders) {
    auto* s = mc::make<Two>();
    t.thread([s, kind] {
      if (kind == ScMp::fence_sc_load) {
        s->x.store(1, std::memory_order_relaxed);
        mc::fence(std::memory_order_seq_cst);
      } else {
        s->x.store(1, std::memory_order_seq_cst);
      }
      s->y.store(1, std::memory_order_relaxed);
    });
    t.thread([s, kind] {
      s->r[0] = s->y.load(std::memory_order_relaxed);
      if (kind == ScMp::sc_store_fence) {
        mc::fence(std::memory_order_seq_cst);
        s->r[1] = s->x.load(std::memory_order_relaxed);
      } else {
        s->r[1] = s->x.load(std::memory_order_seq_cst);
      }
    });
    t.after([s, out] {
      out->insert(digits({s->r[0], s->r[1]}));
      mc::destroy(s);
    });
  };
}
// A thread that yields (or pauses) is not scheduled again until another
// thread writes: the reader, which never writes, runs to its end first, so
// it never sees the yielding thread's later store (01 and 11 missing).
std::function<void(mc::Exec&, Outcomes*, Orders)> spin_then_store(bool pause) {
  return [pause](mc::Exec& t, Outcomes* out, Orders) {
    auto* s = mc::make<Two>();
    t.thread([s, pause] {
      if (pause) {
        mc::pause();
      } else {
        mc::yield();
      }
      s->y.store(1, std::memory_order_relaxed);
    });
    t.thread([s] {
      s->r[0] = s->y.load(std::memory_order_relaxed);
      s->r[1] = s->y.load(std::memory_order_relaxed);
    });
    t.after([s, out] {
      out->insert(digits({s->r[0], s->r[1]}));
      mc::destroy(s);
    });
  };
}

// Light, heavy, light: T0's light barrier precedes T1's heavy one (T1 read
// z), which precedes T2's light barrier (T2 read w).  The heavy barrier's
// per-CPU fences run concurrently, so the one behind T0's light barrier is
// not ordered before the one ahead of T2's, and T2's two loads (a compiler
// barrier between them) may be performed out of order: 110 is allowed.
// With a seq_cst load in T2 instead of the light barrier, the same.
struct Three {
  mc::atomic<int> x{0}, y{0}, z{0};
  int r[3] = {0, 0, 0};
};
std::function<void(mc::Exec&, Outcomes*, Orders)> light_heavy_light(bool sc_load) {
  return [sc_load](mc::Exec& t, Outcomes* out, Orders) {
    auto* s = mc::make<Three>();
    t.thread([s] { store_light_store(s); });
    t.thread([s] {
      s->r[0] = s->y.load(std::memory_order_relaxed);
      barrier(Bar::heavy);
      s->z.store(1, std::memory_order_relaxed);
    });
    t.thread([s, sc_load] {
      s->r[1] = s->z.load(std::memory_order_relaxed);
      barrier(sc_load ? Bar::none : Bar::light);
      s->r[2] = s->x.load(sc_load ? std::memory_order_seq_cst : std::memory_order_relaxed);
    });
    t.after([s, out] {
      out->insert(digits({s->r[0], s->r[1], s->r[2]}));
      mc::destroy(s);
    });
  };
}

// MP+RMW and MP+sc-store: the reader's second access is a relaxed
// fetch_add (r1: what it read) or a seq_cst store of 2.  Either may be
// ordered before x=1 in modification order, a store that already ran but
// does not happen before it (an RMW then reads the store before its place):
// with relaxed orders r0=1 with a final x of 1 is allowed; with y released
// and acquired it is forbidden (x=1 happens before the second access).
enum class Second { rmw, sc_store };
std::function<void(mc::Exec&, Outcomes*, Orders)> mp_second(Second second) {
  return [second](mc::Exec& t, Outcomes* out, Orders o) {
    auto* s = mc::make<Two>();
    t.thread([s, o] {
      s->x.store(1, std::memory_order_relaxed);
      s->y.store(1, o.st);
    });
    t.thread([s, o, second] {
      s->r[0] = s->y.load(o.ld);
      if (second == Second::rmw) {
        s->r[1] = s->x.fetch_add(1, std::memory_order_relaxed);
      } else {
        s->x.store(2, std::memory_order_seq_cst);
      }
    });
    t.after([s, out, second] {
      const int final_x = s->x.load(std::memory_order_relaxed);
      out->insert(second == Second::rmw ? digits({s->r[0], s->r[1], final_x}) : digits({s->r[0], final_x}));
      mc::destroy(s);
    });
  };
}

void iriw(mc::Exec& t, Outcomes* out, Orders o) {
  auto* s = mc::make<Two>();
  t.thread([s, o] { s->x.store(1, o.st); });
  t.thread([s, o] { s->y.store(1, o.st); });
  t.thread([s, o] {
    s->r[0] = s->x.load(o.ld);
    s->r[1] = s->y.load(o.ld);
  });
  t.thread([s, o] {
    s->r[2] = s->y.load(o.ld);
    s->r[3] = s->x.load(o.ld);
  });
  t.after([s, out] {
    out->insert(digits({s->r[0], s->r[1], s->r[2], s->r[3]}));
    mc::destroy(s);
  });
}

void corr(mc::Exec& t, Outcomes* out, Orders o) {
  auto* s = mc::make<Two>();
  t.thread([s, o] {
    s->x.store(1, o.st);
    s->x.store(2, o.st);
  });
  t.thread([s, o] {
    s->r[0] = s->x.load(o.ld);
    s->r[1] = s->x.load(o.ld);
  });
  t.after([s, out] {
    out->insert(digits({s->r[0], s->r[1]}));
    mc::destroy(s);
  });
}

void coww(mc::Exec& t, Outcomes* out, Orders o) {
  auto* s = mc::make<Two>();
  t.thread([s, o] {
    s->x.store(1, o.st);
    s->x.store(2, o.st);
  });
  t.thread([s, o] { s->x.store(3, o.st); });
  t.after([s, out] {
    out->insert(digits({s->x.load(std::memory_order_relaxed)}));  // the final value: mo's last
    mc::destroy(s);
  });
}

void two_plus_two_w(mc::Exec& t, Outcomes* out, Orders o) {
  auto* s = mc::make<Two>();
  t.thread([s, o] {
    s->x.store(1, o.st);
    s->y.store(2, o.st);
  });
  t.thread([s, o] {
    s->y.store(1, o.st);
    s->x.store(2, o.st);
  });
  t.after([s, out] {
    out->insert(digits({s->x.load(std::memory_order_relaxed), s->y.load(std::memory_order_relaxed)}));
    mc::destroy(s);
  });
}

// Timed futex waits: a waiter whose deadline may pass must be able to time
// out even when it is the last thread that can run (not a deadlock): alone,
// or after the only other thread has finished.
struct Word {
  mc::atomic<std::uint32_t> w{0};
  mc::atomic<int> x{0};
  platform::FutexResult r = platform::FutexResult::woken;
};
std::string letter(platform::FutexResult r) {
  return r == platform::FutexResult::timed_out ? "t" : r == platform::FutexResult::value_changed ? "v" : "w";
}
std::function<void(mc::Exec&, Outcomes*, Orders)> timed_wait(bool partner) {
  return [partner](mc::Exec& t, Outcomes* out, Orders) {
    auto* s = mc::make<Word>();
    t.thread([s] { s->r = mc::futex_wait(s->w, 0, 1, /*has_deadline=*/true); });
    if (partner) t.thread([s] { s->x.store(1, std::memory_order_relaxed); });
    t.after([s, out] {
      out->insert(letter(s->r));
      mc::destroy(s);
    });
  };
}

Outcomes all_bits(unsigned n) {
  Outcomes o;
  for (unsigned v = 0; v < (1u << n); ++v) {
    std::string s;
    for (unsigned i = n; i-- > 0;) s += ((v >> i) & 1u) != 0 ? '1' : '0';
    o.insert(s);
  }
  return o;
}
Outcomes minus(Outcomes a, std::initializer_list<const char*> drop) {
  for (const char* d : drop) a.erase(d);
  return a;
}

std::vector<Litmus> table() {
  std::vector<Litmus> v;
  const Outcomes corr_ok{"00", "01", "02", "11", "12", "22"};
  for (const Orders& o : {kRelaxed, kRelAcq, kSeqCst}) {
    const bool sc = o.st == std::memory_order_seq_cst;
    const bool rlx = o.st == std::memory_order_relaxed;
    v.push_back({"MP", "x=1; y=1 || r0=y; r1=x", o, mp, rlx ? all_bits(2) : minus(all_bits(2), {"10"})});
    v.push_back({"SB", "x=1; r0=y || y=1; r1=x", o, sb, sc ? minus(all_bits(2), {"00"}) : all_bits(2)});
    v.push_back({"LB", "r0=x; y=1 || r1=y; x=1", o, lb, rlx ? all_bits(2) : minus(all_bits(2), {"11"})});
    v.push_back({"IRIW", "x=1 || y=1 || r0=x; r1=y || r2=y; r3=x", o, iriw,
                 sc ? minus(all_bits(4), {"1010"}) : all_bits(4)});
    v.push_back({"CoRR", "x=1; x=2 || r0=x; r1=x", o, corr, corr_ok});
    v.push_back({"CoWW", "x=1; x=2 || x=3; final x", o, coww, {"2", "3"}});
    v.push_back({"2+2W", "x=1; y=2 || y=1; x=2; final x,y", o, two_plus_two_w,
                 sc ? Outcomes{"12", "21", "22"} : Outcomes{"11", "12", "21", "22"}});
  }
  v.push_back({"LB", "r0=x; y=1 || r1=y; x=1", kRelRlx, lb, all_bits(2)});
  v.push_back({"LB", "r0=x; y=1 || r1=y; x=1", kRlxAcq, lb, all_bits(2)});
  v.push_back({"LB+fences", "r0=x; fence; y=1 || r1=y; fence; x=1", kRelaxed, lb_fences, minus(all_bits(2), {"11"})});
  v.push_back({"SB+light/heavy", "x=1; light; r0=y || y=1; heavy; r1=x", kRelaxed, sb_barriers(Bar::light, Bar::heavy),
               minus(all_bits(2), {"00"})});
  v.push_back({"SB+heavy/heavy", "x=1; heavy; r0=y || y=1; heavy; r1=x", kRelaxed, sb_barriers(Bar::heavy, Bar::heavy),
               minus(all_bits(2), {"00"})});
  v.push_back({"SB+light/light", "x=1; light; r0=y || y=1; light; r1=x", kRelaxed, sb_barriers(Bar::light, Bar::light),
               all_bits(2)});
  v.push_back({"SB+light/sc", "x=1; light; r0=y || y=1 sc; r1=x sc (else relaxed)", kRelaxed,
               sb_barriers(Bar::light, Bar::none, kSeqCst), all_bits(2)});
  v.push_back({"MP+light/light", "x=1; light; y=1 || r0=y; light; r1=x", kRelaxed, mp_light, all_bits(2)});
  v.push_back({"LHL", "x=1; light; y=1 || r0=y; heavy; z=1 || r1=z; light; r2=x", kRelaxed, light_heavy_light(false),
               all_bits(3)});
  v.push_back({"LH+sc", "x=1; light; y=1 || r0=y; heavy; z=1 || r1=z; r2=x sc (else relaxed)", kRelaxed,
               light_heavy_light(true), all_bits(3)});
  v.push_back({"MP+RMW", "x=1; y=1 || r0=y; r1=x.fetch_add(1); final x", kRelaxed, mp_second(Second::rmw),
               {"001", "012", "101", "112"}});
  v.push_back({"MP+RMW", "x=1; y=1 || r0=y; r1=x.fetch_add(1); final x", kRelAcq, mp_second(Second::rmw),
               {"001", "012", "112"}});
  v.push_back({"MP+sc-store", "x=1; y=1 || r0=y; x=2 seq_cst; final x", kRelaxed, mp_second(Second::sc_store),
               {"01", "02", "11", "12"}});
  v.push_back({"MP+sc-store", "x=1; y=1 || r0=y; x=2 seq_cst; final x", kRelAcq, mp_second(Second::sc_store),
               {"01", "02", "12"}});
  v.push_back({"CoRR+hb", "x=1 || r0=x; y=1; r3=x || r1=y; r2=x (x relaxed)", kRelAcq, corr_hb,
               minus(all_bits(3), {"110"})});
  v.push_back({"MP+sc/rlx", "x=1 sc; y=1 || r0=y; r1=x sc", kMixedNoSpec, mp_sc(ScMp::sc_store_sc_load), all_bits(2),
               {"10"}, false});
  v.push_back({"MP+fence/sc", "x=1; fence sc; y=1 || r0=y; r1=x sc", kMixedNoSpec, mp_sc(ScMp::fence_sc_load),
               all_bits(2), {"10"}, false});
  v.push_back({"MP+sc/fence", "x=1 sc; y=1 || r0=y; fence sc; r1=x", kMixedNoSpec, mp_sc(ScMp::sc_store_fence),
               all_bits(2), {"10"}, false});
  v.push_back({"yield+store", "yield; y=1 || r0=y; r1=y", kRelaxedNoSpec, spin_then_store(false), {"00", "01", "11"},
               {"01", "11"}, false});
  v.push_back({"pause+store", "pause; y=1 || r0=y; r1=y", kRelaxedNoSpec, spin_then_store(true), {"00", "01", "11"},
               {"01", "11"}, false});
  const Outcomes waits{"t", "v", "w"};
  v.push_back({"timed wait", "r0=futex_wait(w, 0, deadline)", kFutex, timed_wait(false), {"t"}, {}, true, waits});
  v.push_back({"timed wait", "r0=futex_wait(w, 0, deadline) || x=1", kFutex, timed_wait(true), {"t"}, {}, true, waits});
  return v;
}

std::string join(const Outcomes& o) {
  std::string s;
  for (const auto& x : o) s += (s.empty() ? "" : " ") + x;
  return s.empty() ? "-" : s;
}

}  // namespace

int main(int argc, char** argv) {
  const bool print_table = argc > 1 && std::strcmp(argv[1], "--table") == 0;
  const mc::Options opt = mc::Options{}.bound(3).stale(4).keep_history(4);
  int bad = 0;
  std::string md =
      "| test | orders | shape | allowed by C++20 | observed | not allowed (never observed) | result |\n"
      "|---|---|---|---|---|---|---|\n";
  for (const Litmus& l : table()) {
    Outcomes seen;
    const mc::Result r = mc::check(std::string(l.name) + "/" + l.orders.name, mc::Options(opt).speculate(l.speculate),
                                   [&](mc::Exec& t) { l.body(t, &seen, l.orders); });
    Outcomes forbidden_seen, missing, forbidden;
    for (const auto& s : seen)
      if (l.allowed.count(s) == 0) forbidden_seen.insert(s);
    for (const auto& a : l.allowed)
      if (seen.count(a) == 0) missing.insert(a);
    const unsigned width = static_cast<unsigned>(l.allowed.begin()->size());
    for (const auto& a : l.universe.empty() ? all_bits(width) : l.universe)
      if (l.allowed.count(a) == 0 && std::string(l.name) != "CoRR" && std::string(l.name) != "CoWW") forbidden.insert(a);
    if (std::string(l.name) == "CoRR") forbidden = {"10", "20", "21"};
    if (std::string(l.name) == "CoWW") forbidden = {"1"};
    const bool ok = r.failure == mc::Failure::none && r.exhaustive && forbidden_seen.empty() && missing == l.known_missing;
    if (!ok) ++bad;
    std::string result = ok ? "ok" : "MISMATCH";
    if (r.failure != mc::Failure::none) result += std::string(" ") + mc::to_string(r.failure);
    if (r.failure == mc::Failure::none && !r.exhaustive) result += " not exhaustive";
    if (!forbidden_seen.empty()) result += " forbidden seen: " + join(forbidden_seen);
    if (missing != l.known_missing) result += " missing: " + join(missing);
    if (!l.known_missing.empty()) result += " (known limit: " + join(l.known_missing) + " never observed)";
    std::printf("[litmus] %-5s %-8s observed {%s}  allowed {%s}  %s  (%llu executions, %llu discarded%s)\n", l.name,
                l.orders.name, join(seen).c_str(), join(l.allowed).c_str(), result.c_str(),
                static_cast<unsigned long long>(r.executions), static_cast<unsigned long long>(r.discarded),
                r.exhaustive ? ", exhaustive" : "");
    md += std::string("| ") + l.name + " | " + l.orders.name + " | `" + l.shape + "` | " + join(l.allowed) + " | " +
          join(seen) + " | " + join(forbidden) + " | " + result + " |\n";
  }
  if (print_table) std::printf("\n%s", md.c_str());
  return bad == 0 ? 0 : 1;
}
