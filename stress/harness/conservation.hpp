// stress/harness/conservation.hpp: conservation and per-producer FIFO checks
// for producer/consumer workloads.
//
// Every value a producer hands over carries its producer's index and a
// sequence number: producer p's k-th *successful* push carries (p, k), so
// each producer's delivered values are exactly (p, 0) .. (p, n_p - 1).  A push
// that fails (timeout, closed) retries the same number or gives up.
//
// Each consumer keeps, per producer, a fingerprint of what it received (count,
// sum of sequence numbers, xor of a hash of each) and the last sequence
// number.  Nothing is shared while the workload runs: the hot loop touches
// only the consumer's own memory, so the harness adds no synchronisation that
// could hide a missing edge in the primitive from ThreadSanitizer.
//
// At the end, Tally::check compares, per producer, the merged fingerprints
// against those of 0 .. n_p - 1:
//   conservation: counts, sums and hash-xors agree: nothing lost, duplicated,
//     or made up (a value whose producer index or sequence number was never
//     pushed is reported at once by the consumer that received it).  A single
//     lost or duplicated value is named exactly (the sums differ by its
//     number); compensating errors are caught by the hash with probability
//     1 - 2^-64.
//   FIFO (for FIFO primitives): each consumer receives each producer's values
//     in increasing order.  Sound for any linearizable FIFO: if push(a)
//     finished before push(b) began, a leaves first, so no single consumer can
//     receive b and later a.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "harness/workload.hpp"

namespace cubby::stress {

// Tag: how a value names its producer and number.  Producer indices start at
// 1 in the value, so 0 is never a valid value.
struct Tag {
  static constexpr unsigned kSeqBits = 40;
  static constexpr std::uint64_t kSeqMask = (std::uint64_t{1} << kSeqBits) - 1;
  static constexpr std::uint64_t make(unsigned producer, std::uint64_t seq) noexcept {
    return (static_cast<std::uint64_t>(producer + 1) << kSeqBits) | seq;
  }
  static constexpr bool valid(std::uint64_t v, unsigned producers) noexcept {
    const std::uint64_t p = v >> kSeqBits;
    return p >= 1 && p <= producers;
  }
  static constexpr unsigned producer(std::uint64_t v) noexcept { return static_cast<unsigned>((v >> kSeqBits) - 1); }
  static constexpr std::uint64_t seq(std::uint64_t v) noexcept { return v & kSeqMask; }
};

inline std::uint64_t mix(std::uint64_t v) noexcept {
  v ^= v >> 33;
  v *= 0xFF51AFD7ED558CCDull;
  v ^= v >> 33;
  v *= 0xC4CEB9FE1A85EC53ull;
  return v ^ (v >> 33);
}

struct Fingerprint {
  std::uint64_t count = 0;
  std::uint64_t sum = 0;
  std::uint64_t hash = 0;
  void add(std::uint64_t seq, unsigned producer) noexcept {
    ++count;
    sum += seq;
    hash ^= mix(Tag::make(producer, seq));
  }
  void merge(const Fingerprint& o) noexcept {
    count += o.count;
    sum += o.sum;
    hash ^= o.hash;
  }
};

// ConsumerLog: what one consumer received.  Used by one thread only.
class ConsumerLog {
 public:
  ConsumerLog(unsigned consumer, unsigned producers, bool fifo)
      : consumer_(consumer), fifo_(fifo), per_producer_(producers), last_(producers, kNone) {}

  // receive: one value.  Reports made-up values and FIFO breaks at once.
  void receive(Run& run, std::uint64_t v) {
    const unsigned producers = static_cast<unsigned>(per_producer_.size());
    if (!Tag::valid(v, producers)) {
      run.violation("conservation: consumer " + std::to_string(consumer_) + " received " + std::to_string(v) +
                    ", a value no producer pushed (value from nowhere)");
      return;
    }
    const unsigned p = Tag::producer(v);
    const std::uint64_t s = Tag::seq(v);
    per_producer_[p].add(s, p);
    if (last_[p] != kNone && s <= last_[p]) {
      if (s == last_[p]) {
        run.violation("conservation: consumer " + std::to_string(consumer_) + " received p" + std::to_string(p) + "#" +
                      std::to_string(s) + " twice in a row (duplicate)");
      } else if (fifo_) {
        run.violation("fifo: consumer " + std::to_string(consumer_) + " received p" + std::to_string(p) + "#" +
                      std::to_string(s) + " after p" + std::to_string(p) + "#" + std::to_string(last_[p]) +
                      " (producer order broken)");
      }
    }
    if (last_[p] == kNone || s > last_[p] || !fifo_) last_[p] = s;
  }
  const std::vector<Fingerprint>& fingerprints() const noexcept { return per_producer_; }

 private:
  static constexpr std::uint64_t kNone = ~std::uint64_t{0};
  unsigned consumer_;
  bool fifo_;
  std::vector<Fingerprint> per_producer_;
  std::vector<std::uint64_t> last_;
};

// Tally: the final conservation check.  `pushed[p]` is the number of
// successful pushes of producer p; received[c][p] what consumer c received
// of producer p.
inline void verify_conservation(Run& run, const std::vector<std::uint64_t>& pushed,
                                const std::vector<std::vector<Fingerprint>>& received) {
  for (unsigned p = 0; p < pushed.size(); ++p) {
    Fingerprint got;
    for (const auto& consumer : received) got.merge(consumer[p]);
    Fingerprint want;
    const std::uint64_t n = pushed[p];
    want.count = n;
    want.sum = n == 0 ? 0 : (n % 2 == 0 ? (n / 2) * (n - 1) : n * ((n - 1) / 2));
    for (std::uint64_t s = 0; s < n; ++s) want.hash ^= mix(Tag::make(p, s));
    if (got.count == want.count && got.sum == want.sum && got.hash == want.hash) continue;
    std::string what = "conservation: producer " + std::to_string(p) + " pushed " + std::to_string(n) +
                       " values, consumers received " + std::to_string(got.count);
    if (got.count + 1 == want.count && want.sum >= got.sum) {
      what += "; lost p" + std::to_string(p) + "#" + std::to_string(want.sum - got.sum);
    } else if (got.count == want.count + 1 && got.sum >= want.sum) {
      what += "; duplicated p" + std::to_string(p) + "#" + std::to_string(got.sum - want.sum);
    } else if (got.count < want.count) {
      what += "; lost at least " + std::to_string(want.count - got.count) + " values";
    } else if (got.count > want.count) {
      what += "; at least " + std::to_string(got.count - want.count) + " duplicated values";
    } else {
      what += "; same count, different values: lost and duplicated values";
    }
    run.violation(what);
  }
}
inline void verify_conservation(Run& run, const std::vector<std::uint64_t>& pushed, const std::vector<ConsumerLog>& logs) {
  std::vector<std::vector<Fingerprint>> received;
  received.reserve(logs.size());
  for (const auto& log : logs) received.push_back(log.fingerprints());
  verify_conservation(run, pushed, received);
}

}  // namespace cubby::stress
