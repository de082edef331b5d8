#pragma once
// backend::Cuda's pooling: windows (max, average) and global pooling over the rows of each sample.
// Backward passes gather per input element, in Reference's order, so results match it bit for bit.
#include <cstddef>
#include <limits>

#include "../args/pool.hpp"
#include "../kinds.hpp"
#include "common.cuh"

namespace siamese::backend::detail_cuda {

template <class X>
struct PoolOps {
  /// Max or average pooling; padded cells are ignored (the average is over the cells inside the map).
  static void pool2d_forward(const PoolArgs& a) {
    const siamese::detail::PoolGeom g = a.geom;
    const bool is_max = a.is_max;
    const float* x = a.x;
    float* y = a.y;
    const std::size_t n = a.n;
    X::launch("pool2d_forward", n * g.oh * g.ow * g.c, [=] __host__ __device__(std::size_t i) {
      const std::size_t c = i % g.c, ox = (i / g.c) % g.ow, oy = (i / (g.c * g.ow)) % g.oh,
                        b = i / (g.c * g.ow * g.oh);
      float best = -std::numeric_limits<float>::infinity();
      double sum = 0;
      std::size_t cnt = 0;
      for (std::size_t ky = 0; ky < g.ph; ++ky) {
        const long iy = long(oy * g.sh + ky) - long(g.pt);
        if (iy < 0 || iy >= long(g.h)) continue;
        for (std::size_t kx = 0; kx < g.pw; ++kx) {
          const long ix = long(ox * g.sw + kx) - long(g.pl);
          if (ix < 0 || ix >= long(g.w)) continue;
          const float v = x[((b * g.h + std::size_t(iy)) * g.w + std::size_t(ix)) * g.c + c];
          best = max_of(best, v);
          sum += v;
          ++cnt;
        }
      }
      y[i] = is_max ? best : static_cast<float>(sum / double(cnt ? cnt : 1));
    });
  }

  /// Max pooling routes each output's gradient to the first maximum of its window; average spreads it.
  static void pool2d_backward(const PoolGradArgs& a) {
    const siamese::detail::PoolGeom g = a.geom;
    const bool is_max = a.is_max;
    const float *x = a.x, *y = a.y, *dy = a.dy;
    float* dx = a.dx;
    const std::size_t n = a.n;
    X::launch("pool2d_backward", n * g.h * g.w * g.c, [=] __host__ __device__(std::size_t i) {
      const std::size_t c = i % g.c, ix = (i / g.c) % g.w, iy = (i / (g.c * g.w)) % g.h, b = i / (g.c * g.w * g.h);
      // Windows covering iy: oy * sh - pt <= iy < oy * sh - pt + ph.
      const long ty = long(iy + g.pt), tx = long(ix + g.pl);
      const long oy_lo = ty - long(g.ph) + 1 > 0 ? (ty - long(g.ph) + 1 + long(g.sh) - 1) / long(g.sh) : 0;
      const long ox_lo = tx - long(g.pw) + 1 > 0 ? (tx - long(g.pw) + 1 + long(g.sw) - 1) / long(g.sw) : 0;
      const long oy_hi = ty / long(g.sh) < long(g.oh) - 1 ? ty / long(g.sh) : long(g.oh) - 1;
      const long ox_hi = tx / long(g.sw) < long(g.ow) - 1 ? tx / long(g.sw) : long(g.ow) - 1;
      float acc = 0.0f;
      for (long oy = oy_lo; oy <= oy_hi; ++oy)
        for (long ox = ox_lo; ox <= ox_hi; ++ox) {
          const std::size_t o = ((b * g.oh + std::size_t(oy)) * g.ow + std::size_t(ox)) * g.c + c;
          std::size_t cnt = 0;
          bool mine = false, found = false;
          for (std::size_t ky = 0; ky < g.ph; ++ky) {
            const long wy = oy * long(g.sh) + long(ky) - long(g.pt);
            if (wy < 0 || wy >= long(g.h)) continue;
            for (std::size_t kx = 0; kx < g.pw; ++kx) {
              const long wx = ox * long(g.sw) + long(kx) - long(g.pl);
              if (wx < 0 || wx >= long(g.w)) continue;
              ++cnt;
              if (is_max && !found && x[((b * g.h + std::size_t(wy)) * g.w + std::size_t(wx)) * g.c + c] == y[o]) {
                found = true;
                mine = wy == long(iy) && wx == long(ix);
              }
            }
          }
          if (!is_max) acc += dy[o] / float(cnt);
          else if (mine) acc += dy[o];
        }
      dx[i] = acc;
    });
  }

  /// Global max or average over the rows of each sample: x (n, rows, c) -> y (n, c).
  static void global_pool_forward(const RowPoolArgs& a) {
    const bool is_max = a.is_max;
    const float* x = a.x;
    float* y = a.y;
    const std::size_t n = a.n, rows = a.rows, c = a.c;
    X::launch("global_pool_forward", n * c, [=] __host__ __device__(std::size_t i) {
      const std::size_t b = i / c, k = i % c;
      float best = -std::numeric_limits<float>::infinity();
      double sum = 0;
      for (std::size_t r = 0; r < rows; ++r) {
        const float v = x[(b * rows + r) * c + k];
        best = max_of(best, v);
        sum += v;
      }
      y[i] = is_max ? best : static_cast<float>(sum / double(rows));
    });
  }
  static void global_pool_backward(const RowPoolGradArgs& a) {
    const bool is_max = a.is_max;
    const float *x = a.x, *y = a.y, *dy = a.dy;
    float* dx = a.dx;
    const std::size_t n = a.n, rows = a.rows, c = a.c;
    X::launch("global_pool_backward", n * c, [=] __host__ __device__(std::size_t i) {
      const std::size_t b = i / c, k = i % c;
      bool done = false;
      for (std::size_t r = 0; r < rows; ++r) {
        const std::size_t j = (b * rows + r) * c + k;
        if (!is_max) {
          dx[j] = dy[i] / float(rows);
        } else {
          const bool hit = !done && x[j] == y[i];
          dx[j] = hit ? dy[i] : 0.0f;
          done = done || hit;
        }
      }
    });
  }
};

}  // namespace siamese::backend::detail_cuda
