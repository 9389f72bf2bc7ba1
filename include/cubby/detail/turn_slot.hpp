// cubby/detail/turn_slot.hpp: one slot of a turn-ordered exchange: a turn
// word and the value it guards.  The building block of Cubby (one slot) and
// of Queue (an array of slots with ticket dispatch).
//
// Per-slot turns follow folly's detail/TurnSequencer.h; the owner-only turn
// word with an asymmetric barrier, the closed flag outside it and the
// timed-waiter channel are cubby's.
//
// Contract
// --------
// Turns are handed out by the dispatcher (Cubby, Queue): turn 2L belongs to
// the put of lap L, turn 2L+1 to the take of lap L.  Exactly one thread owns
// each turn, and only the owner of the current turn touches the value.  The
// owner finishes its turn by advancing the word to turn+1, which wakes the
// thread sleeping for turn+1, if any, and the slot's ticketless timed
// sleepers (see wait_timed), who re-check.
//
// close() sets the slot's closed flag and wakes every sleeper.  Which puts
// still complete after a close, and which takes still receive, is the
// dispatcher's close rule, a function of tickets (cubby.hpp and queue.hpp,
// "The close rule"): put() asks `admitted` before it publishes, and a waiting
// put or take asks it (`give_up`, `nothing_comes`) once it sees the slot's
// flag.  The rule is static: a put it does not admit never publishes, so a
// take that the rule says gets nothing can give up at once, and no closer
// waits for puts in flight.
//
// Representation (three words and the value, on one cache line)
// --------------
//   state_   (32 bits)  turn << 1 (bit 0 is always clear).  Written only by
//                       the owner of the current turn, with plain stores: no
//                       RMW on the fast path.  Turns wrap modulo 2^31.
//   waiters_ (64 bits)  closed (bit 0), ticketless timed sleepers (bits
//                       1-31, a count), turn sleepers (bits 32-63, a count).
//   seq_     (32 bits)  the futex word sleepers wait on.  Bumped (changed)
//                       before every wake, so a sleeper that has not reached
//                       the kernel yet does not miss it.
//
// Why no wake-up is lost (the Dekker pair [D1]/[D2])
// ---------------------------------------------------
// Every store that advances state_ is followed by a light
// barrier [D1] and a load of waiters_; a non-zero count there means a bump of
// seq_ and a wake.  A sleeper first reads seq_, then counts itself into
// waiters_ (an RMW), runs the heavy barrier [D2] and re-reads state_: either
// it sees the advance (and does not sleep), or the advancer's load sees its
// count (and bumps seq_, so the sleeper's futex wait returns or is woken).
// The barrier pair costs the advancer a compiler barrier and the sleeper a
// membarrier(2) (platform/native.hpp): the fast path has no RMW and no fence.
//
// Why close and a put cannot cross
// --------------------------------
// They need not be kept apart here: whether a put may publish is the
// dispatcher's rule on tickets, and the dispatcher proves that every put
// that can own its turn without seeing its close flag is one the rule
// admits (Cubby: close()'s push ticket stops the slot's line; Queue: [A3]).
//
// Futex channels: a sleeper for turn t waits on bit (t mod 31); ticketless
// timed sleepers on bit 31.  While the turns that threads wait for on one
// slot span fewer than 31 (puts and takes both count: about 15 laps of
// waiters), an advance wakes exactly the next turn's owner; beyond that,
// sleepers 31 turns apart share a channel, wake together, and all but one
// sleep again.  (At the turn wrap, 2^31 = 2 mod 31, so turns 2^31 - 2 and
// 2^31 - 1 share channels with turns 0 and 1: an extra wake, no more.)
//
// Costs: put with nobody asleep: one acquire load of state_, one plain store
// to it, the dispatcher's closed check (Cubby: a load of waiters_; Queue: a
// load of its config line), one load of waiters_ (the sleeper count), the
// value write; take: one acquire load, one plain store, one load of
// waiters_, the value read.  No RMW, no fence, no syscall unless a thread
// sleeps.
#pragma once

#include <cstdint>
#include <type_traits>
#include <utility>

