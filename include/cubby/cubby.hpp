// cubby/cubby.hpp: the cubby, a single-slot exchange cell.
//
// Contract
// --------
// Cubby<T> holds at most one value of a trivially copyable T of at most 8
// bytes.  push() blocks while the slot is full, pop() while it is empty.  All
// members are thread-safe; the object is linearizable.
//
// Round-robin, in arrival order: every blocking push and pop takes a ticket
// when it arrives (once the cubby is closed, or a push sees a close() begun,
// they answer closed without one, except a pop still owed a value).  Push k
// deposits the k-th value and pop k receives it, so waiting pushers deposit,
// and waiting poppers take, strictly one at a time in arrival order.  With
// one value in the slot and 5 pushers blocked, 5 poppers arriving together
// receive the first 5 values, each exactly once and in push order; every
// pusher completes and the 6th value stays in the slot.  (The design this
// comes from let all 5 poppers race for the one slot.)
//
// Timed and try operations never take a ticket they could be stuck with:
// they take one only once their turn is *promised*, i.e. the operation they
// pair with has already arrived (a push when pressure() <= 0, a pop when
// pressure() > 0).  Until then they wait outside the line, on the slot's timed
// channel, and a timeout leaves nothing behind: no hole, no lost or duplicated
// value.  Once promised they complete, after at most the handoffs of threads
// already in line.  So among blocked operations, untimed ones are served in
// arrival order and timed ones join the line when their turn is certain.
//
// close() wakes every waiter.  Afterwards pushes return Status::closed and
// keep their value; pops still receive a value already in the slot, then
// return closed.  Precisely, and linearizably: close() takes a push ticket F
// and then a pop ticket P of its own, and takes effect at P.  A push that
// the slot was already promised to at that moment (ticket <= P: the pop
// before its partner had arrived) still deposits, even if its thread has not
// run yet, since try_push and friends had already seen the slot taken; every
// other push still in line is cancelled and returns closed, keeping its
// value.  The first pop after close receives the value owed to P.  A try
// or timed push that fails while a close() is under way waits for it and
// reports it (close_begun): between F and P an empty slot reads full.
//
// Progress: try_push/try_pop and the fast paths are lock-free except for the
// wait on a promised turn (which waits only for threads already in line, or
// for a close() that has taken its tickets and not yet set the flag: a few
// instructions, longer only if the closer is preempted there), and a failed
// try_push, or a blocking push, that sees a close() under way, which waits
// (yielding, never asleep) for that same flag.
// Blocking waits spin briefly (platform::Backoff), then sleep on a futex.
//
// Representation
// --------------
//   line 0 (slot):    detail::TurnSlot (the 32-bit turn word and the value)
//                     and pop_, the 64-bit pop ticket counter.
//   line 1 (counter): push_, the 64-bit push ticket counter, and close()'s
//                     cut-off tickets.
//   pressure() == push_ - pop_: 0 empty, 1 full, k > 1 full with k-1 pushers
//   waiting, k < 0 empty with -k poppers waiting.  Tickets wrap modulo 2^64
//   (and turns modulo 2^31); StartTicket lets tests start next to the wrap.
// Why pop_ sits with the slot: a pop takes its ticket and then waits on and
// empties the slot, so the popper touches one line; the pusher's counter
// stays in the pusher's cache while it keeps pushing.  With both counters on
// one line, every handoff between a pusher and a popper moved that line
// across as well as the slot's: this layout took 0.80-0.82 of that one's
// round-trip time, paired in one process on the AMD VM (ae1094f; measured
// as bench/README.md's paired benchmarks are).
//
// Costs (uncontended): push = a relaxed load of the closing mark and one
// fetch_add, both on the counter line; on the slot line one acquire load of
// the turn, the value copy, a load of the waiter word (closed?), one plain
// store and a load of the waiter word again; pop = one acquire load
// (closed?), one fetch_add, one acquire load, one plain store and one load,
// all on the slot line.  The handoff itself has no RMW and no fence
// (detail/turn_slot.hpp); no syscall unless a thread sleeps.
// sizeof(Cubby) == 2 * platform::cache_line_size.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <type_traits>

#include "cubby/detail/ticket_dispatch.hpp"
#include "cubby/detail/turn_slot.hpp"
#include "cubby/platform/backoff.hpp"
#include "cubby/platform/cache_line.hpp"
#include "cubby/platform/native.hpp"
#include "cubby/status.hpp"

namespace cubby {

template <class T, class Platform = DefaultPlatform>
class Cubby {
  static_assert(std::is_trivially_copyable_v<T>, "Cubby<T>: T must be trivially copyable (a pointer or an integer)");
  static_assert(sizeof(T) <= 8, "Cubby<T>: T must fit in 8 bytes");

