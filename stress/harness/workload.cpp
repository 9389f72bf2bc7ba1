// stress/harness/workload.cpp: the registry and the Run bookkeeping.
#include "harness/workload.hpp"

#include <algorithm>
#include <thread>

namespace cubby::stress {

namespace {
constexpr std::size_t kKeptMessages = 8;
}

std::string checks_to_string(unsigned checks) {
  static constexpr std::pair<unsigned, const char*> names[] = {
      {check_conservation, "conservation"}, {check_fifo, "fifo"},   {check_linearizability, "linearizability"},
      {check_ownership, "ownership"},       {check_faults, "faults"},   {check_progress, "progress"},
  };
  std::string out;
  for (const auto& [bit, name] : names) {
    if ((checks & bit) == 0) continue;
    if (!out.empty()) out += ",";
    out += name;
  }
  return out;
}

std::vector<Workload>& registry() {
  static std::vector<Workload> table;
  return table;
}

Run::Run(const Workload& w, const Config& cfg, unsigned threads, unsigned producers, unsigned consumers)
    : workload_(w), config_(cfg), threads_(threads), producers_(producers), consumers_(consumers), counters_(threads + 1) {}

void Run::start() noexcept { start_ = clock::now(); }

// relaxed: see stopping().
void Run::request_stop() noexcept { stop_.store(true, std::memory_order_relaxed); }

void Run::wait_until_stopping() const {
  while (!stopping()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
}

std::uint64_t Run::ops_done() const noexcept {
  std::uint64_t sum = 0;
  // relaxed: a statistic (see ThreadCounter).
  for (const auto& c : counters_) sum += c.ops.load(std::memory_order_relaxed);
  return sum;
}

double Run::elapsed_seconds() const noexcept { return std::chrono::duration<double>(clock::now() - start_).count(); }

double Run::progress_fraction() const noexcept {
  double f = 0;
  if (config_.ops > 0) f = static_cast<double>(ops_done()) / static_cast<double>(config_.ops);
  if (config_.seconds > 0) f = std::max(f, elapsed_seconds() / config_.seconds);
  return std::clamp(f, 0.0, 1.0);
}

bool Run::stop_condition_met() const noexcept {
  if (config_.ops > 0 && ops_done() >= config_.ops) return true;
  if (config_.seconds > 0 && elapsed_seconds() >= config_.seconds) return true;
  return false;
}

void Run::violation(std::string message) {
  const std::lock_guard lock(mutex_);
  ++violations_;
  // Keep the first few of each check ("conservation: ...", "fifo: ..."), so
  // that a flood of one kind cannot hide another.
  const std::string kind = message.substr(0, message.find(':'));
  std::size_t same = 0;
  for (const auto& m : messages_) same += m.compare(0, kind.size() + 1, kind + ":") == 0 ? 1 : 0;
  if (same < kKeptMessages / 2 && messages_.size() < 4 * kKeptMessages) messages_.push_back(std::move(message));
}

void Run::note(std::string line) {
  const std::lock_guard lock(mutex_);
  notes_.push_back(std::move(line));
}

void Run::note_wait(std::chrono::nanoseconds d) noexcept {
  // relaxed: a running maximum; read by the driver after every worker joined.
  std::int64_t seen = worst_wait_ns_.load(std::memory_order_relaxed);
  const std::int64_t ns = d.count();
  while (ns > seen && !worst_wait_ns_.compare_exchange_weak(seen, ns, std::memory_order_relaxed)) {
  }
}

std::uint64_t Run::violation_count() const noexcept {
  const std::lock_guard lock(mutex_);
  return violations_;
}
std::vector<std::string> Run::violation_messages() const {
  const std::lock_guard lock(mutex_);
  return messages_;
}
std::vector<std::string> Run::notes() const {
  const std::lock_guard lock(mutex_);
  return notes_;
}
std::optional<std::chrono::nanoseconds> Run::worst_wait() const noexcept {
  const std::int64_t ns = worst_wait_ns_.load(std::memory_order_relaxed);  // relaxed: after join
  if (ns < 0) return std::nullopt;
  return std::chrono::nanoseconds(ns);
}

}  // namespace cubby::stress
