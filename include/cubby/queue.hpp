// cubby/queue.hpp: the bounded multi-producer multi-consumer queue, an array
// of cubby slots with ticket dispatch.
//
// The array-of-turn-slots design with 64-bit arrival tickets follows folly's
// MPMCQueue (itself a descendant of Vyukov's bounded MPMC queue); the turn
// word, its waiter channels and the promised tickets of timed operations are
// cubby's (detail/turn_slot.hpp, detail/ticket_dispatch.hpp).
//
// Contract
// --------
// Queue<T> holds at most capacity() values of any T that is nothrow
// move-constructible and nothrow move-assignable.  push() blocks while the
// queue is full, pop() while it is empty.  All members are thread-safe
// (except construction and destruction); the queue is a linearizable FIFO,
// close() included.  A queue of capacity 1 behaves as a Cubby (of a T that
// both accept), close included: tests/queue_test.cpp runs the same
// scenarios against both and compares their answers and pressure() over
// random single-threaded scripts, and model_check/cubby_close_model.cpp
// explores the same close scenarios against both.
//
// Arrival order: a blocking push or pop takes a ticket when it arrives;
// push k deposits the k-th value and pop k receives it.  Waiting pushers
// deposit and waiting poppers receive strictly in ticket order, and every
// thread that sleeps holds a ticket.
//
// Late claims: in a queue of capacity 2 or more, a thread that has lately
// had to yield (Platform::claim_late(); natively, for 64 operations after
// its last yield) claims its ticket late: it polls, spinning and yielding as
// a wait does, until the next ticket's slot is at that ticket's turn, takes
// the ticket then (a CAS) and completes at once.  Only when the spin budget
// is spent does it take a ticket and wait in line, sleeping unless its turn
// has come: the operation spins its budget once, polling or waiting.  With
// more threads than cores, a descheduled thread that holds a ticket stalls
// the threads behind it on its slot; a polling thread holds none.  A late
// claim only delays the moment the ticket is taken, so FIFO and
// linearizability are those of tickets taken on arrival; what it gives up
// is arrival order among threads still polling (bounded by the spin
// budget), and pressure() does not count them.  A queue of capacity 1
// always takes tickets on arrival, as a Cubby.
//
// Timed and try operations take a ticket only once it is *promised* (for a
// push: fewer than capacity() values or pushes ahead of it not yet claimed by
// a pop; for a pop: a push already arrived for it); a timeout leaves nothing
// behind.  Once promised they complete after at most the handoffs of threads
// already in line (a pop whose pusher has its ticket but has not yet stored
// the value waits for it).  See Cubby for the full argument.
//
// Values: a push moves the value in; a push that fails (full, timeout,
// closed) leaves the caller's value exactly as it was (an rvalue argument is
// moved back).  The overloads taking const T& push a copy.  The destructor
// destroys the values still in the queue.  A pop moves the value out of its
// slot (T's move constructor, inside its turn), hands the slot on, and only
// then assigns it to the receiver: the receiver's old value is destroyed
// outside the turn, so its destructor may use this queue (a handle that
// gives its resource back to a free list; tests/queue_test.cpp,
// QueueReentry).  T's move constructor must not use the queue.
//
// close(): every waiter wakes.  Afterwards pushes return Status::closed and
// keep their value; pops receive the values still in the queue, in order, then
// return closed.  Precisely, and linearizably, as the Cubby: close() takes
// effect at one point (its pop ticket P, see "The close rule" below).  A
// push that had its room at that point (it had arrived, and the pop
// `capacity` tickets before it had too) still deposits, even if its thread
// has not run yet, since try_push and friends had already counted its place;
// every other push still in line is refused and returns closed, keeping its
// value.  So the pushes that complete are a prefix of the push tickets: no
// value ever sits behind one that will not come.  `closed` from a pop is
// final: every value of a push that returns ok is received by the pop that
// holds its ticket, so consumers that pop until `closed` receive every such
// value, once.  An operation that meets a close() under way waits for its
// tickets (a few instructions of close(), longer only if the closer is
// preempted there) before it answers.  A timed operation waits too, past
// its deadline if it must: until the tickets are out it cannot tell whether
// it would complete, and timeout is an answer only for a queue open and
// full (push) or empty (pop).
//
// Bulk operations move n values with one ticket operation; the values occupy
// n consecutive positions of the FIFO (no other push interleaves, no other
// pop takes one of them; a pop_bulk that meets close drains one value at a
// time after its run, so those need not be consecutive):
//   try_push_bulk(span)   pushes the longest prefix that fits now; returns its
//                         length (the rest is untouched).
//   try_pop_bulk(span)    receives up to span.size() values there now.
//   push_bulk(span, &n)   pushes all, waiting for room; ok, or closed with the
//                         first n pushed and the rest untouched.
//   pop_bulk(span, &n)    waits for span.size() values; ok, or closed with the
//                         first n received and the queue drained.
//   push_bulk_for/until(span, t, &n)
//                         pushes all, waiting for room until the deadline; ok,
//                         or timeout/closed with the first n pushed and the
//                         rest untouched.  Each wait claims the promised
//                         tickets there are, so the values go in as runs of
//                         consecutive positions, other pushes possibly between
//                         runs.
//   pop_bulk_for/until(span, t, &n)
//                         waits until the deadline for at least one value,
//                         then receives up to span.size() values there then,
//                         as consecutive positions (before close); ok with
//                         n >= 1, or timeout/closed with n == 0.
//
// Progress: try operations and fast paths are lock-free except for the wait
// on a promised turn (a try operation may wait, as long as it takes the
// threads already in line on its slot to hand on, a preempted one included)
// and the wait for a close() under way to publish its tickets.
// Blocking waits spin briefly (platform::Backoff), then sleep on the slot's
// futex word; a handoff wakes only the thread whose turn it is (and any
// timed operation waiting on that slot for a promise, which re-checks;
// turns 31 apart share a futex channel, so with sleepers 16 laps or more
// apart on one slot a handoff may also wake one of a later lap, which sleeps
// again), and makes no syscall when nobody sleeps.
//
// Representation
// --------------
//   config (read-mostly line): the closed word and close()'s tickets F and P
//     (written once, by close()), and the slot array: for Queue<T, P> its
//     address, capacity and index shift on the same line; for FixedQueue the
//     N slots inline after it.
//   slots: capacity detail::TurnSlots, each padded to
//     platform::cache_line_size, so neighbouring tickets never share a line.
//   dispatch (two lines): push_ and pop_, the 64-bit ticket counters, each on
//     its own line, so a lone producer's and a lone consumer's counters stay
//     in their own caches; pressure() == push_ - pop_, less close()'s own
//     push ticket once it is published (k > capacity:
//     k - capacity pushers wait, k < 0: -k poppers wait; threads polling
//     for a late claim are not counted).  Arrivals write
//     these lines, handoffs the slot lines; the config line is only read, so
//     it stays shared in every cache.
//   Ticket t uses slot t mod capacity in lap t div capacity, with turns
//   TurnSlot::turn_for(lap, 0) (put) and turn_for(lap, 1) (take).  A power of
//   two capacity indexes with a mask and a shift, others with one division.
//   Queue<T, P> allocates the slots at construction; Queue<T, P, N> (alias
//   FixedQueue<T, N, P>) stores them inline, so the whole queue can live in
//   memory shared between processes, with a platform whose atomics and
//   futexes work across processes (platform::IpcPlatform, as SharedQueue
//   uses; the default NativePlatform's private futexes and membarrier do
//   not).
//   Tickets wrap modulo 2^64, turns modulo 2^31: seamless for every capacity
//   at the turn wrap, and at the ticket wrap for power-of-two capacities up
//   to 2^34 (2^64 / capacity laps must be a multiple of 2^30).  A queue of
//   another capacity would stall at the ticket wrap; starting at 0 it needs
//   2^64 operations, centuries, to reach it, and a StartTicket (which lets
//   tests start next to a wrap) above 2^63 is rejected for it.
//
// Costs (uncontended): push or pop = one load of the config line (a push
// loads it again: its close check), a thread-local read
// (Platform::claim_late), one fetch_add on its counter's line, and on the
// slot line one acquire load, one plain store, one load of the waiter word
// (the sleeper count) and the value move: no RMW and no fence on the slot
// (detail/turn_slot.hpp, Costs); no syscall unless a thread sleeps.
// sizeof(FixedQueue<T, N>) == (N + 3) * cache_line_size for T of up to
// cache_line_size - 16 bytes (the turn slot's three words take 16).
#pragma once

