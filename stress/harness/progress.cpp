// stress/harness/progress.cpp: see progress.hpp.
#include "harness/progress.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <utility>

namespace cubby::stress {

namespace {

std::string human(double v) {
  char buf[32];
  if (v >= 1e9) {
    std::snprintf(buf, sizeof buf, "%.2fG", v / 1e9);
  } else if (v >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.2fM", v / 1e6);
  } else if (v >= 1e4) {
    std::snprintf(buf, sizeof buf, "%.1fk", v / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  }
  return buf;
}

}  // namespace

Monitor::Monitor(Run& run, bool show, std::chrono::duration<double> hang, std::function<void(double)> on_hang)
    : run_(run), show_(show), tty_(isatty(STDOUT_FILENO) == 1), hang_(hang), on_hang_(std::move(on_hang)) {
  thread_ = std::thread([this] { loop(); });
}

Monitor::~Monitor() {
  if (thread_.joinable()) finish();
}

void Monitor::finish() {
  done_.store(true, std::memory_order_relaxed);  // relaxed: see done_
  thread_.join();
  draw(true);
}

void Monitor::loop() {
  using namespace std::chrono_literals;
  unsigned tick = 0;
  std::uint64_t last_ops = run_.ops_done();
  auto last_change = std::chrono::steady_clock::now();
  while (!done_.load(std::memory_order_relaxed)) {  // relaxed: see done_
    if (!run_.stopping() && run_.stop_condition_met()) run_.request_stop();
    const std::uint64_t ops = run_.ops_done();
    const auto now = std::chrono::steady_clock::now();
    if (ops != last_ops) {
      last_ops = ops;
      last_change = now;
    } else if (on_hang_ && now - last_change >= hang_) {
      if (show_ && tty_) std::printf("\n");
      on_hang_(std::chrono::duration<double>(now - last_change).count());
      last_change = now;  // on_hang_ returned (it should not): wait another period
    }
    std::this_thread::sleep_for(10ms);
    if (++tick % 10 == 0) draw(false);
  }
}

void Monitor::draw(bool final) {
  if (!show_) return;
  const double elapsed = run_.elapsed_seconds();
  const double ops = static_cast<double>(run_.ops_done());
  const double rate = elapsed > 0 ? ops / elapsed : 0;
  const std::string& name = run_.workload().name;
  if (tty_) {
    constexpr int width = 24;
    const double f = final ? 1.0 : run_.progress_fraction();
    const int filled = static_cast<int>(f * width);
    std::string bar(static_cast<std::size_t>(filled), '#');
    bar.append(static_cast<std::size_t>(width - filled), '.');
    const auto v = run_.violation_count();
    std::printf("\r  %-22s [%s] %9s ops %9s ops/s %6.1f s%s\x1b[K", name.c_str(), bar.c_str(), human(ops).c_str(),
                human(rate).c_str(), elapsed, v ? "  VIOLATIONS" : "");
    if (final) std::printf("\n");
    std::fflush(stdout);
  } else if (final || elapsed - last_line_ >= 5.0) {
    last_line_ = elapsed;
    std::printf("  %-22s %s %s ops, %s ops/s, %.1f s\n", name.c_str(), final ? "done" : "... ", human(ops).c_str(),
                human(rate).c_str(), elapsed);
    std::fflush(stdout);
  }
}

}  // namespace cubby::stress
