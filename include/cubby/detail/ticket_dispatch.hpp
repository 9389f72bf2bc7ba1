// cubby/detail/ticket_dispatch.hpp: arrival tickets and the promise wait,
// shared by Cubby (one slot) and Queue (an array of slots).
//
// Every operation of a turn-slot primitive takes a ticket from one of two
// 64-bit counters when it arrives.  Push ticket t and pop ticket t pair up:
// the push deposits the t-th value and the pop receives it, through slot
// (t mod capacity) in lap (t div capacity).  The counters order no data
// (that is the slots' turn words); their edges, [A1] on every write of a
// counter and [A2] on a late claim's CAS (the same edge for that write),
// make the promise test's reading of the two counters agree with what
// happened before it.  [A3], the acquire half of every ticket RMW, orders a
// ticket taken after a close()'s tickets after what that close() did first
// (Queue's close rule rests on it).
//
// Timed and try operations take a ticket only once it is *promised* (its
// partner has arrived), so that they can give up without leaving a hole; see
// claim_until.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "cubby/detail/order.hpp"
#include "cubby/platform/backoff.hpp"
#include "cubby/platform/futex.hpp"
#include "cubby/status.hpp"

namespace cubby {

// StartTicket: the ticket both counters start from (default 0).  For tests
// that cross the counters' wrap-around within a few operations.
struct StartTicket {
  std::uint64_t value = 0;
};

namespace detail {

// TicketCounter: one arrival counter (push or pop tickets).  A separate type
// so that each primitive places its two counters where its access pattern
// wants them (see Cubby's and Queue's Representation).
template <class Platform>
using TicketCounter = typename Platform::template atomic<std::uint64_t>;

// CloseTickets: the close cut-off of Cubby and Queue (see take_close_tickets);
// `closing` is Cubby's (Queue keeps its closing mark in its closed word).
template <class Platform>
struct CloseTickets {
  typename Platform::template atomic<std::uint64_t> push{0};
  typename Platform::template atomic<std::uint64_t> pop{0};
  typename Platform::template atomic<std::uint32_t> closing{0};
};

// TicketDispatch: the two arrival counters, and the promise test.  A view:
// it holds references to counters its owner lays out, and is built on each
// use (inlined away).
//
// The try_take_promised_* functions report, when they fail, the ticket they
// would have taken (the next one, not yet promised) in `ticket`, so that a
// waiter knows whose arrival to wait for (see claim_until).
template <class Platform>
class TicketDispatch {
 public:
  TicketDispatch(TicketCounter<Platform>& push, TicketCounter<Platform>& pop,
                 CloseTickets<Platform>* close = nullptr) noexcept
      : push_(push), pop_(pop), close_(close) {}

  // Tickets.  A ticket is only an identity (RMW atomicity makes each
  // unique); all data is ordered by the slot's turn word.  But the promise
  // test reads both counters, and its answer must agree with what happened
  // before: [A1] release (every write of a counter, each an RMW) pairs with
  // the promise test's acquire read of its own counter (try_take_promised_*).
  // A test that reads arrival k on its own counter then reads, on the other
  // counter, every arrival that happened before arrival k.  Without it a
  // try_pop could read a pop ticket taken after a push and miss that push
  // (an "empty" the queue never was; queue_c2_try_pop_after_push_finds_a_value),
  // and likewise for try_push.  On x86 the RMWs are full barriers anyway.
  //
  // [A3] acquire (every ticket RMW; the promise tests' CASes are acq_rel
  // under [A1]): close()'s ticket RMWs are releases, and an RMW that comes
  // after one of them in the counter's order reads from its release
  // sequence.  So a ticket taken after close()'s push ticket F (or its pop
  // ticket P) is ordered after everything close() did before taking it:
  // Queue's closing mark.  A put whose ticket is later than F, or whose turn
  // was handed on by a pop whose ticket is later than P, therefore cannot
  // miss that mark (queue.hpp, "The close rule").  Free on x86.
  std::uint64_t take_push() noexcept { return push_.fetch_add(1, CUBBY_ACQ_REL(A3, A1)); }
  // [A3] acquire and [A1] release, as take_push.
  std::uint64_t take_pop() noexcept { return pop_.fetch_add(1, CUBBY_ACQ_REL(A3, A1)); }
  // n consecutive tickets at once (bulk operations); returns the first.
  std::uint64_t take_push_n(std::uint64_t n) noexcept {
    // [A3] acquire and [A1] release, as take_push.
    return push_.fetch_add(n, CUBBY_ACQ_REL(A3, A1));
  }
  std::uint64_t take_pop_n(std::uint64_t n) noexcept {
    // [A3] acquire and [A1] release, as take_push.
    return pop_.fetch_add(n, CUBBY_ACQ_REL(A3, A1));
  }

