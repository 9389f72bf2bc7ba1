// cubby_mc/relacy_platform.hpp: the model-test API of cubby_mc (mc.hpp,
// platform.hpp) implemented on Relacy Race Detector, so the same model test
// sources (cubby_model.cpp, ...) run under Relacy.  Selected by
// -DCUBBY_MC_RELACY (model_check/CMakeLists.txt, option CUBBY_RELACY_DIR);
// relacy/relacy_prelude.hpp must be force-included first.
//
// Mapping:
//   mc::atomic<T>          RelacyAtomic<T>: rl::atomic<T> taking std::memory_order
//   mc::cell<T>            the value plus an rl::var<int> shadow that Relacy
//                          race-checks on every load/store/read/write
//   ModelPlatform::wait    Relacy's futex-style park on the atomic (the
//                          compare and the park with preemption disabled);
//                          timed waits may time out
//   ModelPlatform::wake    wakes every waiter: Relacy has no bitset channels,
//                          so a wake on one channel wakes all (this can hide
//                          a notify-one-channel bug, never invent one)
//   MC_ASSERT              RL_ASSERT
//   mc::make / destroy     new / delete (Relacy's own leak detection covers
//                          only its allocator; no leak check here)
//   Options                every test runs under sched_random for
//                          CUBBY_RELACY_ITERATIONS iterations (the environment,
//                          not Options::iterations); with CUBBY_RELACY_BOUND
//                          set, a dfs test runs under sched_bound at the
//                          lesser of that bound and its preemption bound;
//                          expect -> the Relacy test result that must be
//                          reported
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "cubby/platform/futex.hpp"

namespace cubby::mc {

enum class Failure : std::uint8_t { none, assertion, race, deadlock, livelock, leak, nondeterminism };
enum class Search : std::uint8_t { dfs, pct, random };

struct Options {
  unsigned preemption_bound = 2;
  unsigned stale_bound = 2;
  Search search = Search::dfs;
  std::uint64_t seed = 1;
  std::uint64_t iterations = 20000;
  bool timeouts = true;
  bool late_claims = false;
  Failure expect = Failure::none;
  Options& bound(unsigned b) { preemption_bound = b; return *this; }
  Options& stale(unsigned w) { stale_bound = w; return *this; }
  Options& mode(Search s) { search = s; return *this; }
  Options& with_seed(std::uint64_t s) { seed = s; return *this; }
  Options& runs(std::uint64_t n) { iterations = n; return *this; }
  Options& depth(unsigned) { return *this; }
  Options& keep_history(unsigned) { return *this; }
  Options& steps(unsigned) { return *this; }
  Options& spurious(unsigned, unsigned) { return *this; }
  Options& no_timeouts() { timeouts = false; return *this; }
  Options& budget(std::uint64_t, double) { return *this; }
  // Our checker's search options; Relacy explores in its own way.
  Options& speculate(bool = true) { return *this; }
  Options& late(bool on = true) { late_claims = on; return *this; }
  Options& partial_ok(bool = true) { return *this; }
  Options& expect_failure(Failure f) { expect = f; return *this; }
};

class Exec {
 public:
  void thread(std::function<void()> fn) { threads_.push_back(std::move(fn)); }
  void before(std::function<void()> fn) { before_.push_back(std::move(fn)); }
  void after(std::function<void()> fn) { after_.push_back(std::move(fn)); }
  void invariant(std::function<void()> fn) { invariant_.push_back(std::move(fn)); }
  std::vector<std::function<void()>> threads_, before_, after_, invariant_;
};
using TestBody = void (*)(Exec&);

inline rl::memory_order rl_order(std::memory_order o) {
  switch (o) {
    case std::memory_order_relaxed: return rl::mo_relaxed;
    case std::memory_order_consume: return rl::mo_consume;
    case std::memory_order_acquire: return rl::mo_acquire;
    case std::memory_order_release: return rl::mo_release;
    case std::memory_order_acq_rel: return rl::mo_acq_rel;
    case std::memory_order_seq_cst: return rl::mo_seq_cst;
  }
  return rl::mo_seq_cst;
}

// atomic<T>: std::atomic's interface over rl::atomic<T>.
template <class T>
class atomic {
  using MO = std::memory_order;
  static constexpr MO sc = std::memory_order_seq_cst;

