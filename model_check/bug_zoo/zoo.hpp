// model_check/bug_zoo/zoo.hpp: shared by the bug zoo: each file seeds one
// classic concurrency bug (test <bug>_buggy, which must be caught as the
// named failure kind) next to its fixed twin (<bug>_fixed, which must pass).
// Both variants share one source; `kBuggy` selects the seeded line.
#pragma once

#include <cstdint>

#include "cubby_mc/mc.hpp"

namespace zoo {
namespace mc = cubby::mc;
using std::memory_order_acq_rel;
using std::memory_order_acquire;
using std::memory_order_relaxed;
using std::memory_order_release;
using std::memory_order_seq_cst;

inline mc::Options buggy(mc::Failure kind) { return mc::Options{}.bound(3).expect_failure(kind); }
inline mc::Options fixed() { return mc::Options{}.bound(3); }
}  // namespace zoo

// ZOO_PAIR(bug, kind): MC_TEST bug_buggy (expects kind) and bug_fixed, both
// running zoo_<bug>(t, buggy).
#define ZOO_PAIR(bug, kind)                                                    \
  static void zoo_##bug(::cubby::mc::Exec& t, bool kBuggy);                    \
  MC_TEST(bug##_buggy, ::zoo::buggy(::cubby::mc::Failure::kind)) { zoo_##bug(t, true); } \
  MC_TEST(bug##_fixed, ::zoo::fixed()) { zoo_##bug(t, false); }                \
  static void zoo_##bug(::cubby::mc::Exec& t, bool kBuggy)