  // take_ready_push / take_ready_pop: a late claim (Queue, "Arrival
  // order").  Polls the counter, spinning and yielding as a blocking wait
  // does (`backoff`), until ready(t) says the next ticket t's slot is at its
  // turn, and takes t then, with a CAS; returns false, having taken nothing,
  // once the budget is spent or give_up() says so (the wait that follows
  // then spins only for what is left of `backoff`).  The poll only reads:
  // the CAS acts as the fetch_add of take_push would at that moment, so a
  // late claim's run is a run of a thread that arrived at the CAS.
  template <class Ready, class GiveUp>
  bool take_ready_push(std::uint64_t& ticket, platform::Backoff<Platform>& backoff, Ready ready,
                       GiveUp give_up) noexcept {
    return take_ready(push_, ticket, backoff, ready, give_up);
  }
  template <class Ready, class GiveUp>
  bool take_ready_pop(std::uint64_t& ticket, platform::Backoff<Platform>& backoff, Ready ready,
                      GiveUp give_up) noexcept {
    return take_ready(pop_, ticket, backoff, ready, give_up);
  }

  // try_take_promised_push: a push ticket whose pop partner has arrived
  // (push - pop < capacity).  The counters only grow, so a stale pop_
  // understates the promise and the CAS validates push_; data is ordered by
  // the turn word.  [A1] makes a refusal true: pop_ is read after an acquire
  // read of push_, so it counts every pop that happened before the last push
  // counted.
  bool try_take_promised_push(std::int64_t capacity, std::uint64_t& ticket) noexcept {
    return try_take_promised_push_n(capacity, 1, ticket) == 1;
  }
  // try_take_promised_pop: a pop ticket whose push partner has arrived
  // (push - pop > 0).  [A1], as above.  `fresh`: read the push counter
  // with an RMW, which reads the last value in the counter's modification
  // order; Cubby's drain after close asks for it.  For Cubby it is a margin on a
  // cold path, not what the proof rests on: the drain has acquired the
  // closed flag, and close() took its push ticket F after every admitted
  // push's ticket and before it set the flag, so a plain load would read at
  // least F + 1 (model tests pass without the RMW).
  bool try_take_promised_pop(std::uint64_t& ticket, bool fresh = false) noexcept {
    return try_take_promised_pop_n(1, ticket, fresh) == 1;
  }

  // try_take_pops_before: up to `max_n` consecutive pop tickets, each before
  // `end` (modulo 2^64, as a signed difference), in one CAS; returns how
  // many, the first in `first`.  Queue's drain after close, where `end` is
  // the first ticket the close rule does not admit.  [A1] and [A3], as the
  // promise tests.
  std::uint64_t try_take_pops_before(std::uint64_t end, std::uint64_t max_n, std::uint64_t& first) noexcept {
    return take_pops(max_n, first, [end](std::uint64_t pop) { return static_cast<std::int64_t>(end - pop); });
  }

