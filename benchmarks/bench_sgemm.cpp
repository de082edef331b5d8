// siamese::cpu::sgemm against oneDNN's dnnl_sgemm on the im2col products of
// VGG16's convolutions at 224x224 (M = output pixels, N = output channels,
// K = 9 x input channels), and on the 1x1 convolutions that take most of ResNet-50's
// time (batches of 8 at 224x224: M = 8 x output pixels, K = input channels), both on
// all cores of this process.
// Prints one line per shape:
//   sgemm_vgg_conv1_1: siamese <x> GFLOP/s, onednn <y> GFLOP/s, speedup <x/y>x
#include <siamese/backend/cpu/gemm.hpp>

#if __has_include(<oneapi/dnnl/dnnl.h>)
#include <oneapi/dnnl/dnnl.h>
#else
#include <dnnl.h>
#endif

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <random>
#include <thread>

namespace {

struct Shape {
  const char* name;
  std::size_t m, n, k;
};

// The VGG16 layer whose im2col product has this shape (conv1_2 ... conv5_3 repeat them).
constexpr Shape shapes[] = {
    {"sgemm_vgg_conv1_1", 50176, 64, 27},   {"sgemm_vgg_conv2_2", 12544, 128, 576},
    {"sgemm_vgg_conv3_2", 3136, 256, 1152}, {"sgemm_vgg_conv4_2", 784, 512, 2304},
    {"sgemm_vgg_conv5_2", 196, 512, 4608},
    // ResNet-50's bottleneck 1x1 convolutions: reduce (4w -> w) and expand (w -> 4w) of stages 1, 3 and 4.
    {"sgemm_resnet50_s1_reduce", 25088, 64, 256}, {"sgemm_resnet50_s1_expand", 25088, 256, 64},
    {"sgemm_resnet50_s3_reduce", 1568, 256, 1024}, {"sgemm_resnet50_s4_expand", 392, 2048, 512},
};

struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<float[], FreeDeleter>;

Buffer make_buffer(std::size_t count) {
  const std::size_t bytes = (count * sizeof(float) + 63) / 64 * 64;
  return Buffer(static_cast<float*>(std::aligned_alloc(64, bytes)));
}

// Best wall time of `reps` calls.
double best_seconds(const std::function<void()>& call, int reps) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    call();
    const auto t1 = std::chrono::steady_clock::now();
    best = std::min(best, std::chrono::duration<double>(t1 - t0).count());
  }
  return best;
}

// Lets the other library's spinning worker threads go to sleep before timing.
void settle() { std::this_thread::sleep_for(std::chrono::milliseconds(50)); }

}  // namespace

int main() {
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  int status = 0;
  for (const Shape& s : shapes) {
    Buffer a = make_buffer(s.m * s.k), b = make_buffer(s.k * s.n);
    Buffer c_ours = make_buffer(s.m * s.n), c_dnnl = make_buffer(s.m * s.n);
    for (std::size_t i = 0; i < s.m * s.k; ++i) a[i] = u(rng);
    for (std::size_t i = 0; i < s.k * s.n; ++i) b[i] = u(rng);

    auto ours = [&] {
      siamese::cpu::sgemm(false, false, s.m, s.n, s.k, 1.f, a.get(), s.k, b.get(), s.n, 0.f,
                          c_ours.get(), s.n);
    };
    auto theirs = [&] {
      dnnl_sgemm('N', 'N', dnnl_dim_t(s.m), dnnl_dim_t(s.n), dnnl_dim_t(s.k), 1.f, a.get(),
                 dnnl_dim_t(s.k), b.get(), dnnl_dim_t(s.n), 0.f, c_dnnl.get(),
                 dnnl_dim_t(s.n));
    };
    // Rounds alternate the two libraries, so that both meet the same machine
    // load; each round makes enough calls for about 0.1 s at 400 GFLOP/s.
    const double flops = 2.0 * double(s.m) * double(s.n) * double(s.k);
    const int reps = std::max(5, int(0.1 * 400e9 / flops));
    double t_ours = 1e30, t_dnnl = 1e30;
    for (int round = 0; round < 5; ++round) {
      settle();
      ours();  // warm-up: caches, thread pool, workspace
      t_ours = std::min(t_ours, best_seconds(ours, reps));
      settle();
      theirs();
      t_dnnl = std::min(t_dnnl, best_seconds(theirs, reps));
    }

    double worst = 0;
    for (std::size_t i = 0; i < s.m * s.n; ++i)
      worst = std::max(worst, double(std::abs(c_ours[i] - c_dnnl[i])) /
                                  (1.0 + std::abs(double(c_dnnl[i]))));
    if (!(worst < 1e-4)) {
      std::fprintf(stderr, "%s: results differ from oneDNN by %g\n", s.name, worst);
      status = 1;
    }
    const double g_ours = flops / t_ours / 1e9, g_dnnl = flops / t_dnnl / 1e9;
    std::printf("%s: siamese %.1f GFLOP/s, onednn %.1f GFLOP/s, speedup %.2fx\n", s.name, g_ours,
                g_dnnl, g_ours / g_dnnl);
    std::fflush(stdout);
  }
  return status;
}
