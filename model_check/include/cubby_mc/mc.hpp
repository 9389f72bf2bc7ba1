// cubby_mc/mc.hpp: cubby's model checker, the user-facing API.
//
// Contract
// --------
// A model test is a setup function.  The checker calls it once per
// execution; it allocates the shared state (mc::make), registers threads
// (t.thread) and hooks (t.after, t.invariant).  The checker then runs the
// threads as fibers on one OS thread and explores their executions:
//
//   - which thread runs at every visible operation (an atomic operation, a
//     fence, a futex wait or wake), with iterative preemption bounding, so the
//     counterexample with the fewest preemptions is found first;
//   - which store each atomic load reads (C++20 memory model: coherence,
//     release sequences, fences, a total order S for seq_cst; with
//     Options::speculate_loads also stores that have not executed yet, for
//     load buffering; see model_check/README.md for exactly what is modelled);
//   - spurious compare_exchange_weak failures, spurious futex wake-ups and
//     timeouts of waits with a deadline.
//
// It reports the first failure: an MC_ASSERT that fails, a data race on an
// mc::cell (two accesses, one a write, unordered by happens-before), a
// deadlock (every live thread blocked), a livelock (step bound exceeded) or a
// leak (an mc::make object never mc::destroy'ed).  The report is a trace, one
// line per step, and a replay token that re-runs exactly that execution.
//
//   MC_TEST(message_passing) {
//     struct S { mc::atomic<int> flag{0}; mc::cell<int> data{0}; };
//     auto* s = mc::make<S>();
//     t.thread([s] { s->data.store(42); s->flag.store(1, std::memory_order_release); });
//     t.thread([s] { if (s->flag.load(std::memory_order_acquire)) MC_ASSERT(s->data.load() == 42); });
//     t.after([s] { mc::destroy(s); });
//   }
//
// Representation: the engine (src/engine.cpp) keeps every atomic's bounded
// store history, vector clocks per thread, and the choice path of the current
// execution; model objects hold only an index into it.
//
// Costs: one execution of a small test (two threads, ~30 visible steps) costs
// a few microseconds; a context switch happens only when the schedule changes
// thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "cubby/platform/futex.hpp"

namespace cubby::mc {

// source_location: the interface of std::source_location, built on
// __builtin_FILE/LINE/FUNCTION, which gcc and clang evaluate at the
// outermost call site when used in default arguments.  One type for every
// compiler, not std::source_location where the library has it: clang 14
// with libstdc++ 12 lacks __builtin_source_location, and a type that
// depended on the compiler would give the installed libraries a
// compiler-dependent ABI (a checker built by clang could not be linked into
// a test built by gcc; tests/consumer/check.sh does that).
struct source_location {
  static constexpr source_location current(const char* file = __builtin_FILE(), unsigned line = __builtin_LINE(),
                                           const char* func = __builtin_FUNCTION()) noexcept {
    source_location l;
    l.file_ = file;
    l.line_ = line;
    l.func_ = func;
    return l;
  }
  constexpr const char* file_name() const noexcept { return file_; }
  constexpr const char* function_name() const noexcept { return func_; }
  constexpr std::uint_least32_t line() const noexcept { return line_; }
  constexpr std::uint_least32_t column() const noexcept { return 0; }