#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "cubby/detail/order.hpp"
#include "cubby/detail/ticket_dispatch.hpp"
#include "cubby/detail/turn_slot.hpp"
#include "cubby/platform/cache_line.hpp"
#include "cubby/platform/native.hpp"
#include "cubby/status.hpp"

namespace cubby {

// dynamic_capacity: the Capacity argument of a Queue whose capacity is given
// at construction.
inline constexpr std::size_t dynamic_capacity = std::numeric_limits<std::size_t>::max();

namespace detail {

// First lap of slot `i` when the counters start at `start`: the lap of the
// first ticket t >= start (mod 2^64) with t mod capacity == i.
inline std::uint64_t first_lap(std::uint64_t start, std::size_t i, std::size_t capacity) noexcept {
  const std::uint64_t cap = capacity;
  const std::uint64_t offset = (i + cap - start % cap) % cap;
  return (start + offset) / cap;
}

// checked_start: `start`, or std::invalid_argument if a queue of `capacity`
// starting there could reach the ticket wrap: 2^64 is not a multiple of a
// capacity that is not a power of two, so tickets 2^64 - 1 and 0 would use
// one slot in different laps (a stall).  Starting at most at 2^63 keeps the
// wrap 2^63 operations away.
inline std::uint64_t checked_start(std::uint64_t start, std::size_t capacity) {
  if (!std::has_single_bit(capacity) && start > (std::uint64_t{1} << 63)) {
    throw std::invalid_argument("cubby::Queue: start ticket " + std::to_string(start) + " with capacity " +
                                std::to_string(capacity) +
                                " (not a power of two) would reach the 2^64 ticket wrap mid-lap; "
                                "start at most at 2^63, or use a power-of-two capacity");
  }
  return start;
}

// QueueSlots: the slot array, heap-allocated (Capacity == dynamic_capacity) or
// inline (Capacity == N).  Slot i is constructed at its first lap.
template <class Slot, std::size_t Capacity>
class QueueSlots {
 public:
  using Padded = platform::CachePadded<Slot>;
  static_assert(Capacity > 0, "FixedQueue: capacity must be at least 1");

