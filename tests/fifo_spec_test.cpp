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

// Seen from the queue under ThreadSanitizer (queue-lin, capacity 2), when
// its close() still voided the pushes in line (a channel may do so): t1's
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

// Near misses, each ruled out by one rule alone (a specification that
// accepted anything with a close in it, or that let a voided push be
// claimed past a value, would pass the two tests above).

// FIFO: two pushes one after the other, received in the other order.
TEST(FifoSpec, ValuesReceivedOutOfOrderAreNot) {
  EXPECT_FALSE(cubby::stress::lin::is_linearizable(history({}, 2,
                                                           {
                                                               {0, 1, 2, Kind::push, Result::ok, 1, false},
                                                               {0, 3, 4, Kind::push, Result::ok, 2, false},
                                                               {1, 5, 6, Kind::pop, Result::ok, 2, false},
                                                               {1, 7, 8, Kind::pop, Result::ok, 1, false},
                                                           })));
}

// A push may complete while close() runs, not after it returned.
TEST(FifoSpec, APushThatCompletesAfterCloseReturnedIsNot) {
  const auto with_push = [](std::uint64_t invoked, std::uint64_t responded) {
    return history({}, 2,
                   {
                       {0, 2, 3, Kind::close_begin, Result::ok, 0, false},
                       {0, 2, 3, Kind::close_end, Result::ok, 0, false},
                       {1, invoked, responded, Kind::push, Result::ok, 5, false},
                       {2, 10, 11, Kind::pop, Result::ok, 5, false},
                   });
  };
  EXPECT_TRUE(cubby::stress::lin::is_linearizable(with_push(1, 4)));   // overlaps close()
  EXPECT_FALSE(cubby::stress::lin::is_linearizable(with_push(4, 5)));  // begins after it
}

// A failed try_pop overlapping close() may read as claiming a voided push's
// place only with no value ahead of it: with nothing queued the history
// passes that way; with 900 queued from the start (and received later) the
// empty answer fits no reading.
TEST(FifoSpec, AnEmptyTryPopPastAQueuedValueIsNotEvenAroundAClose) {
  const auto around_close = [](bool queued) {
    History h = history({}, 2,
                        {
                            {1, 1, 10, Kind::push, Result::closed, 34, true},
                            {0, 2, 6, Kind::try_pop, Result::failed, 0, true},
                            {2, 4, 5, Kind::close_begin, Result::ok, 0, false},
                            {2, 4, 5, Kind::close_end, Result::ok, 0, false},
                            {2, 13, 14, Kind::pop, Result::closed, 0, false},
                        });
    if (queued) {
      h.initial.values[h.initial.size++] = 900;
      History pop900 = history({}, 2, {{2, 11, 12, Kind::pop, Result::ok, 900, false}});
      h.ops.insert(h.ops.end() - 1, pop900.ops[0]);  // before the final pop, as recorded
    }
    return h;
  };
  EXPECT_TRUE(cubby::stress::lin::is_linearizable(around_close(false)));
  EXPECT_FALSE(cubby::stress::lin::is_linearizable(around_close(true)));
}

}  // namespace
