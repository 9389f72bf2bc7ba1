// cubby/platform/native.hpp: the verification seam and the real platform.
//
// Every primitive of cubby is a template over a Platform.  The primitive's
// algorithm is written once, against this interface; NativePlatform (the
// default) compiles to plain std::atomic operations, plain loads and stores,
// and raw futex syscalls, so the seam costs nothing.  The model checker
// (model_check/) and the Relacy adapter supply their own platform to explore
// every interleaving of the very same source.
//
// A Platform P provides:
//
//   template <class T> using atomic = ...;
//       std::atomic-like: load/store/exchange/compare_exchange_{weak,strong}/
//       fetch_{add,sub,or,and} taking std::memory_order arguments.
//   template <class T> using cell = ...;
//       Plain (non-atomic) data shared between threads and ordered by the
//       atomics: load(), store(v), and read()/write() returning references for
//       in-place access.  A checker reports two unordered accesses, one a
//       write, as a data race.
//   static FutexResult wait(atomic<uint32_t>& word, uint32_t expected,
//                           uint32_t channels, const SteadyTime* deadline);
//       Sleeps while word == expected, until woken on one of `channels` or the
//       deadline (null: none).  May return spuriously; callers re-check.
//       Creates no happens-before edge (C++ promises none for wake-ups).
//   static void wake(atomic<uint32_t>& word, uint32_t channels);
//       Wakes every waiter on `word` whose channels intersect `channels`.
//   static bool deadline_passed(const SteadyTime& deadline);
//       Whether the clock has reached `deadline`; a timed operation asks
//       before it yields or sleeps.  A checker explores both answers at
//       every check: a timed-out sleep does not stand in for a check that
//       found the deadline passed, since the operation re-reads different
//       state after each (cubby_mc/platform.hpp).
//   static void pause();      one step of a spin loop (a pause instruction)
//   static void yield();      give the CPU away (sched_yield)
//   static bool claim_late();  (optional; absent: always false)
//       Whether the calling thread's next blocking push or pop of a Queue
//       claims its ticket late: it polls for a slot at its turn, taking no
//       ticket, before it takes one (queue.hpp, "Arrival order").  The
//       native platform answers true for 64 operations after the thread last
//       yielded (it met contention); a checker explores both answers.
//   static void fence(std::memory_order);
//   static void light_barrier();  static void heavy_barrier();
//       An asymmetric pair of full barriers (folly calls them
//       asymmetricLightBarrier/asymmetricHeavyBarrier).  Together they order
//       like two seq_cst fences: if thread A runs `store X; light_barrier();
//       load Y` and thread B runs `store Y; heavy_barrier(); load X`, at least
//       one of the loads sees the other thread's store.  The light side is on
//       fast paths and costs a compiler barrier; the heavy side, taken only
//       on slow paths (before a sleep, on close), costs a membarrier(2)
//       syscall.  A checker models both as seq_cst fences.
//   static constexpr unsigned spin_pauses, spin_yields;
//       how long a blocking wait spins before it sleeps (see backoff.hpp).
//       spin_pauses may instead be a function, static unsigned
//       spin_pauses(), for a count known only at run time (the native
//       platform measures what a pause costs; see pauses_for).
//   static std::uint32_t thread_index();  static std::uint32_t thread_index_bound();
//       A small number naming the calling thread among the live threads: 1,
//       2, ..., never shared by two live threads; an exited thread's index is
//       reused, and everything the exited thread did before it released the
//       index (a pthread-key destructor, which runs after the thread's C++
//       thread_local destructors) happens-before the reuse.  After that
//       release, what the thread still runs (other pthread-key destructors)
//       sees no_thread_index, so code must look the index up on each use,
//       as the message pool does, never keep it.  Taking an index allocates
//       nothing (src/thread_index.cpp).  no_thread_index for a thread that has none (beyond
//       max_thread_indices threads, or after the release); a thread that
//       found none keeps none for its life, even once indices are freed
//       (for the message pool: that thread always uses the shared stack).
//       thread_index_bound(): grows only; no index a thread has returned
//       from thread_index() exceeds it.
//       Not async-signal-safe: no signal handler may call it (or the message
//       pool, whose per-thread caches assume their owner is not re-entered).
//       A fork() child keeps the indices of the parent's other threads,
//       which never return them.
//       The message pool keys its per-thread caches by it.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>

#include "cubby/platform/futex.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace cubby::platform {

// PlainCell<T>: non-atomic data in the native platform; all members inline to
// a plain access.
template <class T>
class PlainCell {
 public:
  PlainCell() = default;
  explicit PlainCell(const T& v) : value_(v) {}
  T load() const noexcept { return value_; }
  void store(const T& v) noexcept { value_ = v; }
  const T& read() const noexcept { return value_; }
  T& write() noexcept { return value_; }