  QueueSlots(std::size_t /*capacity*/, std::uint64_t start) {
    (void)checked_start(start, Capacity);
    for (std::size_t i = 0; i < Capacity; ++i) {
      ::new (static_cast<void*>(&bytes_[i * sizeof(Padded)])) Padded(first_lap(start, i, Capacity));
    }
  }
  ~QueueSlots() {
    for (std::size_t i = 0; i < Capacity; ++i) slot(i).~Padded();
  }
  QueueSlots(const QueueSlots&) = delete;
  QueueSlots& operator=(const QueueSlots&) = delete;

  static constexpr std::size_t capacity() noexcept { return Capacity; }
  Padded& slot(std::size_t i) noexcept { return *std::launder(reinterpret_cast<Padded*>(&bytes_[i * sizeof(Padded)])); }
  const Padded& slot(std::size_t i) const noexcept {
    return *std::launder(reinterpret_cast<const Padded*>(&bytes_[i * sizeof(Padded)]));
  }
  // The slot and lap of ticket t: division by a constant (a shift for powers
  // of two).
  std::size_t index(std::uint64_t t) const noexcept { return static_cast<std::size_t>(t % Capacity); }
  std::uint64_t lap(std::uint64_t t) const noexcept { return t / Capacity; }

 private:
  alignas(Padded) unsigned char bytes_[Capacity * sizeof(Padded)];
};

template <class Slot>
class QueueSlots<Slot, dynamic_capacity> {
 public:
  using Padded = platform::CachePadded<Slot>;

  QueueSlots(std::size_t capacity, std::uint64_t start)
      : capacity_(checked(capacity, start)),
        shift_(log2_if_power_of_two(capacity)),
        mask_(shift_ >= 0 ? capacity - 1 : 0),
        slots_(static_cast<Padded*>(::operator new(capacity * sizeof(Padded), std::align_val_t{alignof(Padded)}))) {
    for (std::size_t i = 0; i < capacity_; ++i) ::new (static_cast<void*>(slots_ + i)) Padded(first_lap(start, i, capacity_));
  }
  ~QueueSlots() {
    for (std::size_t i = 0; i < capacity_; ++i) slots_[i].~Padded();
    ::operator delete(slots_, std::align_val_t{alignof(Padded)});
  }
  QueueSlots(const QueueSlots&) = delete;
  QueueSlots& operator=(const QueueSlots&) = delete;

  std::size_t capacity() const noexcept { return capacity_; }
  Padded& slot(std::size_t i) noexcept { return slots_[i]; }
  const Padded& slot(std::size_t i) const noexcept { return slots_[i]; }
  std::size_t index(std::uint64_t t) const noexcept {
    return shift_ >= 0 ? static_cast<std::size_t>(t & mask_) : static_cast<std::size_t>(t % capacity_);
  }
  std::uint64_t lap(std::uint64_t t) const noexcept { return shift_ >= 0 ? t >> shift_ : t / capacity_; }

 private:
  static std::size_t checked(std::size_t capacity, std::uint64_t start) {
    if (capacity == 0) throw std::invalid_argument("cubby::Queue: capacity must be at least 1, got 0");
    (void)checked_start(start, capacity);
    if (capacity > std::numeric_limits<std::size_t>::max() / sizeof(Padded) / 2) {
      throw std::invalid_argument("cubby::Queue: capacity " + std::to_string(capacity) + " is too large");
    }
    return capacity;
  }
  static int log2_if_power_of_two(std::size_t capacity) noexcept {
    return std::has_single_bit(capacity) ? std::countr_zero(capacity) : -1;
  }

