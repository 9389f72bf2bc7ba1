// Unit tests of cubby::Queue and cubby::FixedQueue: every behaviour their
// contract names.
#include "cubby/queue.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cubby/cubby.hpp"
#include "asleep_in_futex.hpp"
#include "timed_waits.hpp"
#include "harness/child_process.hpp"
#include "syscalls.hpp"

using namespace std::chrono_literals;
using cubby::Cubby;
using cubby::FixedQueue;
using cubby::Queue;
using cubby::StartTicket;
using cubby::Status;
using cubby::test::await_asleep;
using cubby::test::expect_timeout_after;
using cubby::test::kNever;
using cubby::test::this_tid;

namespace {

template <class Pred>
void await(Pred pred) {
  while (!pred()) std::this_thread::yield();
}

// Counts live instances, to check that the queue destroys what it holds.
struct Counted {
  static inline std::atomic<int> live{0};
  int value = 0;
  Counted() noexcept { live.fetch_add(1); }
  explicit Counted(int v) noexcept : value(v) { live.fetch_add(1); }
  Counted(const Counted& o) noexcept : value(o.value) { live.fetch_add(1); }
  Counted(Counted&& o) noexcept : value(o.value) { live.fetch_add(1); }
  Counted& operator=(const Counted&) noexcept = default;
  Counted& operator=(Counted&&) noexcept = default;
  ~Counted() { live.fetch_sub(1); }
};

// A value whose move construction out of the slot (the take's move-out, the
// last thing a pop does inside its turn) can be held at a gate: lets a test
// stall one pop in the middle of its turn.  Armed once the test's pushes are
// done, since a push move-constructs too.
struct Gated {
  static inline std::atomic<int> entered{0};
  static inline std::atomic<bool> armed{false};
  int value = 0;
  std::atomic<bool>* gate = nullptr;
  Gated() noexcept = default;
  Gated(int v, std::atomic<bool>* g) noexcept : value(v), gate(g) {}
  Gated(Gated&& o) noexcept : value(o.value), gate(o.gate) {
    if (armed.load() && gate != nullptr) {
      entered.fetch_add(1);
      while (!gate->load()) std::this_thread::yield();
      gate = nullptr;
    }
  }
  Gated& operator=(Gated&& o) noexcept {
    value = o.value;
    gate = nullptr;
    return *this;
  }
};

}  // namespace

// ---------------------------------------------------------------- basics

TEST(Queue, ZeroCapacityThrowsNamingTheValue) {
  try {
    Queue<int> q(0);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("got 0"), std::string::npos) << e.what();
  }
}

// A capacity whose slot array could not be sized is rejected before any
// allocation, naming the capacity.
// A handle whose resource goes back to its home queue when the handle lets it
// go (a free list of buffer ids): popping into a handle that still holds a
// resource runs, in out's assignment, a try_push into the same queue.  That
// push takes the next lap of the slot the pop is taking from; if the pop
// still held its turn there, the thread would wait for itself.  Run in a
// child process so that a deadlock is a failed test, not a hung suite.
struct Recycling {
  static inline Queue<Recycling>* home = nullptr;
  int id = -1;
  Recycling() noexcept = default;
  explicit Recycling(int i) noexcept : id(i) {}
  Recycling(Recycling&& o) noexcept : id(o.id) { o.id = -1; }
  Recycling& operator=(Recycling&& o) noexcept {
    if (this != &o) {
      release();
      id = o.id;
      o.id = -1;
    }
    return *this;
  }
  ~Recycling() { release(); }
  void release() noexcept {
    if (id >= 0 && home != nullptr) (void)home->try_push(Recycling(std::exchange(id, -1)));
  }
};

class QueueReentry : public ::testing::TestWithParam<int> {};

TEST_P(QueueReentry, ReceiversOldValueIsDestroyedAfterThePopLeavesItsTurn) {
  const int how = GetParam();  // 0 pop, 1 pop_for, 2 pop_bulk
  const pid_t child = cubby::stress::spawn([how] {
    Queue<Recycling> free_list(1);
    Recycling::home = &free_list;
    if (free_list.push(Recycling(1)) != Status::ok) return 1;
    std::array<Recycling, 1> mine{Recycling(2)};  // holds buffer 2, which goes back during the pop
    const Status s = how == 0 ? free_list.pop(mine[0])
                     : how == 1 ? free_list.pop_for(mine[0], std::chrono::hours(1))
                                : free_list.pop_bulk(mine);
    if (s != Status::ok || mine[0].id != 1) return 2;
    auto back = free_list.try_pop();  // buffer 2, returned by the old value
    if (!back || back->id != 2) return 3;
    Recycling::home = nullptr;
    return 0;
  });
  const int code = cubby::stress::wait_exit_code_until(child, std::chrono::steady_clock::now() + std::chrono::seconds(30));
  EXPECT_EQ(code, 0) << (code == -3 ? "the pop waited for itself: out's old value re-entered the queue inside its turn"
                                    : "the child failed");
}
INSTANTIATE_TEST_SUITE_P(Flavours, QueueReentry, ::testing::Values(0, 1, 2));

TEST(Queue, HugeCapacityThrowsNamingTheValue) {
  const std::size_t huge = std::numeric_limits<std::size_t>::max() / 2;
  try {
    Queue<int> q(huge);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(std::to_string(huge)), std::string::npos) << e.what();
  }
}

TEST(Queue, CapacityAndLayout) {
  Queue<int> q(5);
  EXPECT_EQ(q.capacity(), 5u);
  EXPECT_EQ(q.size(), 0u);
  FixedQueue<int, 7> f;
  EXPECT_EQ(f.capacity(), 7u);
  // One config line, N slot lines, two counter lines.
  EXPECT_EQ(sizeof(FixedQueue<int, 4>), 7 * cubby::platform::cache_line_size);
  EXPECT_EQ(sizeof(FixedQueue<std::string, 4>), 7 * cubby::platform::cache_line_size);
  EXPECT_EQ(sizeof(Queue<int>), 3 * cubby::platform::cache_line_size);
}

// The heap-allocated slot array (capacity given at construction): each
// slot starts a cache line of its own, so neighbouring tickets never share
// one, for a value that fills a slot's line as for a small one.
template <class T>
void expect_one_line_per_slot(std::size_t capacity) {
  using Slot = cubby::detail::TurnSlot<T, cubby::DefaultPlatform>;
  cubby::detail::QueueSlots<Slot, cubby::dynamic_capacity> slots(capacity, 0);
  for (std::size_t i = 0; i < capacity; ++i) {
    const auto at = reinterpret_cast<std::uintptr_t>(&slots.slot(i));
    EXPECT_EQ(at % cubby::platform::cache_line_size, 0u) << "slot " << i;
    if (i > 0) {
      EXPECT_EQ(at - reinterpret_cast<std::uintptr_t>(&slots.slot(i - 1)), cubby::platform::cache_line_size) << "slot " << i;
    }
  }
}
TEST(Queue, HeapSlotsTakeALineEach) {
  expect_one_line_per_slot<int>(5);
  expect_one_line_per_slot<std::string>(4);
  expect_one_line_per_slot<std::array<char, cubby::platform::cache_line_size - 16>>(3);
}

class QueueCapacity : public ::testing::TestWithParam<std::size_t> {};

TEST_P(QueueCapacity, FifoSingleThread) {
  const std::size_t cap = GetParam();
  Queue<int> q(cap);
  for (int round = 0; round < 3; ++round) {
    for (std::size_t i = 0; i < cap; ++i) ASSERT_EQ(q.push(static_cast<int>(i)), Status::ok);
    EXPECT_EQ(q.size(), cap);
    EXPECT_EQ(q.pressure(), static_cast<std::int64_t>(cap));
    EXPECT_FALSE(q.try_push(-1));
    for (std::size_t i = 0; i < cap; ++i) {
      int v = -1;
      ASSERT_EQ(q.pop(v), Status::ok);
      EXPECT_EQ(v, static_cast<int>(i));
    }
    EXPECT_FALSE(q.try_pop().has_value());
    EXPECT_EQ(q.size(), 0u);
  }
}

