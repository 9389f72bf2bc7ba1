// Unit tests of cubby::SharedQueue and platform::IpcPlatform: a queue in
// shared memory, used by forked producer and consumer processes.
#include "cubby/shared_queue.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "cubby/queue.hpp"
#include "asleep_in_futex.hpp"
#include "timed_waits.hpp"
#include "harness/child_process.hpp"

using namespace std::chrono_literals;
using cubby::Queue;
using cubby::SharedQueue;
using cubby::Status;
using cubby::platform::IpcPlatform;
using Shared4 = cubby::SharedQueue<std::uint64_t, 4>;

namespace {

std::string unique_name(const char* what) {
  static std::atomic<int> counter{0};
  return "/cubby-test-" + std::string(what) + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1));
}

using cubby::stress::spawn;
using cubby::stress::wait_exit_code;
using cubby::stress::wait_exit_code_until;

}  // namespace

TEST(IpcPlatform, AtomicsAreLockFreeAndFutexSized) {
  static_assert(sizeof(cubby::platform::IpcAtomic<std::uint32_t>) == 4);
  static_assert(sizeof(cubby::platform::IpcAtomic<std::uint64_t>) == 8);
  cubby::platform::IpcAtomic<std::uint32_t> a{5u};
  EXPECT_EQ(a.fetch_add(2, std::memory_order_relaxed), 5u);
  std::uint32_t expected = 7;
  EXPECT_TRUE(a.compare_exchange_strong(expected, 9, std::memory_order_acq_rel, std::memory_order_acquire));
  EXPECT_EQ(a.load(std::memory_order_acquire), 9u);
  EXPECT_EQ(a.fetch_or(16, std::memory_order_release), 9u);
  EXPECT_EQ(a.exchange(1, std::memory_order_seq_cst), 25u);
}

// The queue algorithm over the IPC atomics, in one process with threads:
// blocking and timed waits both go through the process-shared futex.
TEST(IpcPlatform, QueueWorksAcrossThreads) {
  Queue<std::uint64_t, IpcPlatform> q(3);
  constexpr std::uint64_t n = 5000;
  std::thread producer([&] {
    for (std::uint64_t i = 0; i < n; ++i) {
      if (i % 3 == 0) {
        while (q.push_for(i, 1ms) != Status::ok) {
        }
      } else {
        ASSERT_EQ(q.push(i), Status::ok);
      }
    }
    q.close();
  });
  std::uint64_t next = 0;
  for (;;) {
    std::uint64_t v = 0;
    const Status s = (next % 2 == 0) ? q.pop(v) : q.pop_for(v, 1ms);
    if (s == Status::closed) break;
    if (s == Status::timeout) continue;
    ASSERT_EQ(v, next);
    ++next;
  }
  producer.join();
  EXPECT_EQ(next, n);
}

TEST(SharedQueue, CreateOpenUnlink) {
  const std::string name = unique_name("basic");
  {
    auto a = SharedQueue<std::uint64_t, 4>::create(name);
    EXPECT_THROW(Shared4::create(name), std::system_error);  // exists
    auto b = SharedQueue<std::uint64_t, 4>::open(name);
    EXPECT_EQ(a->push(41), Status::ok);
    EXPECT_TRUE(b->try_push(42));
    std::uint64_t v = 0;
    EXPECT_EQ(b->pop(v), Status::ok);
    EXPECT_EQ(v, 41u);
    EXPECT_EQ(a->try_pop(), std::optional<std::uint64_t>(42));
    EXPECT_EQ(b->capacity(), 4u);
    EXPECT_THROW((SharedQueue<std::uint32_t, 4>::open(name)), std::runtime_error);  // another layout
  }
  // The creator's handle removed the name.
  EXPECT_THROW(Shared4::open(name), std::system_error);
  EXPECT_FALSE(Shared4::unlink(name));
}

// open() races create(): create() runs shm_open, then ftruncate, so an open
// in between finds a segment of 0 bytes.  open waits for it to be sized (up
// to its `wait`); a segment of another non-zero size fails at once.
TEST(SharedMemory, OpenWaitsForTheCreatorToSizeTheSegment) {
  using cubby::platform::SharedMemory;
  const std::string name = unique_name("sizing");
  const int fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);  // a creator, stopped before ftruncate
  ASSERT_GE(fd, 0);
  EXPECT_THROW(SharedMemory::open(name, 4096), std::system_error);  // no wait: not sized yet
  std::thread creator([fd] {
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(::ftruncate(fd, 4096), 0);
  });
  {
    const SharedMemory m = SharedMemory::open(name, 4096, 5s);
    EXPECT_EQ(m.size(), 4096u);
    EXPECT_NE(m.data(), nullptr);
  }
  creator.join();
  // Another size fails at once: were it waited for, this would hang (ctest's timeout).
  EXPECT_THROW(SharedMemory::open(name, 8192, std::chrono::hours(1)), std::system_error);
  ::close(fd);
  EXPECT_TRUE(SharedMemory::unlink(name));
}