 private:
  const char* file_ = "";
  const char* func_ = "";
  std::uint_least32_t line_ = 0;
};

// ---------------------------------------------------------------- options ----

// Failure: what a model test found.
enum class Failure : std::uint8_t { none, assertion, race, deadlock, livelock, leak, nondeterminism };
const char* to_string(Failure f) noexcept;

// Search: how executions are chosen.
enum class Search : std::uint8_t {
  dfs,     // exhaustive depth-first, preemption bound 0, 1, ... up to bound
  pct,     // probabilistic concurrency testing: random priorities, depth-1 change points
  random,  // every choice uniformly random
};

// Options: named settings of one model test (chain the setters).
struct Options {
  unsigned preemption_bound = 2;      // dfs: most preemptions per execution (explored iteratively from 0)
  unsigned stale_bound = 2;           // dfs: most weak-memory choices per execution (a load reading a
                                      // store that is not the newest, a store placed before newer ones,
                                      // a CAS failing on a stale value); explored iteratively with the
                                      // preemption bound: round k allows min(k, each bound)
  Search search = Search::dfs;
  std::uint64_t seed = 1;             // pct / random
  std::uint64_t iterations = 2000;    // pct / random: executions
  unsigned pct_depth = 3;             // pct: bug depth d (d-1 priority change points)
  unsigned history = 4;               // stores kept per atomic that a load may still read (1..8)
  unsigned max_steps = 3000;          // visible steps per execution before a livelock is reported
  unsigned spurious_wakeups = 0;      // per thread and execution: futex waits that may return spuriously
  unsigned spurious_cas = 1;          // per thread and execution: compare_exchange_weak spurious failures
  unsigned stale_rereads = 1;         // times a thread may re-read the same stale store in a row
  bool timeouts = true;               // waits with a deadline may time out (off: a lost wake-up deadlocks)
  bool stale_cas = true;              // a failing CAS may read a stale value (it is then only a load)
  bool store_reorder = true;          // a non-seq_cst store may take a modification-order slot before
                                      // stores it does not happen after (2+2W)
  bool late_claims = false;           // Platform::claim_late() answers either way, explored (a Queue's
                                      // blocking operations may claim their tickets late)
  bool speculate_loads = false;       // a non-seq_cst load may read a value a store that has not
                                      // executed yet will write (load buffering; README.md, "Load
                                      // speculation"); one weak-memory choice each
  std::uint64_t max_executions = 2'000'000;  // dfs budget per test
  double time_limit_s = 60;           // CPU-time budget per test (the process's)
  bool allow_partial = false;         // dfs: a search cut short by either budget may still pass
                                      // (otherwise a search that is not exhaustive fails)
  Failure expect = Failure::none;     // negative test: passes iff this failure is found

  Options& bound(unsigned b) { preemption_bound = b; return *this; }
  Options& stale(unsigned w) { stale_bound = w; return *this; }
  Options& mode(Search s) { search = s; return *this; }
  Options& with_seed(std::uint64_t s) { seed = s; return *this; }
  Options& runs(std::uint64_t n) { iterations = n; return *this; }
  Options& depth(unsigned d) { pct_depth = d; return *this; }
  Options& keep_history(unsigned h) { history = h; return *this; }
  Options& steps(unsigned n) { max_steps = n; return *this; }
  Options& spurious(unsigned wakeups, unsigned cas) { spurious_wakeups = wakeups; spurious_cas = cas; return *this; }
  Options& no_timeouts() { timeouts = false; return *this; }
  Options& speculate(bool on = true) { speculate_loads = on; return *this; }
  Options& late(bool on = true) { late_claims = on; return *this; }
  Options& budget(std::uint64_t executions, double seconds) { max_executions = executions; time_limit_s = seconds; return *this; }
  Options& partial_ok(bool on = true) { allow_partial = on; return *this; }
  Options& expect_failure(Failure f) { expect = f; return *this; }
};

// Result: what a search did.
struct Result {
  Failure failure = Failure::none;
  std::string message;        // one line: what failed
  std::string report;         // the full trace report (empty if none failed)
  std::string replay_token;   // re-runs the failing execution
  std::uint64_t executions = 0;
  std::uint64_t discarded = 0; // of those, dropped: a speculated load was not justified (speculate_loads)
  double seconds = 0;
  bool exhaustive = false;    // dfs finished the whole space within the bound
  std::string cut_short;      // dfs, not exhaustive: which budget stopped it
  unsigned bound_reached = 0; // largest round explored (preemption and stale bound min(round, option))
  // passed: the expected failure was found; when none is expected, a dfs
  // search must also have been exhaustive (or the test allows a partial one).
  bool passed(const Options& o) const noexcept {
    if (failure != o.expect) return false;
    return o.expect != Failure::none || o.search != Search::dfs || exhaustive || o.allow_partial;
  }
};

// ------------------------------------------------------------------ Exec ----

// Exec: what the setup function of a test uses to describe one execution.
class Exec {
 public:
  // thread: a model thread running fn.  At most 7 threads.
  void thread(std::function<void()> fn);
  // before: runs after setup returns, before the threads start (a hook for
  // setup written elsewhere).
  void before(std::function<void()> fn) { before_.push_back(std::move(fn)); }
  // after: runs when every thread has finished, with all of them
  // happening-before it.  Check final state here and mc::destroy.
  void after(std::function<void()> fn) { after_.push_back(std::move(fn)); }
  // invariant: checked before every visible step.  Atomics read inside it
  // return their latest value and record nothing; cells are not race-checked.
  void invariant(std::function<void()> fn) { invariant_.push_back(std::move(fn)); }

