// model_check/cubby_close_model.cpp: close() against the claims of try and
// timed operations (which may take a ticket between close()'s push and pop
// tickets F and P), against two closers, and across the ticket and turn
// wrap-arounds.  Each checks conservation: a push that returned ok is
// received exactly once, in order, and nothing else is.  Admitting pushes
// past P after close (dropping half of Cubby::admitted) fails five of them.
//
// Each scenario runs twice: against the Cubby (cubby_close_*) and against a
// queue of capacity 1 (queue1_close_*), which closes by the same rule
// (queue.hpp, "The close rule").  The scenario that told the two apart
// before they shared it (a push holding its ticket, not yet stored, while a
// pop waits for it) is close_after_push_ticket.
#include <chrono>
#include <cstdint>
#include <optional>

#include "cubby/cubby.hpp"
#include "cubby/queue.hpp"
#include "cubby_mc/platform.hpp"

namespace mc = cubby::mc;
using cubby::Status;
using namespace std::chrono_literals;
using Cub = cubby::Cubby<int, mc::ModelPlatform>;
using Q1 = cubby::FixedQueue<int, 1, mc::ModelPlatform>;

// Spins (yielding to the scheduler) until pred() holds.
template <class Pred>
void await(Pred pred) {
  while (!pred()) mc::yield();
}

// FullSlot: a channel holding 10 while a push of 11 (ps: its result) races
// close(); a popper records what it receives in got[0, n).
template <class C>
struct FullSlot {
  C c;
  Status ps = Status::timeout;
  int got[3] = {-1, -1, -1};
  int n = 0;
  // pop_rest: pops until closed.
  void pop_rest() {
    int x;
    while (n < 3 && c.pop(x) == Status::ok) got[n++] = x;
  }
  // check: 10 exactly once; 11 iff its push returned ok; in order.
  void check() const {
    MC_ASSERT(n == 1 + (ps == Status::ok ? 1 : 0));
    MC_ASSERT(got[0] == 10);
    if (n == 2) MC_ASSERT(got[1] == 11);
  }
};

// Full slot, a blocking pusher, close, a try_pop then a drain.
template <class C>
void try_pop_then_drain(mc::Exec& t) {
  auto* s = mc::make<FullSlot<C>>();
  MC_ASSERT(s->c.push(10) == Status::ok);
  t.thread([s] { s->ps = s->c.push(11); });
  t.thread([s] { s->c.close(); });
  t.thread([s] {
    if (auto v = s->c.try_pop()) s->got[s->n++] = *v;
    s->pop_rest();
  });
  t.after([s] {
    s->check();
    MC_ASSERT(s->ps != Status::timeout);  // a blocking push never times out
    mc::destroy(s);
  });
}
MC_TEST(cubby_close_try_pop_then_drain, mc::Options{}.bound(2)) { try_pop_then_drain<Cub>(t); }
MC_TEST(queue1_close_try_pop_then_drain, mc::Options{}.bound(2)) { try_pop_then_drain<Q1>(t); }

// Empty slot: a try_push and a try_pop racing close; then drain.
template <class C>
void try_push_try_pop(mc::Exec& t) {
  struct S {
    C c;
    bool pushed = false;
    int n = 0;
    std::optional<int> got;
  };
  auto* s = mc::make<S>();
  t.thread([s] { s->pushed = s->c.try_push(5); });
  t.thread([s] { s->c.close(); });
  t.thread([s] { s->got = s->c.try_pop(); });
  t.after([s] {
    int x;
    int n = s->got ? 1 : 0;
    while (s->c.pop(x) == Status::ok) {
      MC_ASSERT(x == 5);
      ++n;
    }
    MC_ASSERT(n == (s->pushed ? 1 : 0));
    mc::destroy(s);
  });
}
MC_TEST(cubby_close_try_push_try_pop, mc::Options{}.bound(2)) { try_push_try_pop<Cub>(t); }
MC_TEST(queue1_close_try_push_try_pop, mc::Options{}.bound(2)) { try_push_try_pop<Q1>(t); }

// Full slot, a timed push waiting, close, and a blocking popper that pops until closed.
template <class C>
void timed_push_on_full_slot(mc::Exec& t) {
  auto* s = mc::make<FullSlot<C>>();
  MC_ASSERT(s->c.push(10) == Status::ok);
  t.thread([s] { s->ps = s->c.push_for(11, 1ms); });
  t.thread([s] { s->c.close(); });
  t.thread([s] { s->pop_rest(); });
  t.after([s] {
    s->check();
    mc::destroy(s);
  });
}
MC_TEST(cubby_close_timed_push_on_full_slot, mc::Options{}.bound(2).spurious(1, 1)) {
  timed_push_on_full_slot<Cub>(t);
}
MC_TEST(queue1_close_timed_push_on_full_slot, mc::Options{}.bound(2).spurious(1, 1)) {
  timed_push_on_full_slot<Q1>(t);
}