  std::size_t capacity_;
  int shift_;  // log2(capacity) for a power of two, else -1
  std::uint64_t mask_;
  Padded* slots_;
};

}  // namespace detail

template <class T, class Platform = DefaultPlatform, std::size_t Capacity = dynamic_capacity>
class Queue {
  static_assert(std::is_nothrow_move_constructible_v<T>, "Queue<T>: T must be nothrow move constructible");
  static_assert(std::is_nothrow_move_assignable_v<T>, "Queue<T>: T must be nothrow move assignable");
  static_assert(std::is_nothrow_destructible_v<T>, "Queue<T>: T must be nothrow destructible");

  using Slot = detail::TurnSlot<T, Platform>;
  using Slots = detail::QueueSlots<Slot, Capacity>;

 public:
  using value_type = T;
  using clock = std::chrono::steady_clock;
  static constexpr bool fixed_capacity = Capacity != dynamic_capacity;

  // Queue(capacity): a queue of `capacity` slots (dynamic form only).
  // Throws std::invalid_argument if capacity is 0 (or absurdly large), or
  // for a start ticket that could reach the ticket wrap with a capacity that
  // is not a power of two (see Representation); std::bad_alloc if the slots
  // cannot be allocated.
  explicit Queue(std::size_t capacity)
    requires(!fixed_capacity)
      : Queue(capacity, StartTicket{}) {}
  Queue(std::size_t capacity, StartTicket start)
    requires(!fixed_capacity)
      : config_(capacity, start.value), push_(start.value), pop_(start.value) {}
  // Queue(): the fixed form, Capacity inline slots.
  Queue() noexcept
    requires(fixed_capacity)
      : Queue(StartTicket{}) {}
  // Throws std::invalid_argument for a start that could reach the ticket
  // wrap with a capacity that is not a power of two (see Representation).
  explicit Queue(StartTicket start)
    requires(fixed_capacity)
      : config_(Capacity, start.value), push_(start.value), pop_(start.value) {}

  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;

  // ~Queue: destroys the values still in the queue.  No operation may run.
  ~Queue() {
    for (std::size_t i = 0; i < capacity(); ++i) {
      Slot& s = *config_->slots.slot(i);
      if (s.holds_value_quiescent()) s.destroy_value_quiescent();
    }
  }

  std::size_t capacity() const noexcept { return config_->slots.capacity(); }

  // push: deposits v, waiting (in ticket order; see Arrival order) while the
  // queue is full.
  // ok, or closed (v left with the caller).
  Status push(T&& v) noexcept {
    std::uint64_t t = 0;
    typename Slot::Backoff spent;
    if (!arrive(0, t, spent)) return Status::closed;
    return put(t, v, spent);
  }
  Status push(const T& v) noexcept(std::is_nothrow_copy_constructible_v<T>) {
    T copy(v);
    return push(std::move(copy));
  }
  // pop: receives the next value, waiting (in ticket order) while the queue
  // is empty.  ok, or closed (closed and drained; `out` untouched).
  Status pop(T& out) noexcept {
    std::uint64_t t = 0;
    typename Slot::Backoff spent;
    if (!arrive(1, t, spent)) return drain_closed(out);
    auto sink = [&out](T&& v) noexcept { out = std::move(v); };
    return take(t, sink, spent);  // closed: t is past every admitted push, so is every later ticket
  }

  // try_push: deposits v if there is room now (see Contract: promised).
  // false if full or closed; v is then left with the caller.  is_closed()
  // tells the two apart: closing is final, so once it returns true no later
  // push succeeds.  push_for(v, 0s) is the try that says which: ok,
  // timeout (full) or closed.
  [[nodiscard]] bool try_push(T&& v) noexcept { return timed_push(v, nullptr) == Status::ok; }
  [[nodiscard]] bool try_push(const T& v) noexcept(std::is_nothrow_copy_constructible_v<T>) {
    T copy(v);
    return try_push(std::move(copy));
  }
  // try_pop: the next value if one is there now (or a push already in line
  // will deliver it); nullopt if empty, or closed and drained.
  [[nodiscard]] std::optional<T> try_pop() noexcept {
    std::optional<T> out;
    (void)timed_pop_with(nullptr, [&out](T&& v) noexcept { out.emplace(std::move(v)); });
    return out;
  }

