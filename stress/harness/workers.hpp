// stress/harness/workers.hpp: the threads of one workload, started together.
//
// A workload's threads meet at barriers sized for all of them, so one that
// cannot be created (a thread or memory limit, e.g. a large --threads under
// `ulimit -v`) would leave the others waiting forever, and a std::thread
// destroyed unjoined ends the process without a seed.  Workers creates every
// thread first and holds each one at a gate until all exist.  If one cannot
// be created, the gate tells the others to return without running their
// body, they are joined, and start() throws an error that names the thread
// and the reason; the driver reports it with the seed like any other
// failure of the workload.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace cubby::stress {

class Workers {
 public:
  Workers() = default;
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;
  // If start() threw, or was never called, the threads created so far are
  // released and joined here.  After a successful start() the workload
  // must join() before this runs (as with std::thread).
  ~Workers() { release(Gate::abandon); }

  // add: one thread's body, run once start() has created every thread.
  void add(std::function<void()> body) { bodies_.push_back(std::move(body)); }

  // start: creates one thread per body, then lets them all run.  Throws
  // std::runtime_error if a thread cannot be created (no body has run).
  void start() {
    threads_.reserve(bodies_.size());
    for (std::size_t i = 0; i < bodies_.size(); ++i) {
      try {
        threads_.emplace_back([this, i] {
          if (wait_for_gate() == Gate::open) bodies_[i]();
        });
      } catch (const std::system_error& e) {
        release(Gate::abandon);
        throw std::runtime_error("could not start thread " + std::to_string(i + 1) + " of " +
                                 std::to_string(bodies_.size()) + " (" + e.what() + "); run with fewer --threads");
      }
    }
    release(Gate::open);
  }

  // join: waits for every thread's body to return.
  void join() {
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  enum class Gate { closed, open, abandon };

  Gate wait_for_gate() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return gate_ != Gate::closed; });
    return gate_;
  }
  // release: opens the gate (start) or abandons the run (a failed start):
  // on abandon the waiting threads return at once and are joined.
  void release(Gate to) {
    {
      std::lock_guard lock(mutex_);
      if (gate_ == Gate::closed) gate_ = to;
    }
    changed_.notify_all();
    if (gate_ == Gate::abandon) join();
  }

  std::vector<std::function<void()>> bodies_;
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable changed_;
  Gate gate_ = Gate::closed;  // guarded by mutex_ (read unlocked only by its writer, the coordinator)
};

}  // namespace cubby::stress