// Two poppers (one timed) and a pusher racing close, empty slot.
template <class C>
void two_poppers_one_timed(mc::Exec& t) {
  struct S {
    C c;
    Status ps = Status::timeout, q1 = Status::timeout, q2 = Status::timeout;
    int a = -1, b = -1;
  };
  auto* s = mc::make<S>();
  t.thread([s] { s->ps = s->c.push(7); });
  t.thread([s] { s->q1 = s->c.pop(s->a); });
  t.thread([s] { s->q2 = s->c.pop_for(s->b, 1ms); });
  t.thread([s] { s->c.close(); });
  t.after([s] {
    int got = (s->q1 == Status::ok) + (s->q2 == Status::ok);
    int x;
    while (s->c.pop(x) == Status::ok) {
      MC_ASSERT(x == 7);
      ++got;
    }
    MC_ASSERT(got == (s->ps == Status::ok ? 1 : 0));
    if (s->q1 == Status::ok) MC_ASSERT(s->a == 7);
    if (s->q2 == Status::ok) MC_ASSERT(s->b == 7);
    mc::destroy(s);
  });
}
MC_TEST(cubby_close_two_poppers_one_timed, mc::Options{}.bound(1)) { two_poppers_one_timed<Cub>(t); }
MC_TEST(queue1_close_two_poppers_one_timed, mc::Options{}.bound(1)) { two_poppers_one_timed<Q1>(t); }

// Two closers, a pusher and a popper.
template <class C>
void twice_concurrently(mc::Exec& t) {
  struct S {
    C c;
    Status ps = Status::timeout;
    int n = 0;
  };
  auto* s = mc::make<S>();
  t.thread([s] { s->ps = s->c.push(3); });
  t.thread([s] {
    s->c.close();
    MC_ASSERT(s->c.is_closed());
  });
  t.thread([s] {
    s->c.close();
    MC_ASSERT(s->c.is_closed());
  });
  t.thread([s] {
    int x;
    while (s->n < 2 && s->c.pop(x) == Status::ok) ++s->n;
  });
  t.after([s] {
    MC_ASSERT(s->n == (s->ps == Status::ok ? 1 : 0));
    mc::destroy(s);
  });
}
MC_TEST(cubby_close_twice_concurrently, mc::Options{}.bound(1)) { twice_concurrently<Cub>(t); }
MC_TEST(queue1_close_twice_concurrently, mc::Options{}.bound(1)) { twice_concurrently<Q1>(t); }

// close across the 64-bit ticket wrap and the 31-bit turn wrap.
template <class C, std::uint64_t Start>
void close_wrap(mc::Exec& t) {
  struct S {
    C c{cubby::StartTicket{Start}};
    Status p1 = Status::timeout, p2 = Status::timeout;
    int n = 0;
    int got[3] = {-1, -1, -1};
  };
  auto* s = mc::make<S>();
  t.thread([s] {
    s->p1 = s->c.push(1);
    s->p2 = s->c.push(2);
  });
  t.thread([s] {
    int x;
    while (s->n < 3 && s->c.pop(x) == Status::ok) s->got[s->n++] = x;
  });
  t.thread([s] { s->c.close(); });
  t.after([s] {
    const int pushed = (s->p1 == Status::ok) + (s->p2 == Status::ok);
    if (s->p2 == Status::ok) MC_ASSERT(s->p1 == Status::ok);
    MC_ASSERT(s->n == pushed);
    for (int i = 0; i < s->n; ++i) MC_ASSERT(s->got[i] == i + 1);
    mc::destroy(s);
  });
}
MC_TEST(cubby_close_across_ticket_wrap, mc::Options{}.bound(2)) { close_wrap<Cub, UINT64_MAX>(t); }
MC_TEST(queue1_close_across_ticket_wrap, mc::Options{}.bound(2)) { close_wrap<Q1, UINT64_MAX>(t); }
MC_TEST(cubby_close_at_ticket_wrap, mc::Options{}.bound(2)) { close_wrap<Cub, UINT64_MAX - 1>(t); }
MC_TEST(queue1_close_at_ticket_wrap, mc::Options{}.bound(2)) { close_wrap<Q1, UINT64_MAX - 1>(t); }
MC_TEST(cubby_close_across_turn_wrap, mc::Options{}.bound(2)) { close_wrap<Cub, (1u << 30) - 1>(t); }
MC_TEST(queue1_close_across_turn_wrap, mc::Options{}.bound(2)) { close_wrap<Q1, (1u << 30) - 1>(t); }