  // Timed forms: ok, timeout (nothing changed, v left with the caller) or
  // closed.  A deadline in the past still succeeds if the operation is ready.
  template <class Rep, class Period>
  Status push_for(T&& v, std::chrono::duration<Rep, Period> timeout) noexcept {
    return push_until(std::move(v), platform::deadline_after(timeout));
  }
  template <class Rep, class Period>
  Status push_for(const T& v, std::chrono::duration<Rep, Period> timeout) noexcept(std::is_nothrow_copy_constructible_v<T>) {
    T copy(v);
    return push_until(std::move(copy), platform::deadline_after(timeout));
  }
  Status push_until(T&& v, clock::time_point deadline) noexcept { return timed_push(v, &deadline); }
  Status push_until(const T& v, clock::time_point deadline) noexcept(std::is_nothrow_copy_constructible_v<T>) {
    T copy(v);
    return timed_push(copy, &deadline);
  }
  template <class Rep, class Period>
  Status pop_for(T& out, std::chrono::duration<Rep, Period> timeout) noexcept {
    return pop_until(out, platform::deadline_after(timeout));
  }
  Status pop_until(T& out, clock::time_point deadline) noexcept {
    return timed_pop_with(&deadline, [&out](T&& v) noexcept { out = std::move(v); });
  }

  // try_push_bulk: moves the longest prefix of `values` that fits now into
  // the queue, as consecutive FIFO positions; returns its length.  The rest of
  // `values` is untouched.  0 if full or closed.
  [[nodiscard]] std::size_t try_push_bulk(std::span<T> values) noexcept {
    if (closed_flag() || values.empty()) return 0;
    std::uint64_t first = 0;
    const auto n = dispatch().try_take_promised_push_n(signed_capacity(), values.size(), first);
    return put_run(first, values.first(static_cast<std::size_t>(n)));
  }
  // try_pop_bulk: receives up to out.size() values that are there now (or
  // promised by pushes in line) into out[0, count), in FIFO order; returns
  // count.  0 if empty, or closed and drained.
  [[nodiscard]] std::size_t try_pop_bulk(std::span<T> out) noexcept {
    std::size_t got = 0;
    while (got < out.size()) {
      std::uint64_t first = 0;
      // After close, only the tickets the close rule admits (see drain_closed).
      const std::uint64_t n = closed_flag() ? dispatch().try_take_pops_before(admitted_end(), out.size() - got, first)
                                            : dispatch().try_take_promised_pop_n(out.size() - got, first);
      if (n == 0) break;
      const std::size_t took = take_run(first, static_cast<std::size_t>(n), out.subspan(got));
      got += took;
      // A ticket the rule refused (the claim raced close()): every later one
      // is refused too.
      if (took != n) break;
    }
    return got;
  }
  // push_bulk: pushes every value, waiting for room, as consecutive FIFO
  // positions.  ok: all pushed.  closed: values[0, *pushed) went in, the rest
  // are untouched.  `pushed` may be null.
  Status push_bulk(std::span<T> values, std::size_t* pushed = nullptr) noexcept {
    std::size_t done = 0;
    if (!closed_flag() && !values.empty()) done = put_run(dispatch().take_push_n(values.size()), values);
    if (pushed != nullptr) *pushed = done;
    return done == values.size() ? Status::ok : Status::closed;
  }
  // pop_bulk: waits for out.size() values (the next ones in arrival order),
  // received into out in FIFO order.  ok: all received.  closed: the queue is
  // closed and drained, out[0, *popped) received.  `popped` may be null.
  Status pop_bulk(std::span<T> out, std::size_t* popped = nullptr) noexcept {
    std::size_t got = 0;
    if (!closed_flag() && !out.empty()) got = take_run(dispatch().take_pop_n(out.size()), out.size(), out);
    while (got < out.size() && drain_closed(out[got]) == Status::ok) ++got;
    if (popped != nullptr) *popped = got;
    return got == out.size() ? Status::ok : Status::closed;
  }

  // push_bulk_for, push_bulk_until: as push_bulk, waiting for room no later
  // than the deadline; tickets are claimed only once promised, as for
  // push_for (a timeout leaves nothing behind), as many at a time as are
  // promised.  ok: all pushed.  timeout or closed: values[0, *pushed) went in
  // (in order), the rest are untouched.  A deadline in the past still pushes
  // what fits now.
  template <class Rep, class Period>
  Status push_bulk_for(std::span<T> values, std::chrono::duration<Rep, Period> timeout,
                       std::size_t* pushed = nullptr) noexcept {
    return push_bulk_until(values, platform::deadline_after(timeout), pushed);
  }
  Status push_bulk_until(std::span<T> values, clock::time_point deadline, std::size_t* pushed = nullptr) noexcept {
    std::size_t done = 0;
    Status s = Status::ok;
    while (done < values.size()) {
      std::uint64_t first = 0;
      std::uint64_t n = 0;
      s = claim(&deadline, first, [&](std::uint64_t& t) {
        n = dispatch().try_take_promised_push_n(signed_capacity(), values.size() - done, t);
        return n != 0;
      });
      if (s != Status::ok) break;
      const std::size_t put = put_run(first, values.subspan(done, static_cast<std::size_t>(n)));
      done += put;
      if (put != n) {
        s = Status::closed;
        break;
      }
    }
    if (pushed != nullptr) *pushed = done;
    return s;
  }
  // pop_bulk_for, pop_bulk_until: waits, no later than the deadline, for at
  // least one value (a pop ticket promised, as for pop_for), then receives
  // into out[0, *popped) the values promised at that moment, up to
  // out.size(), in FIFO order (consecutive positions, unless it meets
  // close).  ok: *popped >= 1.  timeout: nothing came.  closed: closed and
  // drained.  *popped is 0 unless ok.
  template <class Rep, class Period>
  Status pop_bulk_for(std::span<T> out, std::chrono::duration<Rep, Period> timeout,
                      std::size_t* popped = nullptr) noexcept {
    return pop_bulk_until(out, platform::deadline_after(timeout), popped);
  }
  Status pop_bulk_until(std::span<T> out, clock::time_point deadline, std::size_t* popped = nullptr) noexcept {
    std::size_t got = 0;
    const Status s = out.empty() ? Status::ok : timed_pop_bulk(out, &deadline, got);
    if (popped != nullptr) *popped = got;
    return s;
  }

