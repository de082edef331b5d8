#pragma once
// backend::Cuda's convolutions through cuDNN (built with -DSIAMESE_CUDNN=1, cuda/meson.build sets it
// where cuDNN is found): forward, backward data and backward filter on the library's NHWC activations.
// Per shape (geometry, batch, TF32 on or off) the descriptors and the three algorithms are chosen once
// (cudnnGet..._v7, the fastest deterministic one whose workspace fits) and kept; the workspace is a
// grow-only scratch slot. cuDNN has no HWIO filter layout: kernels are transposed to KRSC (its NHWC
// filter format) into scratch memory, and filter gradients back. A shape cuDNN cannot take as it is
// (padding that is not the same on both sides of an axis, as Keras' Same gives for even windows or
// strides; no deterministic algorithm) keeps the im2col path (conv.cuh), which the emulation runs.
#if defined(SIAMESE_CUDNN) && SIAMESE_CUDNN
#include <cudnn.h>

#include <climits>
#include <cstddef>
#include <map>
#include <string>
#include <tuple>

#include "../kinds.hpp"
#include "runtime.cuh"

namespace siamese::backend::detail_cuda {

inline void check(cudnnStatus_t s, const std::string& call) {
  if (s != CUDNN_STATUS_SUCCESS) throw CudaError("backend::Cuda: " + call + " failed: " + cudnnGetErrorString(s));
}

class CudnnConv {
 public:
  /// The descriptors and algorithms of one shape; usable is false when cuDNN cannot take it.
  struct Plan {
    bool usable = false;
    cudnnTensorDescriptor_t x{}, y{};
    cudnnFilterDescriptor_t w{};
    cudnnConvolutionDescriptor_t conv{};
    cudnnConvolutionFwdAlgo_t fwd{};
    cudnnConvolutionBwdDataAlgo_t bwd_data{};
    cudnnConvolutionBwdFilterAlgo_t bwd_filter{};
    std::size_t workspace = 0;
  };

  /// The plan of (g, n), made at its first use.
  static const Plan& plan(const siamese::detail::ConvGeom& g, std::size_t n) {
    Context& ctx = Context::get();
    const Key key{g.h, g.w, g.c, g.kh, g.kw, g.sh, g.sw, g.pt, g.pl, g.f, n, ctx.tf32()};
    auto& plans = cache();
    auto it = plans.find(key);
    if (it == plans.end()) it = plans.emplace(key, make(g, n, ctx.tf32())).first;
    return it->second;
  }

  /// y = conv(x, w) (no bias), w in HWIO.
  static void forward(const Plan& p, const siamese::detail::ConvGeom& g, const float* x, const float* w, float* y) {
    const float* wk = to_krsc(g, w);
    const float one = 1.0f, zero = 0.0f;
    check(cudnnConvolutionForward(handle(), &one, p.x, x, p.w, wk, p.conv, p.fwd, workspace(p), p.workspace, &zero,
                                  p.y, y),
          "cudnnConvolutionForward");
    after("cudnnConvolutionForward");
  }
  /// dx = conv^T(dy, w), overwritten.
  static void backward_data(const Plan& p, const siamese::detail::ConvGeom& g, const float* dy, const float* w,
                            float* dx) {
    const float* wk = to_krsc(g, w);
    const float one = 1.0f, zero = 0.0f;
    check(cudnnConvolutionBackwardData(handle(), &one, p.w, wk, p.y, dy, p.conv, p.bwd_data, workspace(p), p.workspace,
                                       &zero, p.x, dx),
          "cudnnConvolutionBackwardData");
    after("cudnnConvolutionBackwardData");
  }
  /// dw (HWIO) = the filter gradient, overwritten.
  static void backward_filter(const Plan& p, const siamese::detail::ConvGeom& g, const float* x, const float* dy,
                              float* dw) {
    const std::size_t kkc = g.kh * g.kw * g.c, f = g.f;
    float* dk = static_cast<float*>(DeviceExec::scratch(Slot::FilterGrad, kkc * f * sizeof(float)));
    const float one = 1.0f, zero = 0.0f;
    check(cudnnConvolutionBackwardFilter(handle(), &one, p.x, x, p.y, dy, p.conv, p.bwd_filter, workspace(p),
                                         p.workspace, &zero, p.w, dk),
          "cudnnConvolutionBackwardFilter");
    after("cudnnConvolutionBackwardFilter");
    DeviceExec::launch("conv2d_backward (filter KRSC to HWIO)", kkc * f, [=] __host__ __device__(std::size_t i) {
      const std::size_t q = i / f, o = i % f;  // HWIO: (ky, kx, c) = q, output channel o
      dw[i] = dk[o * kkc + q];
    });
  }

