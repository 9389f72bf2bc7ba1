// src/futex.cpp: the futex syscalls and the one place errno is mapped.
#include "cubby/platform/futex.hpp"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <ctime>

namespace cubby::platform {
namespace {

// Statistics only: relaxed is enough, nothing is published through it.
std::atomic<std::uint64_t> g_syscalls{0};

int op_with_scope(int op, FutexScope scope) noexcept {
  return scope == FutexScope::process_private ? (op | FUTEX_PRIVATE_FLAG) : op;
}

long sys_futex(const void* addr, int op, std::uint32_t val, const timespec* ts, std::uint32_t val3) noexcept {
  g_syscalls.fetch_add(1, std::memory_order_relaxed);  // statistics only
  return ::syscall(SYS_futex, addr, op, val, ts, nullptr, val3);
}

}  // namespace

FutexResult futex_wait(const void* word, std::uint32_t expected, std::uint32_t channels,
                       const SteadyTime* deadline, FutexScope scope) noexcept {
  timespec ts{};
  const timespec* tsp = nullptr;
  if (deadline != nullptr) {
    // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time, which is the
    // clock std::chrono::steady_clock reads on Linux.
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline->time_since_epoch()).count();
    if (ns <= 0) return FutexResult::timed_out;
    ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    tsp = &ts;
  }
  const long rc = sys_futex(word, op_with_scope(FUTEX_WAIT_BITSET, scope), expected, tsp, channels);
  if (rc == 0) return FutexResult::woken;
  switch (errno) {
    case EAGAIN: return FutexResult::value_changed;
    case ETIMEDOUT: return FutexResult::timed_out;
    case EINTR: return FutexResult::interrupted;
    // Any other error (EFAULT/EINVAL cannot happen with a valid word; ENOSYS
    // or EPERM can, if a seccomp filter forbids futex): callers re-check the
    // word and wait again, so a wait degrades to polling (with a yield per
    // round), never to a lost wake; a deadline is still kept, by the clock.
    default:
      if (deadline != nullptr && deadline_passed(*deadline)) return FutexResult::timed_out;
      ::sched_yield();
      return FutexResult::woken;
  }
}

int futex_wake(const void* word, int count, std::uint32_t channels, FutexScope scope) noexcept {
  const long rc = sys_futex(word, op_with_scope(FUTEX_WAKE_BITSET, scope), static_cast<std::uint32_t>(count), nullptr, channels);
  return rc < 0 ? 0 : static_cast<int>(rc);
}

std::uint64_t futex_syscall_count() noexcept {
  return g_syscalls.load(std::memory_order_relaxed);  // statistics only
}

}  // namespace cubby::platform
