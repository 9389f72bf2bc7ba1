// cubby/detail/turn_slot.hpp: one slot of a turn-ordered exchange: a 32-bit
// turn word and the value it guards.  The building block of Cubby (one slot)
// and of Queue (an array of slots with ticket dispatch).
//
// The turn-sequencing technique (per-slot turns, waiters announcing how far
// ahead they wait, futex bitset channels so a handoff wakes only the next
// turn) follows folly's detail/TurnSequencer.h; the closed bit, the
// timed-waiter channel and the saturation reset are cubby's.
//
// Contract
// --------
// Turns are handed out by the dispatcher (Cubby, Queue): turn 2L belongs to
// the put of lap L, turn 2L+1 to the take of lap L.  Exactly one thread owns
// each turn, and only the owner of the current turn touches the value.  The
// owner finishes its turn with advance(), which hands the slot to turn+1 and
// wakes the thread waiting for it, if any, and nobody else.
//
// close() sets the closed bit.  From then on no put can complete (the value
// stays with the caller), a take still receives a value already put, and a
// take whose value will never come returns closed.
//
// Which puts may still complete after close is the dispatcher's policy,
// passed to put() as `admitted`: the default (no put completes once the bit
// is seen) suits Queue; Cubby admits the puts that close() found logically
// in line (see cubby.hpp, "close"), which makes its close linearizable.
//
// Representation: the state word (32 bits, one futex word)
//
//   31                    12 11                 2   1        0
//   +-----------------------+--------------------+--------+--------+
//   |  turn (20 bits, mod)  | waiter delta (10)  | timed  | closed |
//   +-----------------------+--------------------+--------+--------+
//
//   turn:   whose turn it is, modulo 2^20.  At most 2^19 turns may be waited
//           for ahead of the current one (2^18 waiting threads per slot).
//   delta:  0 if nobody sleeps in line; otherwise at least the largest
//           (awaited turn - turn) among sleeping waiters.  Each advance
//           decrements it; a waiter raises it before it sleeps.  It saturates
//           at 1023: an advance that finds it saturated wakes everyone and
//           resets it, and the waiters announce themselves again.
//   timed:  a waiter that holds no turn yet (a timed operation waiting for its
//           turn to be promised, see Cubby) sleeps on the timed channel.
//   closed: set once by close(), never cleared.
//
// Invariant: a thread sleeps on the word only after announcing itself in
// delta or timed with a CAS whose result is the value it passes to the futex,
// so an advance either sees the announcement (and wakes) or changes the word
// first (and the futex wait returns at once).
//
// Futex channels: a waiter for turn t sleeps on bit (t mod 31); ticketless
// timed waiters on bit 31.  With at most 31 threads in line per slot a handoff
// wakes exactly the next turn's owner; beyond that, waiters 31 turns apart
// share a channel, wake together, and all but one sleep again.
//
// Costs: put/take with nobody waiting: one acquire load of the word, the
// value access, one CAS.  No syscall unless delta or timed is set.
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

  static constexpr Word kClosed = 1u << 0;
  static constexpr Word kTimed = 1u << 1;
  static constexpr unsigned kDeltaShift = 2;
  static constexpr Word kDeltaMax = (1u << 10) - 1;
  static constexpr Word kDeltaMask = kDeltaMax << kDeltaShift;
  static constexpr unsigned kTurnShift = 12;
  static constexpr Word kTurnMask = (1u << 20) - 1;
  static constexpr Word kTimedChannel = 1u << 31;

  static constexpr Word turn_of(Word state) noexcept { return state >> kTurnShift; }
  static constexpr Word delta_of(Word state) noexcept { return (state & kDeltaMask) >> kDeltaShift; }
  static constexpr Word channel_of(Word turn) noexcept { return 1u << (turn % 31); }
  // The turn of the put (side 0) or take (side 1) of lap `lap`.
  static constexpr Word turn_for(std::uint64_t lap, unsigned side) noexcept {
    return static_cast<Word>((2 * lap + side) & kTurnMask);
  }

  explicit TurnSlot(std::uint64_t first_lap = 0) noexcept : state_(turn_for(first_lap, 0) << kTurnShift) {}
  TurnSlot(const TurnSlot&) = delete;
  TurnSlot& operator=(const TurnSlot&) = delete;

  // put: the owner of `turn` (a put turn) stores `v` and hands the slot to the
  // take of the same lap.  Blocks until the turn comes.  On closed, `v` is
  // left as it was (moved back if it had been moved in).
  //
  // admitted(): consulted only once the closed bit is seen: whether this put
  // still completes after close.  An admitted put keeps waiting for its turn
  // (which the dispatcher guarantees will come); the others return closed.
  template <class Admitted>
  Status put(Word turn, T& v, Admitted admitted) noexcept {
    static_assert(std::is_nothrow_move_constructible_v<T>);
    const Word s = wait_until(turn, [turn, &admitted](Word w) {
      return turn_of(w) == turn || ((w & kClosed) != 0 && !admitted());
    });
    if (turn_of(s) != turn || ((s & kClosed) != 0 && !admitted())) return Status::closed;
    value_.write().construct(std::move(v));
    if (!advance(turn, [&admitted](Word) { return admitted(); })) {
      // Closed between the wait and the publication: nobody read the cell.
      // The bit was seen only by relaxed loads; re-read it with [S3] acquire
      // so that what the closer did before close() is visible to our caller.
      (void)is_closed();
      v = std::move(value_.write().get());
      value_.write().destroy();
      return Status::closed;
    }
    return Status::ok;
  }
  // put without a close policy: no put completes once the closed bit is seen.
  Status put(Word turn, T& v) noexcept {
    return put(turn, v, [] { return false; });
  }

  // take: the owner of `turn` (a take turn) moves the value out and hands the
  // slot to the next lap's put.  Blocks until the value is there, or until
  // the slot is closed with no value for this turn.
  Status take(Word turn, T& out) noexcept {
    static_assert(std::is_nothrow_move_assignable_v<T>);
    return take_with(turn, [&out](T&& v) noexcept { out = std::move(v); });
  }
  // take_with: as take, but hands the value (as T&&) to `sink`, which must
  // not throw; for receivers that construct rather than assign (optional<T>).
  // Without a close policy, a closed slot on a put turn will receive nothing.
  template <class Sink>
  Status take_with(Word turn, Sink&& sink) noexcept {
    return take_with(turn, sink, [](Word w) { return (turn_of(w) & 1u) == 0; });
  }
  // take_with(turn, sink, nothing_comes): nothing_comes(w), consulted only on
  // a closed word that is not at `turn`, says that no put will ever deposit
  // this turn's value; the take then returns closed.
  template <class Sink, class NothingComes>
  Status take_with(Word turn, Sink&& sink, NothingComes nothing_comes) noexcept {
    static_assert(std::is_nothrow_invocable_v<Sink&, T&&>, "TurnSlot::take_with: the sink must be noexcept");
    const Word s = wait_until(turn, [turn, &nothing_comes](Word w) {
      return turn_of(w) == turn || ((w & kClosed) != 0 && nothing_comes(w));
    });
    if (turn_of(s) != turn) return Status::closed;  // closed, and no put will ever deposit
    sink(std::move(value_.write().get()));
    value_.write().destroy();
    // Only this thread can move the word away from a take turn: cannot fail.
    advance(turn, [](Word) { return true; });
    return Status::ok;
  }

  // close: no put completes after this; wakes every waiter.
  void close() noexcept {
    // [S3] release: pairs with the acquire loads [S2]/[S4] that see the bit;
    // whatever the closer did before close() is visible to a thread that
    // returns `closed` because of it.
    const Word prev = state_.fetch_or(kClosed, CUBBY_ORDER(S3, std::memory_order_release));
    if ((prev & kClosed) == 0) Platform::wake(state_, platform::futex_all_channels);
  }

  // is_closed: acquire, pairs with [S3].
  bool is_closed() const noexcept { return (state_.load(CUBBY_ORDER(S3, std::memory_order_acquire)) & kClosed) != 0; }

  // holds_value: whether a put's value sits in the slot.  Only meaningful
  // when no operation runs (destruction); relaxed: quiescent by contract.
  bool holds_value_quiescent() const noexcept {
    return (turn_of(state_.load(std::memory_order_relaxed)) & 1u) != 0;
  }
  // destroy_value_quiescent: destroys the value left in the slot (destructor).
  void destroy_value_quiescent() noexcept { value_.write().destroy(); }

  // ---- ticketless timed waiters (see Cubby::claim_until) ----

  // announce_timed: marks a ticketless waiter and returns the word to sleep
  // on.  [S4] acquire (load and CAS): pairs with [S1], so a dispatcher ticket
  // taken before the advance that produced this word is visible to the
  // caller's re-check of its promise after this returns.
  Word announce_timed() noexcept {
    Word s = state_.load(CUBBY_ORDER(S4, std::memory_order_acquire));  // [S4]
    while ((s & (kTimed | kClosed)) == 0) {
      // [S4] acquire on success and on failure (the re-read word is the
      // one the caller may sleep on): pairs with [S1].
      const auto order = CUBBY_ORDER(S4, std::memory_order_acquire);
      if (state_.compare_exchange_weak(s, s | kTimed, order, order)) {
        return s | kTimed;
      }
    }
    return s;
  }
  platform::FutexResult sleep_timed(Word expected, const platform::SteadyTime* deadline) noexcept {
    return Platform::wait(state_, expected, kTimedChannel, deadline);
  }

 private:
  // advance: hands `turn` to turn+1.  False (and no change) if the word has
  // left `turn`, or if it is closed and !allow_closed(word).
  template <class AllowClosed>
  bool advance(Word turn, AllowClosed allow_closed) noexcept {
    // relaxed: only a guess for the CAS, which validates it.
    Word s = state_.load(std::memory_order_relaxed);
    for (;;) {
      if (turn_of(s) != turn || ((s & kClosed) != 0 && !allow_closed(s))) return false;
      const Word d = delta_of(s);
      // Saturated delta: reset it and wake everyone (below); they re-announce.
      const Word next_d = (d == 0 || d == kDeltaMax) ? 0 : d - 1;
      const Word next_turn = (turn + 1) & kTurnMask;
      const Word next = (next_turn << kTurnShift) | (next_d << kDeltaShift) | (s & kClosed);
      // [S1] release: publishes this turn's access to the value (the put's
      // construction, or the take's move-out) to the owner of the next turn;
      // pairs with [S2].  Also heads the release sequence [S4] reads.
      if (state_.compare_exchange_weak(s, next, CUBBY_ORDER(S1, std::memory_order_release), std::memory_order_relaxed)) {
        Word channels = 0;
        if ((s & kClosed) != 0 || d == kDeltaMax) {
          channels = platform::futex_all_channels;
        } else {
          if (d != 0) channels |= channel_of(next_turn);
          if ((s & kTimed) != 0) channels |= kTimedChannel;
        }
        if (channels != 0) Platform::wake(state_, channels);
        return true;
      }
    }
  }

  // wait_until: returns the first state word satisfying done(); spins, then
  // announces `turn` in delta and sleeps on its channel.
  template <class Done>
  Word wait_until(Word turn, Done done) noexcept {
    platform::Backoff<Platform> backoff;
    for (;;) {
      // [S2] acquire: pairs with [S1]: the previous turn's access to the value
      // happens-before ours.  Also pairs with [S3].
      Word s = state_.load(CUBBY_ORDER(S2, std::memory_order_acquire));
      if (done(s)) return s;
      if (backoff.spin_once()) continue;
      const Word ahead = (turn - turn_of(s)) & kTurnMask;
      const Word want = ahead < kDeltaMax ? ahead : kDeltaMax;
      Word expected = s;
      if (want > delta_of(s)) {
        expected = (s & ~kDeltaMask) | (want << kDeltaShift);
        // relaxed: the announcement needs only RMW atomicity against the
        // advancing CAS on this same word; the turn is re-read at [S2].
        if (!state_.compare_exchange_weak(s, expected, std::memory_order_relaxed, std::memory_order_relaxed)) continue;
      }
      Platform::wait(state_, expected, channel_of(turn), nullptr);
    }
  }

  typename Platform::template atomic<Word> state_;
  typename Platform::template cell<Storage<T>> value_;
};

}  // namespace cubby::detail