TEST_P(QueueCapacity, FifoInterleavedSingleThread) {
  const std::size_t cap = GetParam();
  Queue<int> q(cap);
  int next_in = 0, next_out = 0;
  std::mt19937 rng(static_cast<unsigned>(cap));
  for (int i = 0; i < 5000; ++i) {
    if (rng() % 2 == 0) {
      if (q.try_push(next_in)) ++next_in;
    } else if (auto v = q.try_pop()) {
      ASSERT_EQ(*v, next_out++);
    }
    ASSERT_EQ(q.size(), static_cast<std::size_t>(next_in - next_out));
  }
}

INSTANTIATE_TEST_SUITE_P(Capacities, QueueCapacity, ::testing::Values(1, 2, 3, 4, 7, 16, 100));

TEST(Queue, TryOpsLeaveNoTicketBehind) {
  Queue<std::uint64_t> q(2);
  EXPECT_FALSE(q.try_pop().has_value());
  EXPECT_EQ(q.pressure(), 0);
  EXPECT_TRUE(q.try_push(1));
  EXPECT_TRUE(q.try_push(2));
  EXPECT_FALSE(q.try_push(3));
  EXPECT_EQ(q.pressure(), 2);
  EXPECT_EQ(q.try_pop(), std::optional<std::uint64_t>(1));
  EXPECT_EQ(q.try_pop(), std::optional<std::uint64_t>(2));
  EXPECT_FALSE(q.try_pop().has_value());
  EXPECT_EQ(q.pressure(), 0);
}

// A zero timeout is a try that says why it failed: timeout while full (or
// empty), closed once closed.
TEST(Queue, ZeroTimeoutsTellFullFromClosed) {
  Queue<int> q(1);
  int v = 0;
  EXPECT_EQ(q.pop_for(v, 0s), Status::timeout);
  EXPECT_EQ(q.push_for(1, 0s), Status::ok);
  EXPECT_EQ(q.push_for(2, 0s), Status::timeout);
  EXPECT_FALSE(q.is_closed());
  q.close();
  EXPECT_EQ(q.push_for(2, 0s), Status::closed);
  EXPECT_EQ(q.pop_for(v, 0s), Status::ok);
  EXPECT_EQ(v, 1);
  EXPECT_EQ(q.pop_for(v, 0s), Status::closed);
}

TEST(Queue, TimedOperationsTimeOutAndLeaveNoTrace) {
  Queue<int> q(2);
  int v = 0;
  expect_timeout_after(5ms, [&] { return q.pop_for(v, 5ms); });
  EXPECT_EQ(q.pressure(), 0);
  EXPECT_EQ(q.push_for(1, 5ms), Status::ok);
  EXPECT_EQ(q.push_for(2, 5ms), Status::ok);
  expect_timeout_after(5ms, [&] { return q.push_for(3, 5ms); });
  EXPECT_EQ(q.pressure(), 2);
  EXPECT_EQ(q.pop_until(v, std::chrono::steady_clock::now() + 5ms), Status::ok);
  EXPECT_EQ(v, 1);
  EXPECT_EQ(q.push_until(4, std::chrono::steady_clock::now() - 1s), Status::ok);  // ready: past deadline is fine
  EXPECT_EQ(q.pop_until(v, std::chrono::steady_clock::now() - 1s), Status::ok);
  EXPECT_EQ(v, 2);
  EXPECT_EQ(q.pop_for(v, 0ms), Status::ok);
  EXPECT_EQ(v, 4);
}

TEST(Queue, TimedPopIsWokenByPush) {
  Queue<int> q(3);
  std::thread t([&] {
    std::this_thread::sleep_for(20ms);
    EXPECT_EQ(q.push(9), Status::ok);
  });
  int v = 0;
  EXPECT_EQ(q.pop_for(v, std::chrono::hours::max()), Status::ok);  // a lost wake hangs (ctest's timeout)
  EXPECT_EQ(v, 9);
  t.join();
}

TEST(Queue, TimedPushIsWokenByPop) {
  Queue<int> q(3);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(q.push(i), Status::ok);
  std::thread t([&] {
    std::this_thread::sleep_for(20ms);
    int v = -1;
    EXPECT_EQ(q.pop(v), Status::ok);
    EXPECT_EQ(v, 0);
  });
  EXPECT_EQ(q.push_for(3, std::chrono::hours::max()), Status::ok);  // a lost wake hangs (ctest's timeout)
  t.join();
  EXPECT_EQ(q.pressure(), 3);
}

// Several timed pushers wait on a full queue; each pop must let exactly one
// through, whichever slot it frees (the timed waiter follows the next ticket).
TEST(Queue, ManyTimedPushersFollowTheLine) {
  Queue<int> q(3);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(q.push(i), Status::ok);
  std::atomic<int> ok{0};
  std::vector<std::thread> pushers;
  for (int i = 0; i < 5; ++i) {
    pushers.emplace_back([&, i] {
      if (q.push_for(10 + i, 30s) == Status::ok) ok.fetch_add(1);
    });
  }
  std::this_thread::sleep_for(10ms);
  int popped = 0;
  for (int i = 0; i < 5; ++i) {
    int v;
    ASSERT_EQ(q.pop(v), Status::ok);
    ++popped;
    await([&] { return ok.load() == popped; });
  }
  for (auto& t : pushers) t.join();
  EXPECT_EQ(q.size(), 3u);
}

TEST(Queue, WaitingPushersDepositInArrivalOrder) {
  constexpr int n = 8;
  Queue<int> q(2);
  ASSERT_EQ(q.push(-2), Status::ok);
  ASSERT_EQ(q.push(-1), Status::ok);
  std::vector<std::thread> pushers;
  for (int i = 0; i < n; ++i) {
    pushers.emplace_back([&q, i] { EXPECT_EQ(q.push(i), Status::ok); });
    await([&] { return q.pressure() == i + 3; });
  }
  std::this_thread::sleep_for(10ms);
  for (int i = -2; i < n; ++i) {
    int v = 0;
    ASSERT_EQ(q.pop(v), Status::ok);
    EXPECT_EQ(v, i);
  }
  for (auto& t : pushers) t.join();
  EXPECT_EQ(q.pressure(), 0);
}

TEST(Queue, WaitingPoppersTakeInArrivalOrder) {
  constexpr int n = 8;
  Queue<int> q(3);
  std::vector<int> got(n, -1);
  std::vector<std::thread> poppers;
  for (int i = 0; i < n; ++i) {
    poppers.emplace_back([&q, &got, i] { EXPECT_EQ(q.pop(got[i]), Status::ok); });
    await([&] { return q.pressure() == -(i + 1); });
  }
  std::this_thread::sleep_for(10ms);
  for (int i = 0; i < n; ++i) ASSERT_EQ(q.push(100 + i), Status::ok);
  for (auto& t : poppers) t.join();
  for (int i = 0; i < n; ++i) EXPECT_EQ(got[i], 100 + i);
}

// ---------------------------------------------------------------- close