 public:
  atomic() { a_.store(T{}, rl::mo_relaxed, $); }
  atomic(T v) { a_.store(v, rl::mo_relaxed, $); }  // NOLINT: as std::atomic
  atomic(const atomic&) = delete;
  atomic& operator=(const atomic&) = delete;
  T load(MO mo = sc) const { return a_.load(rl_order(mo), $); }
  void store(T v, MO mo = sc) { a_.store(v, rl_order(mo), $); }
  T exchange(T v, MO mo = sc) { return a_.exchange(v, rl_order(mo), $); }
  bool compare_exchange_weak(T& e, T d, MO s, MO f) { return a_.compare_exchange_weak(e, d, rl_order(s), rl_order(f), $); }
  bool compare_exchange_weak(T& e, T d, MO mo = sc) { return a_.compare_exchange_weak(e, d, rl_order(mo), $); }
  bool compare_exchange_strong(T& e, T d, MO s, MO f) { return a_.compare_exchange_strong(e, d, rl_order(s), rl_order(f), $); }
  bool compare_exchange_strong(T& e, T d, MO mo = sc) { return a_.compare_exchange_strong(e, d, rl_order(mo), $); }
  T fetch_add(T v, MO mo = sc) { return a_.fetch_add(v, rl_order(mo), $); }
  T fetch_sub(T v, MO mo = sc) { return a_.fetch_sub(v, rl_order(mo), $); }
  T fetch_or(T v, MO mo = sc) { return a_.fetch_or(v, rl_order(mo), $); }
  T fetch_and(T v, MO mo = sc) { return a_.fetch_and(v, rl_order(mo), $); }
  T fetch_xor(T v, MO mo = sc) { return a_.fetch_xor(v, rl_order(mo), $); }
  void name(const char*) {}
  rl::atomic<T>& raw() { return a_; }

 private:
  mutable rl::atomic<T> a_;
};

template <class T>
class cell {
 public:
  cell() : value_{} {}
  explicit cell(const T& v) : value_(v) {}
  cell(const cell&) = delete;
  cell& operator=(const cell&) = delete;
  T load() const { touch_read(); return value_; }
  void store(const T& v) { touch_write(); value_ = v; }
  const T& read() const { touch_read(); return value_; }
  T& write() { touch_write(); return value_; }
  void name(const char*) {}