  std::vector<std::function<void()>> threads_, before_, after_, invariant_;
};

using TestBody = void (*)(Exec&);

// check: explores the test; prints nothing.
Result check(const std::string& name, const Options& options, const std::function<void(Exec&)>& setup);
// replay: runs the one execution `token` names, with a full trace.
Result replay(const std::string& token, const Options& options, const std::function<void(Exec&)>& setup);

// run_main: the command-line runner for MC_TEST tests (see README.md):
//   <exe> [--list] [--test NAME]... [--replay TOKEN] [--search dfs|pct|random]
//         [--seed N] [--iterations N] [--bound N] [--speculate] [--late-claims] [--spurious N]
//         [--budget N] [--partial-ok] [--expect KIND|any]
// The environment variable CUBBY_MC_REPLAY=TOKEN works like --replay.
int run_main(int argc, char** argv);

// ------------------------------------------------------------ engine ABI ----

namespace detail {

struct CellMeta {
  std::uint32_t id = 0;
  std::uint32_t generation = 0;  // execution that created the cell
  std::uint8_t w_tid = 0;
  std::uint32_t w_epoch = 0;
  std::uint32_t reads[8] = {};
  source_location w_where{};
  source_location r_where[8]{};
  const char* name = nullptr;
};

enum class Rmw : std::uint8_t { exchange, add, sub, bit_or, bit_and, bit_xor };

std::uint32_t atomic_new(std::uint64_t init, unsigned size, bool is_signed, const source_location& where);
void atomic_name(std::uint32_t id, const char* name);
std::uint64_t atomic_load(std::uint32_t id, std::memory_order mo, const source_location& where);
void atomic_store(std::uint32_t id, std::uint64_t v, std::memory_order mo, const source_location& where);
std::uint64_t atomic_rmw(std::uint32_t id, Rmw op, std::uint64_t operand, std::memory_order mo,
                         const source_location& where);
bool atomic_cas(std::uint32_t id, std::uint64_t& expected, std::uint64_t desired, bool weak, std::memory_order success,
                std::memory_order failure, const source_location& where);
void fence(std::memory_order mo, const source_location& where);
// barrier: one half of the asymmetric pair (platform light_barrier /
// heavy_barrier).  A light and a heavy barrier order like two seq_cst fences
// (so do two heavies); a light barrier orders nothing else: not another
// light barrier, not a seq_cst access, and it is no acquire or release fence.
void barrier(bool heavy, const source_location& where);
void yield(const char* what, const source_location& where);
// deadline_passed: a timed operation's clock check; both answers explored
// (false only, with Options::no_timeouts).
bool deadline_passed(const source_location& where);
// claim_late: ModelPlatform::claim_late; both answers explored with
// Options::late_claims, else false.
bool claim_late(const source_location& where);
platform::FutexResult futex_wait(std::uint32_t id, std::uint32_t expected, std::uint32_t channels, bool has_deadline,
                                 const source_location& where);
void futex_wake(std::uint32_t id, std::uint32_t channels, const source_location& where);
// thread_index: the running model thread's index (the main thread 1, model
// thread t is t + 1); thread_index_bound: the highest index of this
// execution's threads.  Not steps: a thread's identity is not shared state.
std::uint32_t thread_index();
std::uint32_t thread_index_bound();

void cell_new(CellMeta& m, const source_location& where);
void cell_access(CellMeta& m, bool write, const source_location& where);

[[noreturn]] void assert_failed(const char* expr, const source_location& where);
void track(void* p, void (*deleter)(void*), const char* type, const source_location& where);
void untrack(void* p, const source_location& where);

template <class T>
std::uint64_t to_bits(const T& v) noexcept {
  std::uint64_t b = 0;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}
template <class T>
T from_bits(std::uint64_t b) noexcept {
  T v;
  std::memcpy(&v, &b, sizeof(T));
  return v;
}
constexpr std::memory_order failure_order(std::memory_order o) noexcept {
  return o == std::memory_order_acq_rel ? std::memory_order_acquire
         : o == std::memory_order_release ? std::memory_order_relaxed
                                          : o;
}

bool register_test(const char* name, TestBody body, const Options& options = Options{});

}  // namespace detail

// ----------------------------------------------------------- model types ----

// atomic<T>: std::atomic's interface; every operation is a visible step.
// The trailing source_location names the call site in traces.
template <class T>
class atomic {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8, "mc::atomic<T>: T must be trivially copyable, <= 8 bytes");
  using SL = source_location;