TEST(Queue, CloseWakesWaitingPushersWhoKeepTheirValues) {
  Queue<std::string> q(2);
  ASSERT_EQ(q.push(std::string("a")), Status::ok);
  ASSERT_EQ(q.push(std::string("b")), Status::ok);
  std::atomic<int> closed{0};
  std::vector<std::thread> pushers;
  for (int i = 0; i < 4; ++i) {
    pushers.emplace_back([&, i] {
      std::string mine = "blocking value number " + std::to_string(i);
      const std::string copy = mine;
      if (q.push(std::move(mine)) == Status::closed) {
        EXPECT_EQ(mine, copy);  // handed back
        closed.fetch_add(1);
      }
    });
  }
  std::atomic<pid_t> timed_tid{0};
  std::thread timed([&] {
    timed_tid = this_tid();
    std::string mine = "a timed value long enough to be on the heap";
    if (q.push_for(std::move(mine), kNever) == Status::closed) {
      EXPECT_EQ(mine, "a timed value long enough to be on the heap");
      closed.fetch_add(1);
    }
  });
  await([&] { return q.pressure() == 6; });
  // The timed waiter holds no ticket (pressure() does not count it): wait
  // until it is asleep in the futex, so that only close() can wake it.
  await_asleep(timed_tid);
  std::this_thread::sleep_for(10ms);
  q.close();
  for (auto& t : pushers) t.join();
  timed.join();
  EXPECT_EQ(closed.load(), 5);
  EXPECT_TRUE(q.is_closed());
  std::string v;
  EXPECT_EQ(q.pop(v), Status::ok);  // values already in the queue drain
  EXPECT_EQ(v, "a");
  EXPECT_EQ(q.try_pop(), std::optional<std::string>("b"));
  EXPECT_EQ(q.pop(v), Status::closed);
  std::string keep = "kept";
  EXPECT_EQ(q.push(std::move(keep)), Status::closed);
  EXPECT_EQ(keep, "kept");
  EXPECT_FALSE(q.try_push(std::move(keep)));
  EXPECT_EQ(keep, "kept");
  EXPECT_FALSE(q.try_pop().has_value());
}

TEST(Queue, CloseWakesWaitingPoppers) {
  Queue<int> q(4);
  std::atomic<int> closed{0};
  std::vector<std::thread> poppers;
  for (int i = 0; i < 6; ++i) {
    poppers.emplace_back([&] {
      int v;
      if (q.pop(v) == Status::closed) closed.fetch_add(1);
    });
  }
  std::atomic<pid_t> timed_tid{0};
  std::thread timed([&] {
    timed_tid = this_tid();
    int v;
    if (q.pop_for(v, kNever) == Status::closed) closed.fetch_add(1);
  });
  await([&] { return q.pressure() == -6; });
  // The timed waiter holds no ticket (pressure() does not count it): wait
  // until it is asleep in the futex, so that only close() can wake it.
  await_asleep(timed_tid);
  std::this_thread::sleep_for(10ms);
  q.close();
  for (auto& t : poppers) t.join();
  timed.join();
  EXPECT_EQ(closed.load(), 7);
}

TEST(Queue, PushPopAfterCloseOnEmpty) {
  Queue<int> q(3);
  q.close();
  q.close();  // idempotent
  int v = 7;  // a pop that returns closed leaves its receiver as it was
  EXPECT_EQ(q.pop(v), Status::closed);
  EXPECT_EQ(v, 7);
  EXPECT_EQ(q.push(1), Status::closed);
  EXPECT_EQ(q.push_for(1, 1ms), Status::closed);
  EXPECT_EQ(q.pop_for(v, 1ms), Status::closed);
  EXPECT_EQ(v, 7);
  EXPECT_FALSE(q.try_pop().has_value());
  std::array<int, 3> buf{1, 2, 3};
  EXPECT_EQ(q.try_push_bulk(buf), 0u);
  std::size_t n = 99;
  EXPECT_EQ(q.push_bulk(buf, &n), Status::closed);
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(q.pop_bulk(buf, &n), Status::closed);
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(q.try_pop_bulk(buf), 0u);
  n = 99;
  EXPECT_EQ(q.pop_bulk_for(buf, 1ms, &n), Status::closed);
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(buf, (std::array<int, 3>{1, 2, 3}));
}

// The close rule admits a push whose room was there when close() took
// effect, even if its turn has not come yet, and every pop flavour then
// drains the values in ticket order.  (Before the queue took the Cubby's
// rule, close() cancelled such a push and left a hole: an empty ticket
// between deposited ones.)
//
// Capacity 2: a (slot 0), b (slot 1).  Pop ticket 0 is held in the middle of
// taking a, so slot 0 stays busy; pusher P (ticket 2, slot 0) waits for it.
// Pop ticket 1 takes b, and d (ticket 3, slot 1) deposits.  close(): pop 0
// had arrived, so P had its room and is admitted; it deposits once pop 0
// hands slot 0 on, and c, then d, come out.
class QueueCloseAdmits : public ::testing::TestWithParam<int> {};

TEST_P(QueueCloseAdmits, AWaitingPushWithRoomCompletes) {
  const int how = GetParam();  // which pop flavour drains: 0 pop, 1 try_pop, 2 pop_for, 3 try_pop_bulk, 4 pop_bulk
  Queue<Gated> q(2);
  std::atomic<bool> gate{false};
  Gated::entered = 0;
  ASSERT_EQ(q.push(Gated{1, &gate}), Status::ok);
  ASSERT_EQ(q.push(Gated{2, nullptr}), Status::ok);
  Gated first;
  Gated::armed = true;
  std::thread x([&] { EXPECT_EQ(q.pop(first), Status::ok); });
  await([&] { return Gated::entered.load() == 1; });  // x holds slot 0's take turn
  Gated p_value{3, nullptr};
  Status p_status = Status::timeout;
  std::thread p([&] { p_status = q.push(std::move(p_value)); });
  await([&] { return q.pressure() == 2; });  // pushes 0..2 arrived, pop 0
  Gated b;
  ASSERT_EQ(q.pop(b), Status::ok);
  EXPECT_EQ(b.value, 2);
  ASSERT_EQ(q.push(Gated{4, nullptr}), Status::ok);  // ticket 3, slot 1: deposits now
  std::this_thread::sleep_for(5ms);                  // let P fall asleep (either way is fine)
  q.close();
  gate = true;
  x.join();
  p.join();
  Gated::armed = false;
  EXPECT_EQ(first.value, 1);
  EXPECT_EQ(p_status, Status::ok);  // admitted: its room was there at close

  std::array<int, 2> got{};
  switch (how) {
    case 0:
      for (int& v : got) {
        Gated out;
        ASSERT_EQ(q.pop(out), Status::ok);
        v = out.value;
      }
      break;
    case 1:
      for (int& v : got) {
        auto o = q.try_pop();
        ASSERT_TRUE(o.has_value());
        v = o->value;
      }
      break;
    case 2:
      for (int& v : got) {
        Gated out;
        ASSERT_EQ(q.pop_for(out, 1s), Status::ok);
        v = out.value;
      }
      break;
    case 3: {
      std::array<Gated, 4> buf{};
      ASSERT_EQ(q.try_pop_bulk(buf), 2u);
      got = {buf[0].value, buf[1].value};
      break;
    }
    default: {
      std::array<Gated, 3> buf{};
      std::size_t n = 0;
      ASSERT_EQ(q.pop_bulk(buf, &n), Status::closed);
      ASSERT_EQ(n, 2u);
      got = {buf[0].value, buf[1].value};
      break;
    }
  }
  EXPECT_EQ(got, (std::array<int, 2>{3, 4}));
  Gated out;
  EXPECT_EQ(q.pop(out), Status::closed);
  EXPECT_FALSE(q.try_pop().has_value());
}

INSTANTIATE_TEST_SUITE_P(DrainFlavours, QueueCloseAdmits, ::testing::Values(0, 1, 2, 3, 4));

// close() waits for no put (the close rule decides each put by its ticket,
// at its own check), so a closer that holds a lock T's move constructor
// needs must not deadlock with a pusher inside that constructor.
struct LockingMove {
  static std::mutex& lock() {
    static std::mutex m;
    return m;
  }
  static std::atomic<bool>& in_move() {
    static std::atomic<bool> b{false};
    return b;
  }
  int v = 0;
  LockingMove() = default;
  explicit LockingMove(int x) : v(x) {}
  LockingMove(LockingMove&& o) noexcept : v(o.v) {
    in_move().store(true);
    const std::lock_guard<std::mutex> g(lock());
  }
  LockingMove& operator=(LockingMove&& o) noexcept {
    v = o.v;
    return *this;
  }
};

