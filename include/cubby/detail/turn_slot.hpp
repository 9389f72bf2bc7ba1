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
// close() sets the closed flag.  Once settle() has also run, no put that
// marks itself busy can complete unadmitted (the value stays with the
// caller); a take still receives a value already put, and a take whose
// value will never come returns closed.
//
// Which puts may still complete after close is the dispatcher's policy,
// passed to put() as `admitted`: the default (no put completes once the flag
// is seen) suits Queue; Cubby admits the puts that close() found logically
// in line (see cubby.hpp, "close"), which makes its close linearizable.
//
// Representation (three words and the value, on one cache line)
// --------------
//   state_   (32 bits)  turn << 1 | busy.  Written only by the owner of the
//                       current turn, with plain stores: no RMW on the fast
//                       path.  busy: a put is between its closed check and
//                       its publication (see put).  Turns wrap modulo 2^31.
//   waiters_ (64 bits)  closed (bit 0), ticketless timed sleepers (bits
//                       1-31, a count), turn sleepers (bits 32-63, a count).
//   seq_     (32 bits)  the futex word sleepers wait on.  Bumped (changed)
//                       before every wake, so a sleeper that has not reached
//                       the kernel yet does not miss it.
//
// Why no wake-up is lost (the Dekker pair [D1]/[D2])
// ---------------------------------------------------
// Every store that advances state_ (or clears busy) is followed by a light
// barrier [D1] and a load of waiters_; a non-zero count there means a bump of
// seq_ and a wake.  A sleeper first reads seq_, then counts itself into
// waiters_ (an RMW), runs the heavy barrier [D2] and re-reads state_: either
// it sees the advance (and does not sleep), or the advancer's load sees its
// count (and bumps seq_, so the sleeper's futex wait returns or is woken).
// The barrier pair costs the advancer a compiler barrier and the sleeper a
// membarrier(2) (platform/native.hpp): the fast path has no RMW and no fence.
//
// Why close and a put cannot cross (busy, [D3])
// ----------------------------------------------
// A put stores busy, runs a light barrier [D3] and then reads the closed
// flag; it publishes only if the flag was clear (or it is admitted).  Whoever
// decides from the flag that no put will come (a take giving up, close()
// settling) runs a heavy barrier [D3] after seeing the flag and then reads
// state_: a put that read the flag clear is busy or done by then, and a put
// that is neither will read the flag set.
//
// Futex channels: a sleeper for turn t waits on bit (t mod 31); ticketless
// timed sleepers on bit 31.  While the turns that threads wait for on one
// slot span fewer than 31 (puts and takes both count: about 15 laps of
// waiters), an advance wakes exactly the next turn's owner; beyond that,
// sleepers 31 turns apart share a channel, wake together, and all but one
// sleep again.  (At the turn wrap, 2^31 = 2 mod 31, so turns 2^31 - 2 and
// 2^31 - 1 share channels with turns 0 and 1: an extra wake, no more.)
//
// Costs: put with nobody asleep: one acquire load of state_, two plain stores
// to it, two loads of waiters_ (the closed flag, then the sleeper count),
// the value write; take: one acquire load, one plain store, one load of
// waiters_, the value read.  No RMW, no fence, no syscall unless a thread
// sleeps.  After close, a wait that sees the flag runs one heavy barrier
// ([D3], a membarrier(2) syscall) before it decides: a cost of operations
// that meet the close, not of the open queue.
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

  static constexpr Word kBusy = 1u;
  static constexpr unsigned kTurnShift = 1;
  static constexpr Word kTurnMask = (1u << 31) - 1;
  static constexpr Word kTimedChannel = 1u << 31;

  static constexpr std::uint64_t kClosed = 1;
  static constexpr std::uint64_t kTimedOne = 2;
  static constexpr std::uint64_t kTimedMask = 0xFFFF'FFFEull;
  static constexpr std::uint64_t kSleeperOne = 1ull << 32;

  static constexpr Word turn_of(Word state) noexcept { return state >> kTurnShift; }
  static constexpr bool busy(Word state) noexcept { return (state & kBusy) != 0; }
  // at: the state word at `turn`, not busy.
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
  // admitted(): consulted only once the closed flag is seen: whether this put
  // still completes after close.  An admitted put keeps waiting for its turn
  // (which the dispatcher guarantees will come); the others return closed.
  //
  // Guard: how the put's closed check is made safe against a take that gives
  // up (and close() settling).  Guard::busy (the default) marks the put busy
  // around the check ([D3]).  Guard::ordered omits the mark, for a dispatcher
  // whose close rule keeps every put that is not admitted from owning its
  // turn until after the closed flag was seen by the previous turn's owner,
  // so that the flag is ordered before the put's check by the turn word
  // ([S3] then [S1]/[S2]): Cubby (cubby.hpp, "The close rule").
  //
  // spent: the spin budget the caller has already used on this operation (a
  // late claim's poll, see Queue); the wait spins only for the rest.
  enum class Guard { busy, ordered };
  using Backoff = platform::Backoff<Platform>;
  template <class Admitted>
  Status put(Word turn, T& v, Admitted admitted, Guard guard = Guard::busy, Backoff spent = {}) noexcept {
    static_assert(std::is_nothrow_move_constructible_v<T>);
    const Word mine = at(turn);
    if (wait_until(turn, [&admitted](Word) { return !admitted(); }, spent) != mine) return Status::closed;
    // The turn is ours, so is the cell.  The value goes in before busy, so
    // that the busy window (which close() waits out) runs no user code.
    value_.write().construct(std::move(v));
    if (guard == Guard::busy) {
      // [D3] relaxed store, light barrier, relaxed load: the Dekker pair with
      // the heavy barrier of whoever decides from the closed flag (take_with's
      // give-up, settle()).  relaxed: only this thread writes state_ now; the
      // barrier, not the store's order, is what the pair needs.
      state_.store(mine | kBusy, std::memory_order_relaxed);
      if (CUBBY_KEEP(D3)) Platform::light_barrier();
    }
    // relaxed: [D3] (or, for Guard::ordered, the turn's acquire [S2]) makes
    // the flag fresh enough; is_closed() below acquires.
    if ((waiters_.load(std::memory_order_relaxed) & kClosed) != 0 && !admitted()) {
      (void)is_closed();  // [S3] acquire: what the closer did before close() is visible to our caller
      if (guard == Guard::busy) {
        state_.store(mine, std::memory_order_relaxed);  // relaxed: nothing was published; only the owner writes
        after_store(platform::futex_all_channels);      // a take or a settle() that slept on busy re-decides
      }
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
  // put without a close policy: no put completes once the closed flag is seen.
  Status put(Word turn, T& v, Backoff spent = {}) noexcept {
    return put(turn, v, [] { return false; }, Guard::busy, spent);
  }

  // take: the owner of `turn` (a take turn) moves the value out and hands the
  // slot to the next lap's put.  Blocks until the value is there, or until
  // the slot is closed with no value for this turn.
  // spent: as for put.
  Status take(Word turn, T& out, Backoff spent = {}) noexcept {
    static_assert(std::is_nothrow_move_assignable_v<T>);
    return take_with(turn, [&out](T&& v) noexcept { out = std::move(v); }, nothing_comes_by_default, spent);
  }
  // take_with: as take, but hands the value (as T&&) to `sink`, which must
  // not throw; for receivers that construct rather than assign (optional<T>).
  // Without a close policy, a closed slot on a put turn will receive nothing.
  static constexpr bool nothing_comes_by_default(Word w) noexcept { return (turn_of(w) & 1u) == 0; }
  template <class Sink>
  Status take_with(Word turn, Sink&& sink) noexcept {
    return take_with(turn, sink, nothing_comes_by_default);
  }
  // take_with(turn, sink, nothing_comes): nothing_comes(w), consulted only
  // once the slot is closed and settled (no put busy, [D3]) at word w, which
  // is not at `turn`, says that no put will ever deposit this turn's value;
  // the take then returns closed.
  template <class Sink, class NothingComes>
  Status take_with(Word turn, Sink&& sink, NothingComes nothing_comes, Backoff spent = {}) noexcept {
    static_assert(std::is_nothrow_invocable_v<Sink&, T&&>, "TurnSlot::take_with: the sink must be noexcept");
    if (wait_until(turn, nothing_comes, spent) != at(turn)) return Status::closed;  // closed, and no put will deposit
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

  // close: marks the slot closed and wakes every sleeper.  Once settle() has
  // also run (after one heavy barrier for any number of slots, see Queue),
  // no put that marks itself busy (Guard::busy) can complete unadmitted.
  void close() noexcept {
    // [S3] release: pairs with the acquire loads of the flag (is_closed);
    // whatever the closer did before close() is visible to a thread that
    // returns `closed` because of it.
    const std::uint64_t prev = waiters_.fetch_or(kClosed, CUBBY_ORDER(S3, std::memory_order_release));
    // Only counted sleepers need the wake: one that counts itself in after
    // this RMW reads the flag in its own RMW and does not sleep.
    if ((prev & kClosed) == 0 && (prev & ~kClosed) != 0) wake(platform::futex_all_channels);
  }
  // settle: waits while a put that missed the flag is between its check and
  // its publication (a few instructions, no user code; longer only if its
  // thread is preempted there).  Only after close() and a heavy barrier [D3]
  // (which makes every such put's busy visible here).  Spins, then sleeps as
  // a counted waiter: the put's publication or retreat wakes it.
  void settle() noexcept {
    platform::Backoff<Platform> backoff;
    for (;;) {
      // [S2] acquire, as every read of the word (only busy matters here).
      const Word s = state_.load(CUBBY_ORDER(S2, std::memory_order_acquire));
      if (!busy(s)) return;
      if (backoff.spin_once()) continue;
      sleep_at(turn_of(s), s, /*closed_seen=*/true);
    }
  }

  // is_closed: acquire, pairs with [S3].
  bool is_closed() const noexcept {
    // [S3] acquire: pairs with close()'s release RMW.
    return (waiters_.load(CUBBY_ORDER(S3, std::memory_order_acquire)) & kClosed) != 0;
  }

  // ready: whether the word is at `turn`, not busy, now: a hint for a late
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
  // slot is closed and settled and give_up(word) says so (the word is then
  // not at `turn`).  Spins (what is left of `backoff`), then sleeps on
  // turn's channel.
  template <class GiveUp>
  Word wait_until(Word turn, GiveUp give_up, Backoff backoff) noexcept {
    const Word mine = at(turn);
    bool settled = false;  // closed seen, and [D3] run since
    for (;;) {
      // [S2] acquire: pairs with [S1]: the previous turn's access to the value
      // happens-before ours.
      Word s = state_.load(CUBBY_ORDER(S2, std::memory_order_acquire));
      if (s == mine) return s;
      if (!settled && is_closed()) {
        // [D3] heavy barrier: a put that read the flag clear is busy (or has
        // published) in what we read next; any other put will see the flag.
        if (CUBBY_KEEP(D3)) Platform::heavy_barrier();
        settled = true;
        s = state_.load(CUBBY_ORDER(S2, std::memory_order_acquire));  // [S2], as above
        if (s == mine) return s;
      }
      if (settled && !busy(s) && give_up(s)) return s;
      if (backoff.spin_once()) continue;
      sleep_at(turn, s, settled);
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
      // Once closed, a waiter may also be waiting for a busy put to resolve,
      // which wakes the put's next turn: listen on every channel.
      Platform::wait(seq_, seq, closed_seen ? platform::futex_all_channels : channel_of(turn), nullptr);
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
