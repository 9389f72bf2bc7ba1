// Model tests of cubby::Queue (include/cubby/queue.hpp): the same source as
// the real one, instantiated with mc::ModelPlatform, explored by the model
// checker.  Each test states which part of the contract it checks.  The
// queue's own labelled edges [Q1]/[Q2] (the closed flag) have a test that
// fails when either is weakened (queue_close_publishes); the slot edges
// [S1]..[S4] are shared with Cubby and also fail tests here
// (model_check/CMakeLists.txt registers the weakened builds).
//
// Sizes: capacity 1 and 2, two or three threads, a few operations each, so
// that each test explores exhaustively within its bounds in seconds.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>

#include "closed_pop_is_final.hpp"
#include "cubby/queue.hpp"
#include "cubby_mc/platform.hpp"

namespace mc = cubby::mc;
using cubby::Status;
using namespace std::chrono_literals;

namespace {

using Q = cubby::Queue<int, mc::ModelPlatform>;

// Spins (yielding to the scheduler) until pred() holds; fixes the arrival
// order of threads where a test checks an order that depends on it.
template <class Pred>
void await(Pred pred) {
  while (!pred()) mc::yield();
}

// Drains q after every thread finished (close first, so pop never blocks):
// the values left, in order.
struct Left {
  std::array<int, 8> v{};
  int n = 0;
};
Left drain(Q& q) {
  Left l;
  q.close();
  int x = -1;
  while (l.n < 8 && q.pop(x) == Status::ok) l.v[static_cast<std::size_t>(l.n++)] = x;
  return l;
}

}  // namespace

// ------------------------------------------------------------ FIFO, once ----

// Capacity 1: one pusher, one popper, two values: in order, once each.  The
// value's cell is ordered by the slot's turn word ([S1]/[S2]).
MC_TEST(queue_c1_push_pop, mc::Options{}.bound(2).spurious(1, 1)) {
  struct S {
    Q q{1};
    int a = -1, b = -1;
  };
  auto* s = mc::make<S>();
  t.thread([s] {
    MC_ASSERT(s->q.push(1) == Status::ok);
    MC_ASSERT(s->q.push(2) == Status::ok);
  });
  t.thread([s] {
    MC_ASSERT(s->q.pop(s->a) == Status::ok);
    MC_ASSERT(s->q.pop(s->b) == Status::ok);
  });
  t.after([s] {
    MC_ASSERT(s->a == 1 && s->b == 2);
    MC_ASSERT(s->q.pressure() == 0);
    mc::destroy(s);
  });
}

// Capacity 2: three values through two slots (slot 0 is reused in lap 1):
// FIFO across slots and laps.
MC_TEST(queue_c2_fifo, mc::Options{}.bound(2)) {
  struct S {
    Q q{2};
    int got[3] = {-1, -1, -1};
  };
  auto* s = mc::make<S>();
  t.thread([s] {
    for (int i = 1; i <= 3; ++i) MC_ASSERT(s->q.push(i) == Status::ok);
  });
  t.thread([s] {
    for (int& g : s->got) MC_ASSERT(s->q.pop(g) == Status::ok);
  });
  t.after([s] {
    MC_ASSERT(s->got[0] == 1 && s->got[1] == 2 && s->got[2] == 3);
    MC_ASSERT(s->q.pressure() == 0 && s->q.size() == 0);
    mc::destroy(s);
  });
}

// Two pushers, one popper, capacity 1 (the pushers contend for one slot):
// each value exactly once; a pusher's values in its order.
MC_TEST(queue_c1_mpsc_exactly_once, mc::Options{}.bound(2)) {
  struct S {
    Q q{1};
    int got[2] = {-1, -1};
  };
  auto* s = mc::make<S>();
  t.thread([s] { MC_ASSERT(s->q.push(1) == Status::ok); });
  t.thread([s] { MC_ASSERT(s->q.push(2) == Status::ok); });
  t.thread([s] {
    for (int& g : s->got) MC_ASSERT(s->q.pop(g) == Status::ok);
  });
  t.after([s] {
    MC_ASSERT((s->got[0] == 1 && s->got[1] == 2) || (s->got[0] == 2 && s->got[1] == 1));
    MC_ASSERT(s->q.pressure() == 0);
    mc::destroy(s);
  });
}

// One pusher, two poppers, capacity 2: each value exactly once; the poppers
// receive in FIFO order between them (the first pop ticket gets value 1).
MC_TEST(queue_c2_spmc_exactly_once, mc::Options{}.bound(2)) {
  struct S {
    Q q{2};
    int a = -1, b = -1;
  };
  auto* s = mc::make<S>();
  t.thread([s] {
    MC_ASSERT(s->q.push(1) == Status::ok);
    MC_ASSERT(s->q.push(2) == Status::ok);
  });
  t.thread([s] { MC_ASSERT(s->q.pop(s->a) == Status::ok); });
  t.thread([s] { MC_ASSERT(s->q.pop(s->b) == Status::ok); });
  t.after([s] {
    MC_ASSERT((s->a == 1 && s->b == 2) || (s->a == 2 && s->b == 1));
    MC_ASSERT(s->q.pressure() == 0);
    mc::destroy(s);
  });
}

