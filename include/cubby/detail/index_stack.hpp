// cubby/detail/index_stack.hpp: a lock-free Treiber stack of node indices
// with a tagged head, over a node array that lives as long as the stack.
// The pool of the message engine (message_pool.hpp).
//
// The index+tag head follows Boost.Lockfree's tagged_index freelist and
// folly's IndexedMemPool; the node array is never freed while the stack
// lives, so a node read after it was recycled is still readable memory (the
// tag makes the stale CAS fail).
//
// Contract
// --------
// IndexStack<T, Platform> has capacity() nodes, with ids 1..capacity (0 is
// "no node").  A node is bound to one non-null T* for good:
//   claim(p)  binds p to a node never claimed before and returns its id, or
//             0 if every node is taken.  Nodes are never released: the stack
//             holds at most capacity() distinct pointers, ever.
//   push(id)  puts the pointer of node `id` on the stack.  Precondition: id
//             was claimed and is not on the stack (its pointer's owner
//             pushes it once, and again only after a pop returned it).  Never
//             fails: there is a node for each pointer.
//   pop()     takes the most recently pushed pointer still there, or null.
// All three are lock-free, never allocate, never throw, and push and pop are
// linearizable.  A push happens-before the pop that returns its pointer
// ([P1] -> [P2]), so whatever the pusher wrote through the pointer before
// push() is visible to the popper.  The pointee may be destroyed once its
// id will never be pushed again: the node keeps the stale pointer, unread.
//
// Representation
// --------------
//   nodes_:   capacity nodes {next id, the bound pointer}.
//   head_:    the top of the stack, one 64-bit word:
//
//     63                 32 31                  0
//     +--------------------+--------------------+
//     |   tag (32 bits)    |  id (0 = empty)    |
//     +--------------------+--------------------+
//
//   Every successful CAS on the head adds 1 to its tag (mod 2^32), so a
//   thread that read head (i, tag) and was overtaken by a pop of i and a
//   push of i fails its CAS (ABA) unless exactly 2^32 operations on the head
//   happened in between.  Node `next` fields are atomics: a popper may read
//   the next of a node that another thread is re-pushing; its CAS then fails.
//   claimed_: how many nodes are bound (nodes 1..claimed_); only grows.
//
// Costs: push = one CAS on the head (plus a relaxed load and store); pop =
// one CAS (plus an acquire load of the head and a relaxed load of a next).
// claim = one CAS on claimed_ while nodes remain, a relaxed load after.
// No syscall, no allocation after construction.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <new>
#include <stdexcept>

#include "cubby/detail/order.hpp"
#include "cubby/platform/cache_line.hpp"

namespace cubby::detail {

template <class T, class Platform>
class IndexStack {
 public:
  using Word = std::uint64_t;
  static constexpr std::size_t max_capacity = 0xFFFFFFFEu;

  // IndexStack(capacity, resource): allocates the node array from `resource`
  // (throws what it throws; std::length_error beyond max_capacity).
  IndexStack(std::size_t capacity, std::pmr::memory_resource* resource) : resource_(resource), capacity_(capacity) {
    if (capacity > max_capacity) throw std::length_error("cubby::detail::IndexStack: capacity too large");
    if (capacity_ != 0) {
      nodes_ = static_cast<Node*>(resource_->allocate(capacity_ * sizeof(Node), alignof(Node)));
      for (std::size_t i = 0; i < capacity_; ++i) ::new (static_cast<void*>(nodes_ + i)) Node();
    }
  }
  ~IndexStack() {
    for (std::size_t i = 0; i < capacity_; ++i) nodes_[i].~Node();
    if (nodes_ != nullptr) resource_->deallocate(nodes_, capacity_ * sizeof(Node), alignof(Node));
  }
  IndexStack(const IndexStack&) = delete;
  IndexStack& operator=(const IndexStack&) = delete;

  std::size_t capacity() const noexcept { return capacity_; }

  // claim: the id of a fresh node now bound to p, or 0 if none is left.
  std::uint32_t claim(T* p) noexcept {
    // relaxed (load and CAS): the counter only has to hand each id out once,
    // which the atomicity of the RMW on this one word gives.  The node it
    // names is the claimer's alone until the claimer pushes it, and that
    // push ([P1]) publishes what is written here.
    std::uint32_t n = claimed_->load(std::memory_order_relaxed);
    for (;;) {
      if (n == capacity_) return 0;
      // relaxed: as the load above; only RMW atomicity is needed.
      if (claimed_->compare_exchange_weak(n, n + 1, std::memory_order_relaxed, std::memory_order_relaxed)) break;
    }
    nodes_[n].ptr.store(p);  // plain: node n + 1 is ours (see above)
    return n + 1;
  }