  // try_take_promised_push_n: up to `max_n` consecutive promised push
  // tickets in one CAS; returns how many (0: none promised), the first in
  // `first` (on 0: the next, unpromised ticket).  [A1], as above.
  std::uint64_t try_take_promised_push_n(std::int64_t capacity, std::uint64_t max_n, std::uint64_t& first) noexcept {
    // [A1] acquire: a guess the CAS below validates; what it reads orders
    // the read of pop_ (see take_push).
    std::uint64_t push = push_.load(CUBBY_ORDER(A1, std::memory_order_acquire));
    for (;;) {
      // relaxed: ordered after the [A1] acquire read of push_; pop_ only
      // grows, and a value newer than that read only adds room.
      const std::uint64_t pop = pop_.load(std::memory_order_relaxed);
      const std::int64_t used = static_cast<std::int64_t>(push - pop);
      if (used >= capacity || max_n == 0) {
        first = push;
        return 0;
      }
      const std::uint64_t room = static_cast<std::uint64_t>(capacity - used);
      const std::uint64_t n = room < max_n ? room : max_n;
      // On success: [A1] release (a write of the counter) and [A3] acquire
      // (a ticket taken after close()'s F is ordered after Queue's closing
      // mark, as for take_push).
      const auto on_success = CUBBY_ACQ_REL(A3, A1);
      // [A1] acquire on failure: the re-read of push_ the next round rests on.
      const auto on_failure = CUBBY_ORDER(A1, std::memory_order_acquire);
      if (push_.compare_exchange_weak(push, push + n, on_success, on_failure)) {
        first = push;
        return n;
      }
    }
  }
  // try_take_promised_pop_n: up to `max_n` consecutive promised pop tickets
  // in one CAS (push - pop > 0 for each).  [A1], as above.
  std::uint64_t try_take_promised_pop_n(std::uint64_t max_n, std::uint64_t& first, bool fresh = false) noexcept {
    return take_pops(max_n, first, [this, fresh](std::uint64_t pop) {
      const std::uint64_t push =
          // relaxed: ordered after take_pops' [A1] acquire read of pop_; the
          // RMW (fresh) is never stale.
          fresh ? push_.fetch_add(0, std::memory_order_relaxed) : push_.load(std::memory_order_relaxed);
      return static_cast<std::int64_t>(push - pop);
    });
  }

  // ---- the close cut-off (Cubby; Queue uses the tickets only) ----
  // begin_close: true for the one close() that performs the close.
  // acq_rel: only elects the first closer; later closers wait for the slot's
  // closed flag, which is what orders them.
  bool begin_close() noexcept { return close_->closing.exchange(1, std::memory_order_acq_rel) == 0; }
  // take_close_tickets: close() takes push ticket F and then, with
  // own_pop, pop ticket P for itself (Cubby); without, P is the next pop
  // ticket, read by an RMW that takes none (Queue).  The pop RMW is the
  // linearization point of close().  Nobody deposits F, and nobody takes a
  // ticket close() owns.  RMW atomicity fixes which tickets come before; the
  // two values are published by the closer (Cubby: the slot's close, [S3];
  // Queue: its published mark, [Q1]) and read only after that mark is seen
  // with an acquire.
  void take_close_tickets(bool own_pop = true) noexcept {
    // [A1] release (both RMWs), as take_push: a promise test that read F
    // also sees the closing mark (Cubby's close_begun; Queue's closed word,
    // [C2]), and one that read P sees F.  The later tickets' [A3] acquires
    // pair with these releases.
    const std::uint64_t f = push_.fetch_add(1, CUBBY_ORDER(A1, std::memory_order_release));
    // [A1] release, as above; this RMW is close()'s linearization point.
    const std::uint64_t p = pop_.fetch_add(own_pop ? 1 : 0, CUBBY_ORDER(A1, std::memory_order_release));
    // relaxed: published by the closer's mark.
    close_->push.store(f, std::memory_order_relaxed);
    // relaxed: published by the closer's mark.
    close_->pop.store(p, std::memory_order_relaxed);
  }
  // close_begun: after a push failed to claim a ticket, whether a close()
  // had begun.  Between close()'s F and its P the counters read one arrival
  // too many: an empty slot reads full, a state the cubby never was in, so a
  // push that gave up on that reading must instead wait for the close and
  // report it.  (Pops are not fooled: F reads as a value, which leads them to
  // P's ticket and the close rule; and by [A1] a pop that read P counts F.)
  // relaxed: a failed claim read F (or a later RMW of push_, which continues
  // F's release sequence) with the [A1] acquire, and close() marked itself
  // before taking F.  A claim that did not read F failed on real arrivals.
  // Cubby's blocking push also reads it before its ticket, as a hint (see
  // Cubby::push).
  bool close_begun() const noexcept { return close_->closing.load(std::memory_order_relaxed) != 0; }
  // The close tickets; only after the closer's mark was seen with an
  // acquire (Cubby: the slot's flag, [S3]; Queue: its published bit, [Q2]).
  // relaxed: see take_close_tickets.
  std::uint64_t close_push() const noexcept { return close_->push.load(std::memory_order_relaxed); }
  // relaxed: as close_push.
  std::uint64_t close_pop() const noexcept { return close_->pop.load(std::memory_order_relaxed); }

