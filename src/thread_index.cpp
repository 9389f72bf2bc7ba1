// src/thread_index.cpp: thread indices (platform/native.hpp): small numbers
// naming the live threads, reused after a thread exits.
//
// A bitmap of max_thread_indices bits, one per index (bit i: index i + 1 is
// taken).  A thread takes the lowest clear bit with a CAS at its first
// thread_index() call and clears it from a thread-local destructor at exit.
// [T1] The clearing fetch_and releases and the taking CAS acquires, so
// everything the exited thread did (its last use of a per-thread cache keyed
// by the index) happens-before everything the next owner of the index does.
#include <atomic>
#include <cstdint>

#include "cubby/detail/order.hpp"
#include "cubby/platform/native.hpp"

namespace cubby::platform {
namespace detail {
std::atomic<std::uint32_t> g_thread_index_bound{0};
}  // namespace detail

namespace {

constexpr std::uint32_t kWords = max_thread_indices / 64;
std::atomic<std::uint64_t> g_taken[kWords];  // zero-initialised (static storage)

// Releaser: returns the thread's index when the thread exits.  Only threads
// that took an index construct one (see assign_thread_index).
struct Releaser {
  Releaser() noexcept = default;
  Releaser(const Releaser&) = delete;
  Releaser& operator=(const Releaser&) = delete;
  ~Releaser() {
    const std::uint32_t i = detail::t_thread_index;
    // Later calls during this thread's remaining destructors get no index:
    // its old one may already belong to another thread.
    detail::t_thread_index = no_thread_index;
    if (i == 0 || i == no_thread_index) return;
    const std::uint32_t bit = i - 1;
    // [T1] release: see the file comment.
    g_taken[bit / 64].fetch_and(~(std::uint64_t{1} << (bit % 64)), CUBBY_ORDER(T1, std::memory_order_release));
  }
};
// Constructed by assign_thread_index() (not an atomic: a thread-local object
// whose destructor runs at thread exit).
thread_local Releaser t_releaser;

}  // namespace

namespace detail {

std::uint32_t assign_thread_index() noexcept {
  if (t_thread_index != 0) return t_thread_index;  // no_thread_index (exiting, or none left)
  for (std::uint32_t w = 0; w < kWords; ++w) {
    // relaxed: a guess the CAS validates.
    std::uint64_t v = g_taken[w].load(std::memory_order_relaxed);
    while (~v != 0) {
      const int b = __builtin_ctzll(~v);
      const std::uint64_t taken = v | (std::uint64_t{1} << b);
      // [T1] acquire on success: see the file comment.  Failure relaxed: a
      // new guess.
      const auto on_success = CUBBY_ORDER(T1, std::memory_order_acquire);
      // relaxed (failure): see above.
      if (g_taken[w].compare_exchange_weak(v, taken, on_success, std::memory_order_relaxed)) {
        const std::uint32_t index = w * 64 + static_cast<std::uint32_t>(b) + 1;
        // relaxed: a maximum; see thread_index_bound().
        std::uint32_t bound = g_thread_index_bound.load(std::memory_order_relaxed);
        while (bound < index) {
          // relaxed: as the load above.
          if (g_thread_index_bound.compare_exchange_weak(bound, index, std::memory_order_relaxed)) break;
        }
        t_thread_index = index;
        (void)&t_releaser;  // constructs it: its destructor returns the index
        return index;
      }
    }
  }
  t_thread_index = no_thread_index;
  return no_thread_index;
}

}  // namespace detail
}  // namespace cubby::platform
