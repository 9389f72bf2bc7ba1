// stress/main.cpp: cubby-stress, the stress harness driver.
//
//   cubby-stress <workload>[,<workload>...]|all [options]
//
// Runs each selected workload (see --list) for a time or an operation budget,
// shows its progress, prints a summary table, optionally writes a JSON
// report, and exits non-zero if any check found a violation, printing the
// seed and the command that reruns the failing workload.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness/progress.hpp"
#include "harness/report.hpp"
#include "harness/workload.hpp"

namespace {

using namespace cubby::stress;

constexpr const char* kUsage = R"(usage: cubby-stress <workload>[,<workload>...]|all [options]

  --list               list the workloads and what each checks
  --threads N          total threads (default: 2 x cores, at least 4, for
                       blocking workloads; may exceed the cores on purpose)
  --producers P        producer threads, for producer/consumer workloads
  --consumers C        consumer threads (default split: half and half;
                       with both given, --threads is not used)
                       A workload runs within its own range of threads
                       (--list): a count outside it is clamped, with a note,
                       and the summary shows the counts that ran.
  --seconds S          run each workload S seconds (default 10; at least 0.01)
  --ops N              run each workload until about N operations
  --seed X             random seed (decimal or 0x hex; default: random)
  --quick              the whole selection in about a minute (README's run)
  --json FILE          write a machine-readable report to FILE
  --quiet              no progress display
  --verbose            print each workload's notes (and whole failing windows)
  --hang-seconds S     a workload in which no operation completes for S
                       seconds (threads blocked for good) fails as a hang,
                       with the seed, and ends the run (default 60)
  --strict-close       linearizability: check close() as one atomic step for
                       every workload (the cubby's and the queue's always
                       do; the broken queue's under test need not)
exit status: 0 all checks passed, 1 a violation, 2 usage error
)";

struct Options {
  std::vector<std::string> selection;
  Config config;
  bool seconds_set = false, ops_set = false, seed_set = false;
  bool list = false, quiet = false;
  std::string json;
};

[[noreturn]] void usage_error(const std::string& what) {
  std::fprintf(stderr, "cubby-stress: %s\n%s", what.c_str(), kUsage);
  std::exit(2);
}

std::uint64_t parse_u64(const std::string& flag, const char* text) {
  char* end = nullptr;
  errno = 0;
  const bool hex = text[0] == '0' && (text[1] == 'x' || text[1] == 'X');  // decimal otherwise, even with a leading 0
  const unsigned long long v = std::strtoull(text, &end, hex ? 16 : 10);
  if (errno != 0 || end == text || *end != '\0' || text[0] == '-') usage_error(flag + ": not a number: " + text);
  return v;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage_error(a + " needs a value");
      return argv[++i];
    };
    auto count = [&]() {
      const std::uint64_t v = parse_u64(a, value());
      if (v == 0 || v > 1024) usage_error(a + ": between 1 and 1024");
      return static_cast<unsigned>(v);
    };
    if (a == "--help" || a == "-h") {
      std::printf("%s", kUsage);
      std::exit(0);
    } else if (a == "--list") {
      o.list = true;
    } else if (a == "--threads") {
      o.config.threads = count();
    } else if (a == "--producers") {
      o.config.producers = count();
    } else if (a == "--consumers") {
      o.config.consumers = count();
    } else if (a == "--seconds") {
      const char* t = value();
      char* end = nullptr;
      o.config.seconds = std::strtod(t, &end);
      // At least one of a workload's shortest epochs (10 ms): a shorter run
      // would pass with almost nothing checked.
      if (end == t || *end != '\0' || !(o.config.seconds >= 0.01)) {
        usage_error("--seconds: a number of seconds, at least 0.01");
      }
      o.seconds_set = true;
    } else if (a == "--hang-seconds") {
      const char* t = value();
      char* end = nullptr;
      o.config.hang_seconds = std::strtod(t, &end);
      if (end == t || *end != '\0' || !(o.config.hang_seconds > 0) || !std::isfinite(o.config.hang_seconds)) {
        usage_error("--hang-seconds: a positive number");
      }
    } else if (a == "--ops") {
      o.config.ops = parse_u64(a, value());
      if (o.config.ops == 0) usage_error("--ops: a positive number");
      o.ops_set = true;
    } else if (a == "--seed") {
      o.config.seed = parse_u64(a, value());
      o.seed_set = true;
    } else if (a == "--quick") {
      o.config.quick = true;
    } else if (a == "--json") {
      o.json = value();
    } else if (a == "--quiet") {
      o.quiet = true;
    } else if (a == "--strict-close") {
      o.config.strict_close = true;
    } else if (a == "--verbose") {
      o.config.verbose = true;
    } else if (!a.empty() && a[0] == '-') {
      usage_error("unknown option " + a);
    } else {
      std::stringstream names(a);
      for (std::string name; std::getline(names, name, ',');) {
        if (!name.empty()) o.selection.push_back(name);
      }
    }
  }
  return o;
}

