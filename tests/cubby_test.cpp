// Unit tests of cubby::Cubby: every behaviour its contract names.
#include "cubby/cubby.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "asleep_in_futex.hpp"
#include "timed_waits.hpp"
#include "syscalls.hpp"

using namespace std::chrono_literals;
using cubby::Cubby;
using cubby::StartTicket;
using cubby::Status;
using cubby::test::await_asleep;
using cubby::test::expect_timeout_after;
using cubby::test::kNever;
using cubby::test::this_tid;

namespace {

// Spins until pred() holds (the tests use it to order thread arrivals).
template <class Pred>
void await(Pred pred) {
  while (!pred()) std::this_thread::yield();
}

}  // namespace

TEST(Cubby, LayoutIsTwoPaddedCacheLines) {
  EXPECT_EQ(sizeof(Cubby<void*>), 2 * cubby::platform::cache_line_size);
  EXPECT_EQ(alignof(Cubby<void*>), cubby::platform::cache_line_size);
}

TEST(Cubby, PushThenPopSingleThread) {
  Cubby<int> c;
  EXPECT_EQ(c.pressure(), 0);
  EXPECT_EQ(c.push(42), Status::ok);
  EXPECT_EQ(c.pressure(), 1);
  int v = 0;
  EXPECT_EQ(c.pop(v), Status::ok);
  EXPECT_EQ(v, 42);
  EXPECT_EQ(c.pressure(), 0);
}

TEST(Cubby, HoldsPointers) {
  Cubby<int*> c;
  int x = 7;
  ASSERT_TRUE(c.try_push(&x));
  auto p = c.try_pop();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(*p, &x);
}

TEST(Cubby, TryPushFailsWhenFullAndTryPopWhenEmpty) {
  Cubby<std::uint64_t> c;
  EXPECT_FALSE(c.try_pop().has_value());
  EXPECT_TRUE(c.try_push(1));
  EXPECT_FALSE(c.try_push(2));
  EXPECT_EQ(c.pressure(), 1);  // the failed try left no ticket behind
  EXPECT_EQ(c.try_pop(), std::optional<std::uint64_t>(1));
  EXPECT_FALSE(c.try_pop().has_value());
  EXPECT_EQ(c.pressure(), 0);
}

TEST(Cubby, TimedOperationsTimeOutAndLeaveNoTrace) {
  Cubby<int> c;
  int v = 0;
  expect_timeout_after(5ms, [&] { return c.pop_for(v, 5ms); });
  EXPECT_EQ(c.pressure(), 0);
  EXPECT_EQ(c.push_for(1, 5ms), Status::ok);
  expect_timeout_after(5ms, [&] { return c.push_for(2, 5ms); });
  EXPECT_EQ(c.pressure(), 1);
  EXPECT_EQ(c.pop_until(v, std::chrono::steady_clock::now() + 5ms), Status::ok);
  EXPECT_EQ(v, 1);
  // A deadline in the past still succeeds when the slot is ready.
  EXPECT_EQ(c.push_until(3, std::chrono::steady_clock::now() - 1s), Status::ok);
  EXPECT_EQ(c.pop_until(v, std::chrono::steady_clock::now() - 1s), Status::ok);
  EXPECT_EQ(v, 3);
}

TEST(Cubby, TimedPopIsWokenByPush) {
  Cubby<int> c;
  std::thread t([&] {
    std::this_thread::sleep_for(20ms);
    EXPECT_EQ(c.push(9), Status::ok);
  });
  int v = 0;
  EXPECT_EQ(c.pop_for(v, std::chrono::hours::max()), Status::ok);  // a lost wake hangs (ctest's timeout)
  EXPECT_EQ(v, 9);
  t.join();
}

TEST(Cubby, TimedPushIsWokenByPop) {
  Cubby<int> c;
  ASSERT_EQ(c.push(1), Status::ok);
  std::thread t([&] {
    std::this_thread::sleep_for(20ms);
    int v = 0;
    EXPECT_EQ(c.pop(v), Status::ok);
    EXPECT_EQ(v, 1);
  });
  EXPECT_EQ(c.push_for(2, std::chrono::hours::max()), Status::ok);  // a lost wake hangs (ctest's timeout)
  t.join();
  EXPECT_EQ(c.pressure(), 1);
}

