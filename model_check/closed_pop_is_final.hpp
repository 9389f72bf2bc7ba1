// model_check/closed_pop_is_final.hpp: one scenario run against the cubby
// (cubby_closed_pop_is_final) and the queue (queue_c1_closed_pop_is_final):
// a push races close() while a popper pops until `closed`.  A push that
// returns ok must be received by that popper: `closed` is final.
#pragma once

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

}  // namespace cubby_model