// FIFO of waiters: two poppers wait in arrival order on an empty capacity-2
// queue; the pusher's values reach them in that order.
MC_TEST(queue_c2_fifo_waiters, mc::Options{}.bound(1)) {
  struct S {
    Q q{2};
    int first = -1, second = -1;
  };
  auto* s = mc::make<S>();
  t.thread([s] { MC_ASSERT(s->q.pop(s->first) == Status::ok); });
  t.thread([s] {
    await([s] { return s->q.pressure() <= -1; });  // popper 1 is in line
    MC_ASSERT(s->q.pop(s->second) == Status::ok);
  });
  t.thread([s] {
    await([s] { return s->q.pressure() <= -2; });  // both are in line
    MC_ASSERT(s->q.push(1) == Status::ok);
    MC_ASSERT(s->q.push(2) == Status::ok);
  });
  t.after([s] {
    MC_ASSERT(s->first == 1 && s->second == 2);
    mc::destroy(s);
  });
}

// ------------------------------------------------------------ wrap-around ----

// Turn wrap, capacity 1: start in the last lap before the 31-bit turn wrap
// (turns 2^31 - 2, 2^31 - 1); the second value uses lap 2^30, turns 0, 1.
MC_TEST(queue_c1_turn_wrap, mc::Options{}.bound(2)) {
  struct S {
    Q q{1, cubby::StartTicket{(1u << 30) - 1}};
    int got[2] = {-1, -1};
  };
  auto* s = mc::make<S>();
  t.thread([s] {
    for (int i = 1; i <= 2; ++i) MC_ASSERT(s->q.push(i) == Status::ok);
  });
  t.thread([s] {
    for (int& g : s->got) MC_ASSERT(s->q.pop(g) == Status::ok);
  });
  t.after([s] {
    MC_ASSERT(s->got[0] == 1 && s->got[1] == 2);
    MC_ASSERT(s->q.pressure() == 0);
    mc::destroy(s);
  });
}

// Turn wrap, capacity 2: lap 2^30 - 1 (turns 2^31 - 2 and 2^31 - 1) is the
// last before the wrap; start at its first ticket, 2^31 - 2, so both slots
// begin in the last lap and the third value, ticket 2^31, takes slot 0 across
// the wrap (lap 2^30, turn 0).
MC_TEST(queue_c2_turn_wrap, mc::Options{}.bound(2)) {
  struct S {
    Q q{2, cubby::StartTicket{(std::uint64_t{1} << 31) - 2}};
    int got[3] = {-1, -1, -1};
  };
  auto* s = mc::make<S>();
  t.thread([s] {
    for (int i = 1; i <= 3; ++i) MC_ASSERT(s->q.push(i) == Status::ok);
  });
  t.thread([s] {
    for (int& g : s->got) MC_ASSERT(s->q.pop(g) == Status::ok);
  });
  t.after([s] {
    MC_ASSERT(s->got[0] == 1 && s->got[1] == 2 && s->got[2] == 3);
    MC_ASSERT(s->q.pressure() == 0);
    mc::destroy(s);
  });
}

// Ticket wrap, capacity 2 (a power of two: seamless at 2^64): the counters
// cross UINT64_MAX; the try form's promise test (push - pop) across the wrap.
MC_TEST(queue_c2_ticket_wrap, mc::Options{}.bound(2)) {
  struct S {
    Q q{2, cubby::StartTicket{UINT64_MAX - 1}};
    int got[3] = {-1, -1, -1};
  };
  auto* s = mc::make<S>();
  t.thread([s] {
    for (int i = 1; i <= 3; ++i) MC_ASSERT(s->q.push(i) == Status::ok);
  });
  t.thread([s] {
    MC_ASSERT(s->q.pop(s->got[0]) == Status::ok);
    if (auto v = s->q.try_pop()) {
      s->got[1] = *v;
    } else {
      MC_ASSERT(s->q.pop(s->got[1]) == Status::ok);
    }
    MC_ASSERT(s->q.pop(s->got[2]) == Status::ok);
  });
  t.after([s] {
    MC_ASSERT(s->got[0] == 1 && s->got[1] == 2 && s->got[2] == 3);
    MC_ASSERT(s->q.pressure() == 0);
    mc::destroy(s);
  });
}

// ------------------------------------------------------------------ close ----

// [Q1][Q2] close publishes: a push or pop that returns `closed` sees what the
// closer wrote before close().  The pusher usually finds the closed flag
// (push() tests it before taking a ticket; a late put's `closed` is
// queue_c1_late_put_closed's), so this fails when either edge of the flag is
// weakened.  Values: a push that completed is received, once.
MC_TEST(queue_close_publishes, mc::Options{}.bound(2)) {
  struct S {
    Q q{2};
    mc::cell<int> note{0};
    Status ps = Status::ok, qs = Status::ok;
    int got = -1;
  };
  auto* s = mc::make<S>();
  t.thread([s] {
    s->ps = s->q.push(1);
    if (s->ps == Status::closed) MC_ASSERT(s->note.load() == 42);
  });
  t.thread([s] {
    s->note.store(42);
    s->q.close();
  });
  t.thread([s] {
    s->qs = s->q.pop(s->got);
    if (s->qs == Status::closed) MC_ASSERT(s->note.load() == 42);
  });
  t.after([s] {
    if (s->qs == Status::ok) MC_ASSERT(s->got == 1 && s->ps == Status::ok);
    const Left l = drain(s->q);
    // Pushed once, received once (by the popper or left in the queue).
    const int received = (s->qs == Status::ok ? 1 : 0) + l.n;
    MC_ASSERT(received == (s->ps == Status::ok ? 1 : 0));
    if (l.n == 1) MC_ASSERT(l.v[0] == 1);
    MC_ASSERT(s->q.is_closed());
    mc::destroy(s);
  });
}