  // push: puts the pointer bound to node `id` on the stack.
  void push(std::uint32_t id) noexcept {
    // relaxed: a guess for the CAS, which validates it.
    Word h = head_->load(std::memory_order_relaxed);
    for (;;) {
      // relaxed: published by the CAS below ([P1]).
      nodes_[id - 1].next.store(index_of(h), std::memory_order_relaxed);
      // [P1] release: publishes the node's next and everything the pusher
      // wrote before (the pointer bound at claim(), the pointee's contents)
      // to the thread that pops this node; pairs with [P2].  Later CASes on
      // the head are RMWs, so they continue the release sequence.  Acquire
      // too, so that a caller orders itself against synchronize() ([P3]).
      // Failure relaxed: the new head is again only a guess.
      const auto on_success = CUBBY_ORDER(P1, std::memory_order_acq_rel);
      // relaxed (failure): see above.
      if (head_->compare_exchange_weak(h, next_tag(h) | id, on_success, std::memory_order_relaxed)) return;
    }
  }

  // pop: the most recently pushed pointer still on the stack, or null.
  T* pop() noexcept {
    // [P2] acquire: pairs with [P1]: the pusher of the head node (and of
    // every node below it) happens-before our read of its next.
    Word h = head_->load(CUBBY_ORDER(P2, std::memory_order_acquire));
    for (;;) {
      const std::uint32_t n = index_of(h);
      if (n == 0) return nullptr;
      // relaxed: ordered by [P2]; if node n was popped and re-pushed since we
      // read h, this may be stale, and the tag makes the CAS fail.
      const std::uint32_t below = nodes_[n - 1].next.load(std::memory_order_relaxed);
      // Plain, and before the CAS so that it overlaps it: written once, by
      // claim() before the node was first pushed, so ordered before this by
      // [P1] -> [P2] even when h is stale (the node was pushed to be in h).
      T* const p = nodes_[n - 1].ptr.load();
      // [P2] acquire on success: the node we take, published by the push
      // that linked it ([P1]).  [P6] release: a thread that later reads the
      // head we leave (the message pool's emptiness check, see
      // message_pool.hpp) sees everything that happened before this pop.
      const auto on_success = CUBBY_ACQ_REL(P2, P6);
      // [P2] acquire on failure: the new head read for the next attempt,
      // whose next we read next; pairs with [P1] as above.
      const auto on_failure = CUBBY_ORDER(P2, std::memory_order_acquire);
      if (head_->compare_exchange_weak(h, next_tag(h) | below, on_success, on_failure)) return p;
    }
  }

  // version: the head word, id and tag.  Every successful push or pop
  // changes it (the tag counts them, mod 2^32), so two equal reads mean no
  // push or pop took effect in between.  [P6] acquire: pairs with the pops'
  // and pushes' release (see pop).
  Word version() const noexcept { return head_->load(CUBBY_ORDER(P6, std::memory_order_acquire)); }
  static constexpr std::uint32_t id_of(Word w) noexcept { return index_of(w); }

  // pointer: the pointer bound to node `id` (by claim(), which happened
  // before the caller learned the id through a push/pop or the caller's own
  // publication of it).
  T* pointer(std::uint32_t id) const noexcept { return nodes_[id - 1].ptr.load(); }

  // synchronize: an acq_rel read-modify-write of the head that changes
  // nothing.  [P3]: every push's CAS on the head is an RMW too, so for each
  // push either its CAS precedes this one in the head's modification order
  // (and the push happens-before the caller's later operations: a pop after
  // synchronize() finds the pointer unless another pop took it), or it
  // follows (and everything the caller did before synchronize() happens-before
  // the pusher's operations after its push).  The message pool's shutdown
  // uses this against concurrent puts; no fence needed.
  void synchronize() noexcept { (void)head_->fetch_add(0, CUBBY_ORDER(P3, std::memory_order_acq_rel)); }

 private:
  struct Node {
    typename Platform::template atomic<std::uint32_t> next{0};  // id of the node below, 0 = none
    typename Platform::template cell<T*> ptr{nullptr};          // bound by claim(), never changed
  };

  static constexpr std::uint32_t index_of(Word w) noexcept { return static_cast<std::uint32_t>(w); }
  static constexpr Word next_tag(Word w) noexcept { return ((w >> 32) + 1) << 32; }

  std::pmr::memory_resource* resource_;
  std::size_t capacity_;
  Node* nodes_ = nullptr;
  platform::CachePadded<typename Platform::template atomic<Word>> head_{Word{0}};
  // Touched only when a message is created: off the head's line.
  platform::CachePadded<typename Platform::template atomic<std::uint32_t>> claimed_{std::uint32_t{0}};
};

}  // namespace cubby::detail
