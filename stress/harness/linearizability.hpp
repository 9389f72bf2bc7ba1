// stress/harness/linearizability.hpp: recording short histories of concurrent
// operations and checking them against a sequential specification.
//
// Recording
// ---------
// A workload runs *windows*: a few threads each perform a short script of
// operations on a fresh object, every operation stamped at invocation and at
// response from one global counter (Clock).  A window's operations form a
// History; a history is linearizable when some total order of its operations
// (i) respects real time: if a responded before b was invoked, a comes first,
// and (ii) is a legal run of the sequential specification from the window's
// initial state, each operation returning what it actually returned.
//
// Checking
// --------
// Wing & Gong's search, with Lowe's memoisation ("Testing for
// linearizability", 2017), in the form Porcupine and Knossos use: walk the
// call/return events in time order; at a call, try to linearize that
// operation now (the spec must accept it, and the pair (set of linearized
// operations, state) must be new, else this branch was already explored); at
// a return whose operation is not yet linearized, backtrack.  Success when
// every operation is linearized.  Windows are at most 64 operations
// (a bitset), in practice 6 to 16, so the search is instant.
//
// Shrinking
// ---------
// On failure the checker reports a smaller history that still fails, using
// only reductions that keep it a genuine witness (if the reduced history is
// not linearizable, neither was the original):
//   * drop an operation that never changes the state (a failed try, a
//     timeout, a `closed` result): every linearization of the original minus
//     that operation is one of the reduced history;
//   * drop an operation invoked after every other one responded (it comes
//     last in every linearization);
//   * fold an operation that responded before every other one was invoked
//     into the initial state (it comes first in every linearization).
// Each is kept only if the smaller history still fails.
//
// A Spec provides:
//   using State = ...;   equality-comparable, hashable with Spec::hash
//   using Call = ...;    one operation with its arguments and its result
//   static constexpr unsigned kChoices;   readings of one operation (>= 1)
//   static bool step(const State&, const Call&, unsigned choice, State& next);
//       whether Call, with its recorded result, read as `choice`, is legal
//       in State; if so next is the state after it (a nondeterministic
//       specification has several readings; the search tries each)
//   static bool effect_free(const Call&);  never changes the state
//   static std::size_t hash(const State&);
//   static std::string describe(const Call&), describe(const State&);
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

namespace cubby::stress::lin {

// Clock: the global order of invocation and response stamps.
class Clock {
 public:
  // stamp: acq_rel.  The response stamp of a releases everything a did; the
  // invocation stamp of b, a later RMW on the same counter, acquires it.  So
  // stamp(a.response) < stamp(b.invocation) implies a's operation
  // happens-before b's, and the real-time order the checker enforces is one
  // the primitive really had to respect (a relaxed stamp could drift out of
  // its operation and report orders that never were).  The price: these
  // edges also order the window's threads for ThreadSanitizer, which is why
  // the race-detection work is left to the throughput workloads, whose
  // harness code adds no edges.
  std::uint64_t stamp() noexcept { return now_.fetch_add(1, std::memory_order_acq_rel); }

