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
//   static void pause();      one step of a spin loop (a pause instruction)
//   static void yield();      give the CPU away (sched_yield)
//   static void fence(std::memory_order);
//   static constexpr unsigned spin_pauses, spin_yields;
//       how long a blocking wait spins before it sleeps (see backoff.hpp).
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

// The real platform, for memory private to one process.
struct NativePlatform {
  template <class T>
  using atomic = std::atomic<T>;
  template <class T>
  using cell = PlainCell<T>;

  // Spin about 1-2 us (a pause is 10-140 cycles depending on the core), then
  // yield twice, then sleep.  bench/cubby_bench.cpp measures the effect.
  static constexpr unsigned spin_pauses = 256;
  static constexpr unsigned spin_yields = 2;

  static FutexResult wait(atomic<std::uint32_t>& word, std::uint32_t expected, std::uint32_t channels,
                          const SteadyTime* deadline) noexcept {
    return futex_wait(&word, expected, channels, deadline, FutexScope::process_private);
  }
  static void wake(atomic<std::uint32_t>& word, std::uint32_t channels) noexcept {
    futex_wake(&word, INT32_MAX, channels, FutexScope::process_private);
  }
  static void pause() noexcept { cpu_relax(); }
  static void yield() noexcept { std::this_thread::yield(); }
  static void fence(std::memory_order order) noexcept { std::atomic_thread_fence(order); }
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
