// cubby/shared_queue.hpp: a bounded queue of integers shared between
// processes.
//
// Contract
// --------
// SharedQueue<T, N> is a handle on a FixedQueue<T, N, platform::IpcPlatform>
// that lives in a named POSIX shared-memory segment.  One process create()s
// it; others open() it by name (or inherit the mapping across fork()).  The
// queue has the full Queue contract (FIFO, blocking/try/timed/bulk
// operations, close) across every process that maps it; T must be an
// integral type (values are copied between address spaces as bits).
//
// Lifetime: create() makes the segment, sizes it, constructs the queue and
// then marks it ready ([Q3]); open() waits (up to `wait`, 5 s by default)
// for the size and the mark ([Q4]) before it returns.  Handles unmap when
// destroyed; the creator's handle also removes the name (processes that
// mapped the segment keep using it).  The queue is never destroyed
// explicitly: it holds integers only.
//
// Crashes: like any in-memory lock-free queue, this one is not robust
// against a process that dies inside an operation.  A process killed after
// taking a ticket (inside a push or pop, waiting or not) leaves its turn
// unserved: the slot stops for every later lap.  After close(), the pops
// behind a dead popper's turn still wait, and so does the pop of a dead
// pusher's ticket if the close rule admitted that push (it had its room at
// close).  One killed inside close() before it published its tickets leaves
// every operation that meets the close waiting for them (the tickets are
// taken once, so another close() cannot redo it).  One killed while asleep (in a blocking or a
// timed wait) leaves its waiter count behind, so every later handoff on
// that slot makes a futex wake syscall.  A creator killed before the ready
// mark leaves a name that open() rejects (not ready) and create() cannot
// reuse (it exists) until someone unlink()s it.
//
// Representation: line 0 of the segment is the header (ready mark and
// layout: format version, kind and size of T, N, the queue's size and the
// cache line, each compared by open()), then the queue (sizeof(queue_type),
// whole cache lines).
//
// Costs: as Queue, except that a handoff to a sleeper wakes every sleeper of
// that slot (no futex channels in Boost's process-shared wait/notify).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>

#include <boost/atomic/ipc_atomic_ref.hpp>

#include "cubby/detail/order.hpp"
#include "cubby/platform/cache_line.hpp"
#include "cubby/platform/ipc.hpp"
#include "cubby/queue.hpp"

namespace cubby {

template <class T, std::size_t N>
class SharedQueue {
  static_assert(std::is_integral_v<T>, "SharedQueue<T, N>: T must be an integral type");

 public:
  using queue_type = FixedQueue<T, N, platform::IpcPlatform>;

  // create: a new segment `name` (e.g. "/my-queue") holding an empty queue.
  // Throws std::invalid_argument for a name that is not '/' then 1 to 254
  // characters other than '/' (platform::SharedMemory), std::system_error
  // if the name exists or the segment cannot be made.
  static SharedQueue create(const std::string& name) {
    platform::SharedMemory mem = platform::SharedMemory::create(name, segment_size());
    // The ready mark is not constructed: an open() may already read it (the
    // segment is visible once sized), and it is zero from the kernel.
    ::new (layout_address(mem.data())) Layout(expected_layout());
    ::new (queue_address(mem.data())) queue_type();
    // [Q3] release: publishes the layout and the constructed queue to open();
    // pairs with [Q4].
    ready_mark(mem.data()).store(kReady, platform::to_boost(CUBBY_ORDER(Q3, std::memory_order_release)));
    return SharedQueue(std::move(mem));
  }