// The creator's handle removes the name when it goes, in the creating
// process only: a fork() child that destroys its copy leaves the name.
TEST(SharedMemory, AForkedChildsCopyOfTheCreatorDoesNotUnlink) {
  using cubby::platform::SharedMemory;
  const std::string name = unique_name("fork-unlink");
  {
    SharedMemory creator = SharedMemory::create(name, 4096);
    const pid_t child = spawn([&] {
      { SharedMemory gone = std::move(creator); }  // the child's copy, destroyed there
      return 0;
    });
    ASSERT_EQ(wait_exit_code(child), 0);
    EXPECT_NO_THROW(SharedMemory::open(name, 4096));  // the name is still there
  }
  EXPECT_THROW(SharedMemory::open(name, 4096), std::system_error);  // the creator's own destructor removed it
}

// open() compares the creator's layout field by field: a queue of another
// value type of the same size and signedness (bool over unsigned char: not
// every byte is a bool), or of another type and capacity whose sizes would
// collide in a packed id, is another queue type.
TEST(SharedQueue, OpenRejectsEveryOtherLayout) {
  {
    const std::string name = unique_name("bool");
    auto bytes = SharedQueue<unsigned char, 4>::create(name);
    EXPECT_THROW((SharedQueue<bool, 4>::open(name, 100ms)), std::runtime_error);
    EXPECT_THROW((SharedQueue<signed char, 4>::open(name, 100ms)), std::runtime_error);
    EXPECT_NO_THROW((SharedQueue<unsigned char, 4>::open(name, 100ms)));
  }
  {
    // 32 MiB and 16 MiB queues: their sizes reach bit 24, where a packed id
    // also kept sizeof(T).
    using Big = SharedQueue<std::int16_t, 262145>;
    using Small = SharedQueue<std::int8_t, 131073>;
    const std::string name = unique_name("layout");
    auto big = Big::create(name);
    try {
      (void)Small::open(name, 100ms);
      ADD_FAILURE() << "a SharedQueue<int8_t, 131073> opened a SharedQueue<int16_t, 262145>";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("capacity 262145"), std::string::npos) << e.what();
    }
  }
}

// The creator's destructor removes the name only while it names the
// creator's segment: after an unlink and a new create() under the same
// name, the old creator going away leaves the new segment's name.
TEST(SharedMemory, TheCreatorLeavesANewSegmentOfItsNameAlone) {
  using cubby::platform::SharedMemory;
  const std::string name = unique_name("renamed");
  std::optional<SharedMemory> old_creator(SharedMemory::create(name, 4096));
  ASSERT_TRUE(SharedMemory::unlink(name));
  SharedMemory new_creator = SharedMemory::create(name, 4096);
  old_creator.reset();
  EXPECT_NO_THROW(SharedMemory::open(name, 4096));  // still there
}

TEST(SharedMemory, ClearErrorsForAnEmptyOrTooSmallSegment) {
  using cubby::platform::SharedMemory;
  const std::string name = unique_name("sizes");
  try {
    (void)SharedMemory::create(name, 0);
    ADD_FAILURE() << "a segment of 0 bytes was created";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("got 0"), std::string::npos) << e.what();
  }
  const SharedMemory small = SharedMemory::create(name, 4096);
  try {
    (void)SharedMemory::open(name, 8192);
    ADD_FAILURE() << "a segment of 4096 bytes was opened as 8192";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("segment of 4096 bytes, smaller than the 8192 expected"), std::string::npos)
        << e.what();
  }
}