// A put that took its turn, constructed the value and then finds the closing
// mark (deposit_allowed, just before the publication) returns `closed` if
// the rule refuses it; it must still see what the closer did before close()
// ([Q2]).  Once found as a race: that path had read the flag only with
// relaxed loads; it now waits for the published mark with an acquire.
MC_TEST(queue_c1_late_put_closed, mc::Options{}.bound(1)) {
  struct S {
    Q q{1};
    mc::cell<int> note{0};
  };
  auto* s = mc::make<S>();
  t.thread([s] {
    if (s->q.push(1) == Status::closed) MC_ASSERT(s->note.load() == 42);
  });
  t.thread([s] {
    s->note.store(42);
    s->q.close();
  });
  t.after([s] { mc::destroy(s); });
}

// A push waiting on a full queue when close() runs: the pop that frees its
// slot after close() returned must not let it complete (the close rule
// refuses it: its pop, `capacity` tickets earlier, arrived after close()).  The value taken is the one that was there; the
// push returns closed with its value; a second pop finds the queue closed
// and drained.
MC_TEST(queue_c1_waiting_push_after_close, mc::Options{}.bound(2).no_timeouts()) {
  struct S {
    Q q{1};
    int x = -1, y = -1;
    Status pushed = Status::ok, second = Status::ok;
  };
  auto* s = mc::make<S>();
  MC_ASSERT(s->q.push(1) == Status::ok);
  t.thread([s] {
    int v = 2;
    s->pushed = s->q.push(std::move(v));
    if (s->pushed == Status::closed) MC_ASSERT(v == 2);  // the value is back with the caller
  });
  t.thread([s] {
    s->q.close();
    MC_ASSERT(s->q.pop(s->x) == Status::ok);
    s->second = s->q.pop(s->y);
  });
  t.after([s] {
    MC_ASSERT(s->x == 1);
    MC_ASSERT(s->second == Status::closed && s->pushed == Status::closed);
    mc::destroy(s);
  });
}

// [A3], the pop side: as queue_c1_waiting_push_after_close, but the popper
// is not the closer.  A pop whose ticket comes after close()'s P may hand
// the slot to the waiting push before that push's thread saw the closing
// mark; [A3] (the acquire half of the pop's ticket RMW: take_pop for a
// blocking pop, try_take_promised_pop's CAS for a timed one) then [S1]/[S2]
// carry the mark to the put, which the rule refuses.  Weakened, the put may
// miss the mark and deposit a value no pop is owed: it returns ok and its
// value is never received.
template <class Pop>
void waiting_push_popper_beside_close(mc::Exec& t, Pop pop) {
  struct S {
    Q q{1};
    Status pushed = Status::timeout, popped = Status::timeout;
    int x = -1;
  };
  auto* s = mc::make<S>();
  MC_ASSERT(s->q.push(1) == Status::ok);
  t.thread([s] { s->pushed = s->q.push(2); });
  t.thread([s] { s->q.close(); });
  t.thread([s, pop] { s->popped = pop(s->q, s->x); });
  t.after([s] {
    const Left l = drain(s->q);
    const int received = (s->popped == Status::ok ? 1 : 0) + l.n;
    MC_ASSERT(received == 1 + (s->pushed == Status::ok ? 1 : 0));
    mc::destroy(s);
  });
}
MC_TEST(queue_c1_waiting_push_popper_beside_close, mc::Options{}.bound(2).no_timeouts()) {
  waiting_push_popper_beside_close(t, [](Q& q, int& x) { return q.pop(x); });
}
MC_TEST(queue_c1_waiting_push_timed_popper_beside_close, mc::Options{}.bound(2).no_timeouts()) {
  waiting_push_popper_beside_close(t, [](Q& q, int& x) { return q.pop_for(x, 1h); });
}

// [A3], the push side, capacity 2: a push whose ticket comes after close()'s
// push ticket F finds its slot free at once (nothing is ahead of it there),
// so nothing but [A3] (the push ticket's acquire, pairing with the release
// of F) orders its check of the closing mark after the mark.  The rule
// refuses it (its ticket is not before F).  Weakened, it may read the mark
// clear and deposit a value no pop is owed.
MC_TEST(queue_c2_push_after_close_tickets, mc::Options{}.bound(2)) {
  struct S {
    Q q{2};
    Status ps = Status::timeout;
  };
  auto* s = mc::make<S>();
  t.thread([s] { s->ps = s->q.push(1); });
  t.thread([s] { s->q.close(); });
  t.after([s] {
    const Left l = drain(s->q);
    MC_ASSERT(l.n == (s->ps == Status::ok ? 1 : 0));
    mc::destroy(s);
  });
}

// After close, pop() decides `closed` in drain_closed(); "closed" means
// closed and drained, so the same thread's next pop must not receive a
// value.  Once found as an assertion, when the drain counted push tickets
// with a relaxed load, which may be stale; the drain now takes only the
// tickets the close rule admits.
MC_TEST(queue_c1_closed_then_value, mc::Options{}.bound(1)) {
  struct S {
    Q q{1};
  };
  auto* s = mc::make<S>();
  t.thread([s] { (void)s->q.push(1); });
  t.thread([s] {
    s->q.close();
    int x = -1;
    const Status first = s->q.pop(x);
    const Status second = s->q.pop(x);
    MC_ASSERT(!(first == Status::closed && second == Status::ok));
  });
  t.after([s] { mc::destroy(s); });
}