  // pressure: pushes minus pops that have arrived.  relaxed: a statistic; two
  // loads, so exact only when no operation runs concurrently.
  std::int64_t pressure() const noexcept {
    // relaxed: a statistic (see above).
    const std::uint64_t push = push_.load(std::memory_order_relaxed);
    // relaxed: a statistic (see above).
    const std::uint64_t pop = pop_.load(std::memory_order_relaxed);
    return static_cast<std::int64_t>(push - pop);
  }

 private:
  // take_pops: up to `max_n` consecutive pop tickets in one CAS, as many as
  // avail(pop) says are there for the next ticket `pop` (0 or less: none);
  // returns how many, the first in `first` (on 0: the next ticket).
  template <class Avail>
  std::uint64_t take_pops(std::uint64_t max_n, std::uint64_t& first, Avail avail) noexcept {
    // [A1] acquire: a guess the CAS below validates; what it reads orders
    // avail's reads (the push counter: see take_push).
    std::uint64_t pop = pop_.load(CUBBY_ORDER(A1, std::memory_order_acquire));
    for (;;) {
      const std::int64_t left = avail(pop);
      if (left <= 0 || max_n == 0) {
        first = pop;
        return 0;
      }
      const std::uint64_t n = static_cast<std::uint64_t>(left) < max_n ? static_cast<std::uint64_t>(left) : max_n;
      // On success: [A1] release and [A3] acquire, as in
      // try_take_promised_push_n (here after close()'s P: a timed or try pop
      // that claims the ticket after P and hands its slot on to a push the
      // rule refuses carries the closing mark to that push).
      const auto on_success = CUBBY_ACQ_REL(A3, A1);
      // [A1] acquire on failure: the re-read of pop_ the next round rests on.
      const auto on_failure = CUBBY_ORDER(A1, std::memory_order_acquire);
      if (pop_.compare_exchange_weak(pop, pop + n, on_success, on_failure)) {
        first = pop;
        return n;
      }
    }
  }

  template <class Ready, class GiveUp>
  static bool take_ready(TicketCounter<Platform>& counter, std::uint64_t& ticket, platform::Backoff<Platform>& backoff,
                         Ready ready, GiveUp give_up) noexcept {
    // relaxed: a guess the CAS validates; no data flows through the counter.
    std::uint64_t t = counter.load(std::memory_order_relaxed);
    for (;;) {
      if (ready(t)) {
        // [A2] release on success: [A1] for this write of the counter (a
        // promise test that reads it counts what happened before it); [A3]
        // acquire, as every ticket RMW.
        const auto on_success = CUBBY_ACQ_REL(A3, A2);
        // relaxed on failure: the value read is only the next guess.
        const auto on_failure = std::memory_order_relaxed;
        if (counter.compare_exchange_weak(t, t + 1, on_success, on_failure)) {
          ticket = t;
          return true;
        }
        continue;  // another thread took t (or a spurious failure): try the next
      }
      if (give_up() || !backoff.spin_once()) return false;
      // relaxed: a guess, as above.
      t = counter.load(std::memory_order_relaxed);
    }
  }

