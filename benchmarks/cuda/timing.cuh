#pragma once
// What the CUDA benchmarks share: a throughput measured as the median of timed rounds after a
// warm-up, each round ending when the device is idle, and the line scripts/gpu_check reads.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include <siamese/backend/cuda/cuda.cuh>
#include <siamese/core/random.hpp>
#include <siamese/core/tensor.hpp>

namespace bench {

/// Items per second of `step` (which handles `items` items): 3 warm-up calls, then the median over
/// `rounds` rounds of `reps` calls each, the device synchronised at the end of each round.
template <class Step>
double median_rate(Step&& step, double items, int rounds, int reps) {
  for (int i = 0; i < 3; ++i) step();
  siamese::backend::Cuda::synchronize();
  std::vector<double> rates;
  for (int r = 0; r < rounds; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) step();
    siamese::backend::Cuda::synchronize();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rates.push_back(items * reps / s);
  }
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() / 2];
}

/// A host tensor (n, dims...) of uniform values in [lo, hi), or of integers in [lo, hi) when `ints`.
inline siamese::Tensor random_tensor(std::vector<std::size_t> shape, std::uint64_t seed, float lo, float hi,
                                     bool ints = false) {
  siamese::Tensor t(std::move(shape));
  siamese::detail::Rng r(seed);
  for (auto& v : t) v = ints ? lo + float(r.below(std::uint64_t(hi - lo))) : r.uniform(lo, hi);
  return t;
}

/// "<workload> <rate> <unit>": the line scripts/gpu_check joins with PyTorch's.
inline void report(const char* workload, double rate, const char* unit) {
  std::printf("%s %.1f %s\n", workload, rate, unit);
  std::fflush(stdout);
}

/// Runs a benchmark's body; an exception (no GPU, out of memory) is reported with exit status 1.
template <class Body>
int guarded(const char* workload, Body&& body) {
  try {
    body();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", workload, e.what());
    return 1;
  }
}

/// Rounds from the command line (first argument), for quick runs.
inline int rounds_arg(int argc, char** argv, int fallback) { return argc > 1 ? std::max(1, std::atoi(argv[1])) : fallback; }

}  // namespace bench