TEST(Queue, CloseDoesNotWaitForUserCodeInAPush) {
  LockingMove::in_move().store(false);  // a repeated run (--gtest_repeat) starts afresh
  Queue<LockingMove> q(4);
  std::unique_lock<std::mutex> held(LockingMove::lock());
  std::thread pusher([&] { (void)q.push(LockingMove{1}); });
  while (!LockingMove::in_move().load()) std::this_thread::yield();
  // close() returns while the pusher is inside the move constructor, which
  // waits for `held`: were close() to wait for it, this join would hang
  // (ctest's timeout).
  std::thread closer([&] { q.close(); });
  closer.join();
  held.unlock();
  pusher.join();
}

// Close in the middle of heavy traffic: every value
// pushed with ok is popped exactly once, every failed push kept its value,
// and every consumer ends with closed.
TEST(Queue, CloseUnderContentionLosesNothing) {
  for (int round = 0; round < 5; ++round) {
    constexpr int producers = 4, consumers = 3;
    Queue<std::unique_ptr<std::uint64_t>> q(5);
    std::vector<std::vector<std::uint64_t>> pushed(producers), popped(consumers);
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p) {
      threads.emplace_back([&, p] {
        std::mt19937 rng(static_cast<unsigned>(round * 10 + p));
        for (std::uint64_t i = 0; !stop.load(std::memory_order_relaxed) || i < 50; ++i) {
          const std::uint64_t v = (std::uint64_t(p) << 32) | i;
          auto box = std::make_unique<std::uint64_t>(v);
          Status s;
          switch (rng() % 3) {
            case 0: s = q.push(std::move(box)); break;
            case 1: s = q.push_for(std::move(box), std::chrono::microseconds(rng() % 100)); break;
            default: s = q.try_push(std::move(box)) ? Status::ok : Status::timeout; break;
          }
          if (s == Status::ok) {
            pushed[p].push_back(v);
          } else {
            ASSERT_TRUE(box != nullptr);  // handed back
            ASSERT_EQ(*box, v);
          }
          if (s == Status::closed) break;
        }
      });
    }
    for (int c = 0; c < consumers; ++c) {
      threads.emplace_back([&, c] {
        std::mt19937 rng(static_cast<unsigned>(100 + c));
        for (;;) {
          std::unique_ptr<std::uint64_t> v;
          Status s;
          switch (rng() % 3) {
            case 0: s = q.pop(v); break;
            case 1: s = q.pop_for(v, std::chrono::microseconds(rng() % 100)); break;
            default: {
              auto o = q.try_pop();
              // Closed after an empty try_pop: values may still be owed (the
              // try ran before the last pushes); pop() drains, or says closed.
              s = o ? Status::ok : (q.is_closed() ? q.pop(v) : Status::timeout);
              if (o) v = std::move(*o);
              break;
            }
          }
          if (s == Status::ok) popped[c].push_back(*v);
          if (s == Status::closed) break;
        }
      });
    }
    std::this_thread::sleep_for(5ms);
    stop = true;
    q.close();
    for (auto& t : threads) t.join();
    std::multiset<std::uint64_t> in, out;
    for (auto& v : pushed) in.insert(v.begin(), v.end());
    for (auto& v : popped) out.insert(v.begin(), v.end());
    ASSERT_EQ(in, out);
    for (auto& seq : popped) {  // per-producer FIFO as each consumer sees it
      std::vector<std::int64_t> last(producers, -1);
      for (auto v : seq) {
        const auto p = v >> 32;
        const auto i = static_cast<std::int64_t>(v & 0xFFFFFFFFu);
        EXPECT_GT(i, last[p]);
        last[p] = i;
      }
    }
  }
}

// ---------------------------------------------------------------- bulk

TEST(Queue, TryPushBulkPushesThePrefixThatFits) {
  Queue<std::string> q(4);
  std::vector<std::string> in{"a", "b", "c", "d", "e", "f"};
  EXPECT_EQ(q.try_push_bulk(std::span(in).first(1)), 1u);
  EXPECT_EQ(q.try_push_bulk(std::span(in).subspan(1)), 3u);  // room for 3 more: b, c, d
  EXPECT_EQ(in[4], "e");                                     // the rest untouched
  EXPECT_EQ(in[5], "f");
  EXPECT_EQ(q.try_push_bulk(std::span(in).subspan(4)), 0u);
  EXPECT_EQ(in[4], "e");
  std::vector<std::string> out(6);
  EXPECT_EQ(q.try_pop_bulk(out), 4u);
  EXPECT_EQ(out[0], "a");
  EXPECT_EQ(out[1], "b");
  EXPECT_EQ(out[2], "c");
  EXPECT_EQ(out[3], "d");
  EXPECT_EQ(q.try_pop_bulk(out), 0u);
  EXPECT_EQ(q.pressure(), 0);
  EXPECT_EQ(q.try_push_bulk(std::span<std::string>{}), 0u);
  EXPECT_EQ(q.try_pop_bulk(std::span<std::string>{}), 0u);
}

TEST(Queue, BlockingBulkLargerThanCapacity) {
  constexpr std::size_t n = 1000;
  Queue<std::uint64_t> q(7);
  std::vector<std::uint64_t> in(n), out(n);
  std::iota(in.begin(), in.end(), 0);
  std::thread producer([&] {
    std::size_t pushed = 0;
    EXPECT_EQ(q.push_bulk(in, &pushed), Status::ok);
    EXPECT_EQ(pushed, n);
  });
  std::size_t popped = 0;
  EXPECT_EQ(q.pop_bulk(out, &popped), Status::ok);
  producer.join();
  EXPECT_EQ(popped, n);
  EXPECT_EQ(in, out);
  EXPECT_EQ(q.pressure(), 0);
}

// Timed bulk operations: a push_bulk_for pushes what fits by its deadline
// and keeps the rest; a pop_bulk_for receives what is there, or times out
// with nothing; each waits its duration before timing out.
TEST(Queue, TimedBulkPushesWhatFitsAndPopsWhatIsThere) {
  Queue<std::string> q(4);
  std::vector<std::string> in{"a", "b", "c", "d", "a value long enough to be on the heap", "f"};
  const std::vector<std::string> copy = in;
  std::size_t pushed = 99;
  expect_timeout_after(5ms, [&] { return q.push_bulk_for(in, 5ms, &pushed); });
  EXPECT_EQ(pushed, 4u);
  EXPECT_EQ(in[4], copy[4]);  // untouched
  EXPECT_EQ(in[5], copy[5]);
  std::vector<std::string> out(8);
  std::size_t popped = 99;
  EXPECT_EQ(q.pop_bulk_for(std::span(out), 5ms, &popped), Status::ok);
  ASSERT_EQ(popped, 4u);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(out[i], copy[i]);
  expect_timeout_after(5ms, [&] { return q.pop_bulk_for(std::span(out), 5ms, &popped); });
  EXPECT_EQ(popped, 0u);
  // The rest fits now; a deadline in the past still pushes what fits.
  EXPECT_EQ(q.push_bulk_until(std::span(in).subspan(4), std::chrono::steady_clock::now() - 1s, &pushed), Status::ok);
  EXPECT_EQ(pushed, 2u);
  EXPECT_EQ(q.pop_bulk_until(std::span(out), std::chrono::steady_clock::now() - 1s, &popped), Status::ok);
  ASSERT_EQ(popped, 2u);
  EXPECT_EQ(out[0], copy[4]);
  EXPECT_EQ(out[1], copy[5]);
  EXPECT_EQ(q.pressure(), 0);  // nothing claimed and left behind
  EXPECT_EQ(q.push_bulk_for(std::span<std::string>{}, 1ms), Status::ok);
  EXPECT_EQ(q.pop_bulk_for(std::span<std::string>{}, 1ms), Status::ok);
}

