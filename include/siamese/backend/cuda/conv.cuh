#pragma once
// backend::Cuda's convolution (NHWC input, HWIO kernel): through cuDNN where the build has it and the
// shape suits it (cudnn_conv.cuh), else as im2col + cuBLAS GEMM, in chunks of samples that bound the
// column buffer; the input gradient is gathered per input element (col2im without atomics, so results
// do not depend on thread timing). The emulation runs the im2col path, the reference of the cuDNN one.
#include <cstddef>

#include "../args/conv.hpp"
#include "../kinds.hpp"
#include "common.cuh"
#include "cudnn_conv.cuh"
#include "dense.cuh"

namespace siamese::backend::detail_cuda {

template <class X>
struct ConvOps {
  /// Floats of the column buffer (256 MB by default; tests lower it to exercise the chunks). A chunk
  /// holds at least one sample.
  static inline std::size_t column_budget = std::size_t{64} << 20;
  /// Convolutions through cuDNN when it is built in (cudnn_available) and the shape suits it; tests
  /// switch it off to compare with the im2col path. cudnn_calls counts the cuDNN calls made.
  static inline bool use_cudnn = true;
  static inline std::size_t cudnn_calls = 0;
#if defined(SIAMESE_CUDNN) && SIAMESE_CUDNN
  static constexpr bool cudnn_available = X::on_device;
#else
  static constexpr bool cudnn_available = false;
#endif

  static void conv2d_forward(const ConvArgs& a) {
    products(a.geom, a.x, a.w, a.y, a.n);
    if (a.bias)
      DenseOps<X>::add_bias({.y = a.y, .bias = a.bias, .rows = a.n * a.geom.oh * a.geom.ow, .cols = a.geom.f});
  }
  /// conv2d_forward, then act(y): bias and activation in one pass over the output.
  static void conv2d_forward_act(const ConvActArgs& a) {
    const siamese::detail::ConvGeom g = a.geom;
    const Act act = a.act;
    const float* bias = a.bias;
    float* y = a.y;
    const std::size_t n = a.n;
    products(g, a.x, a.w, y, n);
    const std::size_t f = g.f;
    X::launch("conv2d_forward_act", n * g.oh * g.ow * f, [=] __host__ __device__(std::size_t i) {
      y[i] = act1(act, bias ? y[i] + bias[i % f] : y[i]);
    });
  }

  /// dx (if not null) = conv^T(dy); dw, db (if not null): parameter gradients, overwritten.
  static void conv2d_backward(const ConvGradArgs& a) {
    const siamese::detail::ConvGeom& g = a.geom;
    const float *x = a.x, *w = a.w, *dy = a.dy;
    float *dx = a.dx, *dw = a.dw, *db = a.db;
    const std::size_t n = a.n;
    const std::size_t kkc = g.kh * g.kw * g.c, pix = g.oh * g.ow;
    if (db) DenseOps<X>::bias_grad({.dy = dy, .db = db, .rows = n * pix, .cols = g.f});
    if (n == 0 || g.f == 0) {
      if (dw) X::zero(dw, kkc * g.f * sizeof(float));
      if (dx && n) X::zero(dx, n * g.h * g.w * g.c * sizeof(float));
      return;
    }
#if defined(SIAMESE_CUDNN) && SIAMESE_CUDNN
    if constexpr (cudnn_available) {
      if (use_cudnn && !pointwise(g))
        if (const auto& p = CudnnConv::plan(g, n); p.usable) {
          if (dw) CudnnConv::backward_filter(p, g, x, dy, dw);
          if (dx) CudnnConv::backward_data(p, g, dy, w, dx);
          cudnn_calls += (dw ? 1 : 0) + (dx ? 1 : 0);
          return;
        }
    }
#endif
    if (pointwise(g)) {
      if (dw)
        DenseOps<X>::gemm({.trans_a = true,
                           .m = g.c,
                           .n = g.f,
                           .k = n * pix,
                           .a = x,
                           .lda = g.c,
                           .b = dy,
                           .ldb = g.f,
                           .c = dw,
                           .ldc = g.f});
      if (dx)
        DenseOps<X>::gemm({.trans_b = true,
                           .m = n * pix,
                           .n = g.c,
                           .k = g.f,
                           .a = dy,
                           .lda = g.f,
                           .b = w,
                           .ldb = g.f,
                           .c = dx,
                           .ldc = g.c});
      return;
    }
    const std::size_t chunk = samples_per_chunk(g, n);
    float* col = columns(g, chunk);
    for (std::size_t b0 = 0; b0 < n; b0 += chunk) {
      const std::size_t nb = b0 + chunk <= n ? chunk : n - b0;
      const float* dyc = dy + b0 * pix * g.f;
      if (dw) {
        im2col(g, x + b0 * g.h * g.w * g.c, col, nb);
        DenseOps<X>::gemm({.trans_a = true,
                           .m = kkc,
                           .n = g.f,
                           .k = nb * pix,
                           .a = col,
                           .lda = kkc,
                           .b = dyc,
                           .ldb = g.f,
                           .beta = b0 == 0 ? 0.0f : 1.0f,
                           .c = dw,
                           .ldc = g.f});
      }
      if (dx) {  // the column buffer is free again: the dw product before it is queued first
        DenseOps<X>::gemm({.trans_b = true,
                           .m = nb * pix,
                           .n = kkc,
                           .k = g.f,
                           .a = dyc,
                           .lda = g.f,
                           .b = w,
                           .ldb = g.f,
                           .c = col,
                           .ldc = kkc});
        col2im(g, col, dx + b0 * g.h * g.w * g.c, nb);
      }
    }
  }