 private:
  void touch_read() const { (void)static_cast<int>(shadow_($)); }
  void touch_write() const { shadow_($) = 0; }
  T value_;
  mutable rl::var<int> shadow_;
};

inline void fence(std::memory_order mo) { rl::atomic_thread_fence(rl_order(mo), $); }
inline void yield() { rl::yield(1, $); }
inline void pause() { rl::yield(1, $); }

inline platform::FutexResult futex_wait_impl(atomic<std::uint32_t>& word, std::uint32_t expected, bool timed) {
  rl::context& c = rl::ctx();
  std::uint32_t now = 0;
  {
    rl::preemption_disabler pd(c);
    // The kernel compares with the word's current value.  A load may read a
    // stale store under Relacy (and C++), so read with an RMW, which reads
    // the latest: a stale compare parks a thread whose wake-up has already
    // happened, which Relacy then reports as a (false) deadlock.  relaxed:
    // a futex orders nothing.
    now = word.fetch_add(0, std::memory_order_relaxed);
  }
  if (now != expected) return platform::FutexResult::value_changed;
  const rl::unpark_reason r = word.raw().wait(c, timed, true, $);
  return r == rl::unpark_reason_timeout ? platform::FutexResult::timed_out : platform::FutexResult::woken;
}
inline platform::FutexResult futex_wait(atomic<std::uint32_t>& word, std::uint32_t expected, std::uint32_t,
                                        bool has_deadline = false) {
  return futex_wait_impl(word, expected, has_deadline);
}
inline void futex_wake(atomic<std::uint32_t>& word, std::uint32_t = platform::futex_all_channels) {
  word.raw().wake(rl::ctx(), rl::thread_id_t(-1), $);
}

template <class T, class... Args>
T* make(Args&&... args) {
  return new T(std::forward<Args>(args)...);
}
template <class T>
void destroy(T* p) {
  delete p;
}
inline void check(bool ok) { RL_ASSERT(ok); }

namespace detail {
inline bool g_timeouts = true;      // the running test's Options::timeouts
inline bool g_late_claims = false;  // Options::late_claims (or --late-claims)
}  // namespace detail

struct ModelPlatform {
  template <class T>
  using atomic = mc::atomic<T>;
  template <class T>
  using cell = mc::cell<T>;
  static constexpr unsigned spin_pauses = 0;
  static constexpr unsigned spin_yields = 0;
  static platform::FutexResult wait(atomic<std::uint32_t>& word, std::uint32_t expected, std::uint32_t,
                                    const platform::SteadyTime* deadline) {
    // Options::no_timeouts(): a wait with a deadline never times out (Relacy
    // would otherwise time it out whenever its scheduler chooses).
    return futex_wait_impl(word, expected, deadline != nullptr && detail::g_timeouts);
  }
  static void wake(atomic<std::uint32_t>& word, std::uint32_t) { futex_wake(word); }
  // deadline_passed: either answer, a choice Relacy's scheduler explores
  // (rl::rand), as our checker does at every clock check (see
  // cubby_mc/platform.hpp): what finds a timeout answered on stale grounds
  // (claim_until's [C2]).  Never with Options::no_timeouts().
  static bool deadline_passed(const platform::SteadyTime&) { return detail::g_timeouts && rl::rand(2) == 1; }
  // claim_late: either answer, a choice Relacy explores, with
  // Options::late_claims (as our checker; see cubby_mc/platform.hpp).
  static bool claim_late() { return detail::g_late_claims && rl::rand(2) == 1; }
  static void pause() { rl::yield(1, $); }
  static void yield() { rl::yield(1, $); }
  static void fence(std::memory_order mo) { mc::fence(mo); }
  // The asymmetric pair, modelled as two seq_cst fences (see native.hpp).
  static void light_barrier() { mc::fence(std::memory_order_seq_cst); }
  static void heavy_barrier() { mc::fence(std::memory_order_seq_cst); }
  // Relacy numbers its threads from 0.
  static std::uint32_t thread_index() { return static_cast<std::uint32_t>(rl::ctx().current_thread()) + 1; }
  static std::uint32_t thread_index_bound() { return static_cast<std::uint32_t>(rl::ctx().get_thread_count()); }
};
using RelacyPlatform = ModelPlatform;

namespace detail {

struct Registered {
  const char* name;
  TestBody body;
  Options options;
};
inline std::vector<Registered>& registry() {
  static std::vector<Registered> r;
  return r;
}
inline bool register_test(const char* name, TestBody body, const Options& options = Options{}) {
  registry().push_back({name, body, options});
  return true;
}

inline TestBody g_body = nullptr;
inline unsigned g_threads = 0;

template <unsigned N>
struct Suite : rl::test_suite<Suite<N>, N> {
  Exec x;
  void before() {
    x = Exec{};
    g_body(x);
    g_threads = static_cast<unsigned>(x.threads_.size());
    for (auto& f : x.before_) f();
  }
  void thread(unsigned i) {
    if (i < x.threads_.size()) x.threads_[i]();
  }
  void after() {
    for (auto& f : x.after_) f();
    x = Exec{};
  }
};

template <unsigned N>
rl::test_result_e simulate(rl::test_params& p) {
  rl::simulate<Suite<N>>(p);
  return p.test_result;
}

inline Failure kind_of(rl::test_result_e r) {
  switch (r) {
    case rl::test_result_success: return Failure::none;
    case rl::test_result_data_race: return Failure::race;
    case rl::test_result_deadlock: return Failure::deadlock;
    case rl::test_result_livelock: return Failure::livelock;
    case rl::test_result_memory_leak:
    case rl::test_result_resource_leak: return Failure::leak;
    default: return Failure::assertion;
  }
}

inline const char* name_of(Failure f) {
  static const char* const names[] = {"none", "assertion", "race", "deadlock", "livelock", "leak", "nondeterminism"};
  return names[static_cast<unsigned>(f)];
}

}  // namespace detail

// How each test is searched under Relacy.  Relacy's bounded scheduler
// counts a context switch at every spin of a wait loop, so its context bound
// grows the search far faster than the in-tree checker's preemption bound:
// cubby_push_pop at bound 3 ran over 10^8 iterations without finishing in 5
// minutes, and several 3-thread tests do not finish at bound 1 within 2
// minutes.  So by default every test runs under Relacy's random scheduler
// for CUBBY_RELACY_ITERATIONS iterations (default 200000); with
// CUBBY_RELACY_BOUND=b set, the dfs tests run under its bounded scheduler at
// min(b, the test's bound) instead.
inline unsigned long env_number(const char* name, unsigned long fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::strtoul(v, nullptr, 10) : fallback;
}

// run_main: runs the registered tests under Relacy: --test NAME selects.
inline int run_main(int argc, char** argv) {
  std::vector<std::string> names;
  bool late = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--test") == 0 && i + 1 < argc) names.push_back(argv[++i]);
    if (std::strcmp(argv[i], "--late-claims") == 0) late = true;
  }
  int failed = 0;
  for (const auto& t : detail::registry()) {
    bool selected = names.empty();
    for (const auto& n : names) selected = selected || n == t.name;
    if (!selected) continue;
    detail::g_body = t.body;
    detail::g_timeouts = t.options.timeouts;
    detail::g_late_claims = late || t.options.late_claims;
    rl::test_params probe;
    probe.iteration_count = 1;
    probe.search_type = rl::sched_random;
    detail::simulate<7>(probe);  // learns the thread count
    rl::test_params p;
    const bool bounded = std::getenv("CUBBY_RELACY_BOUND") != nullptr && t.options.search == Search::dfs;
    if (bounded) {
      p.search_type = rl::sched_bound;
      p.context_bound = std::min<unsigned>(t.options.preemption_bound,
                                           static_cast<unsigned>(env_number("CUBBY_RELACY_BOUND", 1)));
    } else {
      p.search_type = rl::sched_random;
      p.iteration_count = env_number("CUBBY_RELACY_ITERATIONS", 200000);
    }
    rl::test_result_e r = rl::test_result_success;
    switch (detail::g_threads) {
      case 1: r = detail::simulate<1>(p); break;
      case 2: r = detail::simulate<2>(p); break;
      case 3: r = detail::simulate<3>(p); break;
      case 4: r = detail::simulate<4>(p); break;
      case 5: r = detail::simulate<5>(p); break;
      case 6: r = detail::simulate<6>(p); break;
      default: r = detail::simulate<7>(p); break;
    }
    const Failure f = detail::kind_of(r);
    const bool ok = f == t.options.expect;
    std::printf("[relacy] %-40s %s  (expected %s, found %s)\n", t.name, ok ? "PASS" : "FAIL",
                detail::name_of(t.options.expect), detail::name_of(f));
    if (!ok) ++failed;
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace cubby::mc

#define MC_ASSERT(cond) RL_ASSERT(cond)
#define MC_TEST(name, ...)                                                                                   \
  static void cubby_mc_body_##name(::cubby::mc::Exec& t);                                                    \
  [[maybe_unused]] static const bool cubby_mc_reg_##name =                                                   \
      ::cubby::mc::detail::register_test(#name, &cubby_mc_body_##name __VA_OPT__(, ) __VA_ARGS__);           \
  static void cubby_mc_body_##name([[maybe_unused]] ::cubby::mc::Exec& t)
