#pragma once
// 2-D convolution of backend::Cpu (NHWC input, HWIO kernel) as im2col + sgemm over chunks of the
// batch: each chunk's column matrix (a few hundred KiB) stays in cache between its packing and its
// product. The products run multi-threaded inside sgemm; packing and unpacking are split by sample.
#include <algorithm>
#include <cstddef>
#include <cstring>

#include "../kinds.hpp"
#include "elementwise.hpp"
#include "gemm.hpp"
#include "parallel.hpp"

namespace siamese::cpu {

namespace detail {

/// Floats of one chunk's column matrix to aim for: 256 Ki floats = 1 MiB, half of a core's L2.
inline constexpr std::size_t conv_chunk_floats = std::size_t{1} << 18;

/// True when the column matrix of a sample is its input itself (1x1 kernel, stride 1, no padding).
inline bool conv_is_pointwise(const siamese::detail::ConvGeom& g) {
  return g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.pt == 0 && g.pl == 0 && g.oh == g.h && g.ow == g.w;
}

/// Samples per chunk: enough rows for an efficient product, few enough to stay in cache.
inline std::size_t conv_chunk(const siamese::detail::ConvGeom& g, std::size_t n) {
  const std::size_t per = std::max<std::size_t>(1, g.oh * g.ow * g.kh * g.kw * g.c);
  return std::clamp<std::size_t>(conv_chunk_floats / per, 1, std::max<std::size_t>(n, 1));
}

inline void copy_floats(float* dst, const float* src, std::size_t len) {
  std::size_t i = 0;
  for (; i + vw <= len; i += vw) Vec::load_unaligned(src + i).store_unaligned(dst + i);
  for (; i < len; ++i) dst[i] = src[i];
}
inline void add_floats(float* dst, const float* src, std::size_t len) {
  std::size_t i = 0;
  for (; i + vw <= len; i += vw) (Vec::load_unaligned(dst + i) + Vec::load_unaligned(src + i)).store_unaligned(dst + i);
  for (; i < len; ++i) dst[i] += src[i];
}

/// Visits the kernel rows of output pixel (oy, ox): f(ky, kx0, kx1, iy, ix0) for the in-map run of
/// kernel columns [kx0, kx1) starting at input column ix0; rows above or below the map get kx0 == kx1.
template <class F>
void conv_runs(const siamese::detail::ConvGeom& g, std::size_t oy, std::size_t ox, F&& f) {
  const long x0 = long(ox * g.sw) - long(g.pl);
  const long lo = std::max<long>(0, -x0), hi = std::max(lo, std::min<long>(long(g.kw), long(g.w) - x0));
  const std::size_t kx0 = std::size_t(lo), kx1 = std::size_t(hi);
  for (std::size_t ky = 0; ky < g.kh; ++ky) {
    const long iy = long(oy * g.sh + ky) - long(g.pt);
    if (iy < 0 || iy >= long(g.h)) f(ky, std::size_t{0}, std::size_t{0}, std::size_t{0}, std::size_t{0});
    else f(ky, kx0, kx1, std::size_t(iy), std::size_t(x0 + long(kx0)));
  }
}

/// col[(s*oh + oy)*ow + ox, (ky*kw + kx)*c + ci] = x[s, oy*sh + ky - pt, ox*sw + kx - pl, ci] (0 outside),
/// for the `ns` samples starting at x.
inline void im2col(const siamese::detail::ConvGeom& g, const float* x, float* col, std::size_t ns) {
  const std::size_t kk = g.kh * g.kw * g.c, rows = g.oh * g.ow;
  for_ranges(ns, 1, ns * rows * kk, [&](std::size_t s0, std::size_t s1) {
    for (std::size_t s = s0; s < s1; ++s) {
      const float* xs = x + s * g.h * g.w * g.c;
      for (std::size_t oy = 0; oy < g.oh; ++oy)
        for (std::size_t ox = 0; ox < g.ow; ++ox) {
          float* dst = col + ((s * g.oh + oy) * g.ow + ox) * kk;
          conv_runs(g, oy, ox, [&](std::size_t ky, std::size_t kx0, std::size_t kx1, std::size_t iy, std::size_t ix0) {
            float* d = dst + ky * g.kw * g.c;
            std::fill(d, d + kx0 * g.c, 0.0f);
            copy_floats(d + kx0 * g.c, xs + (iy * g.w + ix0) * g.c, (kx1 - kx0) * g.c);
            std::fill(d + kx1 * g.c, d + g.kw * g.c, 0.0f);
          });
        }
    }
  });
}

/// The adjoint of im2col: dx[s, iy, ix, ci] += every column entry that im2col copied from it.
inline void col2im(const siamese::detail::ConvGeom& g, const float* col, float* dx, std::size_t ns) {
  const std::size_t kk = g.kh * g.kw * g.c, rows = g.oh * g.ow;
  for_ranges(ns, 1, ns * rows * kk, [&](std::size_t s0, std::size_t s1) {
    for (std::size_t s = s0; s < s1; ++s) {
      float* ds = dx + s * g.h * g.w * g.c;
      std::fill(ds, ds + g.h * g.w * g.c, 0.0f);
      for (std::size_t oy = 0; oy < g.oh; ++oy)
        for (std::size_t ox = 0; ox < g.ow; ++ox) {
          const float* src = col + ((s * g.oh + oy) * g.ow + ox) * kk;
          conv_runs(g, oy, ox, [&](std::size_t ky, std::size_t kx0, std::size_t kx1, std::size_t iy, std::size_t ix0) {
            add_floats(ds + (iy * g.w + ix0) * g.c, src + (ky * g.kw + kx0) * g.c, (kx1 - kx0) * g.c);
          });
        }
    }
  });
}

}  // namespace detail

/// y = conv(x, w) + bias over n NHWC samples (bias may be null); w is HWIO (kh, kw, c, f).
inline void conv2d_forward(const siamese::detail::ConvGeom& g, const float* x, const float* w, const float* bias,
                           float* y, std::size_t n) {
  const std::size_t kk = g.kh * g.kw * g.c, rows = g.oh * g.ow, in = g.h * g.w * g.c;
  const GemmEpilogue ep{bias, nullptr, GemmAct::identity};
  if (detail::conv_is_pointwise(g)) {
    sgemm_bias_act(false, false, n * rows, g.f, kk, 1.0f, x, kk, w, g.f, 0.0f, y, g.f, ep);
    return;
  }
  const std::size_t chunk = detail::conv_chunk(g, n);
  static thread_local detail::Workspace ws;
  float* col = ws.reserve(chunk * rows * kk);
  for (std::size_t s0 = 0; s0 < n; s0 += chunk) {
    const std::size_t ns = std::min(chunk, n - s0);
    detail::im2col(g, x + s0 * in, col, ns);
    sgemm_bias_act(false, false, ns * rows, g.f, kk, 1.0f, col, kk, w, g.f, 0.0f, y + s0 * rows * g.f, g.f, ep);
  }
}

/// Gradients of conv2d_forward, each overwritten when its pointer is not null: dx = conv^T(dy),
/// dw = im2col(x)^T dy, db = column sums of dy.
inline void conv2d_backward(const siamese::detail::ConvGeom& g, const float* x, const float* w, const float* dy,
                            float* dx, float* dw, float* db, std::size_t n) {
  const std::size_t kk = g.kh * g.kw * g.c, rows = g.oh * g.ow, in = g.h * g.w * g.c;
  if (db) bias_grad(dy, db, n * rows, g.f);
  if (!dx && !dw) return;
  if (n == 0) {
    if (dw) fill(dw, 0.0f, kk * g.f);
    return;
  }
  if (detail::conv_is_pointwise(g)) {
    if (dw) sgemm(true, false, kk, g.f, n * rows, 1.0f, x, kk, dy, g.f, 0.0f, dw, g.f);
    if (dx) sgemm(false, true, n * rows, kk, g.f, 1.0f, dy, g.f, w, g.f, 0.0f, dx, kk);
    return;
  }
  const std::size_t chunk = detail::conv_chunk(g, n);
  static thread_local detail::Workspace ws;
  float* col = ws.reserve(chunk * rows * kk);
  for (std::size_t s0 = 0; s0 < n; s0 += chunk) {
    const std::size_t ns = std::min(chunk, n - s0);
    const float* dys = dy + s0 * rows * g.f;
    if (dw) {
      detail::im2col(g, x + s0 * in, col, ns);
      sgemm(true, false, kk, g.f, ns * rows, 1.0f, col, kk, dys, g.f, s0 == 0 ? 0.0f : 1.0f, dw, g.f);
    }
    if (dx) {
      sgemm(false, true, ns * rows, kk, g.f, 1.0f, dys, g.f, w, g.f, 0.0f, col, kk);
      detail::col2im(g, col, dx + s0 * in, ns);
    }
  }
}

}  // namespace siamese::cpu
