#pragma once
// Deterministic random numbers that do not depend on the standard library's distributions, so that a
// seed gives the same model on every platform and every backend.
#include <cmath>
#include <cstdint>

namespace siamese::detail {

constexpr std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

/// Counter-based: the i-th number of stream `seed` is a pure function, as dropout masks need.
constexpr std::uint64_t hash2(std::uint64_t seed, std::uint64_t i) { return splitmix64(seed ^ splitmix64(i)); }

/// Uniform in [0, 1) with 24 random bits.
constexpr float to_unit(std::uint64_t bits) { return static_cast<float>(bits >> 40) * 0x1.0p-24f; }

/// A small sequential generator for initialisation and sampling.
class Rng {
 public:
  explicit constexpr Rng(std::uint64_t seed) : state_(seed) {}
  constexpr std::uint64_t next() { return splitmix64(state_++); }
  constexpr float uniform() { return to_unit(next()); }
  float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }
  /// Standard normal through Box-Muller.
  float normal() {
    float u1 = uniform(), u2 = uniform();
    if (u1 < 1e-12f) u1 = 1e-12f;
    return std::sqrt(-2.0f * std::log(u1)) * std::cos(6.28318530718f * u2);
  }
  /// Uniform integer in [0, n).
  std::uint64_t below(std::uint64_t n) { return static_cast<std::uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64); }
  std::uint64_t state() const { return state_; }
  void set_state(std::uint64_t s) { state_ = s; }

 private:
  std::uint64_t state_;
};

}  // namespace siamese::detail

namespace siamese {
/// The library's deterministic generator, for user code that samples batches reproducibly.
using Rng = detail::Rng;
/// A seed derived from (seed, i) as a pure function: batch generators use it to make batch (epoch, index)
/// reproducible and a resumed run identical to an uninterrupted one.
constexpr std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t i) { return detail::hash2(seed, i); }
}  // namespace siamese
