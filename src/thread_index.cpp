// src/thread_index.cpp: thread indices (platform/native.hpp): small numbers
// naming the live threads, reused after a thread exits.
//
// A bitmap of max_thread_indices bits, one per index (bit i: index i + 1 is
// taken).  A thread takes the lowest clear bit with a CAS at its first
// thread_index() call and clears it at exit, from the destructor of a
// pthread key whose value is the index.
// [T1] The clearing fetch_and releases and the taking CAS acquires, so
// everything the exited thread did (its last use of a per-thread cache keyed
// by the index) happens-before everything the next owner of the index does.
//
// Why a pthread key and not a thread_local object with a destructor: the
// first call on a thread would register that destructor with the C++
// runtime, which allocates (glibc's __cxa_thread_atexit_impl callocs), so a
// thread's first get() or put() on a message pool would call malloc outside
// the pool's memory resource (and could not report running out of memory).
// The key is made once, during static initialisation (so it is one of the
// process's first keys); for those glibc keeps the value in the thread
// descriptor, and pthread_setspecific allocates nothing.  Key destructors
// also run after every C++ thread_local destructor of the thread, so those
// still find their index.
#include <pthread.h>

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

// release_index: the key's destructor; returns the thread's index.
void release_index(void* value) noexcept {
  const auto i = static_cast<std::uint32_t>(reinterpret_cast<std::uintptr_t>(value));
  // Later calls during this thread's remaining destructors get no index:
  // its old one may already belong to another thread.
  detail::t_thread_index = no_thread_index;
  if (i == 0 || i == no_thread_index) return;
  const std::uint32_t bit = i - 1;
  // [T1] release: see the file comment.
  g_taken[bit / 64].fetch_and(~(std::uint64_t{1} << (bit % 64)), CUBBY_ORDER(T1, std::memory_order_release));
}

// index_key: the key whose destructor releases the index; null if the
// process had no key left (threads then get no index).  Thread-safe (a
// function-local static), and made during static initialisation below.
const pthread_key_t* index_key() noexcept {
  static pthread_key_t key;
  static const bool made = pthread_key_create(&key, release_index) == 0;
  return made ? &key : nullptr;
}
[[maybe_unused]] const pthread_key_t* const g_key_made_early = index_key();

// give_back: returns an index taken but not registered with the key.
void give_back(std::uint32_t index) noexcept {
  const std::uint32_t bit = index - 1;
  // relaxed: the thread did nothing with the index.
  g_taken[bit / 64].fetch_and(~(std::uint64_t{1} << (bit % 64)), std::memory_order_relaxed);
}

}  // namespace

namespace detail {

std::uint32_t assign_thread_index() noexcept {
  if (t_thread_index != 0) return t_thread_index;  // no_thread_index (exiting, or none left)
  const pthread_key_t* key = index_key();
  if (key == nullptr) {
    t_thread_index = no_thread_index;  // no key: nothing would release an index
    return no_thread_index;
  }
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
        // The key's value is what its destructor releases at thread exit.
        if (pthread_setspecific(*key, reinterpret_cast<void*>(static_cast<std::uintptr_t>(index))) != 0) {
          give_back(index);
          t_thread_index = no_thread_index;
          return no_thread_index;
        }
        // relaxed: a maximum; see thread_index_bound().
        std::uint32_t bound = g_thread_index_bound.load(std::memory_order_relaxed);
        while (bound < index) {
          // relaxed: as the load above.
          if (g_thread_index_bound.compare_exchange_weak(bound, index, std::memory_order_relaxed)) break;
        }
        t_thread_index = index;
        return index;
      }
    }
  }
  t_thread_index = no_thread_index;
  return no_thread_index;
}

}  // namespace detail
}  // namespace cubby::platform
