#pragma once
// Direct convolution for layers with few inputs per output (kh*kw*c small, as the first layer of an
// image model: 9 for a 3x3 kernel over one channel). There a matrix product over im2col columns
// spends more on packing and short dot products than on arithmetic; these kernels read the input in
// place, keep the output tile (forward) or the weight gradient (backward) in registers, and make one
// pass over the batch, split by sample across threads.
#include <algorithm>
#include <array>
#include <cstddef>
#include <utility>

#include "../kinds.hpp"
#include "elementwise.hpp"
#include "parallel.hpp"

namespace siamese::cpu::detail {

/// Largest kh*kw*c handled directly, and the widest output it pays for.
inline constexpr std::size_t direct_kk_max = 32, direct_f_max = 64;
/// Output channels per pass (two SIMD registers); weights are packed zero-padded to a multiple of it.
inline constexpr std::size_t direct_fb = 2 * vw;

inline bool conv_direct_ok(const siamese::detail::ConvGeom& g) {
  return g.kh * g.kw * g.c <= direct_kk_max && g.f <= direct_f_max;
}

/// Where the inputs of one output pixel lie: tap t = (ky*kw + kx)*c + ci (the kernel's row order)
/// reads base[toff[t]], or a gathered copy with zeros outside the map.
struct DirectTaps {
  std::array<std::size_t, direct_kk_max> inner{};   // offsets from the pixel's top-left input
  std::array<std::size_t, direct_kk_max> gathered{}; // offsets in a gathered tile: t * tile
  std::size_t kk = 0;
  std::size_t ox_lo = 0, ox_hi = 0;  // output columns whose window lies inside the map horizontally
};

inline DirectTaps direct_taps(const siamese::detail::ConvGeom& g, std::size_t tile) {
  DirectTaps d;
  d.kk = g.kh * g.kw * g.c;
  for (std::size_t ky = 0, t = 0; ky < g.kh; ++ky)
    for (std::size_t kx = 0; kx < g.kw; ++kx)
      for (std::size_t ci = 0; ci < g.c; ++ci, ++t) {
        d.inner[t] = (ky * g.w + kx) * g.c + ci;
        d.gathered[t] = t * tile;
      }
  d.ox_lo = std::min(g.ow, (g.pl + g.sw - 1) / g.sw);
  d.ox_hi = g.w + g.pl >= g.kw ? std::clamp((g.w + g.pl - g.kw) / g.sw + 1, d.ox_lo, g.ow) : d.ox_lo;
  return d;
}

/// True when every tap of output row oy lies inside the map vertically.
inline bool direct_row_inside(const siamese::detail::ConvGeom& g, std::size_t oy) {
  return oy * g.sh >= g.pt && oy * g.sh + g.kh <= g.h + g.pt;
}

/// Copies the inputs of output pixels (oy, ox0 + i), i < np, into a[t * tile + i], zero outside.
inline void direct_gather(const siamese::detail::ConvGeom& g, const float* xs, std::size_t oy, std::size_t ox0,
                          std::size_t np, std::size_t tile, float* a) {
  for (std::size_t i = 0; i < np; ++i)
    for (std::size_t ky = 0, t = 0; ky < g.kh; ++ky) {
      const long iy = long(oy * g.sh + ky) - long(g.pt);
      for (std::size_t kx = 0; kx < g.kw; ++kx) {
        const long ix = long((ox0 + i) * g.sw + kx) - long(g.pl);
        const bool in = iy >= 0 && iy < long(g.h) && ix >= 0 && ix < long(g.w);
        const float* src = in ? xs + (std::size_t(iy) * g.w + std::size_t(ix)) * g.c : nullptr;
        for (std::size_t ci = 0; ci < g.c; ++ci, ++t) a[t * tile + i] = in ? src[ci] : 0.0f;
      }
    }
}

/// Forward tile: y[i, fb + j] = act(bias + sum_t x(i, t) w[t, fb + j]) for np <= P pixels, where
/// x(i, t) = xb[i * stride + toff[t]] and wp holds the weights packed kk x fp (zero-padded).
template <std::size_t P>
void direct_forward_tile(const float* xb, std::size_t stride, const std::size_t* toff, std::size_t kk,
                         const float* wp, std::size_t fp, std::size_t fb, const float* bp, Act act, float* y,
                         std::size_t f, std::size_t np) {
  Vec acc[P][2];
  const Vec b0 = Vec::load_aligned(bp + fb), b1 = Vec::load_aligned(bp + fb + vw);
  static_for<P>([&](auto i) { acc[i][0] = b0, acc[i][1] = b1; });
  for (std::size_t t = 0; t < kk; ++t) {
    const float* wt = wp + t * fp + fb;
    const Vec w0 = Vec::load_aligned(wt), w1 = Vec::load_aligned(wt + vw);
    const float* xt = xb + toff[t];
    static_for<P>([&](auto i) {
      const Vec a(xt[i * stride]);
      acc[i][0] = xsimd::fma(a, w0, acc[i][0]);
      acc[i][1] = xsimd::fma(a, w1, acc[i][1]);
    });
  }
  const std::size_t nf = std::min(direct_fb, f - fb);
  static_for<P>([&](auto i) {
    if (i >= np) return;
    Vec v0 = acc[i][0], v1 = acc[i][1];
    if (act != Act::Linear) {
      v0 = apply_act(act, v0);
      v1 = apply_act(act, v1);
    }
    float* yi = y + i * f + fb;
    if (nf == direct_fb) {
      v0.store_unaligned(yi);
      v1.store_unaligned(yi + vw);
    } else {
      alignas(64) float tmp[direct_fb];
      v0.store_aligned(tmp);
      v1.store_aligned(tmp + vw);
      std::copy(tmp, tmp + nf, yi);
    }
  });
}

/// Weight-gradient pass over the pixels of one sample for G taps starting at t0 and output channels
/// [fb, fb + direct_fb): acc_out[t * ld + .] += sum_p x(p, t0 + t) dz[p, fb + .], and bias_out[.] +=
/// sum_p dz[p, fb + .] when `with_bias`, where dz = act'(.) dy is taken through the output ys.
/// acc_out and bias_out are 64-byte aligned.
template <std::size_t G>
void direct_weight_pass(const siamese::detail::ConvGeom& g, const DirectTaps& d, const float* xs, Act act,
                        const float* ys, const float* dys, std::size_t t0, std::size_t fb, bool with_bias,
                        float* acc_out, std::size_t ld, float* bias_out) {
  Vec acc[G][2], bacc[2] = {Vec(0.0f), Vec(0.0f)};
  static_for<G>([&](auto t) { acc[t][0] = acc[t][1] = Vec(0.0f); });
  const std::size_t nf = std::min(direct_fb, g.f - fb);
  alignas(64) float dyt[direct_fb] = {}, yt[direct_fb] = {};
  alignas(64) float col[direct_kk_max];
  for (std::size_t oy = 0; oy < g.oh; ++oy) {
    const bool row_in = direct_row_inside(g, oy);
    const std::size_t lo = row_in ? d.ox_lo : g.ow, hi = row_in ? d.ox_hi : g.ow;
    for (std::size_t ox = 0; ox < g.ow; ++ox) {
      const float* xb = col;
      const std::size_t* toff = d.gathered.data();  // built with tile 1: gathered[t] == t
      if (ox >= lo && ox < hi) {
        xb = xs + ((oy * g.sh - g.pt) * g.w + ox * g.sw - g.pl) * g.c;
        toff = d.inner.data();
      } else {
        direct_gather(g, xs, oy, ox, 1, 1, col);
      }
      const std::size_t o = (oy * g.ow + ox) * g.f + fb;
      Vec d0, d1;
      if (nf == direct_fb) {
        d0 = Vec::load_unaligned(dys + o);
        d1 = Vec::load_unaligned(dys + o + vw);
        if (act != Act::Linear) {
          d0 = act_grad(act, Vec::load_unaligned(ys + o), d0);
          d1 = act_grad(act, Vec::load_unaligned(ys + o + vw), d1);
        }
      } else {
        std::copy(dys + o, dys + o + nf, dyt);
        d0 = Vec::load_aligned(dyt);
        d1 = Vec::load_aligned(dyt + vw);
        if (act != Act::Linear) {
          std::copy(ys + o, ys + o + nf, yt);
          d0 = act_grad(act, Vec::load_aligned(yt), d0);
          d1 = act_grad(act, Vec::load_aligned(yt + vw), d1);
        }
      }
      if (with_bias) {
        bacc[0] += d0;
        bacc[1] += d1;
      }
      static_for<G>([&](auto t) {
        const Vec a(xb[toff[t0 + t]]);
        acc[t][0] = xsimd::fma(a, d0, acc[t][0]);
        acc[t][1] = xsimd::fma(a, d1, acc[t][1]);
      });
    }
  }
  static_for<G>([&](auto t) {
    float* o = acc_out + t * ld;
    (Vec::load_aligned(o) + acc[t][0]).store_aligned(o);
    (Vec::load_aligned(o + vw) + acc[t][1]).store_aligned(o + vw);
  });
  if (with_bias) {
    (Vec::load_aligned(bias_out) + bacc[0]).store_aligned(bias_out);
    (Vec::load_aligned(bias_out + vw) + bacc[1]).store_aligned(bias_out + vw);
  }
}

/// Groups of taps whose gradient fits in registers next to the output gradient.
inline constexpr std::size_t direct_group = 11;

template <std::size_t... G>
void direct_weight_dispatch(std::size_t group, std::index_sequence<G...>, const siamese::detail::ConvGeom& g,
                            const DirectTaps& d, const float* xs, Act act, const float* ys, const float* dys,
                            std::size_t t0, std::size_t fb, bool with_bias, float* acc_out, std::size_t ld,
                            float* bias_out) {
  ((group == G + 1
        ? direct_weight_pass<G + 1>(g, d, xs, act, ys, dys, t0, fb, with_bias, acc_out, ld, bias_out)
        : void()),
   ...);
}

/// Pixels per forward tile: 8 x 2 accumulators leave registers for the weights and the broadcast.
inline constexpr std::size_t direct_tile = 8;

/// y = act(conv(x, w) + bias); requires conv_direct_ok(g).
inline void conv2d_forward_direct(const siamese::detail::ConvGeom& g, Act act, const float* x, const float* w,
                                  const float* bias, float* y, std::size_t n) {
  constexpr std::size_t P = direct_tile;
  const std::size_t kk = g.kh * g.kw * g.c, fp = (g.f + direct_fb - 1) / direct_fb * direct_fb;
  const std::size_t in = g.h * g.w * g.c, out = g.oh * g.ow * g.f;
  static thread_local Workspace ws;
  float* wp = ws.reserve(kk * fp + fp);
  float* bp = wp + kk * fp;
  for (std::size_t t = 0; t < kk; ++t)
    for (std::size_t j = 0; j < fp; ++j) wp[t * fp + j] = j < g.f ? w[t * g.f + j] : 0.0f;
  for (std::size_t j = 0; j < fp; ++j) bp[j] = bias && j < g.f ? bias[j] : 0.0f;
  const DirectTaps d = direct_taps(g, P);
  for_ranges(n, 1, n * out * kk / 4, [&](std::size_t s0, std::size_t s1) {
    alignas(64) float a[direct_kk_max * P] = {};
    for (std::size_t s = s0; s < s1; ++s) {
      const float* xs = x + s * in;
      for (std::size_t oy = 0; oy < g.oh; ++oy) {
        const bool row_in = direct_row_inside(g, oy);
        for (std::size_t ox0 = 0; ox0 < g.ow; ox0 += P) {
          const std::size_t np = std::min(P, g.ow - ox0);
          const bool inside = row_in && np == P && ox0 >= d.ox_lo && ox0 + P <= d.ox_hi;
          const float* xb = a;
          std::size_t stride = 1;
          const std::size_t* toff = d.gathered.data();
          if (inside) {
            xb = xs + ((oy * g.sh - g.pt) * g.w + ox0 * g.sw - g.pl) * g.c;
            stride = g.sw * g.c;
            toff = d.inner.data();
          } else {
            direct_gather(g, xs, oy, ox0, np, P, a);
          }
          float* yt = y + s * out + (oy * g.ow + ox0) * g.f;
          for (std::size_t fb = 0; fb < fp; fb += direct_fb)
            direct_forward_tile<P>(xb, stride, toff, kk, wp, fp, fb, bp, act, yt, g.f, np);
        }
      }
    }
  });
}

/// dw = im2col(x)^T dz and db = column sums of dz (each when not null), overwritten, where dz =
/// act'(.) dy is taken through the layer's output y (unused for Linear); requires conv_direct_ok(g).
/// Sums run over fixed blocks of samples, so they do not depend on the number of threads.
inline void conv2d_weight_grad_direct(const siamese::detail::ConvGeom& g, Act act, const float* x, const float* y,
                                      const float* dy, float* dw, float* db, std::size_t n) {
  const std::size_t kk = g.kh * g.kw * g.c, fp = (g.f + direct_fb - 1) / direct_fb * direct_fb;
  const std::size_t in = g.h * g.w * g.c, out = g.oh * g.ow * g.f;
  const std::size_t per_block = std::max<std::size_t>(1, (n + 63) / 64), blocks = (n + per_block - 1) / per_block;
  const std::size_t part = kk * fp + fp;  // weights, then bias
  static thread_local Workspace ws;
  float* parts = ws.reserve(blocks * part);
  const DirectTaps d = direct_taps(g, 1);
  for_ranges(blocks, 1, n * out * kk / 4, [&](std::size_t b0, std::size_t b1) {
    for (std::size_t blk = b0; blk < b1; ++blk) {
      float* pw = parts + blk * part;
      std::fill(pw, pw + part, 0.0f);
      const std::size_t s1 = std::min(n, (blk + 1) * per_block);
      for (std::size_t s = blk * per_block; s < s1; ++s)
        for (std::size_t fb = 0; fb < fp; fb += direct_fb)
          for (std::size_t t0 = 0; t0 < kk; t0 += direct_group) {
            const std::size_t group = std::min(direct_group, kk - t0);
            if (!dw && t0 > 0) break;  // only the bias is wanted: one pass
            direct_weight_dispatch(group, std::make_index_sequence<direct_group>{}, g, d, x + s * in, act,
                                   act == Act::Linear ? nullptr : y + s * out, dy + s * out, t0, fb,
                                   db != nullptr && t0 == 0, pw + t0 * fp + fb, fp, pw + kk * fp + fb);
          }
    }
  });
  if (dw)
    for (std::size_t t = 0; t < kk; ++t)
      for (std::size_t j = 0; j < g.f; ++j) {
        double sum = 0;
        for (std::size_t blk = 0; blk < blocks; ++blk) sum += parts[blk * part + t * fp + j];
        dw[t * g.f + j] = static_cast<float>(sum);
      }
  if (db)
    for (std::size_t j = 0; j < g.f; ++j) {
      double sum = 0;
      for (std::size_t blk = 0; blk < blocks; ++blk) sum += parts[blk * part + kk * fp + j];
      db[j] = static_cast<float>(sum);
    }
}

}  // namespace siamese::cpu::detail
