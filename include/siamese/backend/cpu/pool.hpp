#pragma once
// Pooling kernels of backend::Cpu over NHWC maps: windows and global pooling, vectorised across
// channels and threaded across samples. Max pooling sends each gradient to the first maximum of its
// window in row-major order, as backend::Reference does.
#include <algorithm>
#include <cstddef>
#include <limits>
#include <type_traits>

#include "../args/pool.hpp"
#include "../kinds.hpp"
#include "parallel.hpp"

namespace siamese::cpu {

namespace detail {
/// The in-map window of output pixel (oy, ox): rows [y0, y1), columns [x0, x1).
struct Window {
  std::size_t y0, y1, x0, x1;
  std::size_t count() const { return (y1 - y0) * (x1 - x0); }
};
inline Window window(const siamese::detail::PoolGeom& g, std::size_t oy, std::size_t ox) {
  const long ty = long(oy * g.sh) - long(g.pt), tx = long(ox * g.sw) - long(g.pl);
  auto clip = [](long v, std::size_t hi) { return std::size_t(std::clamp<long>(v, 0, long(hi))); };
  Window w{clip(ty, g.h), clip(ty + long(g.ph), g.h), clip(tx, g.w), clip(tx + long(g.pw), g.w)};
  w.y1 = std::max(w.y1, w.y0);
  w.x1 = std::max(w.x1, w.x0);
  return w;
}
/// Max pooling over 2x2 windows at stride 2 that all lie inside the map (VGG's and most CNNs' pooling): the
/// window walk unrolled, four loads a vector.
inline bool max_2x2(const siamese::detail::PoolGeom& g, bool is_max) {
  return is_max && g.ph == 2 && g.pw == 2 && g.sh == 2 && g.sw == 2 && g.pt == 0 && g.pl == 0 && 2 * g.oh <= g.h &&
         2 * g.ow <= g.w;
}

inline void max_2x2_forward_sample(const siamese::detail::PoolGeom& g, const float* xs, float* ys) {
  const std::size_t c = g.c, row = g.w * c;
  const Vec lowest(-std::numeric_limits<float>::infinity());
  for (std::size_t oy = 0; oy < g.oh; ++oy)
    for (std::size_t ox = 0; ox < g.ow; ++ox) {
      const float* a = xs + 2 * oy * row + 2 * ox * c;
      const float* b = a + row;
      float* o = ys + (oy * g.ow + ox) * c;
      std::size_t k = 0;
      // The order of the reference's std::max(acc, v) from -inf: a NaN is skipped.
      for (const std::size_t body = c / vw * vw; k < body; k += vw) {
        Vec acc = xsimd::max(Vec::load_unaligned(a + k), lowest);
        acc = xsimd::max(Vec::load_unaligned(a + c + k), acc);
        acc = xsimd::max(Vec::load_unaligned(b + k), acc);
        xsimd::max(Vec::load_unaligned(b + c + k), acc).store_unaligned(o + k);
      }
      for (; k < c; ++k)
        o[k] = std::max(std::max(std::max(std::max(-std::numeric_limits<float>::infinity(), a[k]), a[c + k]), b[k]),
                        b[c + k]);
    }
}

/// The windows tile the covered part of the map: every covered cell is written once (the caller zeroes the rest).
inline void max_2x2_backward_sample(const siamese::detail::PoolGeom& g, const float* xs, const float* ys,
                                    const float* dys, float* ds) {
  const std::size_t c = g.c, row = g.w * c;
  for (std::size_t oy = 0; oy < g.oh; ++oy)
    for (std::size_t ox = 0; ox < g.ow; ++ox) {
      const std::size_t at = 2 * oy * row + 2 * ox * c, o = (oy * g.ow + ox) * c;
      const std::size_t cells[4] = {at, at + c, at + row, at + row + c};  // row-major: the first maximum wins
      std::size_t k = 0;
      for (const std::size_t body = c / vw * vw; k < body; k += vw) {
        const Vec d = Vec::load_unaligned(dys + o + k), best = Vec::load_unaligned(ys + o + k), zero(0.0f);
        xsimd::batch_bool<float> done(false);
        for (const std::size_t cell : cells) {
          const auto hit = (Vec::load_unaligned(xs + cell + k) == best) && !done;
          xsimd::select(hit, d, zero).store_unaligned(ds + cell + k);
          done = done || hit;
        }
      }
      for (; k < c; ++k) {
        bool done = false;
        for (const std::size_t cell : cells) {
          const bool hit = !done && xs[cell + k] == ys[o + k];
          ds[cell + k] = hit ? dys[o + k] : 0.0f;
          done = done || hit;
        }
      }
    }
}
}  // namespace detail

namespace detail {
/// The gradient of one sample. Accumulate: windows overlap, so dx is zeroed and then added to;
/// otherwise (windows tile the map: stride == window) every cell is written once, and only the
/// cells that no window covers (the last rows and columns of a Valid pooling) are zeroed.
template <bool Accumulate>
void pool2d_backward_sample(const siamese::detail::PoolGeom& g, bool is_max, const float* xs, const float* ys,
                            const float* dys, float* ds) {
  const std::size_t c = g.c;
  if (Accumulate) {
    std::fill(ds, ds + g.h * g.w * c, 0.0f);
  } else {
    const std::size_t y_end = std::min(g.h, g.oh * g.sh - g.pt), x_end = std::min(g.w, g.ow * g.sw - g.pl);
    std::fill(ds + y_end * g.w * c, ds + g.h * g.w * c, 0.0f);
    for (std::size_t iy = 0; iy < y_end && x_end < g.w; ++iy)
      std::fill(ds + (iy * g.w + x_end) * c, ds + (iy + 1) * g.w * c, 0.0f);
    if (max_2x2(g, is_max)) return max_2x2_backward_sample(g, xs, ys, dys, ds);
  }
  auto put = [&](float* p, auto v) {
    if constexpr (std::is_same_v<decltype(v), float>) *p = Accumulate ? *p + v : v;
    else (Accumulate ? Vec::load_unaligned(p) + v : v).store_unaligned(p);
  };
  for (std::size_t oy = 0; oy < g.oh; ++oy)
    for (std::size_t ox = 0; ox < g.ow; ++ox) {
      const Window win = window(g, oy, ox);
      const std::size_t o = (oy * g.ow + ox) * c;
      const float cnt = float(win.count());
      std::size_t k = 0;
      for (const std::size_t body = k + (c - k) / vw * vw; k < body; k += vw) {
        const Vec d = Vec::load_unaligned(dys + o + k);
        if (!is_max) {
          const Vec share = d / Vec(cnt);
          for (std::size_t iy = win.y0; iy < win.y1; ++iy)
            for (std::size_t ix = win.x0; ix < win.x1; ++ix) put(ds + (iy * g.w + ix) * c + k, share);
          continue;
        }
        const Vec best = Vec::load_unaligned(ys + o + k);
        xsimd::batch_bool<float> done(false);
        for (std::size_t iy = win.y0; iy < win.y1; ++iy)
          for (std::size_t ix = win.x0; ix < win.x1; ++ix) {
            const std::size_t i = (iy * g.w + ix) * c + k;
            const auto hit = (Vec::load_unaligned(xs + i) == best) && !done;
            put(ds + i, xsimd::select(hit, d, Vec(0.0f)));
            done = done || hit;
          }
      }
      for (; k < c; ++k) {
        bool done = false;
        for (std::size_t iy = win.y0; iy < win.y1; ++iy)
          for (std::size_t ix = win.x0; ix < win.x1; ++ix) {
            const std::size_t i = (iy * g.w + ix) * c + k;
            const bool hit = is_max && !done && xs[i] == ys[o + k];
            put(ds + i, !is_max ? dys[o + k] / cnt : hit ? dys[o + k] : 0.0f);
            done = done || hit;
          }
      }
    }
}
}  // namespace detail

/// The pooling kernels of backend::Cpu over the kernels of Base.
template <class Base>
struct PoolKernels : Base {
  /// Max or average pooling; padded cells are ignored (average over the cells inside the map).
  static void pool2d_forward(const backend::PoolArgs& a) {
    const siamese::detail::PoolGeom& g = a.geom;
    const bool is_max = a.is_max;
    const float* x = a.x;
    float* y = a.y;
    const std::size_t n = a.n;
    using detail::Vec, detail::vw;
    const std::size_t in = g.h * g.w * g.c, out = g.oh * g.ow * g.c, c = g.c;
    const float lowest = -std::numeric_limits<float>::infinity();
    detail::for_ranges(n, 1, n * (in + out), [&](std::size_t b0, std::size_t b1) {
      for (std::size_t b = b0; b < b1; ++b) {
        const float* xs = x + b * in;
        if (detail::max_2x2(g, is_max)) {
          detail::max_2x2_forward_sample(g, xs, y + b * out);
          continue;
        }
        for (std::size_t oy = 0; oy < g.oh; ++oy)
          for (std::size_t ox = 0; ox < g.ow; ++ox) {
            const detail::Window win = detail::window(g, oy, ox);
            const float inv = 1.0f / float(win.count() ? win.count() : 1);
            float* o = y + b * out + (oy * g.ow + ox) * c;
            std::size_t k = 0;
            for (const std::size_t body = k + (c - k) / vw * vw; k < body; k += vw) {
              Vec acc(is_max ? lowest : 0.0f);
              for (std::size_t iy = win.y0; iy < win.y1; ++iy)
                for (std::size_t ix = win.x0; ix < win.x1; ++ix) {
                  const Vec v = Vec::load_unaligned(xs + (iy * g.w + ix) * c + k);
                  // max(v, acc) is v > acc ? v : acc: a NaN is skipped, as the reference's std::max(acc, v) does.
                  acc = is_max ? xsimd::max(v, acc) : acc + v;
                }
              (is_max ? acc : acc * Vec(inv)).store_unaligned(o + k);
            }
            for (; k < c; ++k) {
              float acc = is_max ? lowest : 0.0f;
              for (std::size_t iy = win.y0; iy < win.y1; ++iy)
                for (std::size_t ix = win.x0; ix < win.x1; ++ix) {
                  const float v = xs[(iy * g.w + ix) * c + k];
                  acc = is_max ? std::max(acc, v) : acc + v;
                }
              o[k] = is_max ? acc : acc * inv;
            }
          }
      }
    });
  }


