// src/barrier.cpp: the heavy side of the asymmetric barrier pair
// (platform/native.hpp), on membarrier(2).
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "cubby/platform/native.hpp"

namespace cubby::platform {
namespace detail {
std::atomic<bool> g_membarrier_ready{false};
}  // namespace detail

namespace {

// Statistics only: relaxed is enough, nothing is published through it.
std::atomic<std::uint64_t> g_heavy_barriers{0};

long sys_membarrier(int cmd) noexcept { return ::syscall(SYS_membarrier, cmd, 0U, 0); }

// Registers this process for MEMBARRIER_CMD_PRIVATE_EXPEDITED (Linux 4.14).
// Until it succeeds light barriers are full fences, so nothing relies on it;
// without it (old kernel, a seccomp filter) they stay full fences.
bool register_membarrier() noexcept {
  const long cmds = sys_membarrier(MEMBARRIER_CMD_QUERY);
  if (cmds < 0 || (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return false;
  return sys_membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
}

// registered: the registration, once per process, thread-safe (a
// function-local static).  The flag is set inside it, after the kernel
// accepted the registration, so a thread that reads it true (a light barrier)
// can only meet heavy barriers that call membarrier: each heavy barrier calls
// this first, and waits here while another thread registers.
bool registered() noexcept {
  static const bool ok = [] {
    const bool r = register_membarrier();
    // release: the flag is read relaxed; nothing else is published by it.
    if (r) detail::g_membarrier_ready.store(true, std::memory_order_release);
    return r;
  }();
  return ok;
}

// Register during static initialisation, so that light barriers are compiler
// barriers from the start in the common case.  A user's global constructor
// that runs earlier and already uses a primitive is safe: its light barriers
// read false (full fences), and its heavy barriers register first.
[[maybe_unused]] const bool g_registered_at_start = registered();

// expedited_barrier: the barrier, retrying what may pass: EINTR, and the
// kernel's ENOMEM/EAGAIN (it allocates a cpumask per call), with a yield.
bool expedited_barrier() noexcept {
  for (int attempt = 0; attempt < 100; ++attempt) {
    if (sys_membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return true;
    if (errno != EINTR && errno != ENOMEM && errno != EAGAIN) return false;
    ::sched_yield();
  }
  return false;
}

}  // namespace

void asymmetric_heavy_barrier() noexcept {
  g_heavy_barriers.fetch_add(1, std::memory_order_relaxed);  // statistics only
  if (registered() && !expedited_barrier()) {
    // EPERM: not registered for this address space.  fork() copies the
    // registration (only exec clears it), so this path is a safeguard;
    // any other failure (a seccomp filter installed after start-up) would
    // break the pairing with light barriers that are compiler barriers
    // only: give up loudly.
    const int error = errno;
    if (error != EPERM || !register_membarrier() || !expedited_barrier()) {
      std::fprintf(stderr,
                   "cubby: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) failed after registration (%s); "
                   "a sandbox must allow membarrier(2) once cubby is loaded\n",
                   std::strerror(error));
      std::abort();
    }
  }
  // The full fence orders this thread's own accesses around the call.
  full_fence();
}

std::uint64_t heavy_barrier_count() noexcept {
  return g_heavy_barriers.load(std::memory_order_relaxed);  // relaxed: a statistic
}

}  // namespace cubby::platform
