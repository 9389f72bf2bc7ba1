// cubby/platform/futex.hpp: Linux futex wait/wake on a 32-bit atomic word.
//
// The syscalls live in src/futex.cpp, the one place where errno is mapped to
// FutexResult.  These are free functions so that a test platform (the model
// checker, Relacy) can supply its own wait/wake without touching the
// primitives (see native.hpp for the platform seam).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace cubby::platform {

// Result of a futex wait.  None of them promises that the awaited condition
// holds: callers always re-read the word.
enum class FutexResult {
  woken,          // a wake reached this waiter (or a spurious wake-up)
  value_changed,  // the word no longer held `expected` when the kernel looked
  timed_out,      // the deadline passed
  interrupted,    // a signal interrupted the wait
};

// Private futexes (FUTEX_PRIVATE_FLAG) are cheaper but only match waiters of
// the same process; memory shared between processes needs the shared form.
enum class FutexScope { process_private, process_shared };

// Every channel: a bitset that matches every waiter and waker.
inline constexpr std::uint32_t futex_all_channels = 0xFFFFFFFFu;

using SteadyTime = std::chrono::steady_clock::time_point;

// deadline_passed: whether the steady clock has reached `deadline` (the
// real platforms' Platform::deadline_passed).
inline bool deadline_passed(const SteadyTime& deadline) noexcept {
  return std::chrono::steady_clock::now() >= deadline;
}

// deadline_after: now + timeout on the steady clock, saturated.  A timeout
// longer than the clock can represent from now (duration::max(), hours of
// years) gives SteadyTime::max(), a wait without end in practice; zero or a
// negative timeout (or a NaN one) gives now (already due).  The plain sum
// would overflow, signed overflow, and typically time out at once.
template <class Rep, class Period>
SteadyTime deadline_after(std::chrono::duration<Rep, Period> timeout) noexcept {
  const SteadyTime now = std::chrono::steady_clock::now();
  if (!(timeout > timeout.zero())) return now;
  // Compared as long double seconds: converting either side to the other's
  // type could itself overflow.
  const std::chrono::duration<long double> room = SteadyTime::max() - now;
  if (std::chrono::duration<long double>(timeout) >= room) return SteadyTime::max();
  return now + std::chrono::ceil<std::chrono::steady_clock::duration>(timeout);
}

// futex_wait: if *word == expected, sleeps until woken on a channel in
// `channels` (FUTEX_WAIT_BITSET), or until `deadline` (absolute, steady clock;
// null for none) passes.  `word` is the address of any 32-bit atomic word
// (std::atomic<uint32_t>, boost::atomics::ipc_atomic<uint32_t>, ...).
FutexResult futex_wait(const void* word, std::uint32_t expected, std::uint32_t channels,
                       const SteadyTime* deadline, FutexScope scope = FutexScope::process_private) noexcept;

// futex_wake: wakes up to `count` waiters on `word` whose channels intersect
// `channels`.  Returns how many were woken.
int futex_wake(const void* word, int count, std::uint32_t channels,
               FutexScope scope = FutexScope::process_private) noexcept;

// Number of futex syscalls (waits + wakes) this process made through the two
// functions above; the benchmarks use it to show that uncontended handoffs
// make none.  One relaxed counter increment per syscall, none otherwise.
std::uint64_t futex_syscall_count() noexcept;

}  // namespace cubby::platform