 private:
  std::atomic<std::uint64_t> now_{1};
};

template <class Spec>
struct Op {
  unsigned thread = 0;
  std::uint64_t invoked = 0;
  std::uint64_t responded = 0;
  typename Spec::Call call{};
};

template <class Spec>
struct History {
  typename Spec::State initial{};
  std::vector<Op<Spec>> ops;
};

// is_linearizable: the search described above.
template <class Spec>
bool is_linearizable(const History<Spec>& h) {
  using State = typename Spec::State;
  const std::size_t n = h.ops.size();
  if (n == 0) return true;
  if (n > 64) return false;  // caller's contract; windows are kept small

  // Events in time order: (stamp, op index, is_return).  A linked list over
  // them, from which a linearized operation's call and return are lifted.
  struct Event {
    std::uint64_t stamp;
    unsigned op;
    bool ret;
    int prev, next;
    int match;  // for a call: index of its return event
  };
  std::vector<Event> ev;
  ev.reserve(2 * n);
  for (unsigned i = 0; i < n; ++i) {
    ev.push_back({h.ops[i].invoked, i, false, 0, 0, 0});
    ev.push_back({h.ops[i].responded, i, true, 0, 0, 0});
  }
  std::sort(ev.begin(), ev.end(), [](const Event& a, const Event& b) {
    return a.stamp != b.stamp ? a.stamp < b.stamp : (!a.ret && b.ret);
  });
  std::vector<int> return_of(n, -1);
  for (int i = 0; i < static_cast<int>(ev.size()); ++i) {
    if (ev[i].ret) return_of[ev[i].op] = i;
  }
  const int count = static_cast<int>(ev.size());
  // Node `count` is the head sentinel.
  std::vector<int> next(count + 1), prev(count + 1);
  for (int i = 0; i < count; ++i) {
    ev[i].match = ev[i].ret ? -1 : return_of[ev[i].op];
    prev[i] = i == 0 ? count : i - 1;
    next[i] = i + 1 == count ? -1 : i + 1;
  }
  next[count] = 0;
  auto lift = [&](int i) {
    for (const int e : {i, ev[i].match}) {
      next[prev[e]] = next[e];
      if (next[e] != -1) prev[next[e]] = prev[e];
    }
  };
  auto unlift = [&](int i) {
    for (const int e : {ev[i].match, i}) {
      next[prev[e]] = e;
      if (next[e] != -1) prev[next[e]] = e;
    }
  };

  struct Key {
    std::uint64_t done;
    State state;
    bool operator==(const Key& o) const { return done == o.done && state == o.state; }
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const { return Spec::hash(k.state) ^ (k.done * 0x9E3779B97F4A7C15ull); }
  };
  std::unordered_set<Key, KeyHash> seen;
  struct Frame {
    int call;
    State state;
    unsigned choice;
  };
  std::vector<Frame> stack;

  State state = h.initial;
  std::uint64_t done = 0;
  int entry = next[count];
  unsigned first_choice = 0;  // > 0 when resuming a call after backtracking
  while (next[count] != -1) {
    if (entry == -1) return false;  // cannot happen: a return always precedes the end
    const Event& e = ev[entry];
    if (!e.ret) {
      bool linearized = false;
      for (unsigned choice = first_choice; choice < Spec::kChoices && !linearized; ++choice) {
        State after{};
        if (Spec::step(state, h.ops[e.op].call, choice, after) &&
            seen.insert(Key{done | (std::uint64_t{1} << e.op), after}).second) {
          stack.push_back({entry, state, choice});
          state = after;
          done |= std::uint64_t{1} << e.op;
          lift(entry);
          linearized = true;
        }
      }
      first_choice = 0;
      entry = linearized ? next[count] : next[entry];
    } else {
      if (stack.empty()) return false;
      const Frame f = stack.back();
      stack.pop_back();
      state = f.state;
      done &= ~(std::uint64_t{1} << ev[f.call].op);
      unlift(f.call);
      entry = f.call;
      first_choice = f.choice + 1;
    }
  }
  return true;
}

// shrink: a smaller non-linearizable history (see the file comment).
template <class Spec>
History<Spec> shrink(History<Spec> h) {
  bool progress = true;
  while (progress) {
    progress = false;
    for (std::size_t i = 0; i < h.ops.size(); ++i) {
      const auto& op = h.ops[i];
      bool first = true, last = true;
      for (std::size_t j = 0; j < h.ops.size(); ++j) {
        if (j == i) continue;
        if (h.ops[j].invoked < op.responded) first = false;
        if (h.ops[j].responded > op.invoked) last = false;
      }
      History<Spec> smaller = h;
      smaller.ops.erase(smaller.ops.begin() + static_cast<std::ptrdiff_t>(i));
      if (first) {
        // Fold it only if exactly one reading is legal (else it fails on its
        // own, or the initial state would be a guess).
        typename Spec::State after{}, candidate{};
        unsigned legal = 0;
        for (unsigned choice = 0; choice < Spec::kChoices; ++choice) {
          if (Spec::step(h.initial, op.call, choice, candidate)) {
            after = candidate;
            ++legal;
          }
        }
        if (legal != 1) continue;
        smaller.initial = after;
      } else if (!last && !Spec::effect_free(op.call)) {
        continue;
      }
      if (!is_linearizable(smaller)) {
        h = std::move(smaller);
        progress = true;
        break;
      }
    }
  }
  return h;
}

// render: one line per operation, in invocation order, with a time line.
template <class Spec>
std::string render(const History<Spec>& h) {
  std::vector<const Op<Spec>*> ops;
  for (const auto& op : h.ops) ops.push_back(&op);
  std::sort(ops.begin(), ops.end(), [](auto* a, auto* b) { return a->invoked < b->invoked; });
  // Compress stamps to ranks so the time line stays narrow.
  std::vector<std::uint64_t> stamps;
  for (auto* op : ops) {
    stamps.push_back(op->invoked);
    stamps.push_back(op->responded);
  }
  std::sort(stamps.begin(), stamps.end());
  auto rank = [&](std::uint64_t s) {
    return static_cast<std::size_t>(std::lower_bound(stamps.begin(), stamps.end(), s) - stamps.begin());
  };
  std::string out = "    initial state: " + Spec::describe(h.initial) + "\n";
  for (auto* op : ops) {
    std::string line = "    t" + std::to_string(op->thread) + "  ";
    const std::size_t a = rank(op->invoked), b = rank(op->responded);
    for (std::size_t k = 0; k < stamps.size(); ++k) line += (k < a || k > b) ? ' ' : (k == a || k == b ? '|' : '-');
    line += "  " + Spec::describe(op->call) + "\n";
    out += line;
  }
  return out;
}

}  // namespace cubby::stress::lin
