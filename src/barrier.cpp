// src/barrier.cpp: the heavy side of the asymmetric barrier pair
// (platform/native.hpp), on membarrier(2).
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "cubby/platform/native.hpp"

namespace cubby::platform {
namespace detail {
std::atomic<bool> g_membarrier_ready{false};
}  // namespace detail

namespace {

long sys_membarrier(int cmd) noexcept { return ::syscall(SYS_membarrier, cmd, 0U, 0); }

// Registers this process for MEMBARRIER_CMD_PRIVATE_EXPEDITED (Linux 4.14),
// once.  Until it succeeds light barriers are full fences, so nothing relies
// on it; without it (old kernel, a seccomp filter) they stay full fences.
bool register_membarrier() noexcept {
  const long cmds = sys_membarrier(MEMBARRIER_CMD_QUERY);
  if (cmds < 0 || (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return false;
  return sys_membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
}

// Static initialisation: before main, normally before any thread exists.
// release: a thread that sees the flag also sees the registration done (the
// registration itself is a syscall, the ordering is for the reader's sake).
[[maybe_unused]] const bool g_registered = [] {
  const bool ok = register_membarrier();
  if (ok) detail::g_membarrier_ready.store(true, std::memory_order_release);
  return ok;
}();

}  // namespace

void asymmetric_heavy_barrier() noexcept {
  // relaxed: see asymmetric_light_barrier; once true it stays true.
  if (detail::g_membarrier_ready.load(std::memory_order_relaxed)) {
    if (sys_membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0) {
      // A child of fork() may need its own registration (the kernel keeps it
      // per address space); any other failure would break the pairing, and
      // light barriers may already be compiler barriers only: give up loudly.
      if (errno != EPERM || !register_membarrier() || sys_membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0) {
        std::fputs("cubby: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) failed after registration\n", stderr);
        std::abort();
      }
    }
  }
  // The full fence orders this thread's own accesses around the call.
  full_fence();
}

}  // namespace cubby::platform