  using Slot = detail::TurnSlot<T, Platform>;

 public:
  using value_type = T;
  using clock = std::chrono::steady_clock;

  Cubby() noexcept : Cubby(StartTicket{}) {}
  explicit Cubby(StartTicket start) noexcept : slot_line_(start.value), counter_line_(start.value) {}
  Cubby(const Cubby&) = delete;
  Cubby& operator=(const Cubby&) = delete;

  // push: deposits v, waiting (in arrival order) while the slot is full.
  // ok, or closed (v not deposited).
  Status push(T v) noexcept {
    // No look at the slot's closed flag before the ticket: the slot's put
    // decides (admitted), and reading the slot line here would pull it from
    // the popper spinning on it before the deposit needs it.  The closing
    // mark sits on the counter line, which the ticket's RMW takes anyway: a
    // push that sees a close() begun takes no ticket and answers closed once
    // the close is done, as Queue's push does, so that pushes after close
    // leave pressure() alone.  relaxed: only spares a ticket; a push that
    // reads it clear takes one and the close rule decides, and settle_closed
    // acquires the slot's flag.  A thread whose own close() has returned
    // reads it set (its exchange wrote or read the mark: coherence), so its
    // pushes never take a ticket.
    if (dispatch().close_begun()) [[unlikely]] return settle_closed();
    return put(dispatch().take_push(), v);
  }
  // pop: receives a value, waiting (in arrival order) while the slot is empty.
  // ok, or closed (nothing left to receive).
  Status pop(T& out) noexcept {
    if (slot().is_closed()) return drain_closed(out);
    return take(dispatch().take_pop(), out);
  }

  // try_push: deposits v if the slot is free now (no pusher ahead, nothing
  // in the slot, or a popper already waiting).  false if full or closed
  // (is_closed() tells which; closing is final).
  [[nodiscard]] bool try_push(T v) noexcept { return timed_push(v, nullptr) == Status::ok; }
  // try_pop: a value if one is there now (or a push already in line will
  // deliver it); nullopt if empty or closed and drained.
  [[nodiscard]] std::optional<T> try_pop() noexcept {
    T out;
    if (timed_pop(out, nullptr) == Status::ok) return out;
    return std::nullopt;
  }

  template <class Rep, class Period>
  Status push_for(T v, std::chrono::duration<Rep, Period> timeout) noexcept {
    return push_until(v, platform::deadline_after(timeout));  // saturated
  }
  Status push_until(T v, clock::time_point deadline) noexcept { return timed_push(v, &deadline); }
  template <class Rep, class Period>
  Status pop_for(T& out, std::chrono::duration<Rep, Period> timeout) noexcept {
    return pop_until(out, platform::deadline_after(timeout));  // saturated
  }
  Status pop_until(T& out, clock::time_point deadline) noexcept { return timed_pop(out, &deadline); }

  // close: every waiter wakes; see the class comment.  Idempotent; returns
  // once the cubby is closed, also when another thread's close() does it.
  void close() noexcept {
    if (dispatch().begin_close()) {
      dispatch().take_close_tickets();  // published by the slot's close [S3]
      slot().close();
    } else {
      (void)settle_closed();
    }
  }
  bool is_closed() const noexcept { return slot().is_closed(); }

  // pressure: the backpressure counter (see Representation).  Exact when no
  // operation is in flight; unspecified after close().
  std::int64_t pressure() const noexcept { return dispatch().pressure(); }

 private:
  Status timed_push(T& v, const platform::SteadyTime* deadline) noexcept {
    std::uint64_t ticket = 0;
    const Status s = detail::claim_until<Platform>(
        deadline, ticket, [this] { return slot().is_closed(); },
        [this](std::uint64_t& t) { return dispatch().try_take_promised_push(1, t); },
        [this](std::uint64_t) -> Slot& { return slot(); });
    if (s == Status::timeout && dispatch().close_begun()) return settle_closed();  // see close_begun
    if (s != Status::ok) return s;
    return put(ticket, v);
  }
  Status timed_pop(T& out, const platform::SteadyTime* deadline) noexcept {
    std::uint64_t ticket = 0;
    const Status s = detail::claim_until<Platform>(
        deadline, ticket, [this] { return slot().is_closed(); },
        [this](std::uint64_t& t) { return dispatch().try_take_promised_pop(t); },
        [this](std::uint64_t) -> Slot& { return slot(); });
    if (s != Status::ok) return s == Status::closed ? drain_closed(out) : s;
    return take(ticket, out);
  }
  // settle_closed: waits for a close() already under way to set the flag (a
  // few instructions, longer only if the closer is preempted); closed.
  Status settle_closed() noexcept {
    while (!slot().is_closed()) Platform::yield();
    return Status::closed;
  }
  // After close, a pop takes a ticket only if a value is still owed to it.
  Status drain_closed(T& out) noexcept {
    std::uint64_t ticket = 0;
    if (!dispatch().try_take_promised_pop(ticket, /*fresh=*/true)) return Status::closed;
    return take(ticket, out);
  }