 public:
  using value_type = T;

  atomic(SL where = SL::current()) : id_(detail::atomic_new(0, sizeof(T), std::is_signed_v<T>, where)) {}
  atomic(T v, SL where = SL::current())  // NOLINT(google-explicit-constructor): as std::atomic
      : id_(detail::atomic_new(detail::to_bits(v), sizeof(T), std::is_signed_v<T>, where)) {}
  atomic(const atomic&) = delete;
  atomic& operator=(const atomic&) = delete;

  T load(std::memory_order mo = std::memory_order_seq_cst, SL where = SL::current()) const {
    return detail::from_bits<T>(detail::atomic_load(id_, mo, where));
  }
  void store(T v, std::memory_order mo = std::memory_order_seq_cst, SL where = SL::current()) {
    detail::atomic_store(id_, detail::to_bits(v), mo, where);
  }
  T exchange(T v, std::memory_order mo = std::memory_order_seq_cst, SL where = SL::current()) {
    return detail::from_bits<T>(detail::atomic_rmw(id_, detail::Rmw::exchange, detail::to_bits(v), mo, where));
  }
  bool compare_exchange_weak(T& expected, T desired, std::memory_order success, std::memory_order failure,
                             SL where = SL::current()) {
    return cas(expected, desired, true, success, failure, where);
  }
  bool compare_exchange_weak(T& expected, T desired, std::memory_order mo = std::memory_order_seq_cst,
                             SL where = SL::current()) {
    return cas(expected, desired, true, mo, detail::failure_order(mo), where);
  }
  bool compare_exchange_strong(T& expected, T desired, std::memory_order success, std::memory_order failure,
                               SL where = SL::current()) {
    return cas(expected, desired, false, success, failure, where);
  }
  bool compare_exchange_strong(T& expected, T desired, std::memory_order mo = std::memory_order_seq_cst,
                               SL where = SL::current()) {
    return cas(expected, desired, false, mo, detail::failure_order(mo), where);
  }
  T fetch_add(T v, std::memory_order mo = std::memory_order_seq_cst, SL where = SL::current())
    requires std::is_integral_v<T>
  {
    return rmw(detail::Rmw::add, v, mo, where);
  }
  T fetch_sub(T v, std::memory_order mo = std::memory_order_seq_cst, SL where = SL::current())
    requires std::is_integral_v<T>
  {
    return rmw(detail::Rmw::sub, v, mo, where);
  }
  T fetch_or(T v, std::memory_order mo = std::memory_order_seq_cst, SL where = SL::current())
    requires std::is_integral_v<T>
  {
    return rmw(detail::Rmw::bit_or, v, mo, where);
  }
  T fetch_and(T v, std::memory_order mo = std::memory_order_seq_cst, SL where = SL::current())
    requires std::is_integral_v<T>
  {
    return rmw(detail::Rmw::bit_and, v, mo, where);
  }
  T fetch_xor(T v, std::memory_order mo = std::memory_order_seq_cst, SL where = SL::current())
    requires std::is_integral_v<T>
  {
    return rmw(detail::Rmw::bit_xor, v, mo, where);
  }

  // name: the label traces print for this object.
  void name(const char* label) { detail::atomic_name(id_, label); }
  std::uint32_t id() const noexcept { return id_; }