// Timed bulk operations that wait: a pop_bulk_for asleep on an empty queue
// receives the values of a later push_bulk; a push_bulk_for larger than the
// capacity gets everything in as a consumer makes room, in order.
TEST(Queue, TimedBulkWaits) {
  constexpr std::size_t n = 500;
  Queue<std::uint64_t> q(7);
  std::vector<std::uint64_t> in(n), got;
  std::iota(in.begin(), in.end(), 1);
  std::thread consumer([&] {
    std::array<std::uint64_t, 5> buf{};
    while (got.size() < n) {
      std::size_t popped = 0;
      ASSERT_EQ(q.pop_bulk_for(std::span(buf), kNever, &popped), Status::ok);
      ASSERT_GE(popped, 1u);
      got.insert(got.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(popped));
    }
  });
  std::size_t pushed = 0;
  EXPECT_EQ(q.push_bulk_for(std::span(in), kNever, &pushed), Status::ok);
  EXPECT_EQ(pushed, n);
  consumer.join();
  EXPECT_EQ(got, in);
  EXPECT_EQ(q.pressure(), 0);
}

// close() ends timed bulk waits: a pop_bulk_for asleep on an empty queue
// returns closed with nothing; a push_bulk_for asleep on a full queue
// returns closed with what went in, the rest untouched; values already in
// the queue still drain through pop_bulk_for, then closed.
TEST(Queue, CloseEndsTimedBulkWaits) {
  // close_when_asleep: runs wait() on a thread, closes q once that thread
  // is asleep in the futex, and joins it.
  const auto close_when_asleep = [](Queue<std::string>& q, auto wait) {
    std::atomic<pid_t> tid{0};
    std::thread waiter([&] {
      tid = this_tid();
      wait();
    });
    await_asleep(tid);
    q.close();
    waiter.join();
  };
  Queue<std::string> empty(2);
  close_when_asleep(empty, [&] {
    std::array<std::string, 3> buf;
    std::size_t popped = 99;
    EXPECT_EQ(empty.pop_bulk_for(std::span(buf), kNever, &popped), Status::closed);
    EXPECT_EQ(popped, 0u);
  });

  Queue<std::string> full(2);
  std::vector<std::string> in{"a", "b", "c", "a value long enough to be on the heap"};
  close_when_asleep(full, [&] {
    std::size_t pushed = 99;
    EXPECT_EQ(full.push_bulk_for(std::span(in), kNever, &pushed), Status::closed);
    EXPECT_EQ(pushed, 2u);
  });
  EXPECT_EQ(in[2], "c");
  EXPECT_EQ(in[3], "a value long enough to be on the heap");
  std::array<std::string, 3> out;
  std::size_t popped = 0;
  EXPECT_EQ(full.pop_bulk_for(std::span(out), kNever, &popped), Status::ok);
  ASSERT_EQ(popped, 2u);
  EXPECT_EQ(out[0], "a");
  EXPECT_EQ(out[1], "b");
  EXPECT_EQ(full.pop_bulk_for(std::span(out), kNever, &popped), Status::closed);
  EXPECT_EQ(popped, 0u);
  std::size_t pushed = 99;
  EXPECT_EQ(full.push_bulk_for(std::span(in).subspan(2), 1ms, &pushed), Status::closed);
  EXPECT_EQ(pushed, 0u);
  EXPECT_EQ(in[2], "c");
}

// Bulk pushes occupy consecutive positions: two producers pushing runs with
// push_bulk, one consumer (alternating try_pop_bulk and pop_bulk) sees every
// run unbroken and in order.
TEST(Queue, BulkRunsAreContiguous) {
  constexpr std::uint64_t runs = 300, run_len = 5;
  constexpr std::size_t total = 2 * runs * run_len;
  Queue<std::uint64_t> q(16);
  std::vector<std::thread> producers;
  for (std::uint64_t p = 0; p < 2; ++p) {
    producers.emplace_back([&, p] {
      for (std::uint64_t r = 0; r < runs; ++r) {
        std::array<std::uint64_t, run_len> run{};
        for (std::uint64_t i = 0; i < run_len; ++i) run[i] = (p << 32) | (r * run_len + i);
        ASSERT_EQ(q.push_bulk(run), Status::ok);
      }
    });
  }
  std::vector<std::uint64_t> got;
  std::array<std::uint64_t, 8> buf{};
  bool blocking = false;
  while (got.size() < total) {
    std::size_t n = 0;
    if (blocking && total - got.size() >= buf.size()) {
      EXPECT_EQ(q.pop_bulk(buf, &n), Status::ok);
    } else {
      n = q.try_pop_bulk(buf);
    }
    blocking = !blocking;
    got.insert(got.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
  }
  for (auto& t : producers) t.join();
  std::size_t i = 0;
  std::vector<std::uint64_t> next(2, 0);
  while (i < got.size()) {  // each maximal same-producer stretch is whole runs
    const auto p = got[i] >> 32;
    std::size_t j = i;
    while (j < got.size() && (got[j] >> 32) == p) {
      ASSERT_EQ(got[j] & 0xFFFFFFFFu, next[p]) << "per-producer order";
      ++next[p];
      ++j;
    }
    EXPECT_EQ((got[i] & 0xFFFFFFFFu) % run_len, 0u) << "a stretch starts at a run boundary";
    EXPECT_EQ((j - i) % run_len, 0u) << "a stretch is whole runs";
    i = j;
  }
  EXPECT_EQ(q.pressure(), 0);
}

TEST(Queue, PushBulkInterruptedByCloseHandsBackTheRest) {
  Queue<std::unique_ptr<int>> q(2);
  std::vector<std::unique_ptr<int>> in;
  for (int i = 0; i < 6; ++i) in.push_back(std::make_unique<int>(i));
  std::size_t pushed = 99;
  Status s = Status::ok;
  std::thread t([&] { s = q.push_bulk(in, &pushed); });
  await([&] { return q.pressure() == 6; });
  std::this_thread::sleep_for(5ms);
  q.close();
  t.join();
  EXPECT_EQ(s, Status::closed);
  EXPECT_EQ(pushed, 2u);
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (i < pushed) {
      EXPECT_EQ(in[i], nullptr);
    } else {
      ASSERT_NE(in[i], nullptr);
      EXPECT_EQ(*in[i], static_cast<int>(i));
    }
  }
  std::vector<std::unique_ptr<int>> out(5);
  std::size_t popped = 0;
  EXPECT_EQ(q.pop_bulk(out, &popped), Status::closed);
  EXPECT_EQ(popped, 2u);
  EXPECT_EQ(*out[0], 0);
  EXPECT_EQ(*out[1], 1);
}

TEST(Queue, PopBulkWaitsForAll) {
  Queue<int> q(3);
  std::array<int, 5> out{};
  std::thread t([&] { EXPECT_EQ(q.pop_bulk(out), Status::ok); });
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(q.push(i), Status::ok);
    std::this_thread::sleep_for(1ms);
  }
  t.join();
  EXPECT_EQ(out, (std::array<int, 5>{0, 1, 2, 3, 4}));
}

// ---------------------------------------------------------------- values

TEST(Queue, MovesUniquePtrAndHandsBackOnFailure) {
  Queue<std::unique_ptr<int>> q(1);
  auto a = std::make_unique<int>(1);
  auto b = std::make_unique<int>(2);
  ASSERT_EQ(q.push(std::move(a)), Status::ok);
  EXPECT_EQ(a, nullptr);
  EXPECT_FALSE(q.try_push(std::move(b)));
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(*b, 2);
  EXPECT_EQ(q.push_for(std::move(b), 1ms), Status::timeout);
  ASSERT_NE(b, nullptr);
  auto got = q.try_pop();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(**got, 1);
}

