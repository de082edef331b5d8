#pragma once
// 2-D convolution of backend::Cpu (NHWC input, HWIO kernel): small kernels over few channels run
// direct (conv_direct.hpp), wide 3x3 stride-1 forward passes by Winograd F(2x2, 3x3)
// (conv_winograd.hpp), the rest as im2col + sgemm over chunks of the batch: each chunk's column matrix (a few hundred KiB) stays in cache between its packing and its
// product. The products run multi-threaded inside sgemm; packing and unpacking are split by sample.
#include <algorithm>
#include <cstddef>
#include <cstring>

#include "../../core/shape.hpp"
#include "../args/conv.hpp"
#include "../kinds.hpp"
#include "conv_direct.hpp"
#include "conv_winograd.hpp"
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
  for (const std::size_t body = i + (len - i) / vw * vw; i < body; i += vw)
    Vec::load_unaligned(src + i).store_unaligned(dst + i);
  for (; i < len; ++i) dst[i] = src[i];
}
inline void zero_floats(float* dst, std::size_t len) {
  std::size_t i = 0;
  for (const std::size_t body = i + (len - i) / vw * vw; i < body; i += vw) Vec(0.0f).store_unaligned(dst + i);
  for (; i < len; ++i) dst[i] = 0.0f;
}
inline void add_floats(float* dst, const float* src, std::size_t len) {
  std::size_t i = 0;
  for (const std::size_t body = i + (len - i) / vw * vw; i < body; i += vw)
    (Vec::load_unaligned(dst + i) + Vec::load_unaligned(src + i)).store_unaligned(dst + i);
  for (; i < len; ++i) dst[i] += src[i];
}

/// Walks the column matrix of one sample: for each output pixel (oy, ox) and kernel row ky, calls
/// run(col_offset, x_offset, kx0, kx1) for the in-map kernel columns [kx0, kx1), whose inputs lie
/// contiguously at x_offset (channels-last), or outside(col_offset) for a kernel row above or below
/// the map. col_offset points at the kernel row's first column entry. Interior pixels, the common
/// case, take the branch-free path with kx0 = 0 and kx1 = kw.
template <class Run, class Outside>
void conv_walk(const siamese::detail::ConvGeom& g, Run&& run, Outside&& outside) {
  const std::size_t kk = g.kh * g.kw * g.c, krow = g.kw * g.c;
  // Output columns whose whole kernel row lies inside the map: [ox_lo, ox_hi).
  const std::size_t ox_lo = std::min(g.ow, (g.pl + g.sw - 1) / g.sw);
  const std::size_t ox_hi = g.w + g.pl >= g.kw ? std::clamp((g.w + g.pl - g.kw) / g.sw + 1, ox_lo, g.ow) : ox_lo;
  for (std::size_t oy = 0; oy < g.oh; ++oy)
    for (std::size_t ky = 0; ky < g.kh; ++ky) {
      const long iy = long(oy * g.sh + ky) - long(g.pt);
      const std::size_t c0 = oy * g.ow * kk + ky * krow;
      if (iy < 0 || iy >= long(g.h)) {
        for (std::size_t ox = 0; ox < g.ow; ++ox) outside(c0 + ox * kk);
        continue;
      }
      const std::size_t xrow = std::size_t(iy) * g.w;
      auto edge = [&](std::size_t ox) {
        const long x0 = long(ox * g.sw) - long(g.pl);
        const long lo = std::max<long>(0, -x0), hi = std::max(lo, std::min<long>(long(g.kw), long(g.w) - x0));
        run(c0 + ox * kk, (xrow + std::size_t(x0 + lo)) * g.c, std::size_t(lo), std::size_t(hi));
      };
      for (std::size_t ox = 0; ox < ox_lo; ++ox) edge(ox);
      for (std::size_t ox = ox_lo; ox < ox_hi; ++ox) run(c0 + ox * kk, (xrow + ox * g.sw - g.pl) * g.c, 0, g.kw);
      for (std::size_t ox = ox_hi; ox < g.ow; ++ox) edge(ox);
    }
}

/// col[(s*oh + oy)*ow + ox, (ky*kw + kx)*c + ci] = x[s, oy*sh + ky - pt, ox*sw + kx - pl, ci] (0 outside),
/// for the `ns` samples starting at x.
inline void im2col(const siamese::detail::ConvGeom& g, const float* x, float* col, std::size_t ns) {
  const std::size_t kk = g.kh * g.kw * g.c, rows = g.oh * g.ow, krow = g.kw * g.c, c = g.c;
  for_ranges(ns, 1, ns * rows * kk, [&](std::size_t s0, std::size_t s1) {
    for (std::size_t s = s0; s < s1; ++s) {
      const float* xs = x + s * g.h * g.w * g.c;
      float* cs = col + s * rows * kk;
      conv_walk(
          g,
          [&](std::size_t co, std::size_t xo, std::size_t kx0, std::size_t kx1) {
            float* d = cs + co;
            zero_floats(d, kx0 * c);
            copy_floats(d + kx0 * c, xs + xo, (kx1 - kx0) * c);
            zero_floats(d + kx1 * c, krow - kx1 * c);
          },
          [&](std::size_t co) { zero_floats(cs + co, krow); });
    }
  });
}