// close with waiters on both sides, capacity 1, timeouts off (a waiter that
// is not woken deadlocks): a pusher waits on the full queue, a popper may
// wait too; close wakes both.  The value in the queue is received; the
// waiting push either is admitted (its room was there when close() took
// effect; its value is received later) or returns closed.
MC_TEST(queue_c1_close_wakes_waiters, mc::Options{}.bound(2).no_timeouts()) {
  struct S {
    Q q{1};
    Status ps = Status::ok, qs1 = Status::ok, qs2 = Status::ok;
    int got1 = -1, got2 = -1;
  };
  auto* s = mc::make<S>();
  MC_ASSERT(s->q.push(1) == Status::ok);
  t.thread([s] { s->ps = s->q.push(2); });  // waits: full
  t.thread([s] { s->q.close(); });
  t.thread([s] {
    s->qs1 = s->q.pop(s->got1);
    s->qs2 = s->q.pop(s->got2);  // waits if 2 was not (yet) pushed
  });
  t.after([s] {
    MC_ASSERT(s->qs1 == Status::ok && s->got1 == 1);  // a value in the queue is always received
    const Left l = drain(s->q);
    const int received = (s->qs2 == Status::ok ? 1 : 0) + l.n;
    MC_ASSERT(received == (s->ps == Status::ok ? 1 : 0));
    if (s->qs2 == Status::ok) MC_ASSERT(s->got2 == 2);
    mc::destroy(s);
  });
}

// Poppers waiting on an empty queue (one blocking, one timed with an endless
// deadline) all wake on close and return closed.  Timeouts off.
MC_TEST(queue_c2_close_wakes_poppers, mc::Options{}.bound(2).no_timeouts()) {
  struct S {
    Q q{2};
    Status a = Status::ok, b = Status::ok;
    int x = -1, y = -1;
  };
  auto* s = mc::make<S>();
  t.thread([s] { s->a = s->q.pop(s->x); });
  t.thread([s] { s->b = s->q.pop_for(s->y, 1h); });
  t.thread([s] { s->q.close(); });
  t.after([s] {
    MC_ASSERT(s->a == Status::closed && s->b == Status::closed);
    MC_ASSERT(s->x == -1 && s->y == -1);
    mc::destroy(s);
  });
}

// Two pushers racing close(), capacity 2: pusher 1 may take ticket 0 and be
// overtaken by pusher 2 (ticket 1, slot 1) and by close().  The close rule
// admits a prefix of the tickets, so the queue never holds a value behind
// one that will not come (a hole; the queue's close had them before it took
// the Cubby's rule).  The closer, once both pushes returned (so that its
// pops happen after them), pops: it must receive every deposited value
// before it returns closed.
MC_TEST(queue_c2_hole_after_close, mc::Options{}.bound(2)) {
  struct S {
    Q q{2};
    mc::atomic<int> done{0};
    Status p1 = Status::ok, p2 = Status::ok;
    int got[2] = {-1, -1};
    int n = 0;
  };
  auto* s = mc::make<S>();
  t.thread([s] {
    s->p1 = s->q.push(1);
    s->done.fetch_add(1);
  });
  t.thread([s] {
    s->p2 = s->q.push(2);
    s->done.fetch_add(1);
  });
  t.thread([s] {
    s->q.close();
    await([s] { return s->done.load() == 2; });
    int x = -1;
    while (s->n < 2 && s->q.pop(x) == Status::ok) s->got[s->n++] = x;
    MC_ASSERT(s->q.pop(x) == Status::closed);
  });
  t.after([s] {
    const int pushed = (s->p1 == Status::ok ? 1 : 0) + (s->p2 == Status::ok ? 1 : 0);
    MC_ASSERT(s->n == pushed);  // nothing stranded behind a hole, nothing twice
    for (int i = 0; i < s->n; ++i) {
      const int v = s->got[i];
      MC_ASSERT((v == 1 && s->p1 == Status::ok) || (v == 2 && s->p2 == Status::ok));
    }
    if (s->n == 2) MC_ASSERT(s->got[0] != s->got[1]);
    mc::destroy(s);
  });
}

// ------------------------------------------------------ timed and try ----

// Timed push and pop, capacity 1, timeouts explored: a timeout changes
// nothing (nothing lost or duplicated), nobody stays stranded.
MC_TEST(queue_c1_timed_forms, mc::Options{}.bound(2)) {
  struct S {
    Q q{1};
    Status ps = Status::closed, qs = Status::closed;
    int got = -1;
  };
  auto* s = mc::make<S>();
  t.thread([s] { s->ps = s->q.push_for(1, 1ms); });
  t.thread([s] { s->qs = s->q.pop_for(s->got, 1ms); });
  t.after([s] {
    MC_ASSERT(s->ps != Status::closed && s->qs != Status::closed);
    if (s->qs == Status::ok) MC_ASSERT(s->ps == Status::ok && s->got == 1);
    MC_ASSERT(s->q.pressure() == (s->ps == Status::ok ? 1 : 0) - (s->qs == Status::ok ? 1 : 0));
    const Left l = drain(s->q);
    MC_ASSERT(l.n == (s->ps == Status::ok && s->qs != Status::ok ? 1 : 0));
    mc::destroy(s);
  });
}

// A timed pop beside a close() and the try_pop that then drains the queue
// (cubby_model::timed_pop_beside_close_and_drain).
MC_TEST(queue_c1_timed_pop_beside_close_and_drain, mc::Options{}.bound(2)) {
  cubby_model::timed_pop_beside_close_and_drain<Q>(t, std::size_t{1});
}

