// Model tests of cubby::Cubby (include/cubby/cubby.hpp): the same source as
// the real one, instantiated with mc::ModelPlatform, explored by the model
// checker.  Each test states which part of the contract it checks; the
// labelled edges [S1]..[S4] each have a test that fails when that one edge
// is weakened (model_check/CMakeLists.txt, CUBBY_MC_WEAKEN_CASES).
#include <chrono>
#include <cstdint>
#include <optional>

#include "cubby/cubby.hpp"
#include "cubby_mc/platform.hpp"
#include "closed_pop_is_final.hpp"
#include "cubby_push_pop.hpp"

namespace mc = cubby::mc;
using cubby::Status;
using namespace std::chrono_literals;

namespace {

using C = cubby::Cubby<int, mc::ModelPlatform>;

// Spins (yielding to the scheduler) until pred() holds; used to fix the
// arrival order of threads so a test can check FIFO order.
template <class Pred>
void await(Pred pred) {
  while (!pred()) mc::yield();
}

}  // namespace

// [S1][S2] push/pop handoff: values arrive once each, in order; the value's
// cell is ordered by the turn word.  Weakening S1 or S2 makes this a race.
// The body is shared with bench/model_check_bench.cpp (cubby_push_pop.hpp).
MC_TEST(cubby_push_pop, cubby_model::push_pop_options()) { cubby_model::push_pop(t); }

// Two pushers and a popper: each value exactly once, one left in the slot.
MC_TEST(cubby_two_pushers_one_popper) {
  struct S {
    C c;
    int got = -1;
  };
  auto* s = mc::make<S>();
  t.thread([s] { MC_ASSERT(s->c.push(1) == Status::ok); });
  t.thread([s] { MC_ASSERT(s->c.push(2) == Status::ok); });
  t.thread([s] { MC_ASSERT(s->c.pop(s->got) == Status::ok); });
  t.after([s] {
    int left = -1;
    MC_ASSERT(s->c.pressure() == 1);
    MC_ASSERT(s->c.pop(left) == Status::ok);
    MC_ASSERT((s->got == 1 && left == 2) || (s->got == 2 && left == 1));
    mc::destroy(s);
  });
}

// try_push / try_pop: never block, never lose or duplicate a value.
MC_TEST(cubby_try_forms) {
  struct S {
    C c;
    bool pushed1 = false, pushed2 = false;
    std::optional<int> got;
  };
  auto* s = mc::make<S>();
  t.thread([s] { s->pushed1 = s->c.try_push(1); });
  t.thread([s] { s->pushed2 = s->c.try_push(2); });
  t.thread([s] { s->got = s->c.try_pop(); });
  t.after([s] {
    MC_ASSERT(s->pushed1 || s->pushed2);  // the slot starts empty: one of them gets in
    const int pushed = int(s->pushed1) + int(s->pushed2);
    const int popped = s->got ? 1 : 0;
    MC_ASSERT(s->c.pressure() == pushed - popped);
    if (s->got) MC_ASSERT((*s->got == 1 && s->pushed1) || (*s->got == 2 && s->pushed2));
    while (auto v = s->c.try_pop()) MC_ASSERT((*v == 1 && s->pushed1) || (*v == 2 && s->pushed2));
    mc::destroy(s);
  });
}

// Timed forms with timeouts explored: a timeout leaves nothing behind.
MC_TEST(cubby_timed_forms) {
  struct S {
    C c;
    Status ps = Status::closed, qs = Status::closed;
    int got = -1;
  };
  auto* s = mc::make<S>();
  t.thread([s] { s->ps = s->c.push_for(1, 1ms); });
  t.thread([s] { s->qs = s->c.pop_for(s->got, 1ms); });
  t.after([s] {
    MC_ASSERT(s->ps != Status::closed && s->qs != Status::closed);
    if (s->qs == Status::ok) MC_ASSERT(s->ps == Status::ok && s->got == 1);
    MC_ASSERT(s->c.pressure() == (s->ps == Status::ok ? 1 : 0) - (s->qs == Status::ok ? 1 : 0));
    mc::destroy(s);
  });
}