// A name that is not '/' then 1 to 254 characters other than '/' and NUL
// (nor "/." or "/..") is rejected before any syscall, by create and open
// alike, naming it; unlink answers false for it.
TEST(SharedMemory, InvalidNamesThrowNamingThem) {
  using cubby::platform::SharedMemory;
  // The longest valid name, unique to this run: NAME_MAX (255) characters.
  std::string longest = unique_name("longest");
  longest.resize(255, 'a');
  const std::string too_long = longest + "a";
  for (const std::string& name : {std::string(), std::string("/"), std::string("no-slash"), std::string("/a/b"),
                                  std::string("//a"), std::string("/."), std::string("/.."),
                                  std::string("/a\0b", 4), too_long}) {
    for (const bool create : {true, false}) {
      try {
        if (create) {
          (void)Shared4::create(name);
        } else {
          (void)Shared4::open(name);
        }
        ADD_FAILURE() << (create ? "created '" : "opened '") << name << "'";
      } catch (const std::invalid_argument& e) {
        const std::string shown = name.find('\0') == std::string::npos ? name : "/a\\x00b";
        EXPECT_NE(std::string(e.what()).find("got '" + shown + "'"), std::string::npos) << e.what();
      }
    }
    EXPECT_FALSE(SharedMemory::unlink(name)) << name;
  }
  // The longest valid name is accepted (and its segment made).
  EXPECT_NO_THROW((void)SharedMemory::create(longest, 4096));
}

// A /dev/shm without room for the segment: create() throws (ENOSPC) instead
// of the first touch of the queue dying with SIGBUS.  Needs a small tmpfs on
// /dev/shm: ctest runs it in its own mount namespace (shared_queue.small_shm
// in tests/CMakeLists.txt), which sets CUBBY_TEST_SMALL_SHM.
TEST(SharedQueue, CreateOnAFullShmThrowsInsteadOfFaulting) {
  if (std::getenv("CUBBY_TEST_SMALL_SHM") == nullptr) GTEST_SKIP() << "needs a 1 MiB /dev/shm (see tests/CMakeLists.txt)";
  using Large = SharedQueue<std::uint64_t, 16384>;  // 2 MiB of slots
  try {
    auto q = Large::create(unique_name("full"));
    ADD_FAILURE() << "a 2 MiB queue was created on a 1 MiB /dev/shm";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), ENOSPC) << e.what();
  }
}

// A producer process and a consumer process over a small shared queue: every
// value arrives exactly once and in order, through blocking, timed, try and
// bulk operations; close() in the producer ends the consumer.
TEST(SharedQueue, ForkedProducerAndConsumer) {
  constexpr std::uint64_t n = 20000;
  const std::string name = unique_name("fork");
  auto owner = SharedQueue<std::uint64_t, 4>::create(name);

  const pid_t consumer = spawn([&] {
    auto q = SharedQueue<std::uint64_t, 4>::open(name);
    std::uint64_t next = 0;
    std::vector<std::uint64_t> buf(3);
    for (;;) {
      std::uint64_t v = 0;
      Status s;
      switch (next % 4) {
        case 0: s = q->pop(v); break;
        case 1: s = q->pop_for(v, 2ms); break;
        case 2: {
          const std::size_t got = q->try_pop_bulk(buf);
          for (std::size_t i = 0; i < got; ++i) {
            if (buf[i] != next) return 1;
            ++next;
          }
          if (got == 0 && q->is_closed()) {
            s = q->pop(v);  // drains or reports closed
            break;
          }
          continue;
        }
        default: {
          auto o = q->try_pop();
          if (!o) {
            s = q->is_closed() ? q->pop(v) : Status::timeout;
          } else {
            s = Status::ok;
            v = *o;
          }
          break;
        }
      }
      if (s == Status::closed) break;
      if (s == Status::timeout) continue;
      if (v != next) return 1;  // out of order, lost or duplicated
      ++next;
    }
    return next == n ? 0 : 2;
  });
  const pid_t producer = spawn([&] {
    auto q = SharedQueue<std::uint64_t, 4>::open(name);
    std::uint64_t i = 0;
    while (i < n) {
      switch (i % 3) {
        case 0:
          if (q->push(i) != Status::ok) return 1;
          ++i;
          break;
        case 1:
          if (q->push_for(i, 2ms) == Status::ok) ++i;
          break;
        default: {
          std::vector<std::uint64_t> run;
          for (std::uint64_t k = i; k < std::min(n, i + 3); ++k) run.push_back(k);
          if (q->push_bulk(run) != Status::ok) return 1;
          i += run.size();
          break;
        }
      }
    }
    q->close();
    return 0;
  });
  ASSERT_GT(consumer, 0);
  ASSERT_GT(producer, 0);
  EXPECT_EQ(wait_exit_code(producer), 0);
  EXPECT_EQ(wait_exit_code(consumer), 0);
  EXPECT_TRUE(owner->is_closed());
  EXPECT_LE(owner->pressure(), 0);  // unspecified after close: a pop waiting at close holds a ticket
}