TEST(Queue, ConstRefPushCopies) {
  Queue<std::string> q(2);
  const std::string s = "copied, not moved: long enough to allocate";
  ASSERT_EQ(q.push(s), Status::ok);
  ASSERT_TRUE(q.try_push(s));
  EXPECT_EQ(q.push_for(s, 1ms), Status::timeout);
  EXPECT_EQ(s, "copied, not moved: long enough to allocate");
  std::string out;
  ASSERT_EQ(q.pop(out), Status::ok);
  EXPECT_EQ(out, s);
}

TEST(Queue, DestructorDestroysRemainingValues) {
  Counted::live = 0;
  {
    Queue<Counted> q(4);
    for (int i = 0; i < 3; ++i) ASSERT_EQ(q.push(Counted{i}), Status::ok);
    Counted out;
    ASSERT_EQ(q.pop(out), Status::ok);
    EXPECT_EQ(out.value, 0);
    EXPECT_EQ(Counted::live.load(), 3);  // out + 2 in the queue
    FixedQueue<Counted, 3> f;
    ASSERT_EQ(f.push(Counted{7}), Status::ok);
    EXPECT_EQ(Counted::live.load(), 4);
  }
  EXPECT_EQ(Counted::live.load(), 0);
}

// ---------------------------------------------------------------- capacity 1 == Cubby

template <class C>
struct Make;
template <>
struct Make<Cubby<int>> {
  static std::unique_ptr<Cubby<int>> make() { return std::make_unique<Cubby<int>>(); }
};
template <>
struct Make<Queue<int>> {
  static std::unique_ptr<Queue<int>> make() { return std::make_unique<Queue<int>>(1); }
};
template <>
struct Make<FixedQueue<int, 1>> {
  static std::unique_ptr<FixedQueue<int, 1>> make() { return std::make_unique<FixedQueue<int, 1>>(); }
};

template <class C>
class LikeCubby : public ::testing::Test {};
using CubbyLikes = ::testing::Types<Cubby<int>, Queue<int>, FixedQueue<int, 1>>;
TYPED_TEST_SUITE(LikeCubby, CubbyLikes);

TYPED_TEST(LikeCubby, PushPopPressure) {
  auto c = Make<TypeParam>::make();
  EXPECT_EQ(c->pressure(), 0);
  EXPECT_EQ(c->push(42), Status::ok);
  EXPECT_EQ(c->pressure(), 1);
  EXPECT_FALSE(c->try_push(43));
  EXPECT_EQ(c->pressure(), 1);
  int v = 0;
  EXPECT_EQ(c->pop(v), Status::ok);
  EXPECT_EQ(v, 42);
  EXPECT_FALSE(c->try_pop().has_value());
  EXPECT_EQ(c->pressure(), 0);
}

TYPED_TEST(LikeCubby, Timeouts) {
  auto c = Make<TypeParam>::make();
  int v = 0;
  expect_timeout_after(2ms, [&] { return c->pop_for(v, 2ms); });
  EXPECT_EQ(c->push_for(1, 2ms), Status::ok);
  expect_timeout_after(2ms, [&] { return c->push_for(2, 2ms); });
  EXPECT_EQ(c->pressure(), 1);
  EXPECT_EQ(c->pop_for(v, 2ms), Status::ok);
  EXPECT_EQ(v, 1);
}

// A timeout of duration::max() waits without end (the deadline saturates;
// the plain sum would overflow and time out at once); one of
// duration::min() is already due.
TYPED_TEST(LikeCubby, HugeTimeoutsSaturateNegativeOnesAreDue) {
  auto c = Make<TypeParam>::make();
  std::thread t([&c] {
    std::this_thread::sleep_for(20ms);
    EXPECT_EQ(c->push(9), Status::ok);
  });
  int v = 0;
  EXPECT_EQ(c->pop_for(v, std::chrono::seconds::max()), Status::ok);
  EXPECT_EQ(v, 9);
  t.join();
  EXPECT_EQ(c->push_for(10, std::chrono::hours::max()), Status::ok);
  EXPECT_EQ(c->push_for(11, std::chrono::nanoseconds::min()), Status::timeout);  // full, already due
  EXPECT_EQ(c->pop_for(v, std::chrono::nanoseconds::max()), Status::ok);
  EXPECT_EQ(v, 10);
  EXPECT_EQ(c->pop_for(v, std::chrono::nanoseconds::min()), Status::timeout);  // empty, already due
}

// One value in the slot, 5 pushers blocked, 5 poppers arrive at once: they
// receive 0..4 exactly once, every pusher completes, 5 stays.
TYPED_TEST(LikeCubby, UnbalancedBackpressure) {
  for (int round = 0; round < 5; ++round) {
    auto c = Make<TypeParam>::make();
    ASSERT_EQ(c->push(0), Status::ok);
    std::vector<std::thread> pushers;
    for (int i = 1; i <= 5; ++i) {
      pushers.emplace_back([&c, i] { EXPECT_EQ(c->push(i), Status::ok); });
      await([&] { return c->pressure() == i + 1; });
    }
    std::atomic<bool> go{false};
    std::vector<int> got(5, -1);
    std::vector<std::thread> poppers;
    for (int i = 0; i < 5; ++i) {
      poppers.emplace_back([&, i] {
        await([&] { return go.load(); });
        EXPECT_EQ(c->pop(got[i]), Status::ok);
      });
    }
    go = true;
    for (auto& t : poppers) t.join();
    for (auto& t : pushers) t.join();
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3, 4}));
    EXPECT_EQ(c->pressure(), 1);
    EXPECT_EQ(c->try_pop(), std::optional<int>(5));
  }
}

TYPED_TEST(LikeCubby, ArrivalOrderBothSides) {
  auto c = Make<TypeParam>::make();
  ASSERT_EQ(c->push(-1), Status::ok);
  std::vector<std::thread> pushers;
  for (int i = 0; i < 6; ++i) {
    pushers.emplace_back([&c, i] { EXPECT_EQ(c->push(i), Status::ok); });
    await([&] { return c->pressure() == i + 2; });
  }
  for (int i = -1; i < 6; ++i) {
    int v = 0;
    ASSERT_EQ(c->pop(v), Status::ok);
    EXPECT_EQ(v, i);
  }
  for (auto& t : pushers) t.join();
}

TYPED_TEST(LikeCubby, CloseDrainsThenCloses) {
  auto c = Make<TypeParam>::make();
  ASSERT_EQ(c->push(0), Status::ok);
  std::atomic<int> closed{0};
  std::vector<std::thread> pushers;
  for (int i = 1; i <= 3; ++i) {
    pushers.emplace_back([&, i] {
      if (c->push(i) == Status::closed) closed.fetch_add(1);
    });
  }
  await([&] { return c->pressure() == 4; });
  c->close();
  for (auto& t : pushers) t.join();
  EXPECT_EQ(closed.load(), 3);
  int v = -1;
  EXPECT_EQ(c->pop(v), Status::ok);
  EXPECT_EQ(v, 0);
  EXPECT_EQ(c->pop(v), Status::closed);
  EXPECT_EQ(c->push(5), Status::closed);
  EXPECT_EQ(c->pop_for(v, 1ms), Status::closed);
}

