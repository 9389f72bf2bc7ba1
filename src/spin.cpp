// src/spin.cpp: the spin budget in time (platform/native.hpp, pauses_for).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "cubby/platform/native.hpp"

namespace cubby::platform {
namespace {

using Clock = std::chrono::steady_clock;

// The measured cost of one pause in picoseconds; 0 until the first
// pauses_for.  relaxed (both accesses): a number that guards no other data;
// threads that measure at once each store a measurement of the same
// machine, and any of them serves.
std::atomic<std::uint32_t> g_pause_ps{0};

// How long one timed run of pauses must last to be read well off the clock,
// and how many runs are timed (the shortest counts: a run that was
// preempted or interrupted is only longer).
constexpr Clock::duration kRunAtLeast = std::chrono::microseconds(1);
constexpr int kRuns = 3;
constexpr unsigned kMaxRunPauses = 1u << 16;

Clock::duration time_pauses(unsigned n) noexcept {
  const auto t0 = Clock::now();
  for (unsigned i = 0; i < n; ++i) cpu_relax();
  return Clock::now() - t0;
}

std::uint32_t measure_pause_ps() noexcept {
  // A run long enough for the clock: double the pauses until one lasts
  // kRunAtLeast (a coarse clock reads a short run as 0).
  unsigned n = 64;
  while (n < kMaxRunPauses && time_pauses(n) < kRunAtLeast) n *= 2;
  auto best = Clock::duration::max();
  for (int i = 0; i < kRuns; ++i) best = std::min(best, time_pauses(n));
  const auto ps = std::chrono::duration_cast<std::chrono::duration<std::uint64_t, std::pico>>(best).count() / n;
  return static_cast<std::uint32_t>(std::clamp<std::uint64_t>(ps, 1, UINT32_MAX));
}

}  // namespace

unsigned pauses_for(std::uint32_t ns) noexcept {
  std::uint32_t ps = g_pause_ps.load(std::memory_order_relaxed);  // relaxed: see g_pause_ps
  if (ps == 0) [[unlikely]] {
    ps = measure_pause_ps();
    g_pause_ps.store(ps, std::memory_order_relaxed);  // relaxed: see g_pause_ps
  }
  const std::uint64_t n = std::uint64_t{ns} * 1000 / ps;
  return static_cast<unsigned>(std::clamp<std::uint64_t>(n, min_spin_pauses, max_spin_pauses));
}

std::uint32_t pause_picoseconds() noexcept {
  return g_pause_ps.load(std::memory_order_relaxed);  // relaxed: see g_pause_ps
}

}  // namespace cubby::platform