// Capacity 1 already full: a timed push waits for room; a blocking pop makes
// room and a try_pop follows.  Timeouts explored: whatever times out, every
// value is received once or left in the queue, and no waiter is stranded
// (the timed push always has a live partner, so a lost wake-up shows as a
// deadlock, not as a timeout).
MC_TEST(queue_c1_timed_push_full, mc::Options{}.bound(2)) {
  struct S {
    Q q{1};
    Status ps = Status::closed, qs = Status::closed;
    int a = -1, b = -1;
  };
  auto* s = mc::make<S>();
  MC_ASSERT(s->q.push(1) == Status::ok);
  t.thread([s] { s->ps = s->q.push_for(2, 1ms); });
  t.thread([s] {
    MC_ASSERT(s->q.pop(s->a) == Status::ok);
    if (auto v = s->q.try_pop()) {
      s->b = *v;
      s->qs = Status::ok;
    } else {
      s->qs = Status::timeout;
    }
  });
  t.after([s] {
    MC_ASSERT(s->a == 1);
    MC_ASSERT(s->ps != Status::closed && s->qs != Status::closed);
    if (s->qs == Status::ok) MC_ASSERT(s->ps == Status::ok && s->b == 2);
    const Left l = drain(s->q);
    MC_ASSERT(l.n == (s->ps == Status::ok && s->qs != Status::ok ? 1 : 0));
    if (l.n == 1) MC_ASSERT(l.v[0] == 2);
    mc::destroy(s);
  });
}

// Capacity 2, full: a timed push (ticket 2: slot 0, lap 1) against a popper
// that pops once, then tries once: the try finds 2 (there from the start);
// the push either times out keeping its value or deposits 3 after 2.
MC_TEST(queue_c2_timed_push_full, mc::Options{}.bound(2)) {
  struct S {
    Q q{2};
    Status ps = Status::closed;
    int a = -1;
    std::optional<int> b;
  };
  auto* s = mc::make<S>();
  MC_ASSERT(s->q.push(1) == Status::ok);
  MC_ASSERT(s->q.push(2) == Status::ok);
  t.thread([s] { s->ps = s->q.push_for(3, 1ms); });
  t.thread([s] {
    MC_ASSERT(s->q.pop(s->a) == Status::ok);
    s->b = s->q.try_pop();
  });
  t.after([s] {
    MC_ASSERT(s->a == 1 && s->b == 2);
    MC_ASSERT(s->ps == Status::ok || s->ps == Status::timeout);
    const Left l = drain(s->q);
    MC_ASSERT(l.n == (s->ps == Status::ok ? 1 : 0));
    if (l.n == 1) MC_ASSERT(l.v[0] == 3);
    mc::destroy(s);
  });
}

// Capacity 2, full: a timed push waits (timeouts off, so only close() can
// end it); close() wakes it with closed, its value kept; 1 and 2 stay
// receivable.
MC_TEST(queue_c2_timed_push_at_close, mc::Options{}.bound(2).no_timeouts().spurious(1, 1)) {
  struct S {
    Q q{2};
    Status ps = Status::ok;
  };
  auto* s = mc::make<S>();
  MC_ASSERT(s->q.push(1) == Status::ok);
  MC_ASSERT(s->q.push(2) == Status::ok);
  t.thread([s] { s->ps = s->q.push_for(3, 1ms); });
  t.thread([s] { s->q.close(); });
  t.after([s] {
    MC_ASSERT(s->ps == Status::closed);
    const Left l = drain(s->q);
    MC_ASSERT(l.n == 2 && l.v[0] == 1 && l.v[1] == 2);
    mc::destroy(s);
  });
}

// push_bulk of 3 values into capacity 2 races close() while a popper pops
// until closed: push_bulk reports the prefix it pushed (ok: all 3), and the
// popper receives exactly that prefix, in order, once each.
MC_TEST(queue_c2_bulk_races_close, mc::Options{}.bound(1).spurious(1, 1)) {
  struct S {
    Q q{2};
    int in[3] = {1, 2, 3};
    std::size_t pushed = 99;
    Status ps = Status::timeout;
    int got[4] = {-1, -1, -1, -1};
    std::size_t k = 0;
  };
  auto* s = mc::make<S>();
  t.thread([s] { s->ps = s->q.push_bulk(std::span<int>(s->in), &s->pushed); });
  t.thread([s] {
    int x = -1;
    while (s->k < 4 && s->q.pop(x) == Status::ok) s->got[s->k++] = x;
  });
  t.thread([s] { s->q.close(); });
  t.after([s] {
    MC_ASSERT(s->pushed <= 3 && (s->ps == Status::ok) == (s->pushed == 3));
    MC_ASSERT(s->ps == Status::ok || s->ps == Status::closed);
    MC_ASSERT(s->k == s->pushed);
    for (std::size_t i = 0; i < s->k; ++i) MC_ASSERT(s->got[i] == static_cast<int>(i) + 1);
    mc::destroy(s);
  });
}

// A push racing close() and a popper that pops until `closed`: a push that
// returns ok is received by that popper.  A pop answers `closed` only by
// the close rule, once close()'s tickets are published; an earlier design
// counted push tickets instead, and a push that read the flag before it was
// set could take its ticket after the pop's count and deposit a value no
// one would receive.
MC_TEST(queue_c1_closed_pop_is_final, mc::Options{}.bound(1).spurious(1, 1)) {
  cubby_model::closed_pop_is_final<Q>(t, std::size_t{1});
}

// [S4] A timed pop facing a blocking push, timeouts off: the pop must get the
// value (a missed promise would be a lost wake-up: deadlock).
MC_TEST(queue_c2_timed_pop_no_timeouts, mc::Options{}.bound(2).no_timeouts().spurious(1, 1)) {
  struct S {
    Q q{2};
    int got = -1;
  };
  auto* s = mc::make<S>();
  t.thread([s] { MC_ASSERT(s->q.push(7) == Status::ok); });
  t.thread([s] { MC_ASSERT(s->q.pop_for(s->got, 1h) == Status::ok && s->got == 7); });
  t.after([s] {
    MC_ASSERT(s->q.pressure() == 0);
    mc::destroy(s);
  });
}