/// The adjoint of im2col: dx[s, iy, ix, ci] = the sum of the column entries that im2col copied from it.
inline void col2im(const siamese::detail::ConvGeom& g, const float* col, float* dx, std::size_t ns) {
  const std::size_t kk = g.kh * g.kw * g.c, rows = g.oh * g.ow, c = g.c;
  for_ranges(ns, 1, ns * rows * kk, [&](std::size_t s0, std::size_t s1) {
    for (std::size_t s = s0; s < s1; ++s) {
      float* ds = dx + s * g.h * g.w * g.c;
      const float* cs = col + s * rows * kk;
      zero_floats(ds, g.h * g.w * g.c);
      conv_walk(
          g,
          [&](std::size_t co, std::size_t xo, std::size_t kx0, std::size_t kx1) {
            add_floats(ds + xo, cs + co + kx0 * c, (kx1 - kx0) * c);
          },
          [](std::size_t) {});
    }
  });
}

}  // namespace detail

namespace detail {
/// dw (kk x f) += col^T dz over one chunk of `rows` rows. The transposed operand is packed by sgemm
/// at a cost that grows with its width, so the narrower of kk and f takes that role: with f < kk the
/// chunk adds dz^T col into dwt (f x kk), transposed into dw once at the end.
inline void conv_weight_grad(std::size_t kk, std::size_t f, std::size_t rows, const float* col, const float* dz,
                             bool first, float* dw, float* dwt) {
  const float beta = first ? 0.0f : 1.0f;
  if (dwt) sgemm(true, false, f, kk, rows, 1.0f, dz, f, col, kk, beta, dwt, kk);
  else sgemm(true, false, kk, f, rows, 1.0f, col, kk, dz, f, beta, dw, f);
}
}  // namespace detail

/// The convolution kernels of backend::Cpu over the kernels of Base; both fusions of backend::Fusions.
template <class Base>
struct ConvKernels : Base {
  /// y = act(conv(x, w) + bias) over n NHWC samples (bias may be null); w is HWIO (kh, kw, c, f). The
  /// bias and a ReLU are applied in the product's epilogue, other activations while the chunk is in cache.
  static void conv2d_forward_act(const backend::ConvActArgs& args) {
    const siamese::detail::ConvGeom& g = args.geom;
    const Act act = args.act;
    const float *x = args.x, *w = args.w, *bias = args.bias;
    float* y = args.y;
    const std::size_t n = args.n;
    const std::size_t kk = g.kh * g.kw * g.c, rows = g.oh * g.ow, in = g.h * g.w * g.c;
    if (detail::conv_direct_ok(g)) return detail::conv2d_forward_direct(g, act, x, w, bias, y, n);
    if (detail::conv_winograd_ok(g)) return detail::conv2d_forward_winograd(g, act, x, w, bias, y, n);
    const GemmEpilogue ep{bias, nullptr, act == Act::ReLU ? GemmAct::relu : GemmAct::identity};
    const bool pointwise = detail::conv_is_pointwise(g), act_after = act != Act::Linear && act != Act::ReLU;
    const std::size_t chunk = detail::conv_chunk(g, n);
    static thread_local detail::Workspace ws;
    float* col = pointwise ? nullptr : ws.reserve(chunk * rows * kk);
    for (std::size_t s0 = 0; s0 < n; s0 += chunk) {
      const std::size_t ns = std::min(chunk, n - s0);
      const float* a = x + s0 * in;
      if (!pointwise) {
        detail::im2col(g, a, col, ns);
        a = col;
      }
      float* ys = y + s0 * rows * g.f;
      sgemm_bias_act(false, false, ns * rows, g.f, kk, 1.0f, a, kk, w, g.f, 0.0f, ys, g.f, ep);
      if (act_after) cpu::activation({.act = act, .x = ys, .y = ys, .n = ns * rows * g.f});
    }
  }

  /// y = conv(x, w) + bias over n NHWC samples (bias may be null); w is HWIO (kh, kw, c, f).
  static void conv2d_forward(const backend::ConvArgs& a) {
    conv2d_forward_act({.geom = a.geom, .act = Act::Linear, .x = a.x, .w = a.w, .bias = a.bias, .y = a.y, .n = a.n});
  }