 private:
  bool cas(T& expected, T desired, bool weak, std::memory_order s, std::memory_order f, const SL& where) {
    std::uint64_t e = detail::to_bits(expected);
    const bool ok = detail::atomic_cas(id_, e, detail::to_bits(desired), weak, s, f, where);
    if (!ok) expected = detail::from_bits<T>(e);
    return ok;
  }
  T rmw(detail::Rmw op, T v, std::memory_order mo, const SL& where) {
    return detail::from_bits<T>(detail::atomic_rmw(id_, op, detail::to_bits(v), mo, where));
  }

  std::uint32_t id_;
};

// cell<T>: plain shared data.  Every access is checked against the last write
// and the reads since: two accesses, one a write, not ordered by
// happens-before, are a data race.  Accesses are not scheduling points (their
// order relative to other threads is fixed by happens-before, or it is a race).
template <class T>
class cell {
  using SL = source_location;

 public:
  cell(SL where = SL::current()) : value_{} { detail::cell_new(meta_, where); }
  explicit cell(const T& v, SL where = SL::current()) : value_(v) { detail::cell_new(meta_, where); }
  cell(const cell&) = delete;
  cell& operator=(const cell&) = delete;

  T load(SL where = SL::current()) const {
    detail::cell_access(meta_, false, where);
    return value_;
  }
  void store(const T& v, SL where = SL::current()) {
    detail::cell_access(meta_, true, where);
    value_ = v;
  }
  const T& read(SL where = SL::current()) const {
    detail::cell_access(meta_, false, where);
    return value_;
  }
  T& write(SL where = SL::current()) {
    detail::cell_access(meta_, true, where);
    return value_;
  }
  void name(const char* label) { meta_.name = label; }

 private:
  T value_;
  mutable detail::CellMeta meta_;
};

// Free functions: fences, spin hints, futex, allocation.
inline void fence(std::memory_order mo, source_location where = source_location::current()) {
  detail::fence(mo, where);
}
// yield / pause: this thread cannot progress until another one does; the
// scheduler runs others first (so spin loops terminate, or show as livelock).
inline void yield(source_location where = source_location::current()) { detail::yield("yield", where); }
inline void pause(source_location where = source_location::current()) { detail::yield("pause", where); }

// futex_wait: if word == expected (its latest value), parks until a wake on a
// channel in `channels`; with a deadline it may also time out.  No
// happens-before edge is created by a wake-up.
inline platform::FutexResult futex_wait(atomic<std::uint32_t>& word, std::uint32_t expected, std::uint32_t channels,
                                        bool has_deadline = false,
                                        source_location where = source_location::current()) {
  return detail::futex_wait(word.id(), expected, channels, has_deadline, where);
}
inline void futex_wake(atomic<std::uint32_t>& word, std::uint32_t channels = platform::futex_all_channels,
                       source_location where = source_location::current()) {
  detail::futex_wake(word.id(), channels, where);
}

// make / destroy: allocation the checker tracks; an object made in an
// execution and never destroyed is reported as a leak.
template <class T, class... Args>
T* make(Args&&... args) {
  T* p = new T(std::forward<Args>(args)...);
  detail::track(p, [](void* q) { delete static_cast<T*>(q); }, typeid(T).name(), source_location{});
  return p;
}
template <class T>
void destroy(T* p, source_location where = source_location::current()) {
  detail::untrack(p, where);
  delete p;
}

// check: MC_ASSERT without the macro.
inline void check(bool ok, const char* expr = "check", source_location where = source_location::current()) {
  if (!ok) detail::assert_failed(expr, where);
}

}  // namespace cubby::mc

#define MC_ASSERT(cond) \
  ((cond) ? static_cast<void>(0) : ::cubby::mc::detail::assert_failed(#cond, ::cubby::mc::source_location::current()))

// MC_TEST(name [, options]) { body using `t` (mc::Exec&) }
#define MC_TEST(name, ...)                                                                                   \
  static void cubby_mc_body_##name(::cubby::mc::Exec& t);                                                    \
  [[maybe_unused]] static const bool cubby_mc_reg_##name =                                                   \
      ::cubby::mc::detail::register_test(#name, &cubby_mc_body_##name __VA_OPT__(, ) __VA_ARGS__);           \
  static void cubby_mc_body_##name([[maybe_unused]] ::cubby::mc::Exec& t)