  // open: the queue in the existing segment `name`.  Throws
  // std::invalid_argument for an invalid name (as create),
  // std::system_error if there is none, std::runtime_error if it was made for
  // another T or N, or if it is not ready within `wait`.
  static SharedQueue open(const std::string& name, std::chrono::milliseconds wait = std::chrono::seconds(5)) {
    const auto deadline = platform::deadline_after(wait);
    // The creator may not have sized the segment yet: that wait counts too.
    platform::SharedMemory mem = platform::SharedMemory::open(name, segment_size(), wait);
    // [Q4] acquire: pairs with [Q3]: the creator's construction of the layout
    // and of the queue happens-before our reads of them.
    while (ready_mark(mem.data()).load(platform::to_boost(CUBBY_ORDER(Q4, std::memory_order_acquire))) != kReady) {
      if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("cubby::SharedQueue: '" + name + "' is not ready");
      std::this_thread::sleep_for(std::chrono::microseconds(100));  // the creator constructs the queue: not a spin
    }
    const Layout& layout = *std::launder(reinterpret_cast<const Layout*>(layout_address(mem.data())));
    if (!(layout == expected_layout())) {
      throw std::runtime_error("cubby::SharedQueue: '" + name + "' holds another queue type (" + describe(layout) +
                               "; this is " + describe(expected_layout()) + ")");
    }
    return SharedQueue(std::move(mem));
  }

  // unlink: removes the name now (the creator's handle does it on
  // destruction anyway); false if it did not exist.
  static bool unlink(const std::string& name) noexcept { return platform::SharedMemory::unlink(name); }

  queue_type& operator*() const noexcept { return *queue_; }
  queue_type* operator->() const noexcept { return queue_; }
  const std::string& name() const noexcept { return memory_.name(); }

 private:
  static constexpr std::uint32_t kReady = 0x43554242u;  // "CUBB"

  // Layout: what open() compares, field by field, with what it expects.
  // kind: 1 bool (whose other bit patterns are not values), 2 signed, 3
  // unsigned; format: the version of this header and of FixedQueue's layout.
  struct Layout {
    std::uint32_t format = 0, kind = 0;
    std::uint64_t capacity = 0, queue_bytes = 0;
    std::uint32_t value_size = 0, value_align = 0, cache_line = 0, padding = 0;
    friend constexpr bool operator==(const Layout&, const Layout&) = default;
  };
  // The header (line 0): the ready mark at offset 0, a 32-bit word that is
  // never constructed or written non-atomically (the kernel zero-fills the
  // segment; both sides reach it through an ipc_atomic_ref), and the Layout
  // at offset 8, constructed by create() before the mark.
  static constexpr std::size_t kLayoutOffset = 8;
  static_assert(kLayoutOffset % alignof(Layout) == 0 && kLayoutOffset + sizeof(Layout) <= platform::cache_line_size);
  static boost::atomics::ipc_atomic_ref<std::uint32_t> ready_mark(void* base) noexcept {
    static_assert(boost::atomics::ipc_atomic_ref<std::uint32_t>::is_always_lock_free);
    return boost::atomics::ipc_atomic_ref<std::uint32_t>(*std::launder(static_cast<std::uint32_t*>(base)));
  }
  static void* layout_address(void* base) noexcept { return static_cast<unsigned char*>(base) + kLayoutOffset; }

  // 3: the queue closes by tickets (its closed word's bits and close()'s
  // tickets in the config line changed meaning).
  static constexpr std::uint32_t kFormat = 3;
  static constexpr Layout expected_layout() noexcept {
    return Layout{kFormat,
                  std::is_same_v<T, bool> ? 1u : std::is_signed_v<T> ? 2u : 3u,
                  N,
                  sizeof(queue_type),
                  sizeof(T),
                  alignof(T),
                  static_cast<std::uint32_t>(platform::cache_line_size),
                  0};
  }
  static std::string describe(const Layout& l) {
    static constexpr const char* kKinds[] = {"?", "bool", "signed", "unsigned"};
    return "format " + std::to_string(l.format) + ", " + (l.kind < 4 ? kKinds[l.kind] : "?") + " " +
           std::to_string(l.value_size) + "-byte values, capacity " + std::to_string(l.capacity) + ", " +
           std::to_string(l.queue_bytes) + " bytes";
  }
  static constexpr std::size_t segment_size() noexcept { return platform::cache_line_size + sizeof(queue_type); }
  static void* queue_address(void* base) noexcept { return static_cast<unsigned char*>(base) + platform::cache_line_size; }

  explicit SharedQueue(platform::SharedMemory mem) noexcept
      : memory_(std::move(mem)), queue_(std::launder(reinterpret_cast<queue_type*>(queue_address(memory_.data())))) {}

  platform::SharedMemory memory_;
  queue_type* queue_;
};

}  // namespace cubby