// [S4] A timed pop facing a blocking push, timeouts disabled: the pop must
// get the value.  If the timed waiter could miss the promise (weakened S4)
// it sleeps forever: a lost wake-up, reported as deadlock.
MC_TEST(cubby_timed_pop_no_timeouts, mc::Options{}.bound(3).no_timeouts().spurious(1, 1)) {
  struct S {
    C c;
    int got = -1;
  };
  auto* s = mc::make<S>();
  t.thread([s] { MC_ASSERT(s->c.push(7) == Status::ok); });
  t.thread([s] { MC_ASSERT(s->c.pop_for(s->got, 1h) == Status::ok && s->got == 7); });
  t.after([s] { MC_ASSERT(s->c.pressure() == 0); mc::destroy(s); });
}

// The same with a timed push facing a full slot and a blocking pop.
MC_TEST(cubby_timed_push_no_timeouts, mc::Options{}.no_timeouts().spurious(1, 1)) {
  struct S {
    C c;
    int a = -1, b = -1;
  };
  auto* s = mc::make<S>();
  MC_ASSERT(s->c.push(1) == Status::ok);
  t.thread([s] { MC_ASSERT(s->c.push_for(2, 1h) == Status::ok); });
  t.thread([s] {
    MC_ASSERT(s->c.pop(s->a) == Status::ok);
    MC_ASSERT(s->c.pop(s->b) == Status::ok);
  });
  t.after([s] {
    MC_ASSERT(s->a == 1 && s->b == 2);
    mc::destroy(s);
  });
}

// [S3] close: a thread that returns `closed` sees what the closer wrote
// before close().  A push that completed is still received.
MC_TEST(cubby_close_publishes, mc::Options{}.bound(3)) {
  struct S {
    C c;
    mc::cell<int> note{0};
    Status ps = Status::ok, qs = Status::ok;
    int got = -1;
  };
  auto* s = mc::make<S>();
  t.thread([s] { s->ps = s->c.push(1); });
  t.thread([s] {
    s->note.store(42);
    s->c.close();
  });
  t.thread([s] {
    s->qs = s->c.pop(s->got);
    if (s->qs == Status::closed) MC_ASSERT(s->note.load() == 42);
  });
  t.after([s] {
    if (s->ps == Status::ok) MC_ASSERT(s->qs == Status::ok && s->got == 1);
    if (s->qs == Status::ok) MC_ASSERT(s->got == 1 && s->ps == Status::ok);
    MC_ASSERT(s->c.is_closed());
    mc::destroy(s);
  });
}

// [S3] close against timed operations: a pop_for or push_for that returns
// `closed` sees what the closer wrote before close(), also when it learns of
// the close from its own count RMW on the waiter word (the slot was closed
// before it counted itself in as a ticketless timed waiter).
MC_TEST(cubby_timed_close_publishes, mc::Options{}.bound(2)) {
  struct S {
    C c;
    mc::cell<int> note{0};
  };
  auto* s = mc::make<S>();
  t.thread([s] {
    s->note.store(42);
    s->c.close();
  });
  t.thread([s] {
    int got = -1;
    if (s->c.pop_for(got, std::chrono::milliseconds(1)) == Status::closed) MC_ASSERT(s->note.load() == 42);
  });
  t.thread([s] {
    if (s->c.push_for(7, std::chrono::milliseconds(1)) == Status::closed) MC_ASSERT(s->note.load() == 42);
  });
  t.after([s] { mc::destroy(s); });
}

// close against a waiting pusher and a timed pop: every waiter wakes.  The
// timed pop finds the value there from the start (it never waits; the next
// test has timed waiters that do), so it always receives it.
MC_TEST(cubby_close_wakes_waiters, mc::Options{}.no_timeouts().spurious(1, 1)) {
  struct S {
    C c;
    Status ps = Status::ok, qs = Status::ok;
    int got = -1;
  };
  auto* s = mc::make<S>();
  MC_ASSERT(s->c.push(1) == Status::ok);
  t.thread([s] { s->ps = s->c.push(2); });  // waits: the slot is full
  t.thread([s] { s->c.close(); });
  t.thread([s] { s->qs = s->c.pop_for(s->got, 1h); });
  t.after([s] {
    MC_ASSERT(s->qs == Status::ok && s->got == 1);
    mc::destroy(s);
  });
}

