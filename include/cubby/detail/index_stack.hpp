// cubby/detail/index_stack.hpp: a lock-free bounded stack of pointers, built
// from two Treiber stacks of node indices with tagged heads.  The free list
// of the message pool (message_pool.hpp).
//
// The index+tag head follows Boost.Lockfree's tagged_index freelist and
// folly's IndexedMemPool; the node array is never freed while the stack
// lives, so a node read after it was recycled is still readable memory (the
// tag makes the stale CAS fail).
//
// Contract
// --------
// PtrStack<T, Platform> holds at most capacity() non-null T*.  push(p) stores
// p and returns true, or returns false (nothing changed) if the stack is full;
// pop() returns the most recently pushed pointer still there, or null if
// empty.  Both are lock-free, never allocate, never throw, and are
// linearizable.  A push happens-before the pop that returns its pointer
// ([P1] -> [P2]), so whatever the pusher wrote through the pointer before
// push() is visible to the popper.
//
// Representation
// --------------
//   nodes_: capacity nodes {next index, the pointer}.
//   full_:  head of the stack of nodes holding a pointer.
//   free_:  head of the stack of empty nodes (all of them at construction).
//   Each head is one 64-bit word:
//
//     63                 32 31                  0
//     +--------------------+--------------------+
//     |   tag (32 bits)    |  index + 1 (0=nil) |
//     +--------------------+--------------------+
//
//   Every successful CAS on a head adds 1 to its tag (mod 2^32), so a thread
//   that read head (i, tag) and was overtaken by a pop of i and a push of i
//   fails its CAS (ABA) unless exactly 2^32 operations on that head happened
//   in between.  Node `next` fields are atomics: a popper may read the next
//   of a node that another thread is re-pushing; its CAS then fails.
//
// Costs: push = a CAS on free_ and a CAS on full_; pop the same the other way
// round.  No syscall, no allocation after construction.
#pragma once

#include <cstddef>
#include <atomic>
#include <cstdint>
#include <memory_resource>
#include <new>
#include <stdexcept>

#include "cubby/detail/order.hpp"
#include "cubby/platform/cache_line.hpp"

namespace cubby::detail {

template <class T, class Platform>
class PtrStack {
 public:
  using Word = std::uint64_t;
  static constexpr std::size_t max_capacity = 0xFFFFFFFEu;

  // PtrStack(capacity, resource): allocates the node array from `resource`
  // (throws what it throws; std::length_error beyond max_capacity).
  PtrStack(std::size_t capacity, std::pmr::memory_resource* resource) : resource_(resource), capacity_(capacity) {
    if (capacity > max_capacity) throw std::length_error("cubby::detail::PtrStack: capacity too large");
    if (capacity_ != 0) {
      nodes_ = static_cast<Node*>(resource_->allocate(capacity_ * sizeof(Node), alignof(Node)));
      for (std::size_t i = 0; i < capacity_; ++i) {
        // Chain every node into the free stack: node i -> node i + 1.
        ::new (static_cast<void*>(nodes_ + i)) Node(i + 1 < capacity_ ? static_cast<std::uint32_t>(i + 2) : 0u);
      }
      free_->store(1, std::memory_order_relaxed);  // relaxed: construction, published by the owner's hand-off
    }
  }
  ~PtrStack() {
    for (std::size_t i = 0; i < capacity_; ++i) nodes_[i].~Node();
    if (nodes_ != nullptr) resource_->deallocate(nodes_, capacity_ * sizeof(Node), alignof(Node));
  }
  PtrStack(const PtrStack&) = delete;
  PtrStack& operator=(const PtrStack&) = delete;

  std::size_t capacity() const noexcept { return capacity_; }

