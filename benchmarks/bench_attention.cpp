// MultiHeadSelfAttention on backend::Cpu at all-MiniLM-L6-v2's size (Dim 384, 12 heads), n = 64
// sequences of T = 128: the attention core (scores, masked softmax, context) against the products it
// is made of, and against the layer's projections (the four n T x Dim x Dim GEMMs).
// usage: bench_attention [threads (2)] [rounds (7)]
#include <siamese/backend/backend.hpp>
#include <siamese/layers/attention.hpp>

#include <tbb/global_control.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "bench_common.hpp"

using namespace siamese;
using Cpu = backend::Cpu;

namespace {
constexpr std::size_t n = 64, T = 128, D = 384, H = 12, dh = D / H;
using L = MultiHeadSelfAttention<D, H>::bind<Shape<T, D>, LayerIndex<0>>;

std::vector<float> values(std::size_t count, std::uint64_t seed, float scale = 1.0f) {
  detail::Rng r(seed);
  std::vector<float> v(count);
  for (auto& x : v) x = r.uniform(-scale, scale);
  return v;
}
/// Token ids: `lengths(b)` valid positions then padding.
template <class F>
std::vector<float> padded(F lengths) {
  std::vector<float> tok(n * T, 0.0f);
  for (std::size_t b = 0; b < n; ++b)
    for (std::size_t t = 0; t < lengths(b); ++t) tok[b * T + t] = 1.0f;
  return tok;
}
double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}
/// Milliseconds per call: the median of `rounds` rounds. On a machine shared with other work the wall
/// time says little, so the processor time that the process spent per call is printed beside it.
struct Time {
  double wall, cpu;
};
Time ms(const std::function<void()>& f, int rounds, int reps = 3) {
  const double c0 = cpu_seconds();
  const double wall = 1e3 / bench::median_rate(f, 1, rounds, reps);
  return {wall, 1e3 * (cpu_seconds() - c0) / double(3 + rounds * reps)};
}
void line(const char* what, Time t, const char* note = "") {
  std::printf("  %-40s %8.2f ms wall %8.2f ms processor%s\n", what, t.wall, t.cpu, note);
}
}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2, rounds = argc > 2 ? std::atoi(argv[2]) : 7;
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, std::size_t(threads));
  const auto x = values(n * T * D, 1), w = values(detail::param_count_of<L>(), 2, 0.05f), dy = values(n * T * D, 3);
  std::vector<float> y(n * T * D), dx(n * T * D), dw(w.size()), s(L::scratch(n));
  float *q = s.data(), *k = q + n * T * D, *v = k + n * T * D, *ctx = v + n * T * D, *probs = ctx + n * T * D;
  const float scale = 1.0f / std::sqrt(float(dh));
  auto core = [&](const float* tok) {
    Cpu::attention_forward(backend::AttentionArgs{q, k, v, D, ctx, D, probs, tok, tok ? T : 0, n, T, H, dh, scale});
  };
  L::forward<Cpu>(Forward{x.data(), y.data(), n, w.data(), nullptr, s.data(), false, 0});  // fills Q, K, V

  const auto full = padded([](std::size_t) { return T; });
  const auto bert = padded([](std::size_t b) { return 16 + (b * 37) % 113; });  // 16..128, mean 72
  const auto half = padded([](std::size_t) { return T / 2; });
  auto holes = full;
  for (std::size_t b = 0; b < n; ++b) holes[b * T + 1] = 0.0f;  // not a prefix: the gather path

  std::printf("MultiHeadSelfAttention<%zu,%zu>, n=%zu, T=%zu, %d threads, %s (per call; wall: median of %d rounds; "
              "processor: all threads, mean)\n", D, H, n, T, threads, xsimd::default_arch::name(), rounds);
  const Time gemm1 =
      ms([&] { Cpu::gemm({.m = n * T, .n = D, .k = D, .a = x.data(), .lda = D, .b = w.data(), .ldb = D, .c = q, .ldc = D}); },
         rounds);
  line("one projection GEMM (8192 x 384 x 384)", gemm1);
  line("the layer's four projection GEMMs", {4 * gemm1.wall, 4 * gemm1.cpu});
  // The products of the core alone, as the core runs them (one serial product per (sample, head)):
  // Q_h K_h^T and P V_h, without softmax.
  const Time products = ms(
      [&] {
        auto& work = cpu::detail::attention_work();
        const cpu::detail::AttentionSizes sizes(T, dh);
        work.prepare([&](cpu::detail::AttentionWork& w) { sizes.reserve(w, T); });
        cpu::detail::for_ranges(n * H, 1, n * H * T * T, [&](std::size_t i0, std::size_t i1) {
          auto& wk = work.local();
          for (std::size_t i = i0; i < i1; ++i) {
            const std::size_t b = i / H, h = i % H, o = b * T * D + h * dh;
            float* P = probs + i * T * T;
            cpu::detail::serial_gemm(false, true, T, T, dh, scale, q + o, D, k + o, D, P, T, wk.pack);
            cpu::detail::serial_gemm(false, false, T, dh, T, 1.0f, P, T, v + o, D, ctx + o, D, wk.pack);
          }
        });
      },
      rounds);
  line("core's two products per head alone", products);
  line("attention core, no token ids", ms([&] { core(nullptr); }, rounds));
  line("attention core, no padding", ms([&] { core(full.data()); }, rounds));
  line("attention core, lengths 16..128 (72)", ms([&] { core(bert.data()); }, rounds));
  line("attention core, all of length 64", ms([&] { core(half.data()); }, rounds));
  line("attention core, one hole per sample", ms([&] { core(holes.data()); }, rounds), " (gather path)");
  line("layer forward, no padding", ms([&] { L::forward<Cpu>(Forward{x.data(), y.data(), n, w.data(), nullptr,
                                                                    s.data(), false, 0, full.data(), T}); },
                                       rounds));
  line("layer forward, lengths 16..128", ms([&] { L::forward<Cpu>(Forward{x.data(), y.data(), n, w.data(), nullptr,
                                                                         s.data(), false, 0, bert.data(), T}); },
                                            rounds));
  line("layer forward + backward, no padding",
       ms(
           [&] {
             L::forward<Cpu>(Forward{x.data(), y.data(), n, w.data(), nullptr, s.data(), true, 0, full.data(), T});
             L::backward<Cpu>(Backward{x.data(), y.data(), dy.data(), dx.data(), n, w.data(), dw.data(), nullptr,
                                       s.data(), full.data(), T});
           },
           rounds, 1));
  return 0;
}
