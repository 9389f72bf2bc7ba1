// Unit tests of how a queue's waiters sleep and wake, observed through a
// counting platform and /proc (a thread asleep in futex(2)), never through
// sleeps or clocks:
//   - a handoff wakes only the waiter whose turn it is;
//   - a blocking wait spins (pause, then yield) before it sleeps;
//   - a timed wait whose deadline has passed neither yields nor sleeps.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "asleep_in_futex.hpp"
#include "cubby/cubby.hpp"
#include "cubby/queue.hpp"
#include "syscalls.hpp"

namespace {

using cubby::Status;
using cubby::platform::FutexResult;
using cubby::platform::NativePlatform;
using cubby::platform::SteadyTime;
using cubby::test::asleep_in_futex;
using cubby::test::this_tid;

// CountingPlatform: NativePlatform that counts the futex waits that returned
// (all threads), and each thread's pauses and yields up to its first wait.
struct CountingPlatform : NativePlatform {
  static inline std::atomic<int> waits_returned{0};
  static inline thread_local unsigned pauses = 0, yields = 0;
  static inline thread_local int first_wait_pauses = -1, first_wait_yields = -1;
  static FutexResult wait(std::atomic<std::uint32_t>& word, std::uint32_t expected, std::uint32_t channels,
                          const SteadyTime* deadline) noexcept {
    if (first_wait_pauses < 0) {
      first_wait_pauses = static_cast<int>(pauses);
      first_wait_yields = static_cast<int>(yields);
    }
    const FutexResult r = NativePlatform::wait(word, expected, channels, deadline);
    waits_returned.fetch_add(1);  // seq_cst: a test counter, read after the joins and awaits below
    return r;
  }
  static void pause() noexcept {
    ++pauses;
    NativePlatform::pause();
  }
  static void yield() noexcept {
    ++yields;
    NativePlatform::yield();
  }
};

template <class Pred>
void await(Pred pred) {
  while (!pred()) std::this_thread::yield();
}

}  // namespace

// Two pushers asleep on one capacity-1 slot for different turns (laps 1 and
// 2); a pop hands the slot to the first: exactly one wait returns.
TEST(QueueWake, HandoffWakesOnlyTheNextTurnsOwner) {
  cubby::Queue<int, CountingPlatform> q(1);
  ASSERT_EQ(q.push(0), Status::ok);
  std::atomic<pid_t> tid1{0}, tid2{0};
  std::thread p1([&] {
    tid1 = this_tid();
    EXPECT_EQ(q.push(1), Status::ok);  // ticket 1: slot 0, lap 1
  });
  await([&] { return q.pressure() == 2; });
  std::thread p2([&] {
    tid2 = this_tid();
    EXPECT_EQ(q.push(2), Status::ok);  // ticket 2: slot 0, lap 2 (another turn, another channel)
  });
  await([&] { return q.pressure() == 3; });
  await([&] { return asleep_in_futex(tid1) && asleep_in_futex(tid2); });
  const int before = CountingPlatform::waits_returned.load();
  int v = -1;
  ASSERT_EQ(q.pop(v), Status::ok);  // hands slot 0 to ticket 1's push: p1's turn only
  EXPECT_EQ(v, 0);
  p1.join();
  // p2 is asleep again, or still: had the handoff woken it, its wait would
  // have returned (and been counted) before it could sleep again.
  await([&] { return asleep_in_futex(tid2); });
  EXPECT_EQ(CountingPlatform::waits_returned.load() - before, 1) << "the handoff to p1 also woke p2";
  ASSERT_EQ(q.pop(v), Status::ok);
  EXPECT_EQ(v, 1);
  p2.join();
  ASSERT_EQ(q.pop(v), Status::ok);
  EXPECT_EQ(v, 2);
}

// A pop on an empty queue spends the whole spin budget (pauses, then
// yields) before its first futex wait.
TEST(QueueWake, BlockingWaitSpinsBeforeItSleeps) {
  cubby::Queue<int, CountingPlatform> q(2);
  std::atomic<pid_t> tid{0};
  int first_pauses = -1, first_yields = -1;
  std::thread popper([&] {
    tid = this_tid();
    int v = -1;
    EXPECT_EQ(q.pop(v), Status::ok);
    first_pauses = CountingPlatform::first_wait_pauses;
    first_yields = CountingPlatform::first_wait_yields;
  });
  await([&] { return asleep_in_futex(tid.load()); });
  ASSERT_EQ(q.push(5), Status::ok);
  popper.join();
  EXPECT_GE(first_pauses, static_cast<int>(cubby::platform::spin_pauses<NativePlatform>()));
  EXPECT_GE(first_yields, static_cast<int>(NativePlatform::spin_yields));
}

// A due deadline answers timeout at once: no futex call and no heavy barrier
// (nobody sleeps, so there must be no syscall), for the queue and the cubby,
// both sides.
TEST(QueueWake, DueDeadlineMakesNoFutexCall) {
  using namespace std::chrono_literals;
  cubby::Queue<int> q(2);
  cubby::Cubby<int> c;
  int v = 0;
  const cubby::test::SyscallsSince since;
  EXPECT_EQ(q.pop_for(v, 0ms), Status::timeout);
  EXPECT_EQ(q.pop_until(v, std::chrono::steady_clock::now() - 1s), Status::timeout);
  EXPECT_EQ(c.pop_for(v, 0ms), Status::timeout);
  ASSERT_EQ(q.push(1), Status::ok);
  ASSERT_EQ(q.push(2), Status::ok);
  ASSERT_EQ(c.push(1), Status::ok);
  EXPECT_EQ(q.push_for(3, 0ms), Status::timeout);
  EXPECT_EQ(c.push_until(3, std::chrono::steady_clock::now() - 1s), Status::timeout);
  EXPECT_EQ(since.futex(), 0u);
  EXPECT_EQ(since.heavy_barriers(), 0u);
}

// SlowYieldPlatform: a yield that hands the CPU away for 2 ms, as it does
// when another thread is runnable on the core.  A 1 ms timed wait must stop
// yielding once its deadline has passed, not spend the whole yield budget.
namespace {
struct SlowYieldPlatform : NativePlatform {
  static inline thread_local unsigned yields = 0;
  static void yield() noexcept {
    ++yields;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
};
}  // namespace

TEST(QueueWake, TimedWaitStopsYieldingAtItsDeadline) {
  using namespace std::chrono_literals;
  static_assert(NativePlatform::spin_yields > 2);
  cubby::Queue<int, SlowYieldPlatform> q(1);
  cubby::Cubby<int, SlowYieldPlatform> c;
  int v = 0;
  auto yields_of = [](auto op) {
    SlowYieldPlatform::yields = 0;
    EXPECT_EQ(op(), Status::timeout);
    return SlowYieldPlatform::yields;
  };
  EXPECT_LE(yields_of([&] { return q.pop_for(v, 1ms); }), 1u);
  EXPECT_LE(yields_of([&] { return c.pop_for(v, 1ms); }), 1u);
  ASSERT_EQ(q.push(1), Status::ok);
  ASSERT_EQ(c.push(1), Status::ok);
  EXPECT_LE(yields_of([&] { return q.push_for(2, 1ms); }), 1u);
  EXPECT_LE(yields_of([&] { return c.push_for(2, 1ms); }), 1u);
}