TYPED_TEST(LikeCubby, MixedContentionConservation) {
  constexpr int producers = 3, consumers = 3, per_producer = 1500;
  auto c = Make<TypeParam>::make();
  std::vector<std::vector<int>> pushed(producers), popped(consumers);
  std::atomic<int> producers_left{producers};
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      std::mt19937 rng(static_cast<unsigned>(p));
      for (int i = 0; i < per_producer; ++i) {
        const int v = p * per_producer + i;
        Status s;
        switch (rng() % 3) {
          case 0: s = c->push(v); break;
          case 1: s = c->push_for(v, std::chrono::microseconds(rng() % 200)); break;
          default: s = c->try_push(v) ? Status::ok : Status::timeout; break;
        }
        if (s == Status::ok) pushed[p].push_back(v);
      }
      if (producers_left.fetch_sub(1) == 1) c->close();
    });
  }
  for (int q = 0; q < consumers; ++q) {
    threads.emplace_back([&, q] {
      std::mt19937 rng(static_cast<unsigned>(100 + q));
      for (;;) {
        int v = 0;
        Status s;
        if (rng() % 2 == 0) {
          s = c->pop(v);
        } else {
          s = c->pop_for(v, std::chrono::microseconds(rng() % 200));
        }
        if (s == Status::ok) popped[q].push_back(v);
        if (s == Status::closed) break;
      }
    });
  }
  for (auto& t : threads) t.join();
  std::multiset<int> in, out;
  for (auto& v : pushed) in.insert(v.begin(), v.end());
  for (auto& v : popped) out.insert(v.begin(), v.end());
  EXPECT_EQ(in, out);
}

// A queue of capacity 1 (both forms) answers every single-threaded script
// of operations exactly as a Cubby does, and reads the same pressure()
// after every step, also after close (where both call it unspecified):
// 20,000 random scripts of 12 steps over try, timed (due), blocking (only
// where they cannot block) and close.
TEST(LikeCubbyScripts, CapacityOneAnswersAsACubby) {
  std::mt19937 rng(20261123);
  for (int script = 0; script < 20000; ++script) {
    Cubby<int> c;
    Queue<int> q(1);
    FixedQueue<int, 1> f;
    std::string log;
    for (int step = 0; step < 12; ++step) {
      const unsigned op = rng() % 8;
      const bool closed = c.is_closed();
      const std::int64_t pressure = c.pressure();
      // Each operation's result, with a received value folded in.
      auto on_all = [&](auto&& run) { return std::array<int, 3>{run(c), run(q), run(f)}; };
      std::array<int, 3> r{};
      switch (op) {
        case 0:
          log += " try_push";
          r = on_all([&](auto& x) { return int{x.try_push(step)}; });
          break;
        case 1:
          log += " try_pop";
          r = on_all([](auto& x) { return x.try_pop().value_or(-1); });
          break;
        case 2:
          log += " push_for(0)";
          r = on_all([&](auto& x) { return static_cast<int>(x.push_for(step, 0ms)); });
          break;
        case 3:
          log += " pop_for(0)";
          r = on_all([](auto& x) {
            int v = -1;
            return static_cast<int>(x.pop_for(v, 0ms)) * 100 + v;
          });
          break;
        case 4:
          if (!closed && pressure > 0) continue;  // would block
          log += " push";
          r = on_all([&](auto& x) { return static_cast<int>(x.push(step)); });
          break;
        case 5:
          if (!closed && pressure < 1) continue;  // would block
          log += " pop";
          r = on_all([](auto& x) {
            int v = -1;
            return static_cast<int>(x.pop(v)) * 100 + v;
          });
          break;
        case 6:
          if (rng() % 3 != 0) continue;
          log += " close";
          r = on_all([](auto& x) {
            x.close();
            return 0;
          });
          break;
        default:
          log += " is_closed";
          r = on_all([](auto& x) { return int{x.is_closed()}; });
          break;
      }
      ASSERT_EQ(r[1], r[0]) << "Queue(1) after" << log;
      ASSERT_EQ(r[2], r[0]) << "FixedQueue<int, 1> after" << log;
      ASSERT_EQ(q.pressure(), c.pressure()) << "Queue(1) after" << log;
      ASSERT_EQ(f.pressure(), c.pressure()) << "FixedQueue<int, 1> after" << log;
    }
  }
}

// ---------------------------------------------------------------- wrap-around

struct WrapCase {
  std::size_t capacity;
  std::uint64_t start;
};

class QueueWrap : public ::testing::TestWithParam<WrapCase> {};

TEST_P(QueueWrap, ValuesCrossTheWrapInOrder) {
  const auto [cap, start] = GetParam();
  Queue<std::uint64_t> q(cap, StartTicket{start});
  EXPECT_EQ(q.pressure(), 0);
  constexpr std::uint64_t n = 3000;
  std::vector<std::thread> producers;
  for (std::uint64_t p = 0; p < 2; ++p) {
    producers.emplace_back([&, p] {
      for (std::uint64_t i = 0; i < n; ++i) ASSERT_EQ(q.push((p << 32) | i), Status::ok);
    });
  }
  std::vector<std::vector<std::uint64_t>> got(2);
  std::vector<std::thread> consumers;
  for (int c = 0; c < 2; ++c) {
    consumers.emplace_back([&, c] {
      std::uint64_t v;
      while (q.pop(v) == Status::ok) got[c].push_back(v);
    });
  }
  for (auto& t : producers) t.join();
  await([&] { return q.pressure() <= 0; });
  q.close();
  for (auto& t : consumers) t.join();
  std::vector<std::uint64_t> all;
  for (auto& g : got) {
    std::vector<std::uint64_t> last(2, 0);
    std::vector<bool> seen(2, false);
    for (auto v : g) {
      const auto p = v >> 32, i = v & 0xFFFFFFFFu;
      if (seen[p]) {
        EXPECT_GT(i, last[p]);
      }
      seen[p] = true;
      last[p] = i;
    }
    all.insert(all.end(), g.begin(), g.end());
  }
  ASSERT_EQ(all.size(), 2 * n);
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end());
}

INSTANTIATE_TEST_SUITE_P(NearWraps, QueueWrap,
                         ::testing::Values(
                             // 64-bit tickets (power-of-two capacities)
                             WrapCase{4, std::numeric_limits<std::uint64_t>::max() - 1500},
                             WrapCase{1, std::numeric_limits<std::uint64_t>::max() - 500},
                             WrapCase{64, std::numeric_limits<std::uint64_t>::max() - 5000},
                             // 31-bit turns: lap 2^30 is turn 2^31 (any capacity)
                             WrapCase{3, 3 * ((std::uint64_t{1} << 30) - 300)},
                             WrapCase{5, 5 * ((std::uint64_t{1} << 30) - 200) + 2},
                             WrapCase{8, 8 * ((std::uint64_t{1} << 30) - 200) + 5},
                             WrapCase{3, 0}));

// A capacity that is not a power of two does not divide 2^64: tickets
// 2^64 - 1 and 0 would share a slot in different laps, so a start that could
// reach the wrap (above 2^63) is rejected, naming the start; powers of two
// (the wrap cases above) and starts up to 2^63 are accepted.
TEST(Queue, StartNearTheWrapNeedsAPowerOfTwoCapacity) {
  const std::uint64_t near_wrap = std::numeric_limits<std::uint64_t>::max() - 5;
  try {
    Queue<int> q(3, StartTicket{near_wrap});
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(std::to_string(near_wrap)), std::string::npos) << e.what();
  }
  EXPECT_THROW((FixedQueue<int, 7>(StartTicket{(std::uint64_t{1} << 63) + 1})), std::invalid_argument);
  EXPECT_NO_THROW((Queue<int>(3, StartTicket{std::uint64_t{1} << 63})));
  EXPECT_NO_THROW((Queue<int>(4, StartTicket{near_wrap})));
  EXPECT_NO_THROW((FixedQueue<int, 8>(StartTicket{near_wrap})));
}

