// model_check/cubby_close_model.cpp: Cubby's close() against the claims of
// try and timed operations (which may take a ticket between close()'s push
// and pop tickets F and P), against two closers, and across the ticket and
// turn wrap-arounds.  Each checks conservation: a push that returned ok is
// received exactly once, in order, and nothing else is.  Admitting pushes
// past P after close (dropping half of Cubby::admitted) fails five of them.
#include <chrono>
#include <cstdint>
#include <optional>

#include "cubby/cubby.hpp"
#include "cubby_mc/platform.hpp"

namespace mc = cubby::mc;
using cubby::Status;
using namespace std::chrono_literals;
using C = cubby::Cubby<int, mc::ModelPlatform>;

// FullSlot: a cubby holding 10 while a push of 11 (ps: its result) races
// close(); a popper records what it receives in got[0, n).
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
MC_TEST(cubby_close_try_pop_then_drain, mc::Options{}.bound(2)) {
  auto* s = mc::make<FullSlot>();
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

// Empty slot: a try_push and a try_pop racing close; then drain.
MC_TEST(cubby_close_try_push_try_pop, mc::Options{}.bound(2)) {
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

// Full slot, a timed push waiting, close, and a blocking popper that pops until closed.
MC_TEST(cubby_close_timed_push_on_full_slot, mc::Options{}.bound(2).spurious(1, 1)) {
  auto* s = mc::make<FullSlot>();
  MC_ASSERT(s->c.push(10) == Status::ok);
  t.thread([s] { s->ps = s->c.push_for(11, 1ms); });
  t.thread([s] { s->c.close(); });
  t.thread([s] { s->pop_rest(); });
  t.after([s] {
    s->check();
    mc::destroy(s);
  });
}

// Two poppers (one timed) and a pusher racing close, empty slot.
MC_TEST(cubby_close_two_poppers_one_timed, mc::Options{}.bound(1)) {
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

// Two closers, a pusher and a popper.
MC_TEST(cubby_close_twice_concurrently, mc::Options{}.bound(1)) {
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

// close across the 64-bit ticket wrap and the 31-bit turn wrap.
template <std::uint64_t Start>
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
MC_TEST(cubby_close_across_ticket_wrap, mc::Options{}.bound(2)) { close_wrap<UINT64_MAX>(t); }
MC_TEST(cubby_close_at_ticket_wrap, mc::Options{}.bound(2)) { close_wrap<UINT64_MAX - 1>(t); }
MC_TEST(cubby_close_across_turn_wrap, mc::Options{}.bound(2)) { close_wrap<(1u << 30) - 1>(t); }

// Timed push and timed pop, both without timeouts, plus a blocking push and
// close: no lost wake-up (a deadlock would be reported), nothing lost.
MC_TEST(cubby_close_timed_waiters_never_sleep_forever, mc::Options{}.bound(1).no_timeouts().spurious(1, 1)) {
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