  /// Max pooling routes each gradient to the first maximum of its window; average spreads it.
  static void pool2d_backward(const backend::PoolGradArgs& a) {
    const siamese::detail::PoolGeom& g = a.geom;
    const bool is_max = a.is_max;
    const float *x = a.x, *y = a.y, *dy = a.dy;
    float* dx = a.dx;
    const std::size_t n = a.n;
    const std::size_t in = g.h * g.w * g.c, out = g.oh * g.ow * g.c;
    const bool tiles = g.sh == g.ph && g.sw == g.pw;
    detail::for_ranges(n, 1, n * (2 * in + 2 * out), [&](std::size_t b0, std::size_t b1) {
      for (std::size_t b = b0; b < b1; ++b) {
        if (tiles) detail::pool2d_backward_sample<false>(g, is_max, x + b * in, y + b * out, dy + b * out, dx + b * in);
        else detail::pool2d_backward_sample<true>(g, is_max, x + b * in, y + b * out, dy + b * out, dx + b * in);
      }
    });
  }

  /// Global max or average over the rows of each sample: x (n, rows, c) -> y (n, c).
  static void global_pool_forward(const backend::RowPoolArgs& a) {
    const bool is_max = a.is_max;
    const float* x = a.x;
    float* y = a.y;
    const std::size_t n = a.n, rows = a.rows, c = a.c;
    using detail::Vec, detail::vw;
    const float lowest = -std::numeric_limits<float>::infinity(), inv = 1.0f / float(rows ? rows : 1);
    detail::for_ranges(n, 1, n * rows * c, [&](std::size_t b0, std::size_t b1) {
      for (std::size_t b = b0; b < b1; ++b) {
        const float* xs = x + b * rows * c;
        float* o = y + b * c;
        std::size_t k = 0;
        for (const std::size_t body = k + (c - k) / vw * vw; k < body; k += vw) {
          Vec acc(is_max ? lowest : 0.0f);
          for (std::size_t r = 0; r < rows; ++r) {
            const Vec v = Vec::load_unaligned(xs + r * c + k);
            acc = is_max ? xsimd::max(v, acc) : acc + v;  // skips a NaN, as std::max(acc, v) does
          }
          (is_max ? acc : acc * Vec(inv)).store_unaligned(o + k);
        }
        for (; k < c; ++k) {
          float acc = is_max ? lowest : 0.0f;
          for (std::size_t r = 0; r < rows; ++r) acc = is_max ? std::max(acc, xs[r * c + k]) : acc + xs[r * c + k];
          o[k] = is_max ? acc : acc * inv;
        }
      }
    });
  }

