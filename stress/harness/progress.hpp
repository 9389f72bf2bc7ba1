// stress/harness/progress.hpp: the live display of a running workload, and
// the stop condition, driven by one monitor thread per run.
//
// On a terminal (isatty(stdout)) one bar per workload, redrawn in place every
// 100 ms: name, bar, ops done, ops/s, elapsed.  Otherwise (logs, ctest) a
// plain line every few seconds and one when the workload ends.
#pragma once

#include <chrono>
#include <functional>
#include <thread>

#include "harness/workload.hpp"

namespace cubby::stress {

class Monitor {
 public:
  // Starts watching `run`: requests its stop when the stop condition holds.
  // Hang watchdog: if no operation completes for `hang` while the workload
  // has not returned (threads blocked for good: a lost wake-up, a close()
  // that wakes nobody), calls on_hang from the monitor's thread; on_hang
  // reports and ends the process (the workload's threads cannot be joined).
  Monitor(Run& run, bool show,
          std::chrono::duration<double> hang = std::chrono::duration<double>(Config::kDefaultHangSeconds),
          std::function<void(double stalled_seconds)> on_hang = {});
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;
  ~Monitor();
  // finish: the workload returned; draws the final state and joins.
  void finish();

 private:
  void loop();
  void draw(bool final);

  Run& run_;
  bool show_;
  bool tty_;
  // relaxed: a flag for the monitor thread; nothing is published through it.
  std::atomic<bool> done_{false};
  double last_line_ = 0;
  std::chrono::duration<double> hang_;
  std::function<void(double)> on_hang_;
  std::thread thread_;
};

}  // namespace cubby::stress