  // the parts below are public only because nvcc's extended lambdas must not be in private functions
  using Key = std::tuple<std::size_t, std::size_t, std::size_t, std::size_t, std::size_t, std::size_t, std::size_t,
                         std::size_t, std::size_t, std::size_t, std::size_t, bool>;
  static std::map<Key, Plan>& cache() {
    static auto* m = new std::map<Key, Plan>();  // never destroyed, as the context
    return *m;
  }
  static cudnnHandle_t handle() {
    static cudnnHandle_t h = [] {
      cudnnHandle_t made{};
      check(cudnnCreate(&made), "cudnnCreate");
      return made;
    }();
    check(cudnnSetStream(h, Context::get().stream()), "cudnnSetStream");
    return h;
  }
  static void after(const char* what) {
    Context& c = Context::get();
    if (c.sync_each_launch()) c.wait(std::string("SIAMESE_CUDA_SYNC=1, after ") + what, false);
  }
  static void* workspace(const Plan& p) { return p.workspace ? DeviceExec::scratch(Slot::Workspace, p.workspace) : nullptr; }
  /// w (HWIO) as KRSC in scratch memory.
  static const float* to_krsc(const siamese::detail::ConvGeom& g, const float* w) {
    const std::size_t kkc = g.kh * g.kw * g.c, f = g.f;
    float* wk = static_cast<float*>(DeviceExec::scratch(Slot::Filter, kkc * f * sizeof(float)));
    DeviceExec::launch("conv2d (filter HWIO to KRSC)", kkc * f, [=] __host__ __device__(std::size_t i) {
      const std::size_t o = i / kkc, q = i % kkc;
      wk[i] = w[q * f + o];
    });
    return wk;
  }

  static Plan make(const siamese::detail::ConvGeom& g, std::size_t n, bool tf32) {
    Plan p;
    for (std::size_t v : {g.h, g.w, g.c, g.kh, g.kw, g.sh, g.sw, g.pt, g.pl, g.f, n})
      if (v > std::size_t(INT_MAX)) return p;
    // cuDNN pads both sides of an axis alike: usable when padding pt (pl) on both sides gives the same output
    if (g.h + 2 * g.pt < g.kh || g.w + 2 * g.pl < g.kw || n == 0 || g.f == 0) return p;
    if ((g.h + 2 * g.pt - g.kh) / g.sh + 1 != g.oh || (g.w + 2 * g.pl - g.kw) / g.sw + 1 != g.ow) return p;
    const int N = int(n), H = int(g.h), W = int(g.w), C = int(g.c), F = int(g.f);
    check(cudnnCreateTensorDescriptor(&p.x), "cudnnCreateTensorDescriptor");
    check(cudnnCreateTensorDescriptor(&p.y), "cudnnCreateTensorDescriptor");
    check(cudnnCreateFilterDescriptor(&p.w), "cudnnCreateFilterDescriptor");
    check(cudnnCreateConvolutionDescriptor(&p.conv), "cudnnCreateConvolutionDescriptor");
    check(cudnnSetTensor4dDescriptor(p.x, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, N, C, H, W), "cudnnSetTensor4dDescriptor");
    check(cudnnSetTensor4dDescriptor(p.y, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, N, F, int(g.oh), int(g.ow)),
          "cudnnSetTensor4dDescriptor");
    check(cudnnSetFilter4dDescriptor(p.w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, F, C, int(g.kh), int(g.kw)),
          "cudnnSetFilter4dDescriptor");
    check(cudnnSetConvolution2dDescriptor(p.conv, int(g.pt), int(g.pl), int(g.sh), int(g.sw), 1, 1,
                                          CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
          "cudnnSetConvolution2dDescriptor");
    // FP32 FMA unless TF32 is on (Cuda::set_tf32), as for cuBLAS
    check(cudnnSetConvolutionMathType(p.conv, tf32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH),
          "cudnnSetConvolutionMathType");
    constexpr std::size_t limit = std::size_t{1} << 30;  // workspace bound per algorithm
    const cudnnHandle_t h = handle();
    bool ok = true;
    {
      cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
      int count = 0;
      check(cudnnGetConvolutionForwardAlgorithm_v7(h, p.x, p.w, p.conv, p.y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &count,
                                                   perf),
            "cudnnGetConvolutionForwardAlgorithm_v7");
      ok = ok && pick(perf, count, limit, p.fwd, p.workspace);
    }
    {
      cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
      int count = 0;
      check(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p.w, p.y, p.conv, p.x,
                                                        CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &count, perf),
            "cudnnGetConvolutionBackwardDataAlgorithm_v7");
      ok = ok && pick(perf, count, limit, p.bwd_data, p.workspace);
    }
    {
      cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
      int count = 0;
      check(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, p.x, p.y, p.conv, p.w,
                                                          CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &count, perf),
            "cudnnGetConvolutionBackwardFilterAlgorithm_v7");
      ok = ok && pick(perf, count, limit, p.bwd_filter, p.workspace);
    }
    p.usable = ok;
    if (ok && p.workspace) DeviceExec::scratch(Slot::Workspace, p.workspace);  // allocated once, here
    return p;
  }
  /// The first (fastest by cuDNN's heuristics) deterministic algorithm that runs within `limit` bytes.
  template <class Perf, class Algo>
  static bool pick(const Perf* perf, int count, std::size_t limit, Algo& algo, std::size_t& workspace) {
    for (int i = 0; i < count; ++i)
      if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].determinism == CUDNN_DETERMINISTIC &&
          perf[i].memory <= limit) {
        algo = perf[i].algo;
        workspace = perf[i].memory > workspace ? perf[i].memory : workspace;
        return true;
      }
    return false;
  }
};

}  // namespace siamese::backend::detail_cuda
#endif
