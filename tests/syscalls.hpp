// tests/syscalls.hpp: the syscalls the library makes on its own account,
// counted since a point in a test: futex waits and wakes, and heavy barriers
// (membarrier(2)).  Tests that claim "no syscall when nobody waits" check
// both, so a path that wrongly takes the sleeper's side of the asymmetric
// barrier fails as surely as one that wrongly calls futex.
#pragma once

#include <cstdint>

#include "cubby/platform/futex.hpp"
#include "cubby/platform/native.hpp"

namespace cubby::test {

class SyscallsSince {
 public:
  std::uint64_t futex() const { return platform::futex_syscall_count() - futex_; }
  std::uint64_t heavy_barriers() const { return platform::heavy_barrier_count() - heavy_; }

 private:
  std::uint64_t futex_ = platform::futex_syscall_count();
  std::uint64_t heavy_ = platform::heavy_barrier_count();
};

}  // namespace cubby::test