  // The close rule, in tickets (F, P: close()'s own push and pop tickets;
  // differences are taken modulo 2^64 as signed).  Asked only once the closed
  // flag has been seen; the acquire re-load of the flag ([S3]) makes F and P
  // visible whatever load saw the flag first.
  //   admitted(t):   push t completes: t < F (it arrived before close) and
  //                  t <= P (pop t-1 had arrived, so the slot was logically
  //                  its own).  Its turn is bound to come: every pop before
  //                  P holds a ticket, and every push before it is admitted.
  //   value_for(t):  pop t (t != P) receives the value of push t if t < P
  //                  and push t is admitted; the first pop after close
  //                  (t == P + 1) receives the value owed to close()'s own
  //                  pop ticket P, if push P is admitted.  Returns the push
  //                  ticket whose value pop t receives, or nothing.
  static bool before(std::uint64_t a, std::uint64_t b) noexcept { return static_cast<std::int64_t>(a - b) < 0; }
  bool admitted(std::uint64_t t) const noexcept {
    if (!slot().is_closed()) return true;
    return before(t, dispatch().close_push()) && !before(dispatch().close_pop(), t);
  }
  std::optional<std::uint64_t> value_for(std::uint64_t t) const noexcept {
    (void)slot().is_closed();  // [S3] acquire before reading F and P
    const std::uint64_t p = dispatch().close_pop();
    const std::uint64_t owed = (t == p + 1) ? p : t;
    if (owed == t && !before(t, p)) return std::nullopt;  // after close, and not the first
    if (!before(owed, dispatch().close_push())) return std::nullopt;
    return owed;
  }

  // put: push ticket t's deposit (see admitted).  By the close rule, a put
  // that is not admitted owns its turn only after pop P+1 (which saw the
  // closed flag) handed it on: close()'s own push ticket F is never
  // deposited, so it stops the slot's line.  The flag reaches such a put
  // through the turn word ([S3] then [S1]/[S2]), and admitted() reads it.
  Status put(std::uint64_t t, T& v) noexcept {
    return slot().put(Slot::turn_for(t, 0), v, [this, t] { return admitted(t); });
  }
  // take: pop ticket t's receipt.  Before close, its own turn; once closed it
  // waits only if value_for(t) names a value, which is then bound to come.
  Status take(std::uint64_t t, T& out) noexcept {
    auto sink = [&out](T&& v) noexcept { out = v; };
    const Status s = slot().take_with(Slot::turn_for(t, 1), sink, [this, t](typename Slot::Word) {
      const auto owed = value_for(t);
      return !owed || *owed != t;
    });
    if (s == Status::ok) return s;
    const auto owed = value_for(t);
    if (!owed || *owed == t) return Status::closed;
    // The first pop after close takes the value owed to close()'s pop ticket.
    return slot().take_with(Slot::turn_for(*owed, 1), sink, [](typename Slot::Word) { return false; });
  }

  // The two lines (see Representation).
  struct alignas(platform::cache_line_size) SlotLine {
    explicit SlotLine(std::uint64_t start) noexcept : slot(start), pop(start) {}
    Slot slot;
    detail::TicketCounter<Platform> pop;
  };
  struct alignas(platform::cache_line_size) CounterLine {
    explicit CounterLine(std::uint64_t start) noexcept : push(start) {}
    detail::TicketCounter<Platform> push;
    detail::CloseTickets<Platform> close;
  };

  Slot& slot() noexcept { return slot_line_.slot; }
  const Slot& slot() const noexcept { return slot_line_.slot; }
  // dispatch: a view of the counters.  The const_cast serves the const
  // members (pressure, the close rule), which only load through it.
  detail::TicketDispatch<Platform> dispatch() const noexcept {
    auto* self = const_cast<Cubby*>(this);
    return detail::TicketDispatch<Platform>(self->counter_line_.push, self->slot_line_.pop, &self->counter_line_.close);
  }

  SlotLine slot_line_;
  CounterLine counter_line_;
};

#ifndef CUBBY_MC_RELACY  // Relacy's model atomics are larger than a line
static_assert(sizeof(Cubby<void*>) == 2 * platform::cache_line_size, "Cubby: two padded cache lines");
static_assert(sizeof(Cubby<std::uint64_t>) == 2 * platform::cache_line_size, "Cubby: two padded cache lines");
#endif

}  // namespace cubby