// [S4] A timed push on a full queue facing a blocking pop, timeouts off: the
// pop's take makes room, and the push must deposit (a take that does not
// wake the ticketless timed sleepers would strand it: deadlock).  Capacity
// 1 (the pop frees the slot the push waits on) and 2 (the push's ticket is
// on the slot the pop empties, one lap on).
template <std::size_t Cap>
void timed_push_full_no_timeouts(mc::Exec& t) {
  struct S {
    Q q{Cap};
    int got = -1;
  };
  auto* s = mc::make<S>();
  for (std::size_t i = 1; i <= Cap; ++i) MC_ASSERT(s->q.push(static_cast<int>(i)) == Status::ok);
  t.thread([s] { MC_ASSERT(s->q.push_for(9, 1h) == Status::ok); });
  t.thread([s] { MC_ASSERT(s->q.pop(s->got) == Status::ok && s->got == 1); });
  t.after([s] {
    const Left l = drain(s->q);
    MC_ASSERT(l.n == static_cast<int>(Cap) && l.v[Cap - 1] == 9);
    mc::destroy(s);
  });
}
MC_TEST(queue_c1_timed_push_full_no_timeouts, mc::Options{}.bound(2).no_timeouts().spurious(1, 1)) {
  timed_push_full_no_timeouts<1>(t);
}
MC_TEST(queue_c2_timed_push_full_no_timeouts, mc::Options{}.bound(2).no_timeouts().spurious(1, 1)) {
  timed_push_full_no_timeouts<2>(t);
}

// Timed bulk, capacity 2 holding 1: a push_bulk_for of 2, 3, 4 (room for
// one now, more as the pop takes) against a pop_bulk_for of up to 3, with
// timeouts explored.  The pop always receives (1 is there); what it
// receives is a prefix of 1, 2, 3, 4; the push reports exactly what went in
// (all, or a prefix on timeout); the drain finds the rest, in order.
MC_TEST(queue_c2_timed_bulk, mc::Options{}.bound(2)) {
  struct S {
    Q q{2};
    std::array<int, 3> in{2, 3, 4};
    std::array<int, 3> out{-1, -1, -1};
    std::size_t pushed = 99, popped = 99;
    Status ps = Status::closed, qs = Status::closed;
  };
  auto* s = mc::make<S>();
  MC_ASSERT(s->q.push(1) == Status::ok);
  t.thread([s] { s->ps = s->q.push_bulk_for(std::span(s->in), 1ms, &s->pushed); });
  t.thread([s] { s->qs = s->q.pop_bulk_for(std::span(s->out), 1ms, &s->popped); });
  t.after([s] {
    constexpr std::array<int, 4> seq{1, 2, 3, 4};
    MC_ASSERT(s->ps == Status::ok ? s->pushed == 3 : s->ps == Status::timeout && s->pushed < 3);
    MC_ASSERT(s->qs == Status::ok && s->popped >= 1 && s->popped <= 1 + s->pushed);
    for (std::size_t i = 0; i < s->popped; ++i) MC_ASSERT(s->out[i] == seq[i]);
    const Left l = drain(s->q);
    MC_ASSERT(static_cast<std::size_t>(l.n) == 1 + s->pushed - s->popped);
    for (int i = 0; i < l.n; ++i) MC_ASSERT(l.v[static_cast<std::size_t>(i)] == seq[s->popped + static_cast<std::size_t>(i)]);
    mc::destroy(s);
  });
}

// [S4] A timed bulk pop asleep on the empty queue, timeouts off, against a
// blocking bulk push of two: the pop's claim must be woken (a lost wake-up
// is a deadlock) and receives 1, or 1 and 2; the drain finds the rest.
MC_TEST(queue_c2_timed_pop_bulk_no_timeouts, mc::Options{}.bound(2).no_timeouts().spurious(1, 1)) {
  struct S {
    Q q{2};
    std::array<int, 2> in{1, 2};
    std::array<int, 3> out{-1, -1, -1};
    std::size_t popped = 99;
  };
  auto* s = mc::make<S>();
  t.thread([s] { MC_ASSERT(s->q.push_bulk(std::span(s->in)) == Status::ok); });
  t.thread([s] { MC_ASSERT(s->q.pop_bulk_for(std::span(s->out), 1h, &s->popped) == Status::ok); });
  t.after([s] {
    MC_ASSERT(s->popped == 1 || s->popped == 2);
    MC_ASSERT(s->out[0] == 1 && (s->popped == 1 || s->out[1] == 2));
    const Left l = drain(s->q);
    MC_ASSERT(l.n == static_cast<int>(2 - s->popped));
    if (l.n == 1) MC_ASSERT(l.v[0] == 2);
    mc::destroy(s);
  });
}

// try forms, capacity 1: never block, never lose or duplicate a value; a
// try_push into the empty queue by one of two pushers succeeds.
MC_TEST(queue_c1_try_forms, mc::Options{}.bound(2)) {
  struct S {
    Q q{1};
    bool pushed1 = false, pushed2 = false;
    std::optional<int> got;
  };
  auto* s = mc::make<S>();
  t.thread([s] { s->pushed1 = s->q.try_push(1); });
  t.thread([s] { s->pushed2 = s->q.try_push(2); });
  t.thread([s] { s->got = s->q.try_pop(); });
  t.after([s] {
    MC_ASSERT(s->pushed1 || s->pushed2);
    MC_ASSERT(!(s->pushed1 && s->pushed2) || s->got.has_value());  // capacity 1
    if (s->got) MC_ASSERT((*s->got == 1 && s->pushed1) || (*s->got == 2 && s->pushed2));
    const Left l = drain(s->q);
    const int pushed = int(s->pushed1) + int(s->pushed2);
    MC_ASSERT(l.n + (s->got ? 1 : 0) == pushed);
    for (int i = 0; i < l.n; ++i) {
      MC_ASSERT((l.v[static_cast<std::size_t>(i)] == 1 && s->pushed1) ||
                (l.v[static_cast<std::size_t>(i)] == 2 && s->pushed2));
      MC_ASSERT(!s->got || *s->got != l.v[static_cast<std::size_t>(i)]);
    }
    mc::destroy(s);
  });
}

