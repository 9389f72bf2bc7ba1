// stress/harness/fault_resource.hpp: a std::pmr::memory_resource that counts
// what goes through it and fails on purpose, for workloads of primitives
// that allocate through a resource (the message pool).
//
// FaultyResource wraps an upstream resource (new_delete_resource() by
// default).  With fail_every(n), n > 0, every n-th call of allocate() (over
// all threads, counted from the last fail_every call) throws std::bad_alloc
// instead of allocating; with 0 it never fails.  It counts the bytes
// outstanding, the allocations, the deallocations and the injected failures,
// so that a workload can check, once its threads are joined or parked, that
// everything allocated was given back (bytes_outstanding() == 0 and
// allocations() == deallocations()) and that every injected failure was
// reported by exactly one caller.
//
// Thread-safe; every counter is a relaxed atomic (see the comments).  Must
// outlive every object allocating from it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <new>

namespace cubby::stress {

class FaultyResource final : public std::pmr::memory_resource {
 public:
  explicit FaultyResource(std::pmr::memory_resource* upstream = std::pmr::new_delete_resource()) noexcept
      : upstream_(upstream) {}
  FaultyResource(const FaultyResource&) = delete;
  FaultyResource& operator=(const FaultyResource&) = delete;

  // fail_every: from now on every n-th allocate() throws (0: none).  Call it
  // while no other thread allocates (the workloads do between two barrier
  // phases, which order it before the workers' next allocation).
  void fail_every(std::uint64_t n) noexcept {
    // relaxed (both): see the comment above; the barrier publishes them.
    calls_.store(0, std::memory_order_relaxed);
    fail_every_.store(n, std::memory_order_relaxed);
  }
  std::uint64_t failing_every() const noexcept { return fail_every_.load(std::memory_order_relaxed); }  // relaxed: as above

  // The counters.  Exact once the threads using the resource are joined or
  // parked at a barrier (their updates happen-before that).
  std::int64_t bytes_outstanding() const noexcept { return bytes_.load(std::memory_order_relaxed); }
  std::uint64_t allocations() const noexcept { return allocations_.load(std::memory_order_relaxed); }
  std::uint64_t deallocations() const noexcept { return deallocations_.load(std::memory_order_relaxed); }
  std::uint64_t failures() const noexcept { return failures_.load(std::memory_order_relaxed); }

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    // relaxed: the n-th call needs only the atomicity of the increment (each
    // call gets a distinct number); no data is published through it.
    const std::uint64_t every = fail_every_.load(std::memory_order_relaxed);
    if (every != 0 && (calls_.fetch_add(1, std::memory_order_relaxed) + 1) % every == 0) {
      failures_.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic, read after the join
      throw std::bad_alloc();
    }
    void* p = upstream_->allocate(bytes, alignment);  // a genuine failure propagates, uncounted
    // relaxed (both): statistics, read after the join or a barrier.
    bytes_.fetch_add(static_cast<std::int64_t>(bytes), std::memory_order_relaxed);
    allocations_.fetch_add(1, std::memory_order_relaxed);
    return p;
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
    upstream_->deallocate(p, bytes, alignment);
    // relaxed (both): as in do_allocate.
    bytes_.fetch_sub(static_cast<std::int64_t>(bytes), std::memory_order_relaxed);
    deallocations_.fetch_add(1, std::memory_order_relaxed);
  }
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override { return this == &other; }

  std::pmr::memory_resource* upstream_;
  std::atomic<std::uint64_t> fail_every_{0};
  std::atomic<std::uint64_t> calls_{0};
  std::atomic<std::int64_t> bytes_{0};
  std::atomic<std::uint64_t> allocations_{0};
  std::atomic<std::uint64_t> deallocations_{0};
  std::atomic<std::uint64_t> failures_{0};
};

}  // namespace cubby::stress