std::string thread_range(const Workload& w) {
  const std::string lo = std::to_string(w.min_threads);
  std::string range = w.max_threads == 0 ? lo + "+" : lo + ".." + std::to_string(w.max_threads);
  return w.producer_consumer ? range + " per side" : range;
}

void list(const std::vector<Workload>& table) {
  std::printf("%-22s %-20s %-42s %s\n", "workload", "threads", "checks", "description");
  for (const auto& w : table) {
    std::printf("%-22s %-20s %-42s %s%s\n", w.name.c_str(), thread_range(w).c_str(),
                checks_to_string(w.checks).c_str(), w.description.c_str(),
                w.expect_failure ? " [deliberately broken]" : "");
  }
}

struct Shape {
  unsigned threads, producers, consumers;
  std::string note;  // what was asked for and not done as asked (empty: nothing)
};

// shape_for: the thread counts `w` runs with, from the options and w's range.
Shape shape_for(const Workload& w, const Config& c) {
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  unsigned threads = c.threads;
  if (threads == 0) threads = w.kind == Kind::blocking ? std::max(4u, 2 * cores) : std::max(2u, cores);
  auto fit = [&](unsigned n) { return std::max(w.min_threads, w.max_threads != 0 ? std::min(n, w.max_threads) : n); };
  std::string note;
  auto say = [&](const std::string& what) { note += (note.empty() ? "" : "; ") + what; };
  if (!w.producer_consumer) {
    if (c.producers != 0 || c.consumers != 0) say("--producers/--consumers apply to producer/consumer workloads only");
    const unsigned t = fit(threads);
    if (t != threads) say("runs " + std::to_string(t) + " threads, not " + std::to_string(threads) + " (its range: " + thread_range(w) + ")");
    return {t, 0, 0, note};
  }
  unsigned p = c.producers, q = c.consumers;
  if (p == 0 && q == 0) {
    threads = std::max(threads, 2u);
    p = threads / 2;
    q = threads - p;
  } else if (p == 0) {
    p = threads > q ? threads - q : 1;
  } else if (q == 0) {
    q = threads > p ? threads - p : 1;
  } else if (c.threads != 0 && c.threads != p + q) {
    say("--producers and --consumers given: --threads " + std::to_string(c.threads) + " not used");
  }
  const unsigned fp = fit(p), fq = fit(q);
  if (fp != p || fq != q) {
    say("runs " + std::to_string(fp) + " producers and " + std::to_string(fq) + " consumers, not " + std::to_string(p) +
        " and " + std::to_string(q) + " (its range: " + thread_range(w) + ")");
  }
  return {fp + fq, fp, fq, note};
}

std::string format_seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", s);
  return buf;
}