// try forms, capacity 2, a value already in: try_push fits, try_pop finds
// the value (it is there before the threads start), in FIFO order.
MC_TEST(queue_c2_try_forms, mc::Options{}.bound(2)) {
  struct S {
    Q q{2};
    bool pushed = false;
    std::optional<int> a, b;
  };
  auto* s = mc::make<S>();
  MC_ASSERT(s->q.push(1) == Status::ok);
  t.thread([s] { s->pushed = s->q.try_push(2); });
  t.thread([s] {
    s->a = s->q.try_pop();
    s->b = s->q.try_pop();
  });
  t.after([s] {
    MC_ASSERT(s->pushed);
    MC_ASSERT(s->a && *s->a == 1);
    const Left l = drain(s->q);
    MC_ASSERT((s->b && *s->b == 2 && l.n == 0) || (!s->b && l.n == 1 && l.v[0] == 2));
    mc::destroy(s);
  });
}

// ------------------------------------------------------------------- bulk ----

// push_bulk against pop_bulk, capacity 2, three values: the run wraps
// around the slots; all received in order.
MC_TEST(queue_c2_bulk, mc::Options{}.bound(2)) {
  struct S {
    Q q{2};
    int in[3] = {1, 2, 3};
    int out[3] = {-1, -1, -1};
  };
  auto* s = mc::make<S>();
  t.thread([s] {
    std::size_t n = 99;
    MC_ASSERT(s->q.push_bulk(std::span<int>(s->in), &n) == Status::ok && n == 3);
  });
  t.thread([s] {
    std::size_t n = 99;
    MC_ASSERT(s->q.pop_bulk(std::span<int>(s->out), &n) == Status::ok && n == 3);
  });
  t.after([s] {
    MC_ASSERT(s->out[0] == 1 && s->out[1] == 2 && s->out[2] == 3);
    MC_ASSERT(s->q.pressure() == 0);
    mc::destroy(s);
  });
}

// try_push_bulk and a try_push contend; try_pop_bulk takes what is
// there: the bulk run is consecutive in the FIFO, every value once.
MC_TEST(queue_c2_try_bulk, mc::Options{}.bound(1)) {
  struct S {
    Q q{2};
    int in[2] = {1, 2};
    std::size_t pushed = 0;
    Status single = Status::closed;
    int out[3] = {-1, -1, -1};
    std::size_t popped = 0;
  };
  auto* s = mc::make<S>();
  t.thread([s] { s->pushed = s->q.try_push_bulk(std::span<int>(s->in)); });
  t.thread([s] { s->single = s->q.try_push(3) ? Status::ok : Status::timeout; });
  t.thread([s] { s->popped = s->q.try_pop_bulk(std::span<int>(s->out)); });
  t.after([s] {
    const Left l = drain(s->q);
    // Everything received: what try_pop_bulk got, then what was left.
    int all[8];
    int n = 0;
    for (std::size_t i = 0; i < s->popped; ++i) all[n++] = s->out[i];
    for (int i = 0; i < l.n; ++i) all[n++] = l.v[static_cast<std::size_t>(i)];
    const int expected = static_cast<int>(s->pushed) + (s->single == Status::ok ? 1 : 0);
    MC_ASSERT(n == expected);
    // The bulk prefix in order and consecutive; 3 once if pushed.
    int pos1 = -1, pos2 = -1, pos3 = -1;
    for (int i = 0; i < n; ++i) {
      if (all[i] == 1) { MC_ASSERT(pos1 < 0); pos1 = i; }
      if (all[i] == 2) { MC_ASSERT(pos2 < 0); pos2 = i; }
      if (all[i] == 3) { MC_ASSERT(pos3 < 0); pos3 = i; }
    }
    MC_ASSERT((pos1 >= 0) == (s->pushed >= 1) && (pos2 >= 0) == (s->pushed >= 2));
    if (s->pushed == 2) MC_ASSERT(pos2 == pos1 + 1);
    MC_ASSERT((pos3 >= 0) == (s->single == Status::ok));
    mc::destroy(s);
  });
}

// [A1] The promise test reads two counters; its answer must agree with what
// happened before.  A try_pop that happens after push(1) must find a value:
// the queue holds 1 or 2 from then until both are popped, and only one other
// pop runs.  Without [A1] the try_pop can read the pop ticket of the other
// pop (taken after push(2)) and yet miss push(2)'s ticket: an "empty" the
// queue never was.
MC_TEST(queue_c2_try_pop_after_push_finds_a_value, mc::Options{}.bound(2)) {
  struct S {
    Q q{2};
    mc::atomic<int> stage{0};
    int got = -1;
  };
  auto* s = mc::make<S>();
  t.thread([s] {
    MC_ASSERT(s->q.push(1) == Status::ok);
    s->stage.store(1, std::memory_order_release);
    MC_ASSERT(s->q.push(2) == Status::ok);
    s->stage.store(2, std::memory_order_release);
  });
  t.thread([s] {
    await([s] { return s->stage.load(std::memory_order_acquire) == 2; });
    MC_ASSERT(s->q.pop(s->got) == Status::ok);
  });
  t.thread([s] {
    await([s] { return s->stage.load(std::memory_order_acquire) >= 1; });
    MC_ASSERT(s->q.try_pop().has_value());
  });
  t.after([s] { mc::destroy(s); });
}