  // push: false if full (p stays with the caller).
  bool push(T* p) noexcept {
    const std::uint32_t n = pop_node(*free_);
    if (n == 0) return false;
    // Plain store: this thread owns node n (popped from free_); the popper
    // that later takes it from full_ reads it after [P2].
    nodes_[n - 1].ptr.store(p);
    // acq_rel: release publishes the pointer ([P1]); acquire lets a caller
    // order itself against synchronize() ([P3]).
    push_node(*full_, n, CUBBY_ORDER(P1, std::memory_order_acq_rel));
    return true;
  }
  // pop: null if empty.
  T* pop() noexcept {
    const std::uint32_t n = pop_node(*full_);
    if (n == 0) return nullptr;
    T* p = nodes_[n - 1].ptr.load();
    // [P1] release: orders the read above before the node's next owner
    // writes it (it pops the node from free_ with [P2]).
    push_node(*free_, n, CUBBY_ORDER(P1, std::memory_order_release));
    return p;
  }

  // synchronize: an acq_rel read-modify-write of the full head that changes
  // nothing.  [P3]: every push's CAS on that head is an RMW too, so for each
  // push either its CAS precedes this one in the head's modification order
  // (and the push happens-before the caller's later operations: a pop after
  // synchronize() finds the pointer unless another pop took it), or it
  // follows (and everything the caller did before synchronize() happens-before
  // the pusher's operations after its push).  The message pool's shutdown
  // uses this against concurrent puts; no fence needed.
  void synchronize() noexcept { (void)full_->fetch_add(0, CUBBY_ORDER(P3, std::memory_order_acq_rel)); }

 private:
  struct Node {
    explicit Node(std::uint32_t n) noexcept : next(n) {}
    typename Platform::template atomic<std::uint32_t> next;  // index + 1 of the node below, 0 = nil
    typename Platform::template cell<T*> ptr;
  };

  static constexpr std::uint32_t index_of(Word w) noexcept { return static_cast<std::uint32_t>(w); }
  static constexpr Word next_tag(Word w) noexcept { return ((w >> 32) + 1) << 32; }

  using Head = typename Platform::template atomic<Word>;

  void push_node(Head& head, std::uint32_t n, std::memory_order success) noexcept {
    // relaxed: a guess for the CAS, which validates it.
    Word h = head.load(std::memory_order_relaxed);
    for (;;) {
      // relaxed: published by the CAS below ([P1]).
      nodes_[n - 1].next.store(index_of(h), std::memory_order_relaxed);
      // [P1] release (`success`, given by the caller): publishes the node's
      // next and pointer, and everything the pusher wrote before (the
      // message), to the thread that pops this node; pairs with [P2].  Later
      // CASes on the head are RMWs, so they continue the release sequence.
      if (head.compare_exchange_weak(h, next_tag(h) | n, success, std::memory_order_relaxed)) {
        return;
      }
    }
  }

  std::uint32_t pop_node(Head& head) noexcept {
    // [P2] acquire: pairs with [P1]: the pusher of the head node (and of
    // every node below it) happens-before our read of its next and pointer.
    Word h = head.load(CUBBY_ORDER(P2, std::memory_order_acquire));
    for (;;) {
      const std::uint32_t n = index_of(h);
      if (n == 0) return 0;
      // relaxed: ordered by [P2]; if node n was popped and re-pushed since we
      // read h, this may be stale, and the tag makes the CAS fail.
      const std::uint32_t below = nodes_[n - 1].next.load(std::memory_order_relaxed);
      // [P2] acquire (success and failure): pairs with [P1]: the node and
      // the pointer it holds were published by the push that linked it.
      // [P2] acquire on success: the node we take; on failure: the new head
      // read for the next attempt.  Both pair with [P1].
      const auto on_success = CUBBY_ORDER(P2, std::memory_order_acquire);
      // [P2] acquire, as above (the failure half).
      const auto on_failure = CUBBY_ORDER(P2, std::memory_order_acquire);
      if (head.compare_exchange_weak(h, next_tag(h) | below, on_success, on_failure)) {
        return n;
      }
    }
  }

  std::pmr::memory_resource* resource_;
  std::size_t capacity_;
  Node* nodes_ = nullptr;
  platform::CachePadded<Head> full_{Word{0}};
  platform::CachePadded<Head> free_{Word{0}};
};

}  // namespace cubby::detail