  TicketCounter<Platform>& push_;
  TicketCounter<Platform>& pop_;
  CloseTickets<Platform>* close_;
};

// claim_until: the wait of a timed operation for a promised ticket.
//
//   closed()        whether the primitive is closed (checked first, so that
//                   nothing is claimed after close is seen);
//   claim(t)        tries to take a promised ticket: true and t is ours, or
//                   false and t is the next ticket, not yet promised;
//   slot_of(t)      the slot whose advance follows the arrival that promises
//                   t: for a push, pop ticket t - capacity's take; for a pop,
//                   push ticket t's put; both on slot (t mod capacity).
//
// On ok, `ticket` is the claimed ticket.  Between tries the thread spins,
// then counts itself in on slot_of(t)'s timed channel and sleeps until an
// advance of that slot or the deadline (null deadline: try once, no wait).
// Why no wake-up is lost: the re-check runs after the slot's [D2] barrier,
// which pairs with the [D1] barrier of every advance: the re-check sees every
// arrival (ticket RMW) sequenced before an advance whose count load missed
// this waiter.  So if the next ticket is still t and still unpromised, the
// partner that will promise it advances slot_of(t) after seeing our count,
// and wakes the timed channel.  If the next ticket moved on (another thread
// claimed t) before the re-check, the loop chooses again; if it moves on
// after, the waiter sleeps until slot_of(t)'s next advance (the deposit of
// push t for a pop, the take of pop t - capacity for a push) or its
// deadline, then chooses again: late if that thread is preempted, never
// lost.
//
// Giving up: a timeout is answered only after a failed claim and a closed
// check made after that claim ([C2]).  A closed check made only before the
// claim is not enough: a close() and the operations that then drain the
// primitive (or fill its room) can both fall between the two.  The claim
// would then fail on what happened after close, and a timeout would report
// an open, empty (or full) state that never existed.  The claim's counter
// loads are acquire ([A1]).  They read the RMW of the drain that failed the
// claim, so they synchronize with it, and so with the close() sequenced
// before it.  The closed check that follows then sees the flag.
template <class Closed>
Status timeout_or_closed(Closed& closed) noexcept {
  return closed() ? Status::closed : Status::timeout;  // [C2]: after the failed claim
}
template <class Platform, class Closed, class Claim, class SlotOf>
Status claim_until(const platform::SteadyTime* deadline, std::uint64_t& ticket, Closed closed, Claim claim,
                   SlotOf slot_of) noexcept {
  platform::Backoff<Platform> backoff;
  for (;;) {
    if (closed()) return Status::closed;
    std::uint64_t next = 0;
    if (claim(next)) {
      ticket = next;
      return Status::ok;
    }
    if (deadline == nullptr) return timeout_or_closed(closed);  // try_: no waiting at all
    // A deadline that has passed ends the wait before it yields or sleeps:
    // the claim above was the last try ([C2] then decides the answer).  No
    // count-in, barrier or futex call, and a short timeout is not overrun by
    // a yield budget.
    if (backoff.costly_next() && Platform::deadline_passed(*deadline)) return timeout_or_closed(closed);
    if (backoff.spin_once()) continue;
    auto& slot = slot_of(next);
    using Slot = std::remove_reference_t<decltype(slot)>;
    bool claimed = false;
    std::uint64_t again = 0;
    const auto r = slot.wait_timed(deadline, [&] {
      claimed = claim(again);
      return !claimed && again == next;  // sleep only while t is the next, unpromised ticket
    });
    if (claimed) {
      ticket = again;
      return Status::ok;
    }
    if (r == Slot::TimedWait::closed) return Status::closed;
    if (r == Slot::TimedWait::timed_out) {
      if (closed()) return Status::closed;
      if (claim(again)) {
        ticket = again;
        return Status::ok;
      }
      return timeout_or_closed(closed);
    }
  }
}

// claim_until (single-slot form, Cubby's original signature): `claim()`
// captures the ticket itself; waits on `slot`.  Kept for callers written
// against it; equivalent to the general form with one slot.
template <class Platform, class Slot, class Claim>
Status claim_until(Slot& slot, const platform::SteadyTime* deadline, Claim claim) noexcept {
  std::uint64_t unused = 0;
  return claim_until<Platform>(
      deadline, unused, [&slot] { return slot.is_closed(); }, [&claim](std::uint64_t&) { return claim(); },
      [&slot](std::uint64_t) -> Slot& { return slot; });
}

}  // namespace detail
}  // namespace cubby