// close against a timed pop and a blocking pop both waiting on the empty
// slot (timeouts off): close() must wake both, and both return closed.  A
// close that skipped the timed waiters' channel leaves the timed pop asleep:
// deadlock.
MC_TEST(cubby_close_wakes_waiting_timed_pop, mc::Options{}.no_timeouts().spurious(1, 1)) {
  struct S {
    C c;
    Status ps = Status::ok, qs = Status::ok;
    int got = -1, got2 = -1;
  };
  auto* s = mc::make<S>();
  t.thread([s] { s->qs = s->c.pop_for(s->got, 1h); });
  t.thread([s] { s->ps = s->c.pop(s->got2); });
  t.thread([s] { s->c.close(); });
  t.after([s] {
    MC_ASSERT(s->qs == Status::closed && s->ps == Status::closed);
    MC_ASSERT(s->got == -1 && s->got2 == -1);
    mc::destroy(s);
  });
}

// A try_push, or a push_for (timeouts explored), on the empty slot racing
// close(): the slot is never full, so it either deposits or returns closed,
// and not before close() takes effect: a failed try_push finds the cubby
// closed when it returns, and push_for never times out.  Between close()'s
// push ticket F and its pop ticket P the counters read "full" (pressure 1)
// although close() has not taken effect; a push that gave up on that reading
// reported a fullness that never was (found by stress cubby-lin under TSan).
// [A1] orders the closing mark after a claim that read F.
MC_TEST(cubby_failed_try_push_beside_close, mc::Options{}.bound(3)) {
  auto* c = mc::make<C>();
  t.thread([c] {
    if (!c->try_push(1)) MC_ASSERT(c->is_closed());
  });
  t.thread([c] { c->close(); });
  t.after([c] { mc::destroy(c); });
}
MC_TEST(cubby_timed_push_beside_close_never_times_out, mc::Options{}.bound(3)) {
  auto* c = mc::make<C>();
  t.thread([c] {
    const Status s = c->push_for(1, 1ms);
    MC_ASSERT(s != Status::timeout);
    if (s == Status::closed) MC_ASSERT(c->is_closed());
  });
  t.thread([c] { c->close(); });
  t.after([c] { mc::destroy(c); });
}

// The pops' side: the slot holds a value, and a try_pop or a pop_for
// (timeouts explored) races close().  A value put before close() is still
// received, so it must get it, however close()'s tickets are read: without
// [A1] a claim could read P but not yet F (two counters; on ARM or POWER
// another core may see the two RMWs in either order) and count one value
// too few.
MC_TEST(cubby_try_pop_beside_close_receives, mc::Options{}.bound(3)) {
  auto* c = mc::make<C>();
  MC_ASSERT(c->push(1) == Status::ok);
  t.thread([c] {
    const auto v = c->try_pop();
    MC_ASSERT(v && *v == 1);
  });
  t.thread([c] { c->close(); });
  t.after([c] { mc::destroy(c); });
}
MC_TEST(cubby_timed_pop_beside_close_receives, mc::Options{}.bound(3)) {
  auto* c = mc::make<C>();
  MC_ASSERT(c->push(1) == Status::ok);
  t.thread([c] {
    int got = -1;
    MC_ASSERT(c->pop_for(got, 1ms) == Status::ok && got == 1);
  });
  t.thread([c] { c->close(); });
  t.after([c] { mc::destroy(c); });
}

// The same value, a timed pop, and a close() followed by the try_pop that
// drains the slot (cubby_model::timed_pop_beside_close_and_drain).
MC_TEST(cubby_timed_pop_beside_close_and_drain, mc::Options{}.bound(2)) {
  cubby_model::timed_pop_beside_close_and_drain<C>(t);
}

// A push racing close() and a popper that pops until `closed`: a push that
// returns ok is received by that popper (`closed` is final), as for the
// queue (queue_c1_closed_pop_is_final).
MC_TEST(cubby_closed_pop_is_final, mc::Options{}.bound(2).spurious(1, 1)) { cubby_model::closed_pop_is_final<C>(t); }