// The seed's unsafe case: one value in the slot, 5 pushers blocked, 5 poppers
// arrive at once.  They must receive values 0..4 exactly once each, every
// pusher must complete, and value 5 must stay in the slot.
TEST(Cubby, UnbalancedBackpressureFivePushersFivePoppers) {
  for (int round = 0; round < 20; ++round) {
    Cubby<int> c;
    ASSERT_EQ(c.push(0), Status::ok);
    std::vector<std::thread> pushers;
    for (int i = 1; i <= 5; ++i) {
      pushers.emplace_back([&c, i] { EXPECT_EQ(c.push(i), Status::ok); });
      await([&] { return c.pressure() == i + 1; });  // pusher i is in line
    }
    EXPECT_EQ(c.pressure(), 6);
    std::atomic<bool> go{false};
    std::vector<int> got(5, -1);
    std::vector<std::thread> poppers;
    for (int i = 0; i < 5; ++i) {
      poppers.emplace_back([&, i] {
        await([&] { return go.load(); });
        EXPECT_EQ(c.pop(got[i]), Status::ok);
      });
    }
    go = true;
    for (auto& t : poppers) t.join();
    for (auto& t : pushers) t.join();
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3, 4}));
    EXPECT_EQ(c.pressure(), 1);
    int last = -1;
    EXPECT_EQ(c.try_pop(), std::optional<int>(5));
    (void)last;
  }
}

// Waiting pushers deposit in arrival order.
TEST(Cubby, WaitingPushersDepositInArrivalOrder) {
  constexpr int n = 8;
  Cubby<int> c;
  ASSERT_EQ(c.push(-1), Status::ok);
  std::vector<std::thread> pushers;
  for (int i = 0; i < n; ++i) {
    pushers.emplace_back([&c, i] { EXPECT_EQ(c.push(i), Status::ok); });
    await([&] { return c.pressure() == i + 2; });
  }
  std::this_thread::sleep_for(10ms);  // let them all fall asleep
  int v = 0;
  ASSERT_EQ(c.pop(v), Status::ok);
  EXPECT_EQ(v, -1);
  for (int i = 0; i < n; ++i) {
    ASSERT_EQ(c.pop(v), Status::ok);
    EXPECT_EQ(v, i);
  }
  for (auto& t : pushers) t.join();
  EXPECT_EQ(c.pressure(), 0);
}

// Waiting poppers take in arrival order.
TEST(Cubby, WaitingPoppersTakeInArrivalOrder) {
  constexpr int n = 8;
  Cubby<int> c;
  std::vector<int> got(n, -1);
  std::vector<std::thread> poppers;
  for (int i = 0; i < n; ++i) {
    poppers.emplace_back([&c, &got, i] { EXPECT_EQ(c.pop(got[i]), Status::ok); });
    await([&] { return c.pressure() == -(i + 1); });
  }
  std::this_thread::sleep_for(10ms);
  for (int i = 0; i < n; ++i) ASSERT_EQ(c.push(100 + i), Status::ok);
  for (auto& t : poppers) t.join();
  for (int i = 0; i < n; ++i) EXPECT_EQ(got[i], 100 + i);
  EXPECT_EQ(c.pressure(), 0);
}

TEST(Cubby, CloseWakesWaitingPushersWhoKeepTheirValues) {
  Cubby<int> c;
  ASSERT_EQ(c.push(0), Status::ok);
  std::atomic<int> closed{0};
  std::vector<std::thread> pushers;
  for (int i = 1; i <= 4; ++i) {
    pushers.emplace_back([&, i] {
      if (c.push(i) == Status::closed) closed.fetch_add(1);
    });
  }
  std::atomic<pid_t> timed_tid{0};
  std::thread timed([&] {
    timed_tid = this_tid();
    if (c.push_for(99, kNever) == Status::closed) closed.fetch_add(1);
  });
  await([&] { return c.pressure() == 5; });
  // The timed waiter holds no ticket (pressure() does not count it): wait
  // until it is asleep in the futex, so that only close() can wake it.
  await_asleep(timed_tid);
  std::this_thread::sleep_for(10ms);
  c.close();
  for (auto& t : pushers) t.join();
  timed.join();
  EXPECT_EQ(closed.load(), 5);
  EXPECT_TRUE(c.is_closed());
  int v = -1;
  EXPECT_EQ(c.pop(v), Status::ok);  // the value already in the slot drains
  EXPECT_EQ(v, 0);
  EXPECT_EQ(c.pop(v), Status::closed);
  EXPECT_EQ(c.push(5), Status::closed);
  EXPECT_FALSE(c.try_push(5));
  EXPECT_FALSE(c.try_pop().has_value());
}