  // close: every waiter wakes; see the class comment ("The close rule").
  // Idempotent.  The first call marks the queue closing, takes the close
  // tickets and publishes them; a later call waits for that (a few
  // instructions).  Every call then closes every slot itself (wakes its
  // sleepers; TurnSlot::close is idempotent), so no close() returns while a
  // waiter sleeps unwoken.
  void close() noexcept {
    // relaxed: elects the closer.  The mark reaches the operations that
    // must see it through the close tickets' release ([A3]); what the closer
    // did before close() reaches them through [Q1].
    const std::uint32_t prev = config_->closed.fetch_or(kClosing, std::memory_order_relaxed);
    if ((prev & kClosing) == 0) {
      dispatch().take_close_tickets(/*own_pop=*/false);
      // [Q1] release: pairs with [Q2]: the close tickets, and whatever the
      // closer did before close(), are visible to a thread that sees this
      // mark (and so to one that returns `closed`).
      config_->closed.fetch_or(kPublished, CUBBY_ORDER(Q1, std::memory_order_release));
    } else {
      (void)closed_flag();  // waits for the first closer's tickets
    }
    for (std::size_t i = 0; i < capacity(); ++i) config_->slots.slot(i)->close();
  }
  bool is_closed() const noexcept { return closed_flag(); }

  // pressure: pushes minus pops that have arrived (see Representation).
  // Exact when no operation is in flight; unspecified after close() (which
  // leaves it as it found it once its tickets are published, as a Cubby's
  // close does: close()'s own push ticket is not counted).
  std::int64_t pressure() const noexcept {
    // relaxed: a statistic, as the counters' loads.
    const bool published = (config_->closed.load(std::memory_order_relaxed) & kPublished) != 0;
    return dispatch().pressure() - (published ? 1 : 0);
  }
  // size: the number of values in the queue, pressure() clamped to
  // [0, capacity()].  Exact when no operation is in flight and close() has
  // not run; after close() an upper bound (the tickets of pushes refused
  // still count).
  std::size_t size() const noexcept {
    const std::int64_t p = pressure();
    if (p <= 0) return 0;
    return static_cast<std::uint64_t>(p) >= capacity() ? capacity() : static_cast<std::size_t>(p);
  }

 private:
  std::int64_t signed_capacity() const noexcept { return static_cast<std::int64_t>(capacity()); }

  // closed_flag: whether close() has begun.  Once it has, waits until its
  // tickets are published (a few instructions of close(), longer only if
  // the closer is preempted there), so that a caller that acts on `true` can
  // apply the close rule, and answers `closed` only after close() took
  // effect.
  bool closed_flag() const noexcept {
    // [Q2] acquire: pairs with [Q1].
    std::uint32_t w = config_->closed.load(CUBBY_ORDER(Q2, std::memory_order_acquire));
    if (w == 0) return false;
    while ((w & kPublished) == 0) {
      Platform::yield();
      // [Q2] acquire, as above.
      w = config_->closed.load(CUBBY_ORDER(Q2, std::memory_order_acquire));
    }
    return true;
  }

