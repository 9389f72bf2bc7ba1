// tests/timed_waits.hpp: checks of timed operations shared by the cubby's
// and the queue's tests.
#pragma once

#include <gtest/gtest.h>

#include <chrono>

#include "cubby/status.hpp"

namespace cubby::test {

// kNever: a timed waiter's deadline that no test outlives: a close() that
// does not wake it leaves the test hanging (failed by ctest's timeout),
// where a deadline of a minute would have let it pass as `closed` anyway.
inline constexpr auto kNever = std::chrono::hours(24);

// expect_timeout_after: op() (a timed operation given duration d) returns
// timeout, and not before d has passed: an operation that gave up early
// would return the same status.
template <class Op>
void expect_timeout_after(std::chrono::nanoseconds d, Op op) {
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(op(), Status::timeout);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, d);
}

}  // namespace cubby::test
