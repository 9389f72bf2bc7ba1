// stress/harness/fifo_spec.hpp: the sequential specification of a closable
// bounded FIFO, for the linearizability checker.  The Cubby is the FIFO of
// capacity 1; the Queue, of capacity n.
//
// State: the values held, oldest first; the capacity; closed or not.
// Operations and the results the specification allows:
//   push(v) (blocking):  ok if open and not full (appends v); closed if closed.
//   push_for(v, t):      as push, or timeout if open and full.
//   try_push(v):         true as push ok; false if full or closed.
//   pop (blocking):      ok(front) if not empty (even when closed: values put
//                        before close() are still delivered); closed if
//                        closed and empty.
//   pop_for(t):          as pop, or timeout if open and empty.
//   try_pop:             a value as pop ok; none if empty.
//   close():             closed := true.  Recorded as two operations over
//                        the call's interval, close-begins and close-ends:
//                        between them the primitive is *closing*, and a push
//                        may still complete or already see closed (a channel
//                        whose close lets pushes in progress finish until it
//                        returns).  For Cubby and Queue, whose close takes
//                        effect at one RMW (their close rule), both points
//                        coincide (LinShape::atomic_close).  With several
//                        close() calls overlapping, the state is closed once
//                        the last of them ends: a second, idempotent close()
//                        may return before pushes that the first one lets
//                        finish.
// A blocking operation that waited is linearized where its wait ended (the
// partial-operation treatment of Herlihy & Wing): only its result, not its
// waiting, is checked.
//
// Pushes voided by close (the looser reading, for channels whose close
// voids pushes in line; the default unless the workload's primitive
// promises an atomic close or --strict-close is given): a push
// that has taken its place in line (a blocking push on arrival, a timed or
// try push once its turn is promised) holds that place, so later pushes see
// the primitive full, until it deposits or close() voids it, and it returns
// closed (try_push: false) keeping its value.  The specification models such
// a push as a *reservation*: a push with result closed/false that overlaps a
// close() (Call::voidable, set by the recorder) may linearize, while open, as
// taking a place at the tail (State::reserved) that no pop can take; close()
// drops every reservation.  A pop that finds only reservations ahead waits
// for them: "empty" results need no reservation left; a failed pop that
// overlaps a close() (voidable too) may instead linearize, while open and
// with no value ahead, as claiming the first reservation, both then voided by
// close() (the pop waited for a value the voided push never deposited).
// A voidable push may also linearize as a *claimed* reservation
// (State::claimed): one a pop already in line has taken and waits on, so it
// counts toward full, but other pops do not wait for it (they find the queue
// empty, or take what comes behind it).  That pop, once close() voids the
// reservation, takes the next value instead (as a pop that meets a hole
// claims again), so its own result is an ordinary one, linearized later.
// Only pushes that overlap a close() have these readings; the spec does not
// check that a pop was in line to claim one (its state has no pending
// operations), so around a close it accepts an empty try_pop beside a push
// in line.  With
// --strict-close the recorder never sets voidable: close() must then be
// atomic with respect to pushes already in line.  Cubby and Queue promise
// that (their close rule), and cubby-lin and queue-lin always check it so
// (LinShape::atomic_close); the looser reading serves channels that void
// pushes in line at close (broken-queue-lin still finds no legal order).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>

#include "cubby/status.hpp"

namespace cubby::stress {

struct FifoSpec {
  static constexpr unsigned kMaxValues = 16;

  struct State {
    std::array<std::uint64_t, kMaxValues> values{};  // [0, size), oldest first
    std::uint8_t size = 0;
    std::uint8_t capacity = 1;
    std::uint8_t reserved = 0;  // places held by pushes close() may still void
    std::uint8_t claimed = 0;   // of such places, ones a pop in line has taken (see above)
    std::uint8_t phase = 0;     // 0 open, 1 closing, 2 closed
    std::uint8_t closers = 0;   // close() calls begun and not yet ended
    bool operator==(const State& o) const noexcept {
      if (size != o.size || capacity != o.capacity || phase != o.phase || closers != o.closers || reserved != o.reserved ||
          claimed != o.claimed) {
        return false;
      }
      for (unsigned i = 0; i < size; ++i) {
        if (values[i] != o.values[i]) return false;
      }
      return true;
    }
  };

  enum class Kind : std::uint8_t { push, push_for, try_push, pop, pop_for, try_pop, close, close_begin, close_end };
  // Result of a try operation: ok (true / a value) or failed (false / none).
  enum class Result : std::uint8_t { ok, timeout, closed, failed };

  struct Call {
    Kind kind = Kind::push;
    Result result = Result::ok;
    std::uint64_t value = 0;  // pushed, or received by a successful pop
    bool voidable = false;    // a failed push that overlaps a close() (see above)
  };

  static Result from(Status s) noexcept {
    switch (s) {
      case Status::ok: return Result::ok;
      case Status::timeout: return Result::timeout;
      case Status::closed: return Result::closed;
    }
    return Result::failed;
  }

  static bool is_push(Kind k) noexcept { return k == Kind::push || k == Kind::push_for || k == Kind::try_push; }
  static bool is_pop(Kind k) noexcept { return k == Kind::pop || k == Kind::pop_for || k == Kind::try_pop; }