#include "cubby/detail/order.hpp"
#include "cubby/detail/storage.hpp"
#include "cubby/platform/backoff.hpp"
#include "cubby/platform/futex.hpp"
#include "cubby/status.hpp"

namespace cubby::detail {

template <class T, class Platform>
class TurnSlot {
 public:
  using Word = std::uint32_t;

  static constexpr unsigned kTurnShift = 1;
  static constexpr Word kTurnMask = (1u << 31) - 1;
  static constexpr Word kTimedChannel = 1u << 31;

  static constexpr std::uint64_t kClosed = 1;
  static constexpr std::uint64_t kTimedOne = 2;
  static constexpr std::uint64_t kTimedMask = 0xFFFF'FFFEull;
  static constexpr std::uint64_t kSleeperOne = 1ull << 32;

  static constexpr Word turn_of(Word state) noexcept { return state >> kTurnShift; }
  // at: the state word at `turn`.
  static constexpr Word at(Word turn) noexcept { return (turn & kTurnMask) << kTurnShift; }
  static constexpr Word channel_of(Word turn) noexcept { return 1u << ((turn & kTurnMask) % 31); }
  // The turn of the put (side 0) or take (side 1) of lap `lap`.
  static constexpr Word turn_for(std::uint64_t lap, unsigned side) noexcept {
    return static_cast<Word>((2 * lap + side) & kTurnMask);
  }

  explicit TurnSlot(std::uint64_t first_lap = 0) noexcept : state_(at(turn_for(first_lap, 0))), seq_(0), waiters_(0) {}
  TurnSlot(const TurnSlot&) = delete;
  TurnSlot& operator=(const TurnSlot&) = delete;

  // put: the owner of `turn` (a put turn) stores `v` and hands the slot to the
  // take of the same lap.  Blocks until the turn comes.  On closed, `v` is
  // left as it was.
  //
  // admitted(): the dispatcher's close rule for this put: true while the
  // dispatcher is open, and after a close for the puts the rule lets
  // complete.  Asked once the value is in the cell, before the publication;
  // and by the wait, once the slot's flag is seen (an admitted put keeps
  // waiting for its turn, which the dispatcher guarantees will come; the
  // others return closed).  A put that is refused must still see what the
  // closer did before close(): admitted() reads the dispatcher's flag with an
  // acquire when it refuses.
  //
  // spent: the spin budget the caller has already used on this operation (a
  // late claim's poll, see Queue); the wait spins only for the rest.
  using Backoff = platform::Backoff<Platform>;
  template <class Admitted>
  Status put(Word turn, T& v, Admitted admitted, Backoff spent = {}) noexcept {
    static_assert(std::is_nothrow_move_constructible_v<T>);
    const Word mine = at(turn);
    if (wait_until(turn, [&admitted](Word) { return !admitted(); }, spent) != mine) return Status::closed;
    // The turn is ours, so is the cell.  The value goes in before the check,
    // so that nothing between the check and the publication runs user code.
    value_.write().construct(std::move(v));
    if (!admitted()) {
      // Still our turn (it never advanced): nobody else touches the cell.
      v = std::move(value_.write().get());
      value_.write().destroy();
      return Status::closed;
    }
    // [S1] release: publishes the put's construction of the value to the
    // take that owns the next turn; pairs with [S2].
    state_.store(at(turn + 1), CUBBY_ORDER(S1, std::memory_order_release));
    after_store(channel_of(turn + 1));
    return Status::ok;
  }