  // The close rule.  close() marks the queue closing, then takes push
  // ticket F (which nobody deposits) and reads P, the next pop ticket, with
  // an RMW that takes none: that RMW is close()'s linearization point.  Pops
  // with tickets before P arrived before it; pushes before F did.
  //   admitted(t): push t completes iff t < F (it arrived before close) and
  //                t - capacity < P (pop t - capacity had arrived, so the
  //                push had its room).  Pop t receives iff push t is
  //                admitted.  So the admitted tickets are exactly those
  //                before end = min(F, P + capacity): a prefix, no holes.
  // Why a put that is not admitted never publishes: it checks the closing
  // mark just before it would (deposit_allowed), and cannot miss it.  Its
  // ticket is after F, and [A3] orders it after the mark; or its turn was
  // handed on by pop t - capacity, whose ticket is after P, and [A3] then
  // [S1]/[S2] order the put after the mark.  (Every other put is admitted.)
  // Why an admitted put's turn comes: pop t - capacity has a ticket before
  // P, and its push is admitted too, so it receives and hands the slot on.
  // With capacity 1 this is Cubby's rule (cubby.hpp, "The close rule"; Cubby
  // takes P for itself and hands P's value to pop P + 1, which is the same
  // to every caller), so a queue of capacity 1 closes as a Cubby does.
  //
  // admitted_end: min(F, P + capacity); only after closed_flag() said true
  // (its [Q2] acquire makes F and P visible).
  std::uint64_t admitted_end() const noexcept {
    const std::uint64_t f = dispatch().close_push();
    const std::uint64_t room = dispatch().close_pop() + capacity();
    return before(f, room) ? f : room;
  }
  static bool before(std::uint64_t a, std::uint64_t b) noexcept { return static_cast<std::int64_t>(a - b) < 0; }
  // deposit_allowed: push ticket t's check before it publishes (and its
  // wait's, once the slot is closed).
  bool deposit_allowed(std::uint64_t t) const noexcept {
    // relaxed: a put that the rule does not admit is ordered after the
    // closing mark (see "The close rule"), so it cannot read it clear; any
    // other put is admitted whatever it reads.  On `closing`, closed_flag()
    // acquires [Q2].
    if (config_->closed.load(std::memory_order_relaxed) == 0) return true;
    (void)closed_flag();
    return before(t, admitted_end());
  }

  // arrive: a blocking push's (side 0) or pop's (side 1) ticket, taken on
  // arrival, or late (see Contract, "Arrival order") when the platform says
  // so and the capacity is above 1 (a queue of capacity 1 keeps a Cubby's
  // arrival order); false, with no ticket taken, if the queue was seen
  // closed first (void tickets after close stay rare).  `spent`: the spin
  // budget a late claim used, which the wait that follows does not repeat.
  bool arrive(unsigned side, std::uint64_t& t, typename Slot::Backoff& spent) noexcept {
    if (closed_flag()) return false;
    if (capacity() > 1 && platform::claims_late<Platform>()) {
      auto ready = [this, side](std::uint64_t k) {
        return slot_of(k).ready(Slot::turn_for(config_->slots.lap(k), side));
      };
      auto closed = [this] { return closed_flag(); };
      if (side == 0 ? dispatch().take_ready_push(t, spent, ready, closed)
                    : dispatch().take_ready_pop(t, spent, ready, closed)) {
        return true;
      }
      if (closed_flag()) return false;
    }
    t = side == 0 ? dispatch().take_push() : dispatch().take_pop();
    return true;
  }

  Slot& slot_of(std::uint64_t t) noexcept { return *config_->slots.slot(config_->slots.index(t)); }
  typename Slot::Word put_turn(std::uint64_t t) const noexcept { return Slot::turn_for(config_->slots.lap(t), 0); }
  typename Slot::Word take_turn(std::uint64_t t) const noexcept { return Slot::turn_for(config_->slots.lap(t), 1); }

  // claim: detail::claim_until over this queue (its closed flag, its slots):
  // waits no later than `deadline` until try_claim(t) takes promised tickets.
  template <class TryClaim>
  Status claim(const platform::SteadyTime* deadline, std::uint64_t& ticket, TryClaim try_claim) noexcept {
    return detail::claim_until<Platform>(
        deadline, ticket, [this] { return closed_flag(); }, try_claim,
        [this](std::uint64_t t) -> Slot& { return slot_of(t); });
  }

  // put: push ticket t's deposit, by the close rule.
  Status put(std::uint64_t t, T& v, typename Slot::Backoff spent = {}) noexcept {
    return slot_of(t).put(put_turn(t), v, [this, t] { return deposit_allowed(t); }, spent);
  }
  // take: pop ticket t's receipt, into sink; closed iff the close rule does
  // not admit push t (asked only once t's slot is closed, which happens
  // after the tickets are published; its [S3] acquire makes them visible).
  template <class Sink>
  Status take(std::uint64_t t, Sink& sink, typename Slot::Backoff spent = {}) noexcept {
    return slot_of(t).take_with(
        take_turn(t), sink, [this, t](typename Slot::Word) { return !before(t, admitted_end()); }, spent);
  }