// A pop asleep in one process is woken by a push in another: the child's
// pop sleeps on the shared futex (the parent waits until the child is
// asleep in futex(2)), and only a cross-process wake can end it in time.
// `pop(q, v)` is the child's pop.
template <class Pop>
void expect_pop_asleep_woken_from_another_process(const char* what, Pop pop) {
  const std::string name = unique_name(what);
  auto owner = Shared4::create(name);
  const pid_t child = spawn([&] {
    std::uint64_t v = 0;
    return pop(*owner, v) == Status::ok && v == 7 ? 0 : 1;
  });
  ASSERT_GT(child, 0);
  cubby::test::await_asleep(child);
  ASSERT_EQ(owner->push(7), Status::ok);
  // A lost wake leaves the child asleep: killed and failed after a minute.
  EXPECT_EQ(wait_exit_code_until(child, std::chrono::steady_clock::now() + 60s), 0);
}

// A timed wait, with a deadline an hour away (the timed path: the project's
// own process-shared futex wait, Boost 1.81 has no timed wait).
TEST(SharedQueue, TimedPopAsleepIsWokenFromAnotherProcess) {
  expect_pop_asleep_woken_from_another_process(
      "timed-wake", [](Shared4::queue_type& q, std::uint64_t& v) { return q.pop_for(v, std::chrono::hours(1)); });
}

// The untimed waits sleep through Boost.Atomic's process-shared wait/notify
// (platform::IpcPlatform), not the timed path above: a pop asleep on an
// empty queue in one process, and a push asleep on a full one, are each
// woken by the other side's operation in another process.
TEST(SharedQueue, BlockingPopAsleepIsWokenFromAnotherProcess) {
  expect_pop_asleep_woken_from_another_process("pop-wake", [](Shared4::queue_type& q, std::uint64_t& v) { return q.pop(v); });
}

TEST(SharedQueue, BlockingPushAsleepIsWokenFromAnotherProcess) {
  const std::string name = unique_name("push-wake");
  auto owner = Shared4::create(name);
  for (std::uint64_t v = 1; v <= 4; ++v) ASSERT_EQ(owner->push(v), Status::ok);  // full
  const pid_t child = spawn([&] { return owner->push(5) == Status::ok ? 0 : 1; });
  ASSERT_GT(child, 0);
  cubby::test::await_asleep(child);
  std::uint64_t v = 0;
  ASSERT_EQ(owner->pop(v), Status::ok);
  EXPECT_EQ(v, 1u);
  // A lost wake leaves the child asleep (killed after a minute): its ticket
  // is then never served, so the pops below would wait for good.
  ASSERT_EQ(wait_exit_code_until(child, std::chrono::steady_clock::now() + 60s), 0);
  for (std::uint64_t want = 2; want <= 5; ++want) {
    ASSERT_EQ(owner->pop(v), Status::ok);
    EXPECT_EQ(v, want);
  }
}

// close() in one process wakes every sleeper in others: blocking and timed
// pops asleep on an empty queue, then blocking and timed pushes asleep on a
// full one (refused by the close rule: no pop made them room), each in a
// child process, all answer closed.
TEST(SharedQueue, CloseWakesSleepersInOtherProcesses) {
  for (const bool pushes : {false, true}) {
    const std::string name = unique_name(pushes ? "close-wakes-pushes" : "close-wakes-pops");
    auto owner = Shared4::create(name);
    if (pushes) {
      for (std::uint64_t v = 1; v <= 4; ++v) ASSERT_EQ(owner->push(v), Status::ok);  // full
    }
    std::vector<pid_t> children;
    for (const bool timed : {false, true}) {
      children.push_back(spawn([&] {
        std::uint64_t v = 9;
        Status s;
        if (pushes) {
          s = timed ? owner->push_for(v, cubby::test::kNever) : owner->push(v);
        } else {
          s = timed ? owner->pop_for(v, cubby::test::kNever) : owner->pop(v);
        }
        return s == Status::closed ? 0 : 1;
      }));
      ASSERT_GT(children.back(), 0);
      cubby::test::await_asleep(children.back());
    }
    owner->close();
    // A lost wake leaves a child asleep: killed and failed after a minute.
    for (const pid_t child : children) {
      EXPECT_EQ(wait_exit_code_until(child, std::chrono::steady_clock::now() + 60s), 0) << (pushes ? "push" : "pop");
    }
  }
}