  // take_with: the owner of `turn` (a take turn) moves the value out, hands
  // the slot to the next lap's put, and then hands the value (as T&&) to
  // `sink`, which must not throw.  Blocks until the value is there, or until
  // nothing_comes(w) says no put will ever deposit this turn's value (the
  // dispatcher's close rule; consulted only once the slot's flag is seen, at
  // word w, which is not at `turn`); the take then returns closed.
  // spent: as for put.
  template <class Sink, class NothingComes>
  Status take_with(Word turn, Sink&& sink, NothingComes nothing_comes, Backoff spent = {}) noexcept {
    static_assert(std::is_nothrow_invocable_v<Sink&, T&&>, "TurnSlot::take_with: the sink must be noexcept");
    if (wait_until(turn, nothing_comes, spent) != at(turn)) return Status::closed;  // no put will deposit
    // The value leaves the cell (a move construction, as a put's deposit)
    // before the turn is handed on; the sink runs after.  The sink's
    // assignment may destroy the receiver's old value, i.e. run user code
    // that may re-enter this queue (a handle that gives its resource back
    // to its free list): inside the turn, a push to this slot's next lap
    // would wait for the turn its own thread holds.
    T taken(std::move(value_.write().get()));
    value_.write().destroy();
    // [S1] release: publishes the take's move-out (the cell is free again)
    // to the put that owns the next turn; pairs with [S2].  A plain store:
    // only the owner of the current turn writes state_.
    state_.store(at(turn + 1), CUBBY_ORDER(S1, std::memory_order_release));
    after_store(channel_of(turn + 1));
    sink(std::move(taken));
    return Status::ok;
  }

  // close: marks the slot closed and wakes every sleeper, who then asks the
  // dispatcher's rule.  The dispatcher fixes its rule (close()'s tickets)
  // before it closes a slot.
  void close() noexcept {
    // [S3] release: pairs with the acquire loads of the flag (is_closed);
    // whatever the closer did before close() is visible to a thread that
    // returns `closed` because of it.
    const std::uint64_t prev = waiters_.fetch_or(kClosed, CUBBY_ORDER(S3, std::memory_order_release));
    // Only counted sleepers need the wake: one that counts itself in after
    // this RMW reads the flag in its own RMW and does not sleep.
    if ((prev & kClosed) == 0 && (prev & ~kClosed) != 0) wake(platform::futex_all_channels);
  }
  // is_closed: acquire, pairs with [S3].
  bool is_closed() const noexcept {
    // [S3] acquire: pairs with close()'s release RMW.
    return (waiters_.load(CUBBY_ORDER(S3, std::memory_order_acquire)) & kClosed) != 0;
  }

  // ready: whether the word is at `turn` now: a hint for a late
  // claim (Queue), whose owner then acts only through its ticket: put and
  // take re-read the word with [S2] and wait if it is not at their turn.
  // relaxed: a stale "no" only delays the claim; a stale "yes" names a
  // ticket another thread has taken already (only the turn's owner moves the
  // word on), so the claim's CAS fails.
  bool ready(Word turn) const noexcept { return state_.load(std::memory_order_relaxed) == at(turn); }

  // holds_value: whether a put's value sits in the slot.  Only meaningful
  // when no operation runs (destruction); relaxed: quiescent by contract.
  bool holds_value_quiescent() const noexcept {
    return (turn_of(state_.load(std::memory_order_relaxed)) & 1u) != 0;
  }
  // destroy_value_quiescent: destroys the value left in the slot (destructor).
  void destroy_value_quiescent() noexcept { value_.write().destroy(); }

  // ---- ticketless timed waiters (see claim_until) ----

  enum class TimedWait { woken, timed_out, closed };
  // wait_timed: counts a ticketless waiter in, then asks still_waiting()
  // (after [D2], so that every advance of this slot that came before is
  // visible to what it reads); if it says yes, sleeps until the next advance
  // of this slot, close, or the deadline.  closed: the slot was closed
  // before the waiter counted in (still_waiting() is then not called).
  template <class StillWaiting>
  TimedWait wait_timed(const platform::SteadyTime* deadline, StillWaiting still_waiting) noexcept {
    // [S4] acquire: pairs with the release bump in wake(); see sleep_at.
    const Word seq = seq_.load(CUBBY_ORDER(S4, std::memory_order_acquire));
    // relaxed: the count needs only RMW atomicity; [D2] orders it.  A closed
    // flag seen here is acquired below.
    const std::uint64_t prev = waiters_.fetch_add(kTimedOne, std::memory_order_relaxed);
    TimedWait result = TimedWait::woken;
    if ((prev & kClosed) != 0) {
      // [S3] acquire: our caller returns closed (or drains) because of the
      // flag, so what the closer did before close() (Cubby: its close
      // tickets) must be visible to it.
      (void)is_closed();
      result = TimedWait::closed;
    } else {
      if (CUBBY_KEEP(D2)) Platform::heavy_barrier();  // [D2]
      if (still_waiting() && Platform::wait(seq_, seq, kTimedChannel, deadline) == platform::FutexResult::timed_out) {
        result = TimedWait::timed_out;
      }
    }
    // relaxed: RMW atomicity only.
    waiters_.fetch_sub(kTimedOne, std::memory_order_relaxed);
    return result;
  }

