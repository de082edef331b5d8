// The machine's single-precision FMA peak, measured once per scripts/bench run: the roofline that every
// workload line's "% of peak" refers to. Prints
//   fma_peak: <G> GFLOP/s on <threads> threads (<SIMD width> floats per register, <ISA>)
// and, with --value, only the number (scripts/bench exports it as SIAMESE_BENCH_PEAK_GFLOPS).
#include <cstdlib>
#include <cstring>

#include "bench_common.hpp"

int main(int argc, char** argv) {
  const bool value = argc > 1 && std::strcmp(argv[1], "--value") == 0;
  const int threads = argc > 1 + int(value) ? std::max(1, std::atoi(argv[1 + int(value)])) : 2;
  unsetenv("SIAMESE_BENCH_PEAK_GFLOPS");
  const double peak = bench::fma_peak_gflops(threads);
  if (value)
    std::printf("%.1f\n", peak);
  else
    std::printf("fma_peak: %.1f GFLOP/s on %d threads (%zu floats per register, %s)\n", peak, threads,
                xsimd::batch<float>::size, xsimd::default_arch::name());
}