// Wrap-around: a start ticket 2 laps before the 31-bit turn wrap, and one
// before the 64-bit ticket wrap.
MC_TEST(cubby_turn_wrap) {
  struct S {
    C c{cubby::StartTicket{(1u << 30) - 2}};
    int got[3] = {-1, -1, -1};
  };
  auto* s = mc::make<S>();
  t.thread([s] {
    for (int i = 1; i <= 3; ++i) MC_ASSERT(s->c.push(i) == Status::ok);
  });
  t.thread([s] {
    for (int& g : s->got) MC_ASSERT(s->c.pop(g) == Status::ok);
  });
  t.after([s] {
    MC_ASSERT(s->got[0] == 1 && s->got[1] == 2 && s->got[2] == 3);
    MC_ASSERT(s->c.pressure() == 0);
    mc::destroy(s);
  });
}

MC_TEST(cubby_ticket_wrap) {
  struct S {
    C c{cubby::StartTicket{UINT64_MAX - 1}};
    int got[3] = {-1, -1, -1};
    bool tried = false;
  };
  auto* s = mc::make<S>();
  t.thread([s] {
    for (int i = 1; i <= 3; ++i) MC_ASSERT(s->c.push(i) == Status::ok);
  });
  t.thread([s] {
    MC_ASSERT(s->c.pop(s->got[0]) == Status::ok);
    if (auto v = s->c.try_pop()) {
      s->got[1] = *v;
    } else {
      MC_ASSERT(s->c.pop(s->got[1]) == Status::ok);
    }
    MC_ASSERT(s->c.pop(s->got[2]) == Status::ok);
  });
  t.after([s] {
    MC_ASSERT(s->got[0] == 1 && s->got[1] == 2 && s->got[2] == 3);
    MC_ASSERT(s->c.pressure() == 0);
    mc::destroy(s);
  });
}

// The unbalanced-backpressure case from the class comment, scaled: one value
// in the slot, two pushers waiting (arriving in order), two poppers arriving:
// the poppers receive the first two values, each once, in push order, both
// pushers complete and the last value stays (pressure() == 1).
MC_TEST(cubby_backpressure, mc::Options{}.bound(1).stale(1)) {
  struct S {
    C c;
    mc::atomic<bool> go{false};
    int got[2] = {-1, -1};
  };
  auto* s = mc::make<S>();
  MC_ASSERT(s->c.push(0) == Status::ok);
  t.thread([s] { MC_ASSERT(s->c.push(1) == Status::ok); });
  t.thread([s] {
    await([s] { return s->c.pressure() >= 2; });  // pusher 1 is in line
    MC_ASSERT(s->c.push(2) == Status::ok);
  });
  t.thread([s] {
    await([s] { return s->c.pressure() >= 3; });  // both pushers are in line
    s->go.store(true, std::memory_order_relaxed);
    MC_ASSERT(s->c.pop(s->got[0]) == Status::ok);
  });
  t.thread([s] {
    await([s] { return s->go.load(std::memory_order_relaxed); });
    MC_ASSERT(s->c.pop(s->got[1]) == Status::ok);
  });
  t.after([s] {
    MC_ASSERT((s->got[0] == 0 && s->got[1] == 1) || (s->got[0] == 1 && s->got[1] == 0));
    MC_ASSERT(s->c.pressure() == 1);
    int left = -1;
    MC_ASSERT(s->c.pop(left) == Status::ok && left == 2);
    mc::destroy(s);
  });
}

// FIFO order of waiters: two poppers wait in arrival order; a pusher's
// values go to them in that order.
MC_TEST(cubby_fifo_waiters, mc::Options{}.bound(1)) {
  struct S {
    C c;
    int first = -1, second = -1;
  };
  auto* s = mc::make<S>();
  t.thread([s] { MC_ASSERT(s->c.pop(s->first) == Status::ok); });
  t.thread([s] {
    await([s] { return s->c.pressure() <= -1; });  // popper 1 is in line
    MC_ASSERT(s->c.pop(s->second) == Status::ok);
  });
  t.thread([s] {
    await([s] { return s->c.pressure() <= -2; });  // both are in line
    MC_ASSERT(s->c.push(1) == Status::ok);
    MC_ASSERT(s->c.push(2) == Status::ok);
  });
  t.after([s] {
    MC_ASSERT(s->first == 1 && s->second == 2);
    mc::destroy(s);
  });
}