 private:
  // after_store: the advancer's half of [D1]/[D2], after every store that
  // may let a sleeper go on.  With nobody asleep: a compiler barrier and a
  // load that hits this thread's cache.
  void after_store(Word channel) noexcept {
    if (CUBBY_KEEP(D1)) Platform::light_barrier();  // [D1]
    // relaxed: [D1] makes the count fresh enough; no data flows through it.
    const std::uint64_t w = waiters_.load(std::memory_order_relaxed);
    Word channels = 0;
    if ((w >> 32) != 0) channels |= channel;
    if ((w & kTimedMask) != 0) channels |= kTimedChannel;
    if (channels != 0) wake(channels);
  }
  void wake(Word channels) noexcept {
    // [S4] release: a sleeper that reads this bump (or a later one) as its
    // futex expectation counted itself in after we read the count, so it
    // re-reads state_ after [D2] and sees what we published.  The bump
    // changes the futex word: a sleeper that has not reached the kernel yet
    // returns at once instead of missing the wake.
    seq_.fetch_add(1, CUBBY_ORDER(S4, std::memory_order_release));
    Platform::wake(seq_, channels);
  }

  // wait_until: returns the state word once it is at `turn`, or once the
  // slot is closed and give_up(word) says so (the word is then not at
  // `turn`).  Spins (what is left of `backoff`), then sleeps on turn's
  // channel.
  template <class GiveUp>
  Word wait_until(Word turn, GiveUp give_up, Backoff backoff) noexcept {
    const Word mine = at(turn);
    for (;;) {
      // [S2] acquire: pairs with [S1]: the previous turn's access to the value
      // happens-before ours.
      const Word s = state_.load(CUBBY_ORDER(S2, std::memory_order_acquire));
      if (s == mine) return s;
      // is_closed acquires [S3]: the dispatcher's close tickets, stored
      // before the slot's close, are visible to give_up.
      const bool closed = is_closed();
      if (closed && give_up(s)) return s;
      if (backoff.spin_once()) continue;
      sleep_at(turn, s, closed);
    }
  }

  // sleep_at: sleeps on turn's channel (every channel once closed) unless
  // the slot moved on from (state `seen`, closed `closed_seen`).  Returns
  // after a wake, a change, or when there is no reason to sleep; the caller
  // re-checks.
  void sleep_at(Word turn, Word seen, bool closed_seen) noexcept {
    // [S4] acquire: pairs with the release bump in wake().  If this read saw
    // an advancer's bump, that advancer's count load happened before it, so
    // before our count RMW below, and could not see our count (coherence).
    // So an advancer whose load does see our count bumps seq_ after this
    // read: the futex wait below then finds seq_ changed, or is woken.
    const Word seq = seq_.load(CUBBY_ORDER(S4, std::memory_order_acquire));
    // [D2] relaxed RMW, heavy barrier, then the re-read: the sleeper's half of
    // the Dekker pair with [D1].  relaxed: RMW atomicity only.
    const std::uint64_t prev = waiters_.fetch_add(kSleeperOne, std::memory_order_relaxed);
    if (CUBBY_KEEP(D2)) Platform::heavy_barrier();
    // [S2] acquire on the re-read as on any read of the word.
    const Word now = state_.load(CUBBY_ORDER(S2, std::memory_order_acquire));
    if (now == seen && ((prev & kClosed) != 0) == closed_seen) {
      Platform::wait(seq_, seq, channel_of(turn), nullptr);
    }
    // relaxed: RMW atomicity only.
    waiters_.fetch_sub(kSleeperOne, std::memory_order_relaxed);
  }

  typename Platform::template atomic<Word> state_;
  typename Platform::template atomic<Word> seq_;
  typename Platform::template atomic<std::uint64_t> waiters_;
  typename Platform::template cell<Storage<T>> value_;
};

}  // namespace cubby::detail
