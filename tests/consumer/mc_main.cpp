// A model test outside the project: the user's own code built on a cubby,
// explored by cubby's model checker (linked as cubby::model_check_main).
#include <cubby/cubby.hpp>
#include <cubby_mc/mc.hpp>
#include <cubby_mc/platform.hpp>

namespace mc = cubby::mc;

// The user's code: a payload written before its index is handed over.
MC_TEST(consumer_payload_handoff) {
  struct S {
    cubby::Cubby<int, mc::ModelPlatform> ready;
    mc::cell<int> payload{0};
  };
  auto* s = mc::make<S>();
  t.thread([s] {
    s->payload.store(42);
    MC_ASSERT(s->ready.push(1) == cubby::Status::ok);
  });
  t.thread([s] {
    int v = 0;
    MC_ASSERT(s->ready.pop(v) == cubby::Status::ok && v == 1);
    MC_ASSERT(s->payload.load() == 42);
  });
  t.after([s] { mc::destroy(s); });
}
