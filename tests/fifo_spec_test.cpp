// Unit tests of the stress harness's sequential FIFO specification
// (stress/harness/fifo_spec.hpp) through its linearizability checker: the
// histories the queue's close rules allow pass, and the ones they rule out
// fail.  Each history is written as it would be recorded: invocation and
// response stamps, one operation per line.
#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>

#include "harness/fifo_spec.hpp"
#include "harness/linearizability.hpp"

namespace {

using cubby::stress::FifoSpec;
using Kind = FifoSpec::Kind;
using Result = FifoSpec::Result;
using History = cubby::stress::lin::History<FifoSpec>;

struct Line {
  unsigned thread;
  std::uint64_t invoked, responded;
  Kind kind;
  Result result;
  std::uint64_t value;  // pushed, or popped (ok)
  bool voidable;        // as the recorder marks it: a failed operation overlapping a close()
};

History history(std::initializer_list<std::uint64_t> initial, unsigned capacity, std::initializer_list<Line> lines) {
  History h;
  h.initial.capacity = static_cast<std::uint8_t>(capacity);
  for (const auto v : initial) h.initial.values[h.initial.size++] = v;
  for (const Line& l : lines) {
    cubby::stress::lin::Op<FifoSpec> op;
    op.thread = l.thread;
    op.invoked = l.invoked;
    op.responded = l.responded;
    op.call.kind = l.kind;
    op.call.result = l.result;
    op.call.value = l.value;
    op.call.voidable = l.voidable;
    h.ops.push_back(op);
  }
  return h;
}

// Seen from the queue under ThreadSanitizer (queue-lin, capacity 2): t1's
// blocking push(34) takes push ticket 3 and waits for slot 1; t0's try_pop
// takes the promised pop ticket 3 and waits for 34.  t1 is descheduled until
// close(), so ticket 3 becomes a hole and t0's pop claims again and receives
// 98 (ticket 4).  Meanwhile t2's try_push(67) found the queue full (34 holds
// its place) and t3's try_pop found nothing (the only place left was t0's).
History claimed_hole_history(bool with_close) {
  return history({900, 901}, 2,
                 {
                     {1, 1, 3, Kind::pop_for, Result::ok, 900, false},
                     {2, 2, 5, Kind::try_push, Result::ok, 65, false},
                     {1, 4, 21, Kind::push, Result::closed, 34, with_close},
                     {2, 6, 7, Kind::try_pop, Result::ok, 901, false},
                     {2, 8, 9, Kind::try_push, Result::failed, 67, false},
                     {0, 10, 11, Kind::try_pop, Result::ok, 65, false},
                     {0, 12, 24, Kind::try_pop, Result::ok, 98, false},
                     {3, 13, 14, Kind::try_pop, Result::failed, 0, false},
                     {3, 15, 16, Kind::push, Result::ok, 98, false},
                     {3, 17, 19, with_close ? Kind::close_begin : Kind::pop_for, with_close ? Result::ok : Result::timeout,
                      0, false},
                     {3, 17, 19, with_close ? Kind::close_end : Kind::pop_for, with_close ? Result::ok : Result::timeout,
                      0, false},
                     {1, 25, 26, Kind::try_push, with_close ? Result::failed : Result::ok, 35, with_close},
                 });
}

TEST(FifoSpec, APopThatClaimedAHoleAndTookTheNextValueIsLinearizable) {
  EXPECT_TRUE(cubby::stress::lin::is_linearizable(claimed_hole_history(true)));
}

// Without a close nothing voids push(34): a failed push(34) is then wrong,
// and so is the whole history, whichever reading is tried.
TEST(FifoSpec, WithoutACloseTheSameHistoryIsNot) {
  EXPECT_FALSE(cubby::stress::lin::is_linearizable(claimed_hole_history(false)));
}

}  // namespace
