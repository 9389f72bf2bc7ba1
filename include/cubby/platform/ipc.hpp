// cubby/platform/ipc.hpp: the platform for memory shared between processes,
// and the shared-memory segment that holds it.
//
// IpcPlatform is a Platform (see native.hpp) whose atomics are
// boost::atomics::ipc_atomic<T>: address-free, lock-free atomics whose
// wait/notify use process-shared futexes.  A primitive instantiated on it
// (e.g. FixedQueue<std::uint64_t, N, IpcPlatform>, see shared_queue.hpp) can
// live in a shared mapping and be used by several processes at once.
//
// Differences from NativePlatform:
//   - wait() without a deadline is ipc_atomic::wait(), which returns once the
//     word differs from `expected` (every wake of a turn slot follows a change
//     of its word, so this is the same contract).  With a deadline it is a
//     process-shared FUTEX_WAIT_BITSET (platform::futex_wait), since Boost.Atomic
//     1.81 has no timed wait; both sleep on the same kernel futex.
//   - wake() is ipc_atomic::notify_all(): the process-shared futex has no
//     bitset channels here, so a handoff wakes every sleeper on the word (the
//     ones whose turn has not come sleep again).  Waking still happens only
//     when a waiter announced itself, so an uncontended handoff makes no
//     syscall.
//   - Payloads must be trivially copyable and address-free (integers): a
//     pointer means nothing in another process.
//
// Boost.Atomic is a dependency of the library for this: ipc_atomic and its
// process-shared wait/notify; cubby links Boost::atomic, as Boost's own
// package asks of its users.
#pragma once

#include <atomic>
#include <boost/atomic/ipc_atomic.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>

#include "cubby/platform/futex.hpp"
#include "cubby/platform/native.hpp"

namespace cubby::platform {

constexpr boost::memory_order to_boost(std::memory_order order) noexcept {
  switch (order) {
    case std::memory_order_relaxed: return boost::memory_order_relaxed;
    case std::memory_order_consume: return boost::memory_order_consume;
    case std::memory_order_acquire: return boost::memory_order_acquire;
    case std::memory_order_release: return boost::memory_order_release;
    case std::memory_order_acq_rel: return boost::memory_order_acq_rel;
    case std::memory_order_seq_cst: return boost::memory_order_seq_cst;
  }
  return boost::memory_order_seq_cst;
}

// IpcAtomic<T>: the std::atomic-like interface the primitives use, over a
// boost::atomics::ipc_atomic<T>.  Same size and alignment as T.
template <class T>
class IpcAtomic {
  using Native = boost::atomics::ipc_atomic<T>;
  static_assert(Native::is_always_lock_free, "IpcAtomic<T>: ipc_atomic<T> must be lock-free to be process-shared");

 public:
  IpcAtomic() noexcept : a_(T{}) {}
  IpcAtomic(T v) noexcept : a_(v) {}  // NOLINT(google-explicit-constructor): mirrors std::atomic
  IpcAtomic(const IpcAtomic&) = delete;
  IpcAtomic& operator=(const IpcAtomic&) = delete;

  T load(std::memory_order o = std::memory_order_seq_cst) const noexcept { return a_.load(to_boost(o)); }
  void store(T v, std::memory_order o = std::memory_order_seq_cst) noexcept { a_.store(v, to_boost(o)); }
  T exchange(T v, std::memory_order o = std::memory_order_seq_cst) noexcept { return a_.exchange(v, to_boost(o)); }
  bool compare_exchange_weak(T& expected, T desired, std::memory_order success, std::memory_order failure) noexcept {
    return a_.compare_exchange_weak(expected, desired, to_boost(success), to_boost(failure));
  }
  bool compare_exchange_strong(T& expected, T desired, std::memory_order success, std::memory_order failure) noexcept {
    return a_.compare_exchange_strong(expected, desired, to_boost(success), to_boost(failure));
  }
  T fetch_add(T v, std::memory_order o = std::memory_order_seq_cst) noexcept { return a_.fetch_add(v, to_boost(o)); }
  T fetch_sub(T v, std::memory_order o = std::memory_order_seq_cst) noexcept { return a_.fetch_sub(v, to_boost(o)); }
  T fetch_or(T v, std::memory_order o = std::memory_order_seq_cst) noexcept { return a_.fetch_or(v, to_boost(o)); }
  T fetch_and(T v, std::memory_order o = std::memory_order_seq_cst) noexcept { return a_.fetch_and(v, to_boost(o)); }

  Native& native() noexcept { return a_; }
  const Native& native() const noexcept { return a_; }