TEST(Queue, FixedQueueStartTicket) {
  FixedQueue<int, 3> q(StartTicket{3 * ((std::uint64_t{1} << 30) - 2) + 1});
  for (int round = 0; round < 10; ++round) {
    for (int i = 0; i < 3; ++i) ASSERT_EQ(q.push(round * 3 + i), Status::ok);
    for (int i = 0; i < 3; ++i) {
      int v = -1;
      ASSERT_EQ(q.pop(v), Status::ok);
      ASSERT_EQ(v, round * 3 + i);
    }
  }
}

// ---------------------------------------------------------------- costs

TEST(Queue, UncontendedOperationsMakeNoSyscall) {
  Queue<int> q(4);
  FixedQueue<int, 3> f;
  const cubby::test::SyscallsSince since;
  int v;
  std::array<int, 3> buf{1, 2, 3};
  for (int i = 0; i < 5000; ++i) {
    ASSERT_EQ(q.push(i), Status::ok);
    ASSERT_EQ(q.pop(v), Status::ok);
    ASSERT_TRUE(q.try_push(i));
    ASSERT_TRUE(q.try_pop().has_value());
    ASSERT_EQ(q.push_for(i, 1s), Status::ok);
    ASSERT_EQ(q.pop_for(v, 1s), Status::ok);
    ASSERT_EQ(q.try_push_bulk(buf), 3u);
    ASSERT_EQ(q.try_pop_bulk(buf), 3u);
    ASSERT_EQ(f.push_bulk(buf), Status::ok);
    ASSERT_EQ(f.pop_bulk(buf), Status::ok);
  }
  EXPECT_EQ(since.futex(), 0u);
  EXPECT_EQ(since.heavy_barriers(), 0u);
}

// ---------------------------------------------------------------- contention

// oversubscribed_conservation_and_order: 5 producers and 5 consumers on a
// queue Q of capacity 6: nothing lost or duplicated, each producer's values
// in order at every consumer.
template <class Q>
void oversubscribed_conservation_and_order() {
  constexpr int producers = 5, consumers = 5, per = 2000;
  Q q(6);
  std::vector<std::thread> threads;
  std::vector<std::vector<std::uint64_t>> got(consumers);
  for (int p = 0; p < producers; ++p)
    threads.emplace_back([&, p] {
      for (std::uint64_t i = 0; i < per; ++i) ASSERT_EQ(q.push((std::uint64_t(p) << 32) | i), Status::ok);
    });
  for (int c = 0; c < consumers; ++c)
    threads.emplace_back([&, c] {
      for (int i = 0; i < per * producers / consumers; ++i) {
        std::uint64_t v;
        ASSERT_EQ(q.pop(v), Status::ok);
        got[c].push_back(v);
      }
    });
  for (auto& t : threads) t.join();
  std::vector<std::uint64_t> all;
  for (auto& g : got) {
    std::vector<std::int64_t> last(producers, -1);
    for (auto v : g) {
      const auto p = v >> 32;
      const auto i = static_cast<std::int64_t>(v & 0xFFFFFFFFu);
      EXPECT_GT(i, last[p]);
      last[p] = i;
    }
    all.insert(all.end(), g.begin(), g.end());
  }
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), std::size_t(producers * per));
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end());
  EXPECT_EQ(q.pressure(), 0);
}

TEST(Queue, OversubscribedBlockingConservationAndOrder) {
  oversubscribed_conservation_and_order<Queue<std::uint64_t>>();
}

// A single producer and single consumer: global FIFO.
TEST(Queue, SpscGlobalFifo) {
  constexpr int n = 20000;
  Queue<int> q(5);
  std::thread producer([&] {
    for (int i = 0; i < n; ++i) ASSERT_EQ(q.push(i), Status::ok);
  });
  for (int i = 0; i < n; ++i) {
    int v = -1;
    ASSERT_EQ(q.pop(v), Status::ok);
    ASSERT_EQ(v, i);
  }
  producer.join();
}

// ---------------------------------------------------------------- late claims
// A blocking push or pop of a queue of capacity 2 or more claims its ticket
// late when Platform::claim_late() says so (queue.hpp, "Arrival order").
// LateClaimPlatform says so every time.
struct LateClaimPlatform : cubby::platform::NativePlatform {
  static bool claim_late() noexcept { return true; }
};
using LateQueue = Queue<std::uint64_t, LateClaimPlatform>;

// The native platform claims late for 64 operations after the thread's last
// yield, and not before any.
TEST(QueueLateClaims, NativePlatformClaimsLateAfterAYield) {
  using cubby::platform::NativePlatform;
  std::thread([] {
    EXPECT_FALSE(NativePlatform::claim_late());
    NativePlatform::yield();
    for (std::uint32_t i = 0; i < NativePlatform::late_claims_after_yield; ++i) EXPECT_TRUE(NativePlatform::claim_late()) << i;
    EXPECT_FALSE(NativePlatform::claim_late());
  }).join();
}

TEST(QueueLateClaims, FifoAcrossLapsSingleThread) {
  LateQueue q(3);
  for (std::uint64_t round = 0; round < 5; ++round) {
    for (std::uint64_t i = 0; i < 3; ++i) ASSERT_EQ(q.push(round * 3 + i), Status::ok);
    for (std::uint64_t i = 0; i < 3; ++i) {
      std::uint64_t v = 99;
      ASSERT_EQ(q.pop(v), Status::ok);
      EXPECT_EQ(v, round * 3 + i);
    }
  }
  EXPECT_EQ(q.pressure(), 0);
}

// A late claimer waiting on a full (or empty) queue still takes a ticket
// once its spin budget is spent, so it shows in pressure() and sleeps; close
// wakes it and it reports closed, its value handed back.
TEST(QueueLateClaims, WaitersTakeTicketsSleepAndCloseWakesThem) {
  LateQueue q(2);
  ASSERT_EQ(q.push(1), Status::ok);
  ASSERT_EQ(q.push(2), Status::ok);
  std::uint64_t kept = 0;
  Status pushed = Status::ok;
  std::thread pusher([&] {
    std::uint64_t v = 3;
    pushed = q.push(std::move(v));
    kept = v;
  });
  await([&] { return q.pressure() == 3; });
  q.close();
  pusher.join();
  EXPECT_EQ(pushed, Status::closed);
  EXPECT_EQ(kept, 3u);
  std::uint64_t a = 0, b = 0, c = 0;
  EXPECT_EQ(q.pop(a), Status::ok);
  EXPECT_EQ(q.pop(b), Status::ok);
  EXPECT_EQ(q.pop(c), Status::closed);
  EXPECT_EQ(a, 1u);
  EXPECT_EQ(b, 2u);

  LateQueue e(2);
  std::uint64_t got = 0;
  Status popped = Status::ok;
  std::thread popper([&] { popped = e.pop(got); });
  await([&] { return e.pressure() == -1; });
  e.close();
  popper.join();
  EXPECT_EQ(popped, Status::closed);
}

// Many threads on 2 cores, every blocking operation claiming late: nothing
// lost or duplicated, each producer's values in order.
TEST(QueueLateClaims, OversubscribedConservationAndOrder) { oversubscribed_conservation_and_order<LateQueue>(); }

// A queue of capacity 1 never claims late: waiting pushers deposit in
// arrival order, as in a Cubby, whatever the platform says.
TEST(QueueLateClaims, CapacityOneKeepsArrivalOrder) {
  constexpr int n = 6;
  Queue<int, LateClaimPlatform> q(1);
  ASSERT_EQ(q.push(-1), Status::ok);
  std::vector<std::thread> pushers;
  for (int i = 0; i < n; ++i) {
    pushers.emplace_back([&q, i] { EXPECT_EQ(q.push(i), Status::ok); });
    await([&] { return q.pressure() == i + 2; });
  }
  for (int i = -1; i < n; ++i) {
    int v = 0;
    ASSERT_EQ(q.pop(v), Status::ok);
    EXPECT_EQ(v, i);
  }
  for (auto& t : pushers) t.join();
}