 private:
  T value_{};
};

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("isb" ::: "memory");
#else
  std::atomic_signal_fence(std::memory_order_seq_cst);
#endif
}

// ---- the asymmetric barrier pair (see the seam above) ----
#if defined(__SANITIZE_THREAD__)
#define CUBBY_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CUBBY_TSAN 1
#endif
#endif

namespace detail {
#ifdef CUBBY_TSAN
// ThreadSanitizer does not model fences (GCC warns about them under
// -fsanitize=thread, an error with -Werror); a seq_cst RMW is a full barrier on x86-64, where the
// sanitizer builds run.  One word per thread, so that the stand-in gives
// ThreadSanitizer no happens-before edges between threads (which could hide a
// race).  (On AArch64 an RMW is not a full barrier; there this stand-in would
// be too weak, which a TSan build would not report, only the hardware.)
inline thread_local std::atomic<std::uint32_t> t_fence_word{0};
#endif
}  // namespace detail

// full_fence: std::atomic_thread_fence(seq_cst), or its stand-in under TSan.
inline void full_fence() noexcept {
#ifdef CUBBY_TSAN
  // seq_cst RMW: a locked instruction, a full barrier (see above).
  detail::t_fence_word.fetch_add(0, std::memory_order_seq_cst);
#else
  // The builtin (what std::atomic_thread_fence calls), so that a Relacy
  // build, which replaces std's fences with its own, still compiles this.
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}

namespace detail {
// Whether membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) is registered for this
// process.  src/barrier.cpp sets it once, inside the registration, which runs
// during static initialisation or at the first heavy barrier, whichever comes
// first; every heavy barrier waits for the registration to finish.
extern std::atomic<bool> g_membarrier_ready;
}  // namespace detail

// light_barrier: a compiler barrier when the heavy side can interrupt every
// running thread of the process (membarrier registered), a full fence when it
// cannot.  relaxed: the flag only chooses the barrier; it goes from false to
// true once, and a thread that still reads false takes the full fence, which
// pairs with either heavy barrier.  A thread that reads true pairs only with
// a membarrier: every heavy barrier first waits for the registration (a
// function-local static in src/barrier.cpp) and then calls membarrier, so
// none can be a bare fence once the flag is true.
inline void asymmetric_light_barrier() noexcept {
  // relaxed: only chooses the barrier (see above).
  if (detail::g_membarrier_ready.load(std::memory_order_relaxed)) {
    __atomic_signal_fence(__ATOMIC_SEQ_CST);  // a compiler barrier (see full_fence for the builtin)
  } else {
    full_fence();
  }
}
// heavy_barrier: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED): every thread of
// this process that is running executes a full memory barrier before the call
// returns (a thread not running passed one when it was switched out), then a
// full fence here.  Falls back to the fence alone when membarrier is not
// available when the library registers for it (during static
// initialisation; an old kernel, or a seccomp filter already installed), in
// which case light barriers are full fences too.  Once registered, light
// barriers are compiler barriers only, so the process must keep membarrier
// allowed: a sandbox installed later must allow membarrier(2), or the first
// heavy barrier that fails (after retrying transient errors) ends the
// process with a message, since no barrier could then stand in for it.
void asymmetric_heavy_barrier() noexcept;
// Number of asymmetric_heavy_barrier() calls this process made (each is a
// membarrier(2) syscall once registered); the tests use it, beside
// futex_syscall_count(), to show that operations nobody waits for make no
// syscall.  One relaxed counter increment per call.
std::uint64_t heavy_barrier_count() noexcept;

// ---- thread indices (see the seam above) ----
inline constexpr std::uint32_t no_thread_index = 0xFFFFFFFFu;
inline constexpr std::uint32_t max_thread_indices = 4096;

namespace detail {
// This thread's index, 0 until its first thread_index() call.  Trivial and
// constant-initialised, so reading it is one thread-local load.
inline thread_local std::uint32_t t_thread_index = 0;
// assign_thread_index: gives this thread the smallest free index (or
// no_thread_index), and arranges for its release at thread exit.  Cold;
// src/thread_index.cpp.
std::uint32_t assign_thread_index() noexcept;
// The highest index ever assigned.  src/thread_index.cpp.
extern std::atomic<std::uint32_t> g_thread_index_bound;
}  // namespace detail

inline std::uint32_t thread_index() noexcept {
  const std::uint32_t i = detail::t_thread_index;
  if (i != 0) [[likely]]
    return i;
  return detail::assign_thread_index();
}
// thread_index_bound: relaxed: it only grows; a thread that has seen an
// index's owner act (happens-before) reads a bound at least that index, by
// coherence (the owner raised the bound before its first act).
inline std::uint32_t thread_index_bound() noexcept {
  // relaxed: see above.
  return detail::g_thread_index_bound.load(std::memory_order_relaxed);
}

