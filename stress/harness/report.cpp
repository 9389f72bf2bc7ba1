// stress/harness/report.cpp: see report.hpp.
#include "harness/report.hpp"

#include <cstdio>
#include <fstream>

namespace cubby::stress {

namespace {

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

}  // namespace

std::string format_duration(std::chrono::nanoseconds d) {
  char buf[32];
  const double ns = static_cast<double>(d.count());
  if (ns >= 1e9) {
    std::snprintf(buf, sizeof buf, "%.2f s", ns / 1e9);
  } else if (ns >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.2f ms", ns / 1e6);
  } else if (ns >= 1e3) {
    std::snprintf(buf, sizeof buf, "%.1f us", ns / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f ns", ns);
  }
  return buf;
}

void print_summary(const std::vector<Row>& rows, double total_seconds) {
  std::printf("\n%-22s %8s %12s %12s %10s %11s  %s\n", "workload", "threads", "ops", "ops/s", "violations",
              "worst wait", "checks");
  for (const auto& r : rows) {
    const std::string threads = r.producers + r.consumers > 0 && r.producers + r.consumers == r.threads
                                    ? std::to_string(r.producers) + "+" + std::to_string(r.consumers)
                                    : std::to_string(r.threads);
    std::printf("%-22s %8s %12llu %12.0f %10llu %11s  %s\n", r.workload.c_str(), threads.c_str(),
                static_cast<unsigned long long>(r.ops), r.seconds > 0 ? static_cast<double>(r.ops) / r.seconds : 0.0,
                static_cast<unsigned long long>(r.violations), (r.worst_wait ? format_duration(*r.worst_wait) : std::string("n/a")).c_str(), r.checks.c_str());
  }
  std::printf("total %.1f s\n", total_seconds);
}

bool write_json(const std::string& path, const std::vector<Row>& rows, std::uint64_t seed, double total_seconds,
                const std::string& command) {
  std::ofstream out(path);
  if (!out) {
    std::fprintf(stderr, "cubby-stress: cannot write %s\n", path.c_str());
    return false;
  }
  std::uint64_t violations = 0;
  for (const auto& r : rows) violations += r.violations;
  out << "{\n  \"seed\": " << seed << ",\n  \"command\": " << json_string(command)
      << ",\n  \"total_seconds\": " << total_seconds << ",\n  \"violations\": " << violations
      << ",\n  \"passed\": " << (violations == 0 ? "true" : "false") << ",\n  \"workloads\": [";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    out << (i ? "," : "") << "\n    {\"name\": " << json_string(r.workload) << ", \"checks\": " << json_string(r.checks)
        << ", \"threads\": " << r.threads << ", \"producers\": " << r.producers << ", \"consumers\": " << r.consumers
        << ", \"ops\": " << r.ops << ", \"seconds\": " << r.seconds
        << ", \"ops_per_second\": " << (r.seconds > 0 ? static_cast<double>(r.ops) / r.seconds : 0.0)
        << ", \"violations\": " << r.violations << ", \"worst_wait_ns\": " << (r.worst_wait ? std::to_string(r.worst_wait->count()) : std::string("null"))
        << ", \"reproduce\": " << json_string(r.reproduce) << ", \"messages\": [";
    for (std::size_t k = 0; k < r.messages.size(); ++k) out << (k ? ", " : "") << json_string(r.messages[k]);
    out << "], \"notes\": [";
    for (std::size_t k = 0; k < r.notes.size(); ++k) out << (k ? ", " : "") << json_string(r.notes[k]);
    out << "]}";
  }
  out << "\n  ]\n}\n";
  return static_cast<bool>(out);
}

}  // namespace cubby::stress
