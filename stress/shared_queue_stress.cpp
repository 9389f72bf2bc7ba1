// stress/shared_queue_stress.cpp: the workload of cubby::SharedQueue.
//
//   shared-queue  producer and consumer *processes* (fork) over one queue in
//                 shared memory, blocking/try/timed mix; the parent closes
//                 the queue at the end (pushes then return closed), and
//                 the consumers drain it: conservation, per-producer FIFO
//
// --producers/--consumers count processes.  Each child writes what it did
// into a result block of its own in an anonymous shared mapping made before
// the fork; the parent reads the blocks after waitpid() (the child's exit
// happens-before the parent's return from waitpid) and runs the same checks
// as the in-process workloads (harness/conservation.hpp).  Children touch
// nothing of the harness (a lock another thread held at fork() time would
// never be released in the child) and leave with _exit().
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cubby/shared_queue.hpp"
#include "harness/conservation.hpp"
#include "harness/child_process.hpp"

namespace cubby::stress {
namespace {

using namespace std::chrono_literals;

constexpr unsigned kMaxProcesses = 64;  // per side
constexpr std::size_t kCapacity = 8;
constexpr auto kExitWait = 30s;  // for the children to exit after close()
constexpr int kNotStarted = -4;  // exit_code of a child fork() could not create
using Shared = SharedQueue<std::uint64_t, kCapacity>;

// The results of one child, written only by it.  `ops` is also read by the
// parent while the child runs, for the progress display.
struct alignas(platform::cache_line_size) ChildResult {
  // relaxed (both sides): a progress statistic; the results proper reach
  // the parent through waitpid().
  std::atomic<std::uint64_t> ops{0};
  std::uint64_t pushed = 0;      // producer: successful pushes
  std::uint64_t bad_values = 0;  // consumer: how many values no producer pushed (0 is one)
  std::uint64_t bad_value = 0;   // consumer: the first of them
  std::uint64_t fifo_break[3] = {};  // consumer: producer + 1, then the two numbers
  std::uint64_t duplicate[2] = {};   // consumer: producer + 1, number
  int exit_code = -1;
  Fingerprint fingerprint[kMaxProcesses];
  std::uint64_t last[kMaxProcesses];
};

struct SharedBlock {
  // relaxed (both sides): a flag only; what the producers pushed is checked
  // after waitpid().
  std::atomic<std::uint32_t> stop{0};
  ChildResult producer[kMaxProcesses];
  ChildResult consumer[kMaxProcesses];
};
static_assert(std::atomic<std::uint32_t>::is_always_lock_free && std::atomic<std::uint64_t>::is_always_lock_free,
              "shared-queue: the result block's atomics must be address-free (lock-free)");

void bump(ChildResult& r) noexcept {
  // relaxed: see ChildResult::ops.
  r.ops.store(r.ops.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

int producer_main(const std::string& name, unsigned p, std::uint64_t seed, SharedBlock& block) {
  ChildResult& me = block.producer[p];
  auto q = Shared::open(name);
  Rng rng(seed);
  std::uint64_t seq = 0;
  // relaxed: see SharedBlock::stop.
  while (block.stop.load(std::memory_order_relaxed) == 0) {
    const std::uint64_t v = Tag::make(p, seq);
    Status s = Status::ok;
    switch (rng.below(4)) {
      case 0: s = q->try_push(v) ? Status::ok : Status::timeout; break;
      case 1: s = q->push_for(v, 1ms); break;
      default: s = q->push(v); break;
    }
    if (s == Status::closed) break;
    if (s == Status::ok) {
      ++seq;
      bump(me);
    }
  }
  me.pushed = seq;
  return 0;
}

template <class Q>
int consumer_main(Q& q, unsigned c, std::uint64_t seed, unsigned producers, SharedBlock& block) {
  ChildResult& me = block.consumer[c];
  std::fill(std::begin(me.last), std::end(me.last), ~std::uint64_t{0});
  Rng rng(seed);
  for (;;) {
    std::uint64_t v = 0;
    Status s = Status::ok;
    switch (rng.below(4)) {
      case 0: {
        auto o = q.try_pop();
        s = o ? Status::ok : (q.is_closed() ? q.pop(v) : Status::timeout);
        if (o) v = *o;
        break;
      }
      case 1: s = q.pop_for(v, 1ms); break;
      default: s = q.pop(v); break;
    }
    if (s == Status::closed) return 0;
    if (s != Status::ok) continue;
    bump(me);
    if (!Tag::valid(v, producers)) {
      if (me.bad_values++ == 0) me.bad_value = v;
      continue;
    }
    const unsigned p = Tag::producer(v);
    const std::uint64_t n = Tag::seq(v);
    me.fingerprint[p].add(n, p);
    const std::uint64_t last = me.last[p];
    if (last != ~std::uint64_t{0} && n <= last) {
      if (n == last && me.duplicate[0] == 0) {
        me.duplicate[0] = p + 1;
        me.duplicate[1] = n;
      } else if (n < last && me.fifo_break[0] == 0) {
        me.fifo_break[0] = p + 1;
        me.fifo_break[1] = n;
        me.fifo_break[2] = last;
      }
    } else {
      me.last[p] = n;
    }
  }
}

// Direct: the consumers' view of the queue, unchanged (a broken variant
// wraps it instead).
struct Direct {
  explicit Direct(Shared::queue_type& q) noexcept : q_(q) {}
  Shared::queue_type& operator*() const noexcept { return q_; }
  Shared::queue_type& q_;
};

template <class View = Direct>
void run_shared_queue(Run& run) {
  const unsigned producers = run.producers();  // <= kMaxProcesses (registered so)
  const unsigned consumers = run.consumers();
  void* mem = ::mmap(nullptr, sizeof(SharedBlock), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    run.violation(std::string("setup: mmap failed: ") + std::strerror(errno));
    return;
  }
  auto* block = ::new (mem) SharedBlock{};
  const std::string name = "/cubby-stress-" + std::to_string(::getpid()) + "-" + std::to_string(run.seed_for(0) % 100000);
  {
    auto owner = Shared::create(name);
    std::vector<pid_t> consumer_pids;
    std::vector<pid_t> producer_pids;
    // Consumers use the mapping inherited from the parent, producers open()
    // the queue by name: both ways of sharing it are exercised.
    for (unsigned c = 0; c < consumers; ++c) {
      consumer_pids.push_back(spawn([&, c] { View view(*owner);
        return consumer_main(*view, c, run.seed_for(1000 + c), producers, *block); }));
    }
    for (unsigned p = 0; p < producers; ++p) {
      producer_pids.push_back(spawn([&, p] { return producer_main(name, p, run.seed_for(p), *block); }));
    }
    // Progress: mirror the children's counters into the run's.
    auto mirror = [&] {
      for (unsigned p = 0; p < producers; ++p) {
        // relaxed: see ChildResult::ops.
        run.counter(p).ops.store(block->producer[p].ops.load(std::memory_order_relaxed), std::memory_order_relaxed);
      }
      for (unsigned c = 0; c < consumers; ++c) {
        // relaxed: as above.
        run.counter(producers + c).ops.store(block->consumer[c].ops.load(std::memory_order_relaxed),
                                             std::memory_order_relaxed);
      }
    };
    while (!run.stopping()) {
      mirror();
      std::this_thread::sleep_for(20ms);
    }
    // relaxed: see SharedBlock::stop.
    block->stop.store(1, std::memory_order_relaxed);
    // Close at once: producers blocked on a full queue (say, if a consumer
    // died) return closed, consumers drain what is left, then see closed.
    // Every child must then exit within kExitWait, or it is killed and
    // reported; the run never hangs on a child.
    owner->close();
    const auto deadline = std::chrono::steady_clock::now() + kExitWait;
    // A child fork() could not create (pid -1) is reported, never waited
    // for: waitpid(-1) would reap any child.
    auto exit_code = [&](pid_t pid) { return pid < 0 ? kNotStarted : wait_exit_code_until(pid, deadline); };
    for (unsigned p = 0; p < producers; ++p) block->producer[p].exit_code = exit_code(producer_pids[p]);
    for (unsigned c = 0; c < consumers; ++c) block->consumer[c].exit_code = exit_code(consumer_pids[c]);
    mirror();
  }
  for (unsigned i = 0; i < producers + consumers; ++i) {
    const bool is_producer = i < producers;
    const ChildResult& r = is_producer ? block->producer[i] : block->consumer[i - producers];
    if (r.exit_code != 0) {
      run.violation(std::string("process: ") + (is_producer ? "producer " : "consumer ") +
                    std::to_string(is_producer ? i : i - producers) +
                    (r.exit_code == -3         ? " did not exit within " + std::to_string(kExitWait.count()) + " s of close() (killed)"
                     : r.exit_code == kNotStarted ? " could not be started (fork failed); run with fewer --threads"
                                                  : " exited with " + std::to_string(r.exit_code)));
    }
  }
  std::vector<std::uint64_t> pushed(producers);
  for (unsigned p = 0; p < producers; ++p) pushed[p] = block->producer[p].pushed;
  std::vector<std::vector<Fingerprint>> received(consumers);
  for (unsigned c = 0; c < consumers; ++c) {
    const ChildResult& r = block->consumer[c];
    received[c].assign(r.fingerprint, r.fingerprint + producers);
    const std::string who = "consumer " + std::to_string(c);
    if (r.bad_values != 0) {
      run.violation("conservation: " + who + " received " + std::to_string(r.bad_values) +
                    " value(s) no producer pushed, the first " + std::to_string(r.bad_value) + " (value from nowhere)");
    }
    if (r.duplicate[0] != 0) {
      run.violation("conservation: " + who + " received p" + std::to_string(r.duplicate[0] - 1) + "#" +
                    std::to_string(r.duplicate[1]) + " twice in a row (duplicate)");
    }
    if (r.fifo_break[0] != 0) {
      const std::string p = "p" + std::to_string(r.fifo_break[0] - 1) + "#";
      run.violation("fifo: " + who + " received " + p + std::to_string(r.fifo_break[1]) + " after " + p +
                    std::to_string(r.fifo_break[2]) + " (producer order broken)");
    }
  }
  verify_conservation(run, pushed, received);
  block->~SharedBlock();
  ::munmap(mem, sizeof(SharedBlock));
}

const Registrar shared_queue{Workload{
    "shared-queue", "producer/consumer processes over a queue in shared memory, close at the end", Kind::blocking,
    check_conservation | check_fifo, /*producer_consumer=*/true, /*expect_failure=*/false, run_shared_queue<>,
    /*min_threads=*/1, kMaxProcesses}};

#ifdef CUBBY_STRESS_BROKEN
// ZeroPopper: a deliberately broken view of the queue whose try_pop, every
// 7th call of a consumer, reports a value 0 it never took (the contents of a
// zeroed, never written slot).  The consumers' own "value from nowhere"
// check must report it (0 is no producer's value).
struct ZeroPopper {
  explicit ZeroPopper(Shared::queue_type& q) noexcept : q_{q} {}
  struct Q {
    Shared::queue_type& q;
    std::optional<std::uint64_t> try_pop() {
      static unsigned calls = 0;  // one consumer per process
      if (++calls % 7 == 0) return std::uint64_t{0};
      return q.try_pop();
    }
    bool is_closed() const { return q.is_closed(); }
    Status pop(std::uint64_t& v) { return q.pop(v); }
    template <class D>
    Status pop_for(std::uint64_t& v, D d) { return q.pop_for(v, d); }
  };
  Q& operator*() noexcept { return q_; }
  Q q_;
};

const Registrar broken_zero{Workload{
    "broken-shared-queue-zero", "shared queue whose try_pop makes up a 0 now and then", Kind::blocking,
    check_conservation, /*producer_consumer=*/true, /*expect_failure=*/true, run_shared_queue<ZeroPopper>,
    /*min_threads=*/1, kMaxProcesses}};
#endif

}  // namespace
}  // namespace cubby::stress