  /// Max sends each channel's gradient to its first maximum; average spreads it over the rows.
  static void global_pool_backward(const backend::RowPoolGradArgs& a) {
    const bool is_max = a.is_max;
    const float *x = a.x, *y = a.y, *dy = a.dy;
    float* dx = a.dx;
    const std::size_t n = a.n, rows = a.rows, c = a.c;
    using detail::Vec, detail::vw;
    detail::for_ranges(n, 1, 2 * n * rows * c, [&](std::size_t b0, std::size_t b1) {
      for (std::size_t b = b0; b < b1; ++b) {
        const float* xs = x + b * rows * c;
        float* ds = dx + b * rows * c;
        const float* g = dy + b * c;
        std::size_t k = 0;
        for (const std::size_t body = k + (c - k) / vw * vw; k < body; k += vw) {
          const Vec d = Vec::load_unaligned(g + k);
          if (!is_max) {
            const Vec share = d / Vec(float(rows));
            for (std::size_t r = 0; r < rows; ++r) share.store_unaligned(ds + r * c + k);
            continue;
          }
          const Vec best = Vec::load_unaligned(y + b * c + k);
          xsimd::batch_bool<float> done(false);
          for (std::size_t r = 0; r < rows; ++r) {
            const auto hit = (Vec::load_unaligned(xs + r * c + k) == best) && !done;
            xsimd::select(hit, d, Vec(0.0f)).store_unaligned(ds + r * c + k);
            done = done || hit;
          }
        }
        for (; k < c; ++k) {
          bool done = false;
          for (std::size_t r = 0; r < rows; ++r) {
            const std::size_t i = r * c + k;
            if (!is_max) ds[i] = g[k] / float(rows);
            else {
              const bool hit = !done && xs[i] == y[b * c + k];
              ds[i] = hit ? g[k] : 0.0f;
              done = done || hit;
            }
          }
        }
      }
    });
  }
};

}  // namespace siamese::cpu