// Timed push and timed pop, both without timeouts, plus a blocking push and
// close: no lost wake-up (a deadlock would be reported), nothing lost.
template <class C>
void timed_waiters_never_sleep_forever(mc::Exec& t) {
  struct S {
    C c;
    Status a = Status::timeout, b = Status::timeout, q = Status::timeout;
    int got = -1;
  };
  auto* s = mc::make<S>();
  t.thread([s] { s->a = s->c.push_for(1, 1h); });
  t.thread([s] { s->b = s->c.push(2); });
  t.thread([s] { s->q = s->c.pop_for(s->got, 1h); });
  t.thread([s] { s->c.close(); });
  t.after([s] {
    int n = s->q == Status::ok ? 1 : 0;
    int x;
    while (s->c.pop(x) == Status::ok) {
      MC_ASSERT((x == 1 && s->a == Status::ok) || (x == 2 && s->b == Status::ok));
      ++n;
    }
    MC_ASSERT(n == (s->a == Status::ok) + (s->b == Status::ok));
    if (s->q == Status::ok) MC_ASSERT((s->got == 1 && s->a == Status::ok) || (s->got == 2 && s->b == Status::ok));
    mc::destroy(s);
  });
}
MC_TEST(cubby_close_timed_waiters_never_sleep_forever, mc::Options{}.bound(1).no_timeouts().spurious(1, 1)) {
  timed_waiters_never_sleep_forever<Cub>(t);
}
MC_TEST(queue1_close_timed_waiters_never_sleep_forever, mc::Options{}.bound(1).no_timeouts().spurious(1, 1)) {
  timed_waiters_never_sleep_forever<Q1>(t);
}

// A pop waits on the empty channel; a push takes its ticket (pressure() goes
// from -1 to 0) and close() runs before the push stores its value.  The
// slot was the push's when close() took effect (its pop had arrived), so
// the push completes and the pop receives its value, whatever the order of
// the store and close().  Before the queue took the Cubby's close rule, its
// close() cancelled such a push (the pop then got `closed`): the one
// difference between a queue of capacity 1 and a Cubby.
template <class C>
void close_after_push_ticket(mc::Exec& t) {
  struct S {
    C c;
    mc::atomic<int> pushing{0};
    Status ps = Status::timeout, qs = Status::timeout;
    int got = -1;
  };
  auto* s = mc::make<S>();
  t.thread([s] { s->qs = s->c.pop(s->got); });
  t.thread([s] {
    await([s] { return s->c.pressure() == -1; });  // the pop holds its ticket
    s->pushing.store(1);
    s->ps = s->c.push(5);
  });
  t.thread([s] {
    await([s] { return s->pushing.load() == 1; });
    await([s] { return s->c.pressure() == 0; });  // the push holds its ticket
    s->c.close();
  });
  t.after([s] {
    MC_ASSERT(s->ps == Status::ok);
    MC_ASSERT(s->qs == Status::ok && s->got == 5);
    mc::destroy(s);
  });
}
MC_TEST(cubby_close_after_push_ticket, mc::Options{}.bound(2)) { close_after_push_ticket<Cub>(t); }
MC_TEST(queue1_close_after_push_ticket, mc::Options{}.bound(2)) { close_after_push_ticket<Q1>(t); }

// A blocking push racing close(): one that answers closed does so only once
// the close has taken effect (is_closed() is true, and what the closer
// wrote before close() is visible), including a Cubby push that saw
// close() begun and so took no ticket (Cubby::push).  Answering closed as
// soon as the closing mark is seen, without waiting for the close to be
// done, passes every other scenario here and fails this one.
template <class C>
void blocking_push_closed_after_close(mc::Exec& t) {
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
    if (s->c.push(7) == Status::closed) {
      MC_ASSERT(s->c.is_closed());
      MC_ASSERT(s->note.load() == 42);
    }
  });
  t.after([s] { mc::destroy(s); });
}
MC_TEST(cubby_close_blocking_push_closed_after_close, mc::Options{}.bound(2)) {
  blocking_push_closed_after_close<Cub>(t);
}
MC_TEST(queue1_close_blocking_push_closed_after_close, mc::Options{}.bound(2)) {
  blocking_push_closed_after_close<Q1>(t);
}
