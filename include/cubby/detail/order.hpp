// cubby/detail/order.hpp: labelled memory orders.
//
// Every release/acquire edge of a primitive is written CUBBY_ORDER(Xn, order),
// where Xn is the label of the comment that argues it ("[S1] release: ...").
// Normally the macro is just `order`.  A build with -DCUBBY_WEAKEN=Xn turns
// that one edge into memory_order_relaxed, so the model-check suite can show
// that each labelled edge is load-bearing: the weakened build must fail a
// model test (model_check/CMakeLists.txt builds one variant per label).
#pragma once

#include <atomic>
#include <string_view>

#define CUBBY_DETAIL_STR2(x) #x
#define CUBBY_DETAIL_STR(x) CUBBY_DETAIL_STR2(x)

#ifdef CUBBY_WEAKEN
// The weakened edge: memory_order_relaxed on purpose, to prove it matters.
#define CUBBY_ORDER(label, order) \
  (std::string_view(#label) == std::string_view(CUBBY_DETAIL_STR(CUBBY_WEAKEN)) ? std::memory_order_relaxed : (order))
#else
#define CUBBY_ORDER(label, order) (order)
#endif

// CUBBY_KEEP(Xn): true, unless the build weakens Xn; for labelled barriers
// ("[D1] light barrier: ..."), which a weakened build leaves out:
//   if (CUBBY_KEEP(D1)) Platform::light_barrier();
#define CUBBY_KEEP(label) (CUBBY_ORDER(label, std::memory_order_seq_cst) != std::memory_order_relaxed)

namespace cubby::detail {
// acq_rel_halves: acq_rel, acquire, release or relaxed, as the two halves are
// kept; see CUBBY_ACQ_REL.
constexpr std::memory_order acq_rel_halves(bool acquire, bool release) noexcept {
  if (acquire) {
    // No atomic operation here: the order an edge's RMW uses (its argument
    // stands beside that RMW).
    return release ? std::memory_order_acq_rel : std::memory_order_acquire;
  }
  // As above: an order, not an operation.
  return release ? std::memory_order_release : std::memory_order_relaxed;
}
}  // namespace cubby::detail

// CUBBY_ACQ_REL(An, Rn): an acq_rel RMW whose acquire half is the edge An and
// whose release half is the edge Rn; weakening one label drops only its half.
#define CUBBY_ACQ_REL(acq_label, rel_label) ::cubby::detail::acq_rel_halves(CUBBY_KEEP(acq_label), CUBBY_KEEP(rel_label))
