// model_check/cubby_push_pop.hpp: the two-thread push/pop scenario of the
// model test cubby_push_pop (cubby_model.cpp), shared with the benchmark
// that measures the checker's executions per second on it
// (bench/model_check_bench.cpp), so both explore the same executions.
#pragma once

#include "cubby/cubby.hpp"
#include "cubby_mc/platform.hpp"  // mc.hpp, or its Relacy stand-in (relacy_platform.hpp)

namespace cubby_model {

// The options cubby_push_pop runs with: preemption bound 3, the rest default.
inline cubby::mc::Options push_pop_options() { return cubby::mc::Options{}.bound(3); }

// push_pop: a pusher pushes 1 then 2, a popper pops twice; each value
// arrives once, in order, and the slot ends empty.  The value's cell is
// ordered by the turn word, so weakening [S1] or [S2] makes this a race.
inline void push_pop(cubby::mc::Exec& t) {
  namespace mc = cubby::mc;
  using C = cubby::Cubby<int, mc::ModelPlatform>;
  using cubby::Status;
  struct S {
    C c;
    int a = -1, b = -1;
  };
  auto* s = mc::make<S>();
  t.thread([s] {
    MC_ASSERT(s->c.push(1) == Status::ok);
    MC_ASSERT(s->c.push(2) == Status::ok);
  });
  t.thread([s] {
    MC_ASSERT(s->c.pop(s->a) == Status::ok);
    MC_ASSERT(s->c.pop(s->b) == Status::ok);
  });
  t.after([s] {
    MC_ASSERT(s->a == 1 && s->b == 2);
    MC_ASSERT(s->c.pressure() == 0);
    mc::destroy(s);
  });
}

}  // namespace cubby_model
