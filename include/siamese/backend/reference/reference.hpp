#pragma once
// backend::Reference: every kernel as plain loops, written for obviousness, not speed. It is the
// oracle that the fast backends are tested against, so nothing here calls another backend's code.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <vector>

#include "../concept.hpp"
#include "../../core/buffer.hpp"
#include "../../core/random.hpp"
#include "../kinds.hpp"
#include "bert_kernels.hpp"
#include "attention_kernels.hpp"
#include "sequence_kernels.hpp"

namespace siamese::backend {

/// The reference backend: host memory, scalar loops, double accumulation where it matters.
/// A backend is a struct of static kernels over raw pointers in its own memory space; layers call
/// only these, so a backend that derives from Reference replaces kernels one at a time.
struct Reference : detail_reference::SequenceKernels, detail_reference::BertKernels,
                   detail_reference::AttentionKernels {
  using Buffer = HostBuffer;
  static constexpr const char* name = "Reference";

  // ---- memory ------------------------------------------------------------------------------
  static void to_device(float* dst, const float* host, std::size_t n) { std::memcpy(dst, host, n * sizeof(float)); }
  static void to_host(float* host, const float* src, std::size_t n) { std::memcpy(host, src, n * sizeof(float)); }
  static void copy(float* dst, const float* src, std::size_t n) {
    if (dst != src) std::memmove(dst, src, n * sizeof(float));
  }
  static void fill(float* dst, float v, std::size_t n) { std::fill(dst, dst + n, v); }
  /// y += x
  static void add(float* y, const float* x, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) y[i] += x[i];
  }
  /// Copies a rows x cols block between row-major matrices of leading dimensions ld_dst, ld_src.
  static void copy_cols(float* dst, std::size_t ld_dst, const float* src, std::size_t ld_src, std::size_t rows,
                        std::size_t cols) {
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < cols; ++c) dst[r * ld_dst + c] = src[r * ld_src + c];
  }

  // ---- dense algebra -----------------------------------------------------------------------
  /// Row-major C = alpha * op(A) * op(B) + beta * C; beta == 0 never reads C.
  static void gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, float alpha, const float* a,
                   std::size_t lda, const float* b, std::size_t ldb, float beta, float* c, std::size_t ldc) {
    for (std::size_t i = 0; i < m; ++i)
      for (std::size_t j = 0; j < n; ++j) {
        double s = 0;
        for (std::size_t p = 0; p < k; ++p)
          s += double(ta ? a[p * lda + i] : a[i * lda + p]) * double(tb ? b[j * ldb + p] : b[p * ldb + j]);
        const float prev = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
        c[i * ldc + j] = alpha * static_cast<float>(s) + prev;
      }
  }
  /// y[r, c] += bias[c]
  static void add_bias(float* y, const float* bias, std::size_t rows, std::size_t cols) {
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < cols; ++c) y[r * cols + c] += bias[c];
  }
  /// db[c] = sum_r dy[r, c]
  static void bias_grad(const float* dy, float* db, std::size_t rows, std::size_t cols) {
    for (std::size_t c = 0; c < cols; ++c) {
      double s = 0;
      for (std::size_t r = 0; r < rows; ++r) s += dy[r * cols + c];
      db[c] = static_cast<float>(s);
    }
  }

  // ---- activations -------------------------------------------------------------------------
  static float act1(Act a, float x) {
    switch (a) {
      case Act::ReLU: return x > 0 ? x : 0.0f;
      case Act::Sigmoid: return x >= 0 ? 1.0f / (1.0f + std::exp(-x)) : std::exp(x) / (1.0f + std::exp(x));
      case Act::Tanh: return std::tanh(x);
      case Act::GELU: return gelu1(x);
      default: return x;
    }
  }
  /// y = act(x); x and y may alias.
  static void activation(Act a, const float* x, float* y, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) y[i] = act1(a, x[i]);
  }
  /// dx = dy * act'(x), written through the output y = act(x); dx may alias dy. Not for GELU, whose
  /// derivative needs x: gelu_backward.
  static void activation_backward(Act a, const float* y, const float* dy, float* dx, std::size_t n) {
    if (a == Act::GELU) throw std::invalid_argument("activation_backward: GELU's derivative needs its input; use gelu_backward");
    for (std::size_t i = 0; i < n; ++i) {
      float d = 1.0f;
      if (a == Act::ReLU) d = y[i] > 0 ? 1.0f : 0.0f;
      else if (a == Act::Sigmoid) d = y[i] * (1.0f - y[i]);
      else if (a == Act::Tanh) d = 1.0f - y[i] * y[i];
      dx[i] = dy[i] * d;
    }
  }

  // ---- convolution (NHWC, HWIO) ----------------------------------------------------------------
  static void conv2d_forward(const detail::ConvGeom& g, const float* x, const float* w, const float* bias, float* y,
                             std::size_t n) {
    for (std::size_t b = 0; b < n; ++b)
      for (std::size_t oy = 0; oy < g.oh; ++oy)
        for (std::size_t ox = 0; ox < g.ow; ++ox)
          for (std::size_t f = 0; f < g.f; ++f) {
            double s = bias ? bias[f] : 0.0;
            for (std::size_t ky = 0; ky < g.kh; ++ky) {
              const long iy = long(oy * g.sh + ky) - long(g.pt);
              if (iy < 0 || iy >= long(g.h)) continue;
              for (std::size_t kx = 0; kx < g.kw; ++kx) {
                const long ix = long(ox * g.sw + kx) - long(g.pl);
                if (ix < 0 || ix >= long(g.w)) continue;
                const float* xp = x + ((b * g.h + iy) * g.w + ix) * g.c;
                const float* wp = w + (ky * g.kw + kx) * g.c * g.f + f;
                for (std::size_t c = 0; c < g.c; ++c) s += double(xp[c]) * wp[c * g.f];
              }
            }
            y[((b * g.oh + oy) * g.ow + ox) * g.f + f] = static_cast<float>(s);
          }
  }
  /// dx (if not null) = conv^T(dy); dw, db (if not null) = parameter gradients, overwritten.
  static void conv2d_backward(const detail::ConvGeom& g, const float* x, const float* w, const float* dy, float* dx,
                              float* dw, float* db, std::size_t n) {
    if (dx) fill(dx, 0.0f, n * g.h * g.w * g.c);
    if (dw) fill(dw, 0.0f, g.kh * g.kw * g.c * g.f);
    if (db) bias_grad(dy, db, n * g.oh * g.ow, g.f);
    for (std::size_t b = 0; b < n; ++b)
      for (std::size_t oy = 0; oy < g.oh; ++oy)
        for (std::size_t ox = 0; ox < g.ow; ++ox)
          for (std::size_t ky = 0; ky < g.kh; ++ky) {
            const long iy = long(oy * g.sh + ky) - long(g.pt);
            if (iy < 0 || iy >= long(g.h)) continue;
            for (std::size_t kx = 0; kx < g.kw; ++kx) {
              const long ix = long(ox * g.sw + kx) - long(g.pl);
              if (ix < 0 || ix >= long(g.w)) continue;
              const float* d = dy + ((b * g.oh + oy) * g.ow + ox) * g.f;
              const std::size_t xo = ((b * g.h + iy) * g.w + ix) * g.c;
              const std::size_t wo = (ky * g.kw + kx) * g.c * g.f;
              for (std::size_t c = 0; c < g.c; ++c)
                for (std::size_t f = 0; f < g.f; ++f) {
                  if (dx) dx[xo + c] += w[wo + c * g.f + f] * d[f];
                  if (dw) dw[wo + c * g.f + f] += x[xo + c] * d[f];
                }
            }
          }
  }

  // ---- pooling -----------------------------------------------------------------------------
  /// Max or average pooling; padded cells are ignored (average over the cells inside the map).
  static void pool2d_forward(const detail::PoolGeom& g, bool is_max, const float* x, float* y, std::size_t n) {
    for (std::size_t b = 0; b < n; ++b)
      for (std::size_t oy = 0; oy < g.oh; ++oy)
        for (std::size_t ox = 0; ox < g.ow; ++ox)
          for (std::size_t c = 0; c < g.c; ++c) {
            float best = -std::numeric_limits<float>::infinity();
            double sum = 0;
            std::size_t cnt = 0;
            for_window(g, oy, ox, [&](std::size_t iy, std::size_t ix) {
              const float v = x[((b * g.h + iy) * g.w + ix) * g.c + c];
              best = std::max(best, v);
              sum += v;
              ++cnt;
            });
            y[((b * g.oh + oy) * g.ow + ox) * g.c + c] = is_max ? best : static_cast<float>(sum / double(cnt ? cnt : 1));
          }
  }
  /// Max pooling routes each gradient to the first maximum of its window; average spreads it.
  static void pool2d_backward(const detail::PoolGeom& g, bool is_max, const float* x, const float* y, const float* dy,
                              float* dx, std::size_t n) {
    fill(dx, 0.0f, n * g.h * g.w * g.c);
    for (std::size_t b = 0; b < n; ++b)
      for (std::size_t oy = 0; oy < g.oh; ++oy)
        for (std::size_t ox = 0; ox < g.ow; ++ox)
          for (std::size_t c = 0; c < g.c; ++c) {
            const std::size_t o = ((b * g.oh + oy) * g.ow + ox) * g.c + c;
            std::size_t cnt = 0;
            bool done = false;
            for_window(g, oy, ox, [&](std::size_t, std::size_t) { ++cnt; });
            for_window(g, oy, ox, [&](std::size_t iy, std::size_t ix) {
              const std::size_t i = ((b * g.h + iy) * g.w + ix) * g.c + c;
              if (!is_max) dx[i] += dy[o] / float(cnt);
              else if (!done && x[i] == y[o]) {
                dx[i] += dy[o];
                done = true;
              }
            });
          }
  }
  /// Global max or average over the rows of each sample: x (n, rows, c) -> y (n, c).
  static void global_pool_forward(bool is_max, const float* x, float* y, std::size_t n, std::size_t rows,
                                  std::size_t c) {
    for (std::size_t b = 0; b < n; ++b)
      for (std::size_t k = 0; k < c; ++k) {
        float best = -std::numeric_limits<float>::infinity();
        double sum = 0;
        for (std::size_t r = 0; r < rows; ++r) {
          const float v = x[(b * rows + r) * c + k];
          best = std::max(best, v);
          sum += v;
        }
        y[b * c + k] = is_max ? best : static_cast<float>(sum / double(rows));
      }
  }
  static void global_pool_backward(bool is_max, const float* x, const float* y, const float* dy, float* dx,
                                   std::size_t n, std::size_t rows, std::size_t c) {
    for (std::size_t b = 0; b < n; ++b)
      for (std::size_t k = 0; k < c; ++k) {
        bool done = false;
        for (std::size_t r = 0; r < rows; ++r) {
          const std::size_t i = (b * rows + r) * c + k;
          if (!is_max) dx[i] = dy[b * c + k] / float(rows);
          else {
            const bool hit = !done && x[i] == y[b * c + k];
            dx[i] = hit ? dy[b * c + k] : 0.0f;
            done = done || hit;
          }
        }
      }
  }

  // ---- dropout and batch normalisation ---------------------------------------------------------
  /// Inverted dropout: mask[i] is 0 or 1/(1-rate), a pure function of (seed, i).
  static void dropout_forward(const float* x, float* y, float* mask, float rate, std::uint64_t seed, std::size_t n) {
    const float keep = 1.0f / (1.0f - rate);
    for (std::size_t i = 0; i < n; ++i) {
      mask[i] = detail::to_unit(detail::hash2(seed, i)) < rate ? 0.0f : keep;
      y[i] = x[i] * mask[i];
    }
  }
  static void mul(const float* a, const float* b, float* y, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) y[i] = a[i] * b[i];
  }
  /// Normalises each of `c` channels over `rows` rows. Training uses the batch statistics and updates
  /// the moving ones; inference uses the moving ones. xhat (rows*c) and inv_std (c) are kept for backward.
  static void batchnorm_forward(const float* x, float* y, const float* gamma, const float* beta, float* moving_mean,
                                float* moving_var, float* xhat, float* inv_std, std::size_t rows, std::size_t c,
                                float momentum, float eps, bool training) {
    for (std::size_t k = 0; k < c; ++k) {
      double mean = 0, var = 0;
      if (training) {
        for (std::size_t r = 0; r < rows; ++r) mean += x[r * c + k];
        mean /= double(rows);
        for (std::size_t r = 0; r < rows; ++r) var += (x[r * c + k] - mean) * (x[r * c + k] - mean);
        var /= double(rows);
        moving_mean[k] = momentum * moving_mean[k] + (1 - momentum) * float(mean);
        moving_var[k] = momentum * moving_var[k] + (1 - momentum) * float(var);
      } else {
        mean = moving_mean[k];
        var = moving_var[k];
      }
      const float is = static_cast<float>(1.0 / std::sqrt(var + eps));
      inv_std[k] = is;
      for (std::size_t r = 0; r < rows; ++r) {
        const float h = (x[r * c + k] - float(mean)) * is;
        xhat[r * c + k] = h;
        y[r * c + k] = gamma[k] * h + beta[k];
      }
    }
  }
  static void batchnorm_backward(const float* dy, const float* gamma, const float* xhat, const float* inv_std,
                                 float* dx, float* dgamma, float* dbeta, std::size_t rows, std::size_t c) {
    for (std::size_t k = 0; k < c; ++k) {
      double sdy = 0, sdyh = 0;
      for (std::size_t r = 0; r < rows; ++r) {
        sdy += dy[r * c + k];
        sdyh += double(dy[r * c + k]) * xhat[r * c + k];
      }
      if (dgamma) dgamma[k] = float(sdyh);
      if (dbeta) dbeta[k] = float(sdy);
      if (!dx) continue;
      const double m = double(rows);
      for (std::size_t r = 0; r < rows; ++r)
        dx[r * c + k] = float(gamma[k] * inv_std[k] / m * (m * dy[r * c + k] - sdy - xhat[r * c + k] * sdyh));
    }
  }

  // ---- pair features ---------------------------------------------------------------------------
  /// Writes the feature of rows a[i], b[i] (width d) into out[i*ld ...] (d columns, or 1 for scalars).
  static void pair_feature_forward(PairFeature f, const float* a, const float* b, float* out, std::size_t ld,
                                   std::size_t n, std::size_t d) {
    for (std::size_t i = 0; i < n; ++i) {
      const float* x = a + i * d;
      const float* z = b + i * d;
      float* o = out + i * ld;
      if (f == PairFeature::Cosine || f == PairFeature::Euclidean) {
        double xx = 0, zz = 0, xz = 0, dd = 0;
        for (std::size_t j = 0; j < d; ++j) {
          xx += double(x[j]) * x[j];
          zz += double(z[j]) * z[j];
          xz += double(x[j]) * z[j];
          dd += double(x[j] - z[j]) * (x[j] - z[j]);
        }
        o[0] = f == PairFeature::Cosine ? float(xz / (std::sqrt(std::max(xx, kEps)) * std::sqrt(std::max(zz, kEps))))
                                        : float(std::sqrt(dd + kEps));
        continue;
      }
      for (std::size_t j = 0; j < d; ++j) {
        const float p = x[j], q = z[j];
        switch (f) {
          case PairFeature::SqDiff: o[j] = (p - q) * (p - q); break;
          case PairFeature::DiffSq: o[j] = p * p - q * q; break;
          case PairFeature::AbsDiff: o[j] = std::fabs(p - q); break;
          case PairFeature::AbsDiffSq: o[j] = std::fabs((p - q) * (p + q)); break;  // exactly 0 when p == q
          default: o[j] = p * q; break;
        }
      }
    }
  }
  /// Adds the feature's gradient with respect to a and b into da and db.
  static void pair_feature_backward(PairFeature f, const float* a, const float* b, const float* dout, std::size_t ld,
                                    float* da, float* db, std::size_t n, std::size_t d) {
    for (std::size_t i = 0; i < n; ++i) {
      const float* x = a + i * d;
      const float* z = b + i * d;
      const float* g = dout + i * ld;
      float* gx = da + i * d;
      float* gz = db + i * d;
      if (f == PairFeature::Cosine) {
        double xx = 0, zz = 0, xz = 0;
        for (std::size_t j = 0; j < d; ++j) {
          xx += double(x[j]) * x[j];
          zz += double(z[j]) * z[j];
          xz += double(x[j]) * z[j];
        }
        const double nx = std::sqrt(std::max(xx, kEps)), nz = std::sqrt(std::max(zz, kEps));
        const double cs = xz / (nx * nz);
        for (std::size_t j = 0; j < d; ++j) {
          gx[j] += float(g[0] * (z[j] / (nx * nz) - cs * x[j] / (nx * nx)));
          gz[j] += float(g[0] * (x[j] / (nx * nz) - cs * z[j] / (nz * nz)));
        }
        continue;
      }
      if (f == PairFeature::Euclidean) {
        double dd = 0;
        for (std::size_t j = 0; j < d; ++j) dd += double(x[j] - z[j]) * (x[j] - z[j]);
        const double dist = std::sqrt(dd + kEps);
        for (std::size_t j = 0; j < d; ++j) {
          const float t = float(g[0] * (x[j] - z[j]) / dist);
          gx[j] += t;
          gz[j] -= t;
        }
        continue;
      }
      for (std::size_t j = 0; j < d; ++j) {
        const float p = x[j], q = z[j], o = g[j];
        switch (f) {
          case PairFeature::SqDiff: gx[j] += 2 * (p - q) * o; gz[j] -= 2 * (p - q) * o; break;
          case PairFeature::DiffSq: gx[j] += 2 * p * o; gz[j] -= 2 * q * o; break;
          case PairFeature::AbsDiff: {
            const float s = p > q ? 1.0f : p < q ? -1.0f : 0.0f;
            gx[j] += s * o;
            gz[j] -= s * o;
            break;
          }
          case PairFeature::AbsDiffSq: {
            const float v = (p - q) * (p + q), s = v > 0 ? 1.0f : v < 0 ? -1.0f : 0.0f;
            gx[j] += 2 * p * s * o;
            gz[j] -= 2 * q * s * o;
            break;
          }
          default: gx[j] += q * o; gz[j] += p * o; break;
        }
      }
    }
  }

  // ---- losses: each returns the mean loss over n and writes the gradient of that mean ----------
  /// Binary cross-entropy from logits z with targets t in [0, 1], stable for any z.
  static float bce_logits(const float* z, const float* t, float* dz, std::size_t n) {
    double s = 0;
    for (std::size_t i = 0; i < n; ++i) {
      s += std::max(z[i], 0.0f) - double(z[i]) * t[i] + std::log1p(std::exp(-std::fabs(double(z[i]))));
      if (dz) dz[i] = (act1(Act::Sigmoid, z[i]) - t[i]) / float(n);
    }
    return float(s / double(n));
  }
  /// Contrastive loss (Hadsell et al. 2006), t = 1 for similar pairs:
  /// 0.5 * (t * d^2 + (1 - t) * max(0, margin - d)^2), d the Euclidean distance.
  static float contrastive(const float* a, const float* b, const float* t, float* da, float* db, std::size_t n,
                           std::size_t d, float margin) {
    double s = 0;
    for (std::size_t i = 0; i < n; ++i) {
      double dd = 0;
      for (std::size_t j = 0; j < d; ++j) dd += double(a[i * d + j] - b[i * d + j]) * (a[i * d + j] - b[i * d + j]);
      const double dist = std::sqrt(dd + kEps), hinge = std::max(0.0, margin - dist);
      s += 0.5 * (t[i] * dd + (1 - t[i]) * hinge * hinge);
      // d/d(a) of 0.5 t d^2 = t (a-b); of 0.5 h^2 = -h (a-b)/d
      const double coef = (t[i] - (1 - t[i]) * hinge / dist) / double(n);
      for (std::size_t j = 0; j < d; ++j) {
        const float g = float(coef * (a[i * d + j] - b[i * d + j]));
        if (da) da[i * d + j] = g;
        if (db) db[i * d + j] = -g;
      }
    }
    return float(s / double(n));
  }
  /// Distance between rows x and z and its gradients with respect to both.
  static double distance(Distance k, const float* x, const float* z, std::size_t d, double* gx, double* gz) {
    if (k == Distance::Cosine) {
      double xx = 0, zz = 0, xz = 0;
      for (std::size_t j = 0; j < d; ++j) {
        xx += double(x[j]) * x[j];
        zz += double(z[j]) * z[j];
        xz += double(x[j]) * z[j];
      }
      const double nx = std::sqrt(std::max(xx, kEps)), nz = std::sqrt(std::max(zz, kEps)), cs = xz / (nx * nz);
      for (std::size_t j = 0; j < d && gx; ++j) {
        gx[j] = -(z[j] / (nx * nz) - cs * x[j] / (nx * nx));
        gz[j] = -(x[j] / (nx * nz) - cs * z[j] / (nz * nz));
      }
      return 1.0 - cs;
    }
    double dd = 0;
    for (std::size_t j = 0; j < d; ++j) dd += double(x[j] - z[j]) * (x[j] - z[j]);
    const double dist = k == Distance::Euclidean ? std::sqrt(dd + kEps) : dd;
    for (std::size_t j = 0; j < d && gx; ++j) {
      const double g = k == Distance::Euclidean ? (x[j] - z[j]) / dist : 2.0 * (x[j] - z[j]);
      gx[j] = g;
      gz[j] = -g;
    }
    return dist;
  }
  /// Triplet loss mean(max(d(a, p) - d(a, n) + margin, 0)).
  static float triplet(const float* a, const float* p, const float* q, float* da, float* dp, float* dq, std::size_t n,
                       std::size_t d, float margin, Distance k) {
    double s = 0;
    std::vector<double> buf(da ? 4 * d : 0);
    double *g1 = buf.data(), *g2 = g1 + d, *g3 = g2 + d, *g4 = g3 + d;
    for (std::size_t i = 0; i < n; ++i) {
      const double dp_ = distance(k, a + i * d, p + i * d, d, da ? g1 : nullptr, da ? g2 : nullptr);
      const double dn_ = distance(k, a + i * d, q + i * d, d, da ? g3 : nullptr, da ? g4 : nullptr);
      const double l = dp_ - dn_ + margin;
      const bool active = !(l <= 0);  // a NaN distance stays active, so a NaN loss surfaces
      if (active) s += l;
      if (!da) continue;
      for (std::size_t j = 0; j < d; ++j) {
        da[i * d + j] = active ? float((g1[j] - g3[j]) / double(n)) : 0.0f;
        dp[i * d + j] = active ? float(g2[j] / double(n)) : 0.0f;
        dq[i * d + j] = active ? float(-g4[j] / double(n)) : 0.0f;
      }
    }
    return float(s / double(n));
  }

  // ---- optimizers and gradient utilities -----------------------------------------------------------
  static double sum_squares(const float* x, std::size_t n) {
    double s = 0;
    for (std::size_t i = 0; i < n; ++i) s += double(x[i]) * x[i];
    return s;
  }
  static void scale(float* x, float s, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) x[i] *= s;
  }
  static void clip(float* x, float lim, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) x[i] = std::clamp(x[i], -lim, lim);
  }
  /// True when every element is finite.
  static bool all_finite(const float* x, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i)
      if (!std::isfinite(x[i])) return false;
    return true;
  }
  /// SGD with momentum as Keras defines it: v = mom*v - lr*g; w += v, or w += mom*v - lr*g (Nesterov).
  /// g includes the L2 term wd*w.
  static void sgd_step(float* w, const float* g, float* v, std::size_t n, float lr, float momentum, bool nesterov,
                       float wd) {
    for (std::size_t i = 0; i < n; ++i) {
      const float gi = g[i] + wd * w[i];
      if (momentum == 0.0f) {
        w[i] -= lr * gi;
        continue;
      }
      v[i] = momentum * v[i] - lr * gi;
      w[i] += nesterov ? momentum * v[i] - lr * gi : v[i];
    }
  }
  /// Adam (Kingma & Ba) with bias correction at step t >= 1. `l2` adds wd*w to the gradient (Adam's
  /// weight decay); `decoupled` subtracts lr*wd*w from the weights instead (AdamW).
  static void adam_step(float* w, const float* g, float* m, float* v, std::size_t n, float lr, float b1, float b2,
                        float eps, std::size_t t, float wd, bool decoupled) {
    const double c1 = 1.0 - std::pow(double(b1), double(t)), c2 = 1.0 - std::pow(double(b2), double(t));
    for (std::size_t i = 0; i < n; ++i) {
      const float gi = decoupled ? g[i] : g[i] + wd * w[i];
      m[i] = b1 * m[i] + (1 - b1) * gi;
      v[i] = b2 * v[i] + (1 - b2) * gi * gi;
      const double mh = m[i] / c1, vh = v[i] / c2;
      if (decoupled) w[i] -= lr * wd * w[i];
      w[i] -= float(lr * mh / (std::sqrt(vh) + eps));
    }
  }
  /// sgd_step / adam_step on each of `rows` rows `width` wide whose gradient is not all zero; the
  /// other rows (and their slots) are left as they are: the update of a row-sparse gradient.
  static void sgd_step_rows(float* w, const float* g, float* v, std::size_t rows, std::size_t width, float lr,
                            float momentum, bool nesterov, float wd) {
    for (std::size_t r = 0; r < rows; ++r)
      if (any_nonzero_row(g + r * width, width))
        sgd_step(w + r * width, g + r * width, v + r * width, width, lr, momentum, nesterov, wd);
  }
  static void adam_step_rows(float* w, const float* g, float* m, float* v, std::size_t rows, std::size_t width,
                             float lr, float b1, float b2, float eps, std::size_t t, float wd, bool decoupled) {
    for (std::size_t r = 0; r < rows; ++r)
      if (any_nonzero_row(g + r * width, width))
        adam_step(w + r * width, g + r * width, m + r * width, v + r * width, width, lr, b1, b2, eps, t, wd,
                  decoupled);
  }
  static bool any_nonzero_row(const float* g, std::size_t width) {
    for (std::size_t k = 0; k < width; ++k)
      if (g[k] != 0.0f) return true;
    return false;
  }

  static constexpr double kEps = 1e-12;

 private:
  template <class F>
  static void for_window(const detail::PoolGeom& g, std::size_t oy, std::size_t ox, F&& f) {
    for (std::size_t ky = 0; ky < g.ph; ++ky) {
      const long iy = long(oy * g.sh + ky) - long(g.pt);
      if (iy < 0 || iy >= long(g.h)) continue;
      for (std::size_t kx = 0; kx < g.pw; ++kx) {
        const long ix = long(ox * g.sw + kx) - long(g.pl);
        if (ix < 0 || ix >= long(g.w)) continue;
        f(std::size_t(iy), std::size_t(ix));
      }
    }
  }
};
static_assert(Backend<Reference>);

}  // namespace siamese::backend