// ---- the spin budget in time ----
// pauses_for: how many pause instructions (cpu_relax) last about `ns`
// nanoseconds on this machine, clamped to [min_spin_pauses,
// max_spin_pauses].  What a pause costs differs by an order of magnitude
// between cores (Intel's own figures: about 10 cycles before Skylake, about
// 140 since; 10 ns and 25 ns on the two VMs of bench/README.md), so a count
// fixed in the source spins for very different times; the waits it serves
// (another thread's next step, a context switch) last a time.  The first
// call measures the pause against the steady clock (the shortest of three
// timed runs of at least 1 us each, a few microseconds in all) and the
// result is kept for the process.  src/spin.cpp.
inline constexpr unsigned min_spin_pauses = 16;
inline constexpr unsigned max_spin_pauses = 4096;
unsigned pauses_for(std::uint32_t ns) noexcept;
// pause_picoseconds: the measured cost of one pause (0 before the first
// pauses_for call); for tests and benchmarks.
std::uint32_t pause_picoseconds() noexcept;

namespace detail {
// The thread's remaining late claims (NativePlatform::claim_late); private to
// the thread, so plain.
inline thread_local std::uint32_t t_late_claims = 0;
}  // namespace detail

// The real platform, for memory private to one process.
struct NativePlatform {
  template <class T>
  using atomic = std::atomic<T>;
  template <class T>
  using cell = PlainCell<T>;

  // Spin about spin_ns (2 us) of pauses, then yield up to 64 times, then
  // sleep.  The pauses are counted in time, not in instructions (see
  // pauses_for): a pause costs 10-140 cycles depending on the core.  Yields
  // are cheap when threads outnumber cores (the partner runs instead), and a
  // sleep costs the sleeper a membarrier and a futex wait and its waker a
  // futex wake; bench/README.md ("Spin budget", twelfth experiment) has the
  // measurements behind the numbers.
  static constexpr std::uint32_t spin_ns = 2000;
  static unsigned spin_pauses() noexcept { return pauses_for(spin_ns); }
  static constexpr unsigned spin_yields = 64;

  static FutexResult wait(atomic<std::uint32_t>& word, std::uint32_t expected, std::uint32_t channels,
                          const SteadyTime* deadline) noexcept {
    return futex_wait(&word, expected, channels, deadline, FutexScope::process_private);
  }
  static void wake(atomic<std::uint32_t>& word, std::uint32_t channels) noexcept {
    futex_wake(&word, INT32_MAX, channels, FutexScope::process_private);
  }
  // deadline_passed: read by timed operations before they yield or sleep.
  static bool deadline_passed(const SteadyTime& deadline) noexcept { return platform::deadline_passed(deadline); }
  static void pause() noexcept { cpu_relax(); }
  // yield: also notes that this thread met contention (see claim_late).
  static void yield() noexcept {
    detail::t_late_claims = late_claims_after_yield;
    std::this_thread::yield();
  }
  // claim_late: true for the next late_claims_after_yield calls after the
  // thread's last yield.  A thread that had to yield shares the CPUs with
  // more threads than there are CPUs; a ticket it holds while it is
  // descheduled would stall the threads after it in line, a late claim does
  // not.
  // Threads that never yield keep the plain ticket, the cheaper path
  // (bench/README.md, eleventh experiment).
  static constexpr std::uint32_t late_claims_after_yield = 64;
  static bool claim_late() noexcept {
    if (detail::t_late_claims == 0) return false;
    --detail::t_late_claims;
    return true;
  }
  static void fence(std::memory_order order) noexcept { std::atomic_thread_fence(order); }
  static void light_barrier() noexcept { asymmetric_light_barrier(); }
  static void heavy_barrier() noexcept { asymmetric_heavy_barrier(); }
  static std::uint32_t thread_index() noexcept { return platform::thread_index(); }
  static std::uint32_t thread_index_bound() noexcept { return platform::thread_index_bound(); }
};

// Under Relacy (model_check/relacy/), std::atomic is Relacy's model type, of
// another size; these describe the real one.
#ifndef CUBBY_MC_RELACY
static_assert(sizeof(std::atomic<std::uint32_t>) == 4 && alignof(std::atomic<std::uint32_t>) == 4,
              "a futex word must be a plain 32-bit aligned word");
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
#endif

}  // namespace cubby::platform

namespace cubby {
using DefaultPlatform = platform::NativePlatform;
}  // namespace cubby
