// cubby/platform/cache_line.hpp: the cache-line constant and padding.
#pragma once

#include <cstddef>
#include <new>
#include <utility>

namespace cubby::platform {

// cache_line_size: the distance at which two hot objects stop interfering
// (std::hardware_destructive_interference_size, fixed per architecture so that
// it is ABI-stable and does not change with -mtune):
//  - x86-64: lines are 64 bytes, but the L2 "spatial" (adjacent-line) prefetcher
//    fetches lines in 128-byte aligned pairs, so two atomics 64 bytes apart still
//    ping-pong.  Intel's optimisation manual and folly both use 128.
//  - aarch64: 64-byte lines on most cores (Neoverse N1, N2, V1 included),
//    128 on Apple M-series; use 128 so one binary is right on both.
//  - powerpc64: 128-byte lines.  s390x: 256-byte lines.
//  - everything else: 64.
#if defined(__x86_64__) || defined(_M_X64) || defined(__aarch64__) || defined(__powerpc64__)
inline constexpr std::size_t cache_line_size = 128;
#elif defined(__s390x__)
inline constexpr std::size_t cache_line_size = 256;
#else
inline constexpr std::size_t cache_line_size = 64;
#endif

static_assert((cache_line_size & (cache_line_size - 1)) == 0, "cache_line_size must be a power of two");

// CachePadded<T>: T alone on its own cache_line_size block.  sizeof is a
// multiple of cache_line_size, so arrays of it keep every element apart too.
template <class T>
struct alignas(cache_line_size) CachePadded {
  T value;

  template <class... Args>
  constexpr explicit CachePadded(Args&&... args) : value(std::forward<Args>(args)...) {}

  T& operator*() noexcept { return value; }
  const T& operator*() const noexcept { return value; }
  T* operator->() noexcept { return &value; }
  const T* operator->() const noexcept { return &value; }
};

static_assert(sizeof(CachePadded<char>) == cache_line_size);
static_assert(alignof(CachePadded<char>) == cache_line_size);

}  // namespace cubby::platform
