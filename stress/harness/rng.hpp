// stress/harness/rng.hpp: the harness's deterministic random numbers.
//
// Every random choice a workload makes (operation mix, timeouts, scripts of a
// linearizability window) comes from a Rng seeded from the run's --seed, so a
// run is described completely by its command line (thread interleavings
// aside, which no seed controls).
#pragma once

#include <cstdint>
#include <string_view>

namespace cubby::stress {

// splitmix64: seeds derivation (one 64-bit state, good avalanche).
constexpr std::uint64_t splitmix64(std::uint64_t& state) noexcept {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// derive_seed: an independent seed for a named stream of a run (a workload, a
// thread of it).
constexpr std::uint64_t derive_seed(std::uint64_t seed, std::string_view name, std::uint64_t index = 0) noexcept {
  std::uint64_t h = 0xCBF29CE484222325ull;  // FNV-1a over the name
  for (const char c : name) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001B3ull;
  std::uint64_t state = seed ^ h ^ (index * 0xD1B54A32D192ED03ull);
  return splitmix64(state);
}

// Rng: xoshiro256** (Blackman & Vigna), fast and small enough per thread.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) noexcept {
    for (auto& word : s_) word = splitmix64(seed);
  }
  std::uint64_t next() noexcept {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // below: uniform in [0, n) (n > 0; the modulo bias is irrelevant here).
  std::uint64_t below(std::uint64_t n) noexcept { return next() % n; }
  // chance: true with probability percent/100.
  bool chance(unsigned percent) noexcept { return below(100) < percent; }

 private:
  static constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
};

}  // namespace cubby::stress