  // Three readings of an operation: choice 0 the plain one, choice 1 a
  // reservation, choice 2 a claimed reservation (voidable operations only).
  static constexpr unsigned kChoices = 3;
  static bool step(const State& s, const Call& c, unsigned choice, State& next) noexcept {
    return choice == 0 ? plain(s, c, next) : alternative(s, c, choice == 2, next);
  }

  static bool plain(const State& s, const Call& c, State& next) noexcept {
    next = s;
    const bool full = s.size + s.reserved + s.claimed >= s.capacity;
    const bool empty = s.size == 0 && s.reserved == 0;
    const bool open = s.phase == 0;
    const bool closing = s.phase >= 1;  // closing or closed: pushes may see it
    const bool closed = s.phase == 2;
    switch (c.kind) {
      case Kind::close:
        next.phase = 2;
        next.reserved = 0;
        next.claimed = 0;
        return true;
      case Kind::close_begin:
        next.phase = std::max<std::uint8_t>(s.phase, 1);
        ++next.closers;
        next.reserved = 0;
        next.claimed = 0;
        return true;
      case Kind::close_end:
        if (s.closers == 0) return false;
        --next.closers;
        if (next.closers == 0) next.phase = 2;
        return closing;
      default: break;
    }
    if (is_push(c.kind)) {
      switch (c.result) {
        case Result::ok:
          if (closed || full || s.size >= kMaxValues) return false;
          next.values[next.size++] = c.value;
          return true;
        case Result::closed: return c.kind != Kind::try_push && closing;
        case Result::timeout: return c.kind == Kind::push_for && open && full;
        case Result::failed: return c.kind == Kind::try_push && (full || closing);
      }
      return false;
    }
    switch (c.result) {
      case Result::ok:
        if (s.size == 0 || s.values[0] != c.value) return false;
        for (unsigned i = 1; i < s.size; ++i) next.values[i - 1] = s.values[i];
        next.values[--next.size] = 0;
        return true;
      case Result::closed: return c.kind != Kind::try_pop && closing && empty;
      case Result::timeout: return c.kind == Kind::pop_for && open && empty;
      case Result::failed: return c.kind == Kind::try_pop && empty;
    }
    return false;
  }

  // alternative: the other readings of a voidable push, a reservation
  // (claimed or not), and of a voidable pop, claiming one.
  static bool alternative(const State& s, const Call& c, bool claimed, State& next) noexcept {
    if (!c.voidable || c.result == Result::ok || s.phase == 2) return false;
    next = s;
    if (claimed) {
      if (!is_push(c.kind) || static_cast<unsigned>(s.size + s.reserved + s.claimed) >= kMaxValues) return false;
      ++next.claimed;
      return true;
    }
    if (is_pop(c.kind)) {
      // A pop in line behind nothing but reservations: it claims the first
      // one, and close() later voids both.
      if (s.size != 0 || s.reserved == 0) return false;
      --next.reserved;
      return true;
    }
    if (static_cast<unsigned>(s.size + s.reserved + s.claimed) >= kMaxValues) return false;
    ++next.reserved;
    return true;
  }

  static bool effect_free(const Call& c) noexcept {
    return is_push(c.kind) || is_pop(c.kind) ? c.result != Result::ok && !c.voidable : false;
  }

  static std::size_t hash(const State& s) noexcept {
    std::uint64_t h = s.size * 31u + s.capacity * 7u + s.reserved * 131u + s.claimed * 257u + s.phase * 17u + s.closers;
    for (unsigned i = 0; i < s.size; ++i) h = (h ^ s.values[i]) * 0x100000001B3ull;
    return static_cast<std::size_t>(h);
  }

  static std::string describe(const State& s) {
    std::string out = "[";
    for (unsigned i = 0; i < s.size; ++i) out += (i ? " " : "") + std::to_string(s.values[i]);
    out += "] capacity " + std::to_string(s.capacity);
    if (s.reserved != 0) out += ", " + std::to_string(s.reserved) + " reserved";
    if (s.claimed != 0) out += ", " + std::to_string(s.claimed) + " reserved and claimed by a pop";
    static constexpr const char* phases[] = {", open", ", closing", ", closed"};
    return out + phases[s.phase];
  }

  static std::string describe(const Call& c) {
    static constexpr const char* names[] = {"push",    "push_for", "try_push",           "pop",
                                            "pop_for", "try_pop",  "close",              "close() begins",
                                            "close() ends"};
    std::string out = names[static_cast<unsigned>(c.kind)];
    out += is_push(c.kind) ? "(" + std::to_string(c.value) + ")" : "()";
    if (c.voidable) out += "~";
    if (c.kind == Kind::close) return out;
    if (c.kind == Kind::close_begin || c.kind == Kind::close_end) return names[static_cast<unsigned>(c.kind)];
    out += " -> ";
    if (c.kind == Kind::try_push) return out + (c.result == Result::ok ? "true" : "false");
    if (c.kind == Kind::try_pop) return out + (c.result == Result::ok ? std::to_string(c.value) : "none");
    switch (c.result) {
      case Result::ok: return out + (is_pop(c.kind) ? "ok " + std::to_string(c.value) : "ok");
      case Result::timeout: return out + "timeout";
      case Result::closed: return out + "closed";
      case Result::failed: return out + "failed";
    }
    return out;
  }
};

}  // namespace cubby::stress