  /// y = the convolution of x with w, without bias: one GEMM over the pixels per chunk of samples.
  static void products(const siamese::detail::ConvGeom& g, const float* x, const float* w, float* y, std::size_t n) {
    const std::size_t kkc = g.kh * g.kw * g.c, pix = g.oh * g.ow;
    if (n == 0 || g.f == 0) return;
#if defined(SIAMESE_CUDNN) && SIAMESE_CUDNN
    if constexpr (cudnn_available) {
      if (use_cudnn && !pointwise(g))
        if (const auto& p = CudnnConv::plan(g, n); p.usable) {
          CudnnConv::forward(p, g, x, w, y);
          ++cudnn_calls;
          return;
        }
    }
#endif
    if (pointwise(g)) {
      DenseOps<X>::gemm({.m = n * pix, .n = g.f, .k = g.c, .a = x, .lda = g.c, .b = w, .ldb = g.f, .c = y, .ldc = g.f});
      return;
    }
    const std::size_t chunk = samples_per_chunk(g, n);
    float* col = columns(g, chunk);
    for (std::size_t b0 = 0; b0 < n; b0 += chunk) {
      const std::size_t nb = b0 + chunk <= n ? chunk : n - b0;
      im2col(g, x + b0 * g.h * g.w * g.c, col, nb);
      DenseOps<X>::gemm({.m = nb * pix,
                         .n = g.f,
                         .k = kkc,
                         .a = col,
                         .lda = kkc,
                         .b = w,
                         .ldb = g.f,
                         .c = y + b0 * pix * g.f,
                         .ldc = g.f});
    }
  }
  /// Windows of x as rows: col[(b, oy, ox), (ky, kx, c)], zero where the window leaves the map.
  static void im2col(const siamese::detail::ConvGeom& g, const float* x, float* col, std::size_t nb) {
    const std::size_t kkc = g.kh * g.kw * g.c;
    X::launch("im2col", nb * g.oh * g.ow * kkc, [=] __host__ __device__(std::size_t i) {
      const std::size_t r = i / kkc, q = i % kkc;
      const std::size_t ox = r % g.ow, oy = (r / g.ow) % g.oh, b = r / (g.ow * g.oh);
      const std::size_t c = q % g.c, kx = (q / g.c) % g.kw, ky = q / (g.c * g.kw);
      const long iy = long(oy * g.sh + ky) - long(g.pt), ix = long(ox * g.sw + kx) - long(g.pl);
      const bool inside = iy >= 0 && iy < long(g.h) && ix >= 0 && ix < long(g.w);
      col[i] = inside ? x[((b * g.h + std::size_t(iy)) * g.w + std::size_t(ix)) * g.c + c] : 0.0f;
    });
  }
  /// dx[b, iy, ix, c] = the sum of the column entries that im2col copied from that element.
  static void col2im(const siamese::detail::ConvGeom& g, const float* col, float* dx, std::size_t nb) {
    const std::size_t kkc = g.kh * g.kw * g.c;
    X::launch("col2im", nb * g.h * g.w * g.c, [=] __host__ __device__(std::size_t i) {
      const std::size_t c = i % g.c, ix = (i / g.c) % g.w, iy = (i / (g.c * g.w)) % g.h, b = i / (g.c * g.w * g.h);
      float s = 0.0f;
      for (std::size_t ky = 0; ky < g.kh; ++ky) {
        const long ty = long(iy + g.pt) - long(ky);  // = oy * sh
        if (ty < 0 || ty % long(g.sh) != 0) continue;
        const std::size_t oy = std::size_t(ty) / g.sh;
        if (oy >= g.oh) continue;
        for (std::size_t kx = 0; kx < g.kw; ++kx) {
          const long tx = long(ix + g.pl) - long(kx);
          if (tx < 0 || tx % long(g.sw) != 0) continue;
          const std::size_t ox = std::size_t(tx) / g.sw;
          if (ox >= g.ow) continue;
          s += col[((b * g.oh + oy) * g.ow + ox) * kkc + (ky * g.kw + kx) * g.c + c];
        }
      }
      dx[i] = s;
    });
  }

 private:
  /// A 1x1, stride-1, unpadded convolution is a plain matrix product over the pixels.
  static bool pointwise(const siamese::detail::ConvGeom& g) {
    return g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.pt == 0 && g.pl == 0 && g.oh == g.h && g.ow == g.w;
  }
  static std::size_t samples_per_chunk(const siamese::detail::ConvGeom& g, std::size_t n) {
    const std::size_t per = g.oh * g.ow * g.kh * g.kw * g.c;
    std::size_t s = per ? column_budget / per : n;
    s = s < 1 ? 1 : s;
    return s < n ? s : n;
  }
  static float* columns(const siamese::detail::ConvGeom& g, std::size_t chunk) {
    return static_cast<float*>(X::scratch(Slot::Columns, chunk * g.oh * g.ow * g.kh * g.kw * g.c * sizeof(float)));
  }
};

}  // namespace siamese::backend::detail_cuda
