// stress/harness/report.hpp: the summary table and the JSON report.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cubby::stress {

struct Row {
  std::string workload;
  std::string checks;
  unsigned threads = 0, producers = 0, consumers = 0;
  std::uint64_t ops = 0;
  double seconds = 0;
  std::uint64_t violations = 0;
  std::optional<std::chrono::nanoseconds> worst_wait;  // nullopt: not measured
  std::vector<std::string> messages;
  std::vector<std::string> notes;
  std::string reproduce;  // the command that reruns this workload
};

std::string format_duration(std::chrono::nanoseconds d);
void print_summary(const std::vector<Row>& rows, double total_seconds);
// write_json: false (and a message on stderr) if the file cannot be written.
bool write_json(const std::string& path, const std::vector<Row>& rows, std::uint64_t seed, double total_seconds,
                const std::string& command);

}  // namespace cubby::stress
