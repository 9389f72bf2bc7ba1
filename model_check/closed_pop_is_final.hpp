// model_check/closed_pop_is_final.hpp: scenarios of close() run against
// both the cubby and the queue (capacity 1).
//   closed_pop_is_final: a push races close() while a popper pops until
//     `closed`.  A push that returns ok must be received by that popper:
//     `closed` is final.
//   timed_pop_beside_close_and_drain: a timed pop races a close() and the
//     try_pop that then drains (see there).
#pragma once

#include <chrono>
#include <optional>

#include "cubby/status.hpp"
#include "cubby_mc/platform.hpp"  // mc.hpp, or its Relacy stand-in (relacy_platform.hpp)

namespace cubby_model {

// closed_pop_is_final<Channel>(t, args...): the scenario over a Channel
// constructed from args.
template <class Channel, class... Args>
void closed_pop_is_final(cubby::mc::Exec& t, Args... args) {
  namespace mc = cubby::mc;
  using cubby::Status;
  struct S {
    explicit S(Args... a) : c(a...) {}
    Channel c;
    Status ps = Status::timeout;
    int k = 0;
  };
  auto* s = mc::make<S>(args...);
  t.thread([s] { s->ps = s->c.push(1); });
  t.thread([s] {
    int x = -1;
    while (s->k < 2 && s->c.pop(x) == Status::ok) ++s->k;
  });
  t.thread([s] { s->c.close(); });
  t.after([s] {
    MC_ASSERT(s->k == (s->ps == Status::ok ? 1 : 0));
    mc::destroy(s);
  });
}

// timed_pop_beside_close_and_drain<Channel>(t, args...): the value is in the
// channel from the start, and it leaves only after close().  So the channel
// is never open and empty, and the timed pop must not time out: it receives
// the value or, once drained, closed.  Fails when a claim that finds nothing
// reports a timeout on the strength of a closed check made before it (the
// close and the drain can both fall between the two; claim_until's [C2]).
template <class Channel, class... Args>
void timed_pop_beside_close_and_drain(cubby::mc::Exec& t, Args... args) {
  namespace mc = cubby::mc;
  using cubby::Status;
  struct S {
    explicit S(Args... a) : c(a...) {}
    Channel c;
    Status qs = Status::timeout;
    int got = -1;
    std::optional<int> drained;
  };
  auto* s = mc::make<S>(args...);
  MC_ASSERT(s->c.push(1) == Status::ok);
  t.thread([s] { s->qs = s->c.pop_for(s->got, std::chrono::milliseconds(1)); });
  t.thread([s] {
    s->c.close();
    s->drained = s->c.try_pop();
  });
  t.after([s] {
    MC_ASSERT(s->qs != Status::timeout);
    MC_ASSERT((s->qs == Status::ok && s->got == 1 && !s->drained) ||
              (s->qs == Status::closed && s->drained && *s->drained == 1));
    mc::destroy(s);
  });
}

}  // namespace cubby_model