// The same for try_push: once one of two values has been popped, the queue
// has room until the pusher below adds a value, which it does only after
// both pops; a try_push that reads that push's ticket must also count the
// pops that happened before it.
MC_TEST(queue_c2_try_push_after_pop_finds_room, mc::Options{}.bound(2)) {
  struct S {
    Q q{2};
    mc::atomic<int> stage{0};
  };
  auto* s = mc::make<S>();
  MC_ASSERT(s->q.push(1) == Status::ok && s->q.push(2) == Status::ok);
  t.thread([s] {
    int got = -1;
    MC_ASSERT(s->q.pop(got) == Status::ok);
    s->stage.store(1, std::memory_order_release);
    MC_ASSERT(s->q.pop(got) == Status::ok);
    s->stage.store(2, std::memory_order_release);
  });
  t.thread([s] {
    await([s] { return s->stage.load(std::memory_order_acquire) == 2; });
    MC_ASSERT(s->q.push(3) == Status::ok);
  });
  t.thread([s] {
    await([s] { return s->stage.load(std::memory_order_acquire) >= 1; });
    MC_ASSERT(s->q.try_push(4));
  });
  t.after([s] { mc::destroy(s); });
}

// ------------------------------------------------------------ late claims ----
// A blocking push or pop of a queue of capacity 2 or more may claim its
// ticket late (queue.hpp, "Arrival order"): it polls for the next ticket
// whose slot is at its turn and takes it with a CAS ([A2]).  These tests
// explore both answers of Platform::claim_late() at every such operation
// (Options::late); a queue of capacity 1 never claims late.

// One pusher, one popper, three values through two slots (slot 0 reused in
// lap 1): in order, once each, whichever way each ticket is taken.
MC_TEST(queue_c2_late_push_pop, mc::Options{}.bound(1).late()) {
  struct S {
    Q q{2};
    int a = -1, b = -1, c = -1;
  };
  auto* s = mc::make<S>();
  t.thread([s] {
    for (int v = 1; v <= 3; ++v) MC_ASSERT(s->q.push(v) == Status::ok);
  });
  t.thread([s] {
    MC_ASSERT(s->q.pop(s->a) == Status::ok);
    MC_ASSERT(s->q.pop(s->b) == Status::ok);
    MC_ASSERT(s->q.pop(s->c) == Status::ok);
  });
  t.after([s] {
    MC_ASSERT(s->a == 1 && s->b == 2 && s->c == 3);
    MC_ASSERT(s->q.pressure() == 0);
    mc::destroy(s);
  });
}

// Two pushers (one value each) and a popper of two values, on a queue of
// capacity 2 that holds one value: one pusher may wait for room.  Every
// value is received exactly once, the one queued first before the pushers'
// (FIFO).
MC_TEST(queue_c2_late_mpsc_exactly_once, mc::Options{}.bound(1).late()) {
  struct S {
    Q q{2};
    int a = -1, b = -1;
  };
  auto* s = mc::make<S>();
  MC_ASSERT(s->q.push(0) == Status::ok);
  t.thread([s] { MC_ASSERT(s->q.push(1) == Status::ok); });
  t.thread([s] { MC_ASSERT(s->q.push(2) == Status::ok); });
  t.thread([s] {
    MC_ASSERT(s->q.pop(s->a) == Status::ok);
    MC_ASSERT(s->q.pop(s->b) == Status::ok);
  });
  t.after([s] {
    const Left l = drain(s->q);
    MC_ASSERT(l.n == 1 && s->a == 0);
    MC_ASSERT(s->b + l.v[0] == 3 && s->b != l.v[0]);
    mc::destroy(s);
  });
}

// A push waiting on a full queue of capacity 2 when close() runs: it
// returns closed with its value; the pops receive the two values there,
// then closed.
MC_TEST(queue_c2_late_waiting_push_after_close, mc::Options{}.bound(2).no_timeouts().late()) {
  struct S {
    Q q{2};
    int x = -1, y = -1, z = -1;
    Status pushed = Status::ok, third = Status::ok;
  };
  auto* s = mc::make<S>();
  MC_ASSERT(s->q.push(1) == Status::ok);
  MC_ASSERT(s->q.push(2) == Status::ok);
  t.thread([s] {
    int v = 3;
    s->pushed = s->q.push(std::move(v));
    if (s->pushed == Status::closed) MC_ASSERT(v == 3);  // the value is back with the caller
  });
  t.thread([s] {
    s->q.close();
    MC_ASSERT(s->q.pop(s->x) == Status::ok);
    MC_ASSERT(s->q.pop(s->y) == Status::ok);
    s->third = s->q.pop(s->z);
  });
  t.after([s] {
    MC_ASSERT(s->x == 1 && s->y == 2);
    MC_ASSERT(s->third == Status::closed && s->pushed == Status::closed);
    mc::destroy(s);
  });
}

// queue_c1_closed_pop_is_final at capacity 2, with late claims: a
// push that returns ok is received by the popper that pops until `closed`.
MC_TEST(queue_c2_late_closed_pop_is_final, mc::Options{}.bound(1).spurious(1, 1).late()) {
  cubby_model::closed_pop_is_final<Q>(t, std::size_t{2});
}