  /// Gradients of conv2d_forward_act, each overwritten when its pointer is not null, with dz = dy *
  /// act'(.) taken through the output y (not read for Linear): dx = conv^T(dz), dw = im2col(x)^T dz,
  /// db = column sums of dz. dz is formed one chunk at a time and used while in cache.
  static void conv2d_backward_act(const backend::ConvActGradArgs& args) {
    const siamese::detail::ConvGeom& g = args.geom;
    const Act act = args.act;
    const float *x = args.x, *y = args.y, *w = args.w, *dy = args.dy;
    float *dx = args.dx, *dw = args.dw, *db = args.db;
    const std::size_t n = args.n;
    const std::size_t kk = g.kh * g.kw * g.c, rows = g.oh * g.ow, in = g.h * g.w * g.c;
    if (n == 0) {
      if (dw) cpu::fill(dw, 0.0f, kk * g.f);
      if (db) cpu::fill(db, 0.0f, g.f);
      return;
    }
    if (detail::conv_direct_ok(g)) {
      if (dw || db) detail::conv2d_weight_grad_direct(g, act, x, y, dy, dw, db, n);
      if (!dx) return;
      dw = db = nullptr;  // done: the chunks below only propagate dx
    }
    if (!dx && !dw && !db) return;
    const bool pointwise = detail::conv_is_pointwise(g), with_col = !pointwise && (dx || dw);
    const std::size_t chunk = detail::conv_chunk(g, n), chunks = (n + chunk - 1) / chunk;
    const std::size_t col_floats = with_col ? siamese::detail::align_floats(chunk * rows * kk) : 0;
    const std::size_t dz_floats = act != Act::Linear ? siamese::detail::align_floats(chunk * rows * g.f) : 0;
    const bool transposed = dw && g.f < kk;
    static thread_local detail::Workspace ws;
    float* col = ws.reserve(col_floats + dz_floats + (transposed ? kk * g.f : 0) + (db ? chunks * g.f : 0));
    float* dz_buf = col + col_floats;
    float* dwt = transposed ? dz_buf + dz_floats : nullptr;
    float* db_part = dz_buf + dz_floats + (transposed ? kk * g.f : 0);
    for (std::size_t s0 = 0, ci = 0; s0 < n; s0 += chunk, ++ci) {
      const std::size_t ns = std::min(chunk, n - s0), m = ns * rows;
      const float* dz = dy + s0 * rows * g.f;
      float* db_chunk = db ? db_part + ci * g.f : nullptr;
      if (act != Act::Linear) {
        // dz and its column sums in one pass; the chunk of dz stays in cache for the products.
        const float* ys = y + s0 * rows * g.f;
        if (db) detail::column_reduce(ys, dz, g.f, m, g.f, db_chunk, detail::ActGrad{act}, dz_buf);
        else cpu::activation_backward({.act = act, .y = ys, .dy = dz, .dx = dz_buf, .n = m * g.f});
        dz = dz_buf;
      } else if (db) {
        cpu::bias_grad(
            {.dy = dz, .db = db_chunk, .rows = m, .cols = g.f});  // brings the chunk of dy into cache for the products
      }
      if (dw) {
        const float* a = x + s0 * in;
        if (!pointwise) {
          detail::im2col(g, a, col, ns);
          a = col;
        }
        detail::conv_weight_grad(kk, g.f, m, a, dz, s0 == 0, dw, dwt);
      }
      if (dx) {
        if (pointwise) {
          sgemm(false, true, m, kk, g.f, 1.0f, dz, g.f, w, g.f, 0.0f, dx + s0 * in, kk);
        } else {
          sgemm(false, true, m, kk, g.f, 1.0f, dz, g.f, w, g.f, 0.0f, col, kk);
          detail::col2im(g, col, dx + s0 * in, ns);
        }
      }
    }
    if (transposed)
      for (std::size_t i = 0; i < kk; ++i)
        for (std::size_t j = 0; j < g.f; ++j) dw[i * g.f + j] = dwt[j * kk + i];
    if (db)
      for (std::size_t j = 0; j < g.f; ++j) {
        double sum = 0;
        for (std::size_t ci = 0; ci < chunks; ++ci) sum += db_part[ci * g.f + j];
        db[j] = static_cast<float>(sum);
      }
  }

  /// Gradients of conv2d_forward, each overwritten when its pointer is not null: dx = conv^T(dy),
  /// dw = im2col(x)^T dy, db = column sums of dy.
  static void conv2d_backward(const backend::ConvGradArgs& a) {
    conv2d_backward_act({.geom = a.geom,
                         .act = Act::Linear,
                         .x = a.x,
                         .y = nullptr,
                         .w = a.w,
                         .dy = a.dy,
                         .dx = a.dx,
                         .dw = a.dw,
                         .db = a.db,
                         .n = a.n});
  }
};

}  // namespace siamese::cpu