TEST(Cubby, CloseWakesWaitingPoppers) {
  Cubby<int> c;
  std::atomic<int> closed{0};
  std::vector<std::thread> poppers;
  for (int i = 0; i < 4; ++i) {
    poppers.emplace_back([&] {
      int v;
      if (c.pop(v) == Status::closed) closed.fetch_add(1);
    });
  }
  std::atomic<pid_t> timed_tid{0};
  std::thread timed([&] {
    timed_tid = this_tid();
    int v;
    if (c.pop_for(v, kNever) == Status::closed) closed.fetch_add(1);
  });
  await([&] { return c.pressure() == -4; });
  // The timed waiter holds no ticket (pressure() does not count it): wait
  // until it is asleep in the futex, so that only close() can wake it.
  await_asleep(timed_tid);
  std::this_thread::sleep_for(10ms);
  c.close();
  for (auto& t : poppers) t.join();
  timed.join();
  EXPECT_EQ(closed.load(), 5);
}

TEST(Cubby, PushPopAfterCloseOnEmpty) {
  Cubby<int> c;
  c.close();
  c.close();  // idempotent
  int v;
  EXPECT_EQ(c.pop(v), Status::closed);
  EXPECT_EQ(c.push(1), Status::closed);
  EXPECT_EQ(c.push_for(1, 1ms), Status::closed);
  EXPECT_EQ(c.pop_for(v, 1ms), Status::closed);
}

// Many threads, random mix of blocking, timed and try operations: every value
// pushed with ok is popped exactly once, nothing else is popped, and no one
// is stranded.
TEST(Cubby, TimeoutsUnderContentionLoseAndDuplicateNothing) {
  constexpr int producers = 4, consumers = 4, per_producer = 3000;
  Cubby<std::uint64_t> c;
  std::vector<std::vector<std::uint64_t>> pushed(producers), popped(consumers);
  std::atomic<int> producers_left{producers};
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      std::mt19937 rng(p);
      for (std::uint64_t i = 0; i < per_producer; ++i) {
        const std::uint64_t v = (std::uint64_t(p) << 32) | i;
        Status s;
        switch (rng() % 3) {
          case 0: s = c.push(v); break;
          case 1: s = c.push_for(v, std::chrono::microseconds(rng() % 200)); break;
          default: s = c.try_push(v) ? Status::ok : Status::timeout; break;
        }
        if (s == Status::ok) pushed[p].push_back(v);
      }
      if (producers_left.fetch_sub(1) == 1) c.close();
    });
  }
  for (int q = 0; q < consumers; ++q) {
    threads.emplace_back([&, q] {
      std::mt19937 rng(100 + q);
      for (;;) {
        std::uint64_t v = 0;
        Status s;
        switch (rng() % 3) {
          case 0: s = c.pop(v); break;
          case 1: s = c.pop_for(v, std::chrono::microseconds(rng() % 200)); break;
          default: {
            auto o = c.try_pop();
            // Closed after an empty try_pop: a value may still be owed (the
            // try ran before the last push); pop() drains it, or says closed.
            s = o ? Status::ok : (c.is_closed() ? c.pop(v) : Status::timeout);
            if (o) v = *o;
            break;
          }
        }
        if (s == Status::ok) popped[q].push_back(v);
        if (s == Status::closed) break;
      }
    });
  }
  for (auto& t : threads) t.join();
  std::multiset<std::uint64_t> in, out;
  for (auto& v : pushed) in.insert(v.begin(), v.end());
  for (auto& v : popped) out.insert(v.begin(), v.end());
  EXPECT_EQ(in, out);
  // Per-producer FIFO as seen by each consumer.
  for (auto& seq : popped) {
    std::vector<std::int64_t> last(producers, -1);
    for (auto v : seq) {
      const auto p = v >> 32;
      const auto i = static_cast<std::int64_t>(v & 0xFFFFFFFFu);
      EXPECT_GT(i, last[p]);
      last[p] = i;
    }
  }
}

// The ticket counters (64-bit) and the slot's turn (31-bit) both wrap; start
// next to each wrap and pass values across it under contention.
class CubbyWrap : public ::testing::TestWithParam<std::uint64_t> {};

TEST_P(CubbyWrap, ValuesCrossTheWrapInOrder) {
  Cubby<std::uint64_t> c(StartTicket{GetParam()});
  EXPECT_EQ(c.pressure(), 0);
  constexpr std::uint64_t n = 2000;
  std::thread producer([&] {
    for (std::uint64_t i = 0; i < n; ++i) ASSERT_EQ(c.push(i), Status::ok);
  });
  std::vector<std::thread> consumers;
  std::vector<std::vector<std::uint64_t>> got(2);
  for (int q = 0; q < 2; ++q) {
    consumers.emplace_back([&, q] {
      std::uint64_t v;
      while (c.pop(v) == Status::ok) got[q].push_back(v);
    });
  }
  producer.join();
  await([&] { return c.pressure() <= 0; });
  c.close();
  for (auto& t : consumers) t.join();
  std::vector<std::uint64_t> all;
  for (auto& g : got) {
    EXPECT_TRUE(std::is_sorted(g.begin(), g.end()));
    all.insert(all.end(), g.begin(), g.end());
  }
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), n);
  for (std::uint64_t i = 0; i < n; ++i) EXPECT_EQ(all[i], i);
}