 private:
  Native a_;
};

static_assert(sizeof(IpcAtomic<std::uint32_t>) == 4 && alignof(IpcAtomic<std::uint32_t>) == 4,
              "a futex word must be a plain 32-bit aligned word");
static_assert(boost::atomics::ipc_atomic<std::uint32_t>::is_always_lock_free);
static_assert(boost::atomics::ipc_atomic<std::uint64_t>::is_always_lock_free);
static_assert(boost::atomics::ipc_atomic<std::uint32_t>::always_has_native_wait_notify,
              "IpcPlatform: process-shared wait/notify must be a native futex");

// The platform for primitives in memory shared between processes.
struct IpcPlatform {
  template <class T>
  using atomic = IpcAtomic<T>;
  template <class T>
  using cell = PlainCell<T>;

  static unsigned spin_pauses() noexcept { return NativePlatform::spin_pauses(); }
  static constexpr unsigned spin_yields = NativePlatform::spin_yields;

  static FutexResult wait(atomic<std::uint32_t>& word, std::uint32_t expected, std::uint32_t /*channels*/,
                          const SteadyTime* deadline) noexcept {
    if (deadline == nullptr) {
      // relaxed: the caller re-reads the word with its own ordering.
      (void)word.native().wait(expected, boost::memory_order_relaxed);
      return FutexResult::woken;
    }
    return futex_wait(&word, expected, futex_all_channels, deadline, FutexScope::process_shared);
  }
  static void wake(atomic<std::uint32_t>& word, std::uint32_t /*channels*/) noexcept { word.native().notify_all(); }
  static bool deadline_passed(const SteadyTime& deadline) noexcept { return platform::deadline_passed(deadline); }
  static void pause() noexcept { cpu_relax(); }
  static void yield() noexcept { NativePlatform::yield(); }
  static bool claim_late() noexcept { return NativePlatform::claim_late(); }
  static void fence(std::memory_order order) noexcept { std::atomic_thread_fence(order); }
  // Both sides full fences: membarrier's private command reaches the threads
  // of one process only, and the other side may run in another.
  static void light_barrier() noexcept { full_fence(); }
  static void heavy_barrier() noexcept { full_fence(); }
  // Indices of this process's threads (a per-thread cache keyed by them
  // would be private to the process).
  static std::uint32_t thread_index() noexcept { return platform::thread_index(); }
  static std::uint32_t thread_index_bound() noexcept { return platform::thread_index_bound(); }
};

// SharedMemory: a POSIX shared-memory segment (shm_open + mmap), mapped
// read-write.  Move-only; the destructor unmaps.  The name stays until
// unlink() (a creator made with unlink_on_destroy removes it when it goes,
// in the creating process only: a copy inherited by a fork() child does
// not; and only if the name still names its segment, not one created
// again under the same name after an unlink).  Segments are created with
// mode 0600: only processes of the creating user can open them.
// Errors throw std::system_error naming the segment (an invalid name or a
// size of 0: std::invalid_argument).
class SharedMemory {
 public:
  // create: a new segment of `size` zero bytes, all of it reserved (a
  // /dev/shm without room for it fails here with ENOSPC, not later with
  // SIGBUS); fails if the name exists.  A name is '/' then 1 to 254
  // characters other than '/' and NUL, not "/." or "/.." (create and open
  // throw std::invalid_argument naming any other; unlink returns false).
  static SharedMemory create(const std::string& name, std::size_t size, bool unlink_on_destroy = true);
  // open: an existing segment, which must be at least `size` bytes.  A
  // segment of 0 bytes is one whose creator has not sized it yet (create()
  // runs shm_open, then ftruncate): open waits up to `wait` for it to grow.
  // A segment of a smaller non-zero size fails at once (a larger one is
  // accepted; its first `size` bytes are mapped).
  static SharedMemory open(const std::string& name, std::size_t size,
                           std::chrono::milliseconds wait = std::chrono::milliseconds(0));
  // unlink: removes the name (mappings stay valid); false if it did not
  // exist (or is not a valid name).
  static bool unlink(const std::string& name) noexcept;

  SharedMemory(SharedMemory&& o) noexcept;
  SharedMemory& operator=(SharedMemory&& o) noexcept;
  ~SharedMemory();

  void* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  const std::string& name() const noexcept { return name_; }

 private:
  struct Identity {
    std::uint64_t device = 0, inode = 0;
  };

  SharedMemory(std::string name, void* data, std::size_t size, bool unlink_on_destroy, Identity identity) noexcept;
  void release() noexcept;
  bool still_ours() const noexcept;

  std::string name_;
  void* data_ = nullptr;
  std::size_t size_ = 0;
  bool unlink_on_destroy_ = false;
  int creator_pid_ = 0;  // the process whose destructor unlinks (if unlink_on_destroy_)
  Identity identity_;    // of the segment create() made (if unlink_on_destroy_)
};

}  // namespace cubby::platform