  Status timed_push(T& v, const platform::SteadyTime* deadline) noexcept {
    std::uint64_t ticket = 0;
    const Status s = claim(deadline, ticket, [this](std::uint64_t& t) {
      return dispatch().try_take_promised_push(signed_capacity(), t);
    });
    if (s != Status::ok) return s;
    return put(ticket, v);
  }
  template <class Sink>
  Status timed_pop_with(const platform::SteadyTime* deadline, Sink sink) noexcept {
    std::uint64_t ticket = 0;
    const Status s = claim(deadline, ticket, [this](std::uint64_t& t) { return dispatch().try_take_promised_pop(t); });
    if (s == Status::ok) return take(ticket, sink);  // closed: past every admitted push
    if (s == Status::timeout) return s;
    return drain_closed_with(sink);
  }

  // timed_pop_bulk: pop_bulk_until's work (out not empty): claims up to
  // out.size() promised pop tickets at once, waiting as timed_pop_with does.
  // A claim that raced close() and got nothing the rule admits, or a close,
  // ends as a pop that meets close: the drain, then what else is there (as
  // try_pop_bulk).
  Status timed_pop_bulk(std::span<T> out, const platform::SteadyTime* deadline, std::size_t& got) noexcept {
    std::uint64_t first = 0;
    std::uint64_t n = 0;
    const Status s = claim(deadline, first, [&](std::uint64_t& t) {
      n = dispatch().try_take_promised_pop_n(out.size(), t);
      return n != 0;
    });
    if (s == Status::timeout) return s;
    if (s == Status::ok) got = take_run(first, static_cast<std::size_t>(n), out);
    if (got == 0) {
      if (drain_closed(out[0]) != Status::ok) return Status::closed;
      got = 1 + try_pop_bulk(out.subspan(1));  // the rest of what is there
    }
    return Status::ok;
  }

  // drain_closed: after close() (closed_flag() said true), a pop takes a
  // ticket only if the close rule admits its push (a ticket before
  // admitted_end()); that push's value is then bound to come.  Otherwise
  // `closed`, which is final: every admitted ticket is held by a pop that
  // receives it, and no other push deposits.
  template <class Sink>
  Status drain_closed_with(Sink& sink) noexcept {
    std::uint64_t ticket = 0;
    if (dispatch().try_take_pops_before(admitted_end(), 1, ticket) == 0) return Status::closed;
    return take(ticket, sink);
  }
  Status drain_closed(T& out) noexcept {
    auto sink = [&out](T&& v) noexcept { out = std::move(v); };
    return drain_closed_with(sink);
  }

  // put_run: puts values[i] at ticket first + i, in order.  On the first
  // closed put the rest are refused too (the rule admits a prefix of the
  // tickets), and their values stay with the caller.  Returns how many were
  // put.
  std::size_t put_run(std::uint64_t first, std::span<T> values) noexcept {
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (put(first + i, values[i]) != Status::ok) return i;
    }
    return values.size();
  }
  // take_run: takes tickets first .. first + n - 1 in order into out;
  // returns how many values were received (a prefix: after the first
  // ticket the rule refuses, every later one is refused too).
  std::size_t take_run(std::uint64_t first, std::size_t n, std::span<T> out) noexcept {
    for (std::size_t i = 0; i < n; ++i) {
      auto sink = [&out, i](T&& v) noexcept { out[i] = std::move(v); };
      if (take(first + i, sink) != Status::ok) return i;
    }
    return n;
  }

  // Config::closed bits, set by close(): closing (before its tickets), then
  // published (after them).
  static constexpr std::uint32_t kClosing = 1;
  static constexpr std::uint32_t kPublished = 2;

  struct Config {
    Config(std::size_t capacity, std::uint64_t start) : slots(capacity, start) {}
    // closed: kClosing | kPublished; 0 while open.
    typename Platform::template atomic<std::uint32_t> closed{0};
    // close()'s tickets F and P (CloseTickets::closing is unused here).
    detail::CloseTickets<Platform> close;
    Slots slots;
  };

  // For the fixed form the slots follow the config block inline; Config's
  // alignment (that of a padded slot) keeps the layout in whole lines.
  platform::CachePadded<Config> config_;
  // dispatch: a view of the two counters, each on a line of its own, and of
  // the close tickets.  The const_cast serves the const members (pressure,
  // the close rule), which only load through it.
  detail::TicketDispatch<Platform> dispatch() const noexcept {
    auto* self = const_cast<Queue*>(this);
    return detail::TicketDispatch<Platform>(*self->push_, *self->pop_, &self->config_->close);
  }
  platform::CachePadded<detail::TicketCounter<Platform>> push_;
  platform::CachePadded<detail::TicketCounter<Platform>> pop_;
};

// FixedQueue<T, N>: a Queue whose N slots are stored inline (no allocation;
// placeable in shared memory with platform::IpcPlatform, see shared_queue.hpp).
template <class T, std::size_t N, class Platform = DefaultPlatform>
using FixedQueue = Queue<T, Platform, N>;

}  // namespace cubby
