// Reference-count release with a relaxed decrement and no acquire before the
// delete: the last owner destroys the object while another owner's last use
// of it is not ordered before (a race with the destructor's writes).
// Fixed: fetch_sub(release), then an acquire fence in the deleting thread.
#include "zoo.hpp"
using namespace zoo;

namespace {
struct Obj {
  mc::atomic<int> refs{2};
  mc::cell<int> payload{7};
};
void release(Obj* o, bool buggy) {
  if (o->refs.fetch_sub(1, buggy ? memory_order_relaxed : memory_order_release) == 1) {
    if (!buggy) mc::fence(memory_order_acquire);
    o->payload.store(-1);  // the destructor scribbles over the object
    mc::destroy(o);
  }
}
}  // namespace

ZOO_PAIR(refcount_relaxed, race) {
  auto* o = mc::make<Obj>();
  for (int i = 0; i < 2; ++i) {
    t.thread([o, kBuggy] {
      MC_ASSERT(o->payload.load() == 7);  // last use
      release(o, kBuggy);
    });
  }
}