std::string reproduce_command(const char* argv0, const Workload& w, const Shape& s, const Config& c) {
  std::string cmd = std::string(argv0) + " " + w.name;
  if (w.producer_consumer) {
    cmd += " --producers " + std::to_string(s.producers) + " --consumers " + std::to_string(s.consumers);
  } else {
    cmd += " --threads " + std::to_string(s.threads);
  }
  if (c.ops > 0) cmd += " --ops " + std::to_string(c.ops);
  if (c.strict_close) cmd += " --strict-close";
  if (c.seconds > 0) cmd += " --seconds " + format_seconds(c.seconds);
  if (c.hang_seconds != Config::kDefaultHangSeconds) cmd += " --hang-seconds " + format_seconds(c.hang_seconds);
  char seed[32];
  std::snprintf(seed, sizeof seed, "0x%llx", static_cast<unsigned long long>(c.seed));
  return cmd + " --seed " + seed;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  std::vector<Workload> table = registry();
  std::sort(table.begin(), table.end(), [](const Workload& a, const Workload& b) { return a.name < b.name; });
  if (o.list) {
    list(table);
    return 0;
  }
  if (o.selection.empty()) usage_error("name a workload, or all");

  std::vector<const Workload*> chosen;
  for (const auto& name : o.selection) {
    if (name == "all") {
      for (const auto& w : table) {
        if (std::find(chosen.begin(), chosen.end(), &w) == chosen.end()) chosen.push_back(&w);
      }
      continue;
    }
    const auto it = std::find_if(table.begin(), table.end(), [&](const Workload& w) { return w.name == name; });
    if (it == table.end()) usage_error("no workload named '" + name + "' (see --list)");
    if (std::find(chosen.begin(), chosen.end(), &*it) == chosen.end()) chosen.push_back(&*it);
  }

  Config& cfg = o.config;
  if (!o.seed_set) cfg.seed = (static_cast<std::uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
  if (!o.seconds_set && !o.ops_set) {
    // --quick: about 55 s for the whole selection, each workload 2..10 s.
    cfg.seconds = cfg.quick ? std::clamp(55.0 / static_cast<double>(chosen.size()), 2.0, 10.0) : 10.0;
  }

  std::printf("cubby-stress: %zu workload(s), seed 0x%llx, %s per workload, %u cores\n", chosen.size(),
              static_cast<unsigned long long>(cfg.seed),
              cfg.ops > 0 ? (std::to_string(cfg.ops) + " ops").c_str() : (format_seconds(cfg.seconds) + " s").c_str(),
              std::thread::hardware_concurrency());
  std::fflush(stdout);

  std::string command;
  for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);

  const auto begin = std::chrono::steady_clock::now();
  std::vector<Row> rows;
  std::uint64_t total_violations = 0;
  for (const Workload* w : chosen) {
    const Shape s = shape_for(*w, cfg);
    Run run(*w, cfg, s.threads, s.producers, s.consumers);
    if (!s.note.empty()) std::printf("  note: %s %s\n", w->name.c_str(), s.note.c_str());
    run.start();
    // The monitor's thread, like the workload's (harness/workers.hpp), may
    // fail to start: that is reported with the seed, as a failed workload.
    std::optional<Monitor> monitor;
    bool body_returned = false;
    const std::string reproduce = reproduce_command(argv[0], *w, s, cfg);
    // row: what the summary and the JSON report say of this workload so far.
    auto row = [&] {
      Row r;
      r.workload = w->name;
      r.checks = checks_to_string(w->checks);
      r.threads = s.threads;
      r.producers = s.producers;
      r.consumers = s.consumers;
      r.ops = run.ops_done();
      r.seconds = run.elapsed_seconds();
      r.violations = run.violation_count();
      r.worst_wait = run.worst_wait();
      r.messages = run.violation_messages();
      r.notes = run.notes();
      r.reproduce = reproduce;
      return r;
    };
    try {
      // A hang cannot be reported by the workload (its threads never
      // return): the monitor reports it with the seed, and ends the process.
      auto on_hang = [&, reproduce](double stalled) {
        std::printf("\n  FAILED %s: hang: no operation completed for %s s and the workload did not return "
                    "(threads blocked for good: a lost wake-up, or a close() that wakes nobody)\n"
                    "  seed 0x%llx; reproduce with:\n    %s\nFAILED: hang in %s; seed 0x%llx\n  reproduce: %s\n",
                    w->name.c_str(), format_seconds(stalled).c_str(), static_cast<unsigned long long>(cfg.seed),
                    reproduce.c_str(), w->name.c_str(), static_cast<unsigned long long>(cfg.seed), reproduce.c_str());
        std::fflush(stdout);
        if (!o.json.empty()) {
          std::vector<Row> with_hang = rows;
          Row r = row();
          r.violations += 1;
          r.messages.push_back("hang: no operation completed for " + format_seconds(stalled) + " s");
          with_hang.push_back(std::move(r));
          (void)write_json(o.json, with_hang, cfg.seed, std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count(), command);
        }
        std::_Exit(1);
      };
      monitor.emplace(run, !o.quiet, std::chrono::duration<double>(cfg.hang_seconds), on_hang);
      w->body(run);
      body_returned = true;
    } catch (const std::exception& e) {
      run.violation(std::string("workload failed: ") + e.what());
    }
    if (monitor) monitor->finish();
    if (body_returned && run.ops_done() == 0) {
      run.violation("progress: no operation completed in " + format_seconds(run.elapsed_seconds()) +
                    " s; the run checked nothing");
    }

    Row r = row();
    if (cfg.verbose) {
      for (const auto& n : r.notes) std::printf("    note: %s\n", n.c_str());
    }
    if (!s.note.empty()) r.notes.insert(r.notes.begin(), s.note);  // printed above
    if (r.violations > 0) {
      std::printf("  FAILED %s: %llu violation(s)\n", w->name.c_str(), static_cast<unsigned long long>(r.violations));
      for (const auto& m : r.messages) std::printf("    %s\n", m.c_str());
      if (r.violations > r.messages.size()) {
        std::printf("    ... and %llu more\n", static_cast<unsigned long long>(r.violations - r.messages.size()));
      }
      std::printf("  seed 0x%llx; reproduce with:\n    %s\n", static_cast<unsigned long long>(cfg.seed),
                  r.reproduce.c_str());
    }
    std::fflush(stdout);
    total_violations += r.violations;
    rows.push_back(std::move(r));
  }
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  print_summary(rows, total);
  // The verdict first: a violation exits 1 even if the report cannot be written.
  const bool json_written = o.json.empty() || write_json(o.json, rows, cfg.seed, total, command);
  if (total_violations > 0) {
    std::printf("FAILED: %llu violation(s); seed 0x%llx\n", static_cast<unsigned long long>(total_violations),
                static_cast<unsigned long long>(cfg.seed));
    for (const auto& r : rows) {
      if (r.violations > 0) std::printf("  reproduce: %s\n", r.reproduce.c_str());
    }
    return 1;
  }
  std::printf("passed (seed 0x%llx)\n", static_cast<unsigned long long>(cfg.seed));
  return json_written ? 0 : 2;
}