INSTANTIATE_TEST_SUITE_P(NearWraps, CubbyWrap,
                         ::testing::Values(std::numeric_limits<std::uint64_t>::max() - 500,  // 64-bit tickets
                                           (std::uint64_t{1} << 30) - 500,                // 31-bit turns
                                           std::uint64_t{0}));

TEST(Cubby, PressureWrapsAsSignedDifference) {
  Cubby<int> c(StartTicket{std::numeric_limits<std::uint64_t>::max()});
  ASSERT_EQ(c.push(1), Status::ok);
  EXPECT_EQ(c.pressure(), 1);
  std::thread t([&] { EXPECT_EQ(c.push(2), Status::ok); });
  await([&] { return c.pressure() == 2; });
  int v;
  ASSERT_EQ(c.pop(v), Status::ok);
  EXPECT_EQ(v, 1);
  t.join();
  ASSERT_EQ(c.pop(v), Status::ok);
  EXPECT_EQ(v, 2);
  EXPECT_EQ(c.pressure(), 0);
}

// No syscall (futex or heavy barrier) when nobody waits.
TEST(Cubby, UncontendedHandoffsMakeNoSyscall) {
  Cubby<int> c;
  const cubby::test::SyscallsSince since;
  int v;
  for (int i = 0; i < 10000; ++i) {
    ASSERT_EQ(c.push(i), Status::ok);
    ASSERT_EQ(c.pop(v), Status::ok);
    ASSERT_TRUE(c.try_push(i));
    ASSERT_TRUE(c.try_pop().has_value());
  }
  EXPECT_EQ(since.futex(), 0u);
  EXPECT_EQ(since.heavy_barriers(), 0u);
}

// Ping-pong between two threads through two cubbies; exercises sleep/wake.
TEST(Cubby, PingPongTwoThreads) {
  Cubby<int> there, back;
  constexpr int n = 20000;
  std::thread echo([&] {
    int v;
    while (there.pop(v) == Status::ok) ASSERT_EQ(back.push(v + 1), Status::ok);
  });
  for (int i = 0; i < n; ++i) {
    ASSERT_EQ(there.push(i), Status::ok);
    int r;
    ASSERT_EQ(back.pop(r), Status::ok);
    ASSERT_EQ(r, i + 1);
  }
  there.close();
  echo.join();
}

// More threads than cores, blocking only: conservation and per-producer order.
TEST(Cubby, OversubscribedBlockingConservation) {
  constexpr int producers = 6, consumers = 6, per = 2000;
  Cubby<std::uint64_t> c;
  std::vector<std::thread> threads;
  std::vector<std::vector<std::uint64_t>> got(consumers);
  for (int p = 0; p < producers; ++p)
    threads.emplace_back([&, p] {
      for (std::uint64_t i = 0; i < per; ++i) ASSERT_EQ(c.push((std::uint64_t(p) << 32) | i), Status::ok);
    });
  for (int q = 0; q < consumers; ++q)
    threads.emplace_back([&, q] {
      for (int i = 0; i < per * producers / consumers; ++i) {
        std::uint64_t v;
        ASSERT_EQ(c.pop(v), Status::ok);
        got[q].push_back(v);
      }
    });
  for (auto& t : threads) t.join();
  // Per-producer order: each consumer sees every producer's values rising.
  for (const auto& g : got) {
    std::vector<std::int64_t> last(producers, -1);
    for (const std::uint64_t v : g) {
      const auto p = static_cast<std::size_t>(v >> 32);
      ASSERT_LT(p, std::size_t(producers));
      const auto i = static_cast<std::int64_t>(v & 0xFFFF'FFFFu);
      EXPECT_GT(i, last[p]) << "producer " << p << " out of order";
      last[p] = i;
    }
  }
  // Exactly the values pushed, each once.
  std::vector<std::uint64_t> all;
  for (auto& g : got) all.insert(all.end(), g.begin(), g.end());
  std::sort(all.begin(), all.end());
  std::vector<std::uint64_t> expected;
  for (std::uint64_t p = 0; p < producers; ++p) {
    for (std::uint64_t i = 0; i < per; ++i) expected.push_back((p << 32) | i);
  }
  EXPECT_EQ(all, expected);
  EXPECT_EQ(c.pressure(), 0);
}
