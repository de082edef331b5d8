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

#include "../contract.hpp"
#include "../../core/buffer.hpp"
#include "../../core/random.hpp"
#include "../args.hpp"
#include "../fusions.hpp"
#include "../kinds.hpp"
#include "../pair_feature.hpp"
#include "../class_margin_rows.hpp"
#include "../similarity_rows.hpp"
#include "attention_kernels.hpp"
#include "bert_kernels.hpp"
#include "sequence_kernels.hpp"

namespace siamese::backend {

/// The reference backend: host memory, scalar loops, double accumulation where it matters.
/// A backend is a struct of static kernels over raw pointers in its own memory space, each taking its
/// args struct (backend/args.hpp); layers call only these, so a backend that derives from Reference
/// replaces kernels one at a time, with the same signatures. backend/contract.hpp lists the kernels:
/// a new kernel goes there too, so that every backend is checked for it.
struct Reference : detail_reference::SequenceKernels, detail_reference::BertKernels,
                   detail_reference::AttentionKernels {
  using Buffer = HostBuffer;
  static constexpr const char* name = "Reference";
  static constexpr Fusions fusions{};  // none: the layers compose the plain kernels

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
  static void copy_cols(const CopyColsArgs& a) {
    for (std::size_t r = 0; r < a.rows; ++r)
      for (std::size_t c = 0; c < a.cols; ++c) a.dst[r * a.ld_dst + c] = a.src[r * a.ld_src + c];
  }

  // ---- dense algebra -----------------------------------------------------------------------
  static void gemm(const GemmArgs& g) {
    for (std::size_t i = 0; i < g.m; ++i)
      for (std::size_t j = 0; j < g.n; ++j) {
        double s = 0;
        for (std::size_t p = 0; p < g.k; ++p)
          s += double(g.trans_a ? g.a[p * g.lda + i] : g.a[i * g.lda + p]) *
               double(g.trans_b ? g.b[j * g.ldb + p] : g.b[p * g.ldb + j]);
        const float prev = g.beta == 0.0f ? 0.0f : g.beta * g.c[i * g.ldc + j];
        g.c[i * g.ldc + j] = g.alpha * static_cast<float>(s) + prev;
      }
  }
  static void add_bias(const BiasArgs& a) {
    for (std::size_t r = 0; r < a.rows; ++r)
      for (std::size_t c = 0; c < a.cols; ++c) a.y[r * a.cols + c] += a.bias[c];
  }
  static void bias_grad(const BiasGradArgs& a) {
    for (std::size_t c = 0; c < a.cols; ++c) {
      double s = 0;
      for (std::size_t r = 0; r < a.rows; ++r) s += a.dy[r * a.cols + c];
      a.db[c] = static_cast<float>(s);
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
  static void activation(const ActivationArgs& a) {
    for (std::size_t i = 0; i < a.n; ++i) a.y[i] = act1(a.act, a.x[i]);
  }
  /// Not for GELU, whose derivative needs x: gelu_backward.
  static void activation_backward(const ActivationGradArgs& a) {
    if (a.act == Act::GELU)
      throw std::invalid_argument("activation_backward: GELU's derivative needs its input; use gelu_backward");
    for (std::size_t i = 0; i < a.n; ++i) {
      float d = 1.0f;
      if (a.act == Act::ReLU) d = a.y[i] > 0 ? 1.0f : 0.0f;
      else if (a.act == Act::Sigmoid) d = a.y[i] * (1.0f - a.y[i]);
      else if (a.act == Act::Tanh) d = 1.0f - a.y[i] * a.y[i];
      a.dx[i] = a.dy[i] * d;
    }
  }

  // ---- convolution (NHWC, HWIO) ----------------------------------------------------------------
  static void conv2d_forward(const ConvArgs& a) {
    const siamese::detail::ConvGeom& g = a.geom;
    for (std::size_t b = 0; b < a.n; ++b)
      for (std::size_t oy = 0; oy < g.oh; ++oy)
        for (std::size_t ox = 0; ox < g.ow; ++ox)
          for (std::size_t f = 0; f < g.f; ++f) {
            double s = a.bias ? a.bias[f] : 0.0;
            for (std::size_t ky = 0; ky < g.kh; ++ky) {
              const long iy = long(oy * g.sh + ky) - long(g.pt);
              if (iy < 0 || iy >= long(g.h)) continue;
              for (std::size_t kx = 0; kx < g.kw; ++kx) {
                const long ix = long(ox * g.sw + kx) - long(g.pl);
                if (ix < 0 || ix >= long(g.w)) continue;
                const float* xp = a.x + ((b * g.h + iy) * g.w + ix) * g.c;
                const float* wp = a.w + (ky * g.kw + kx) * g.c * g.f + f;
                for (std::size_t c = 0; c < g.c; ++c) s += double(xp[c]) * wp[c * g.f];
              }
            }
            a.y[((b * g.oh + oy) * g.ow + ox) * g.f + f] = static_cast<float>(s);
          }
  }
  static void conv2d_backward(const ConvGradArgs& a) {
    const siamese::detail::ConvGeom& g = a.geom;
    if (a.dx) fill(a.dx, 0.0f, a.n * g.h * g.w * g.c);
    if (a.dw) fill(a.dw, 0.0f, g.kh * g.kw * g.c * g.f);
    if (a.db) bias_grad({.dy = a.dy, .db = a.db, .rows = a.n * g.oh * g.ow, .cols = g.f});
    for (std::size_t b = 0; b < a.n; ++b)
      for (std::size_t oy = 0; oy < g.oh; ++oy)
        for (std::size_t ox = 0; ox < g.ow; ++ox)
          for (std::size_t ky = 0; ky < g.kh; ++ky) {
            const long iy = long(oy * g.sh + ky) - long(g.pt);
            if (iy < 0 || iy >= long(g.h)) continue;
            for (std::size_t kx = 0; kx < g.kw; ++kx) {
              const long ix = long(ox * g.sw + kx) - long(g.pl);
              if (ix < 0 || ix >= long(g.w)) continue;
              const float* d = a.dy + ((b * g.oh + oy) * g.ow + ox) * g.f;
              const std::size_t xo = ((b * g.h + iy) * g.w + ix) * g.c;
              const std::size_t wo = (ky * g.kw + kx) * g.c * g.f;
              for (std::size_t c = 0; c < g.c; ++c)
                for (std::size_t f = 0; f < g.f; ++f) {
                  if (a.dx) a.dx[xo + c] += a.w[wo + c * g.f + f] * d[f];
                  if (a.dw) a.dw[wo + c * g.f + f] += a.x[xo + c] * d[f];
                }
            }
          }
  }

  // ---- pooling -----------------------------------------------------------------------------
  /// Padded cells are ignored (the average is over the cells inside the map).
  static void pool2d_forward(const PoolArgs& a) {
    const siamese::detail::PoolGeom& g = a.geom;
    for (std::size_t b = 0; b < a.n; ++b)
      for (std::size_t oy = 0; oy < g.oh; ++oy)
        for (std::size_t ox = 0; ox < g.ow; ++ox)
          for (std::size_t c = 0; c < g.c; ++c) {
            float best = -std::numeric_limits<float>::infinity();
            double sum = 0;
            std::size_t cnt = 0;
            for_window(g, oy, ox, [&](std::size_t iy, std::size_t ix) {
              const float v = a.x[((b * g.h + iy) * g.w + ix) * g.c + c];
              best = std::max(best, v);
              sum += v;
              ++cnt;
            });
            a.y[((b * g.oh + oy) * g.ow + ox) * g.c + c] =
                a.is_max ? best : static_cast<float>(sum / double(cnt ? cnt : 1));
          }
  }
  /// Max pooling routes each gradient to the first maximum of its window; average spreads it.
  static void pool2d_backward(const PoolGradArgs& a) {
    const siamese::detail::PoolGeom& g = a.geom;
    fill(a.dx, 0.0f, a.n * g.h * g.w * g.c);
    for (std::size_t b = 0; b < a.n; ++b)
      for (std::size_t oy = 0; oy < g.oh; ++oy)
        for (std::size_t ox = 0; ox < g.ow; ++ox)
          for (std::size_t c = 0; c < g.c; ++c) {
            const std::size_t o = ((b * g.oh + oy) * g.ow + ox) * g.c + c;
            std::size_t cnt = 0;
            bool done = false;
            for_window(g, oy, ox, [&](std::size_t, std::size_t) { ++cnt; });
            for_window(g, oy, ox, [&](std::size_t iy, std::size_t ix) {
              const std::size_t i = ((b * g.h + iy) * g.w + ix) * g.c + c;
              if (!a.is_max) a.dx[i] += a.dy[o] / float(cnt);
              else if (!done && a.x[i] == a.y[o]) {
                a.dx[i] += a.dy[o];
                done = true;
              }
            });
          }
  }
  static void global_pool_forward(const RowPoolArgs& a) {
    for (std::size_t b = 0; b < a.n; ++b)
      for (std::size_t k = 0; k < a.c; ++k) {
        float best = -std::numeric_limits<float>::infinity();
        double sum = 0;
        for (std::size_t r = 0; r < a.rows; ++r) {
          const float v = a.x[(b * a.rows + r) * a.c + k];
          best = std::max(best, v);
          sum += v;
        }
        a.y[b * a.c + k] = a.is_max ? best : static_cast<float>(sum / double(a.rows));
      }
  }
  static void global_pool_backward(const RowPoolGradArgs& a) {
    for (std::size_t b = 0; b < a.n; ++b)
      for (std::size_t k = 0; k < a.c; ++k) {
        bool done = false;
        for (std::size_t r = 0; r < a.rows; ++r) {
          const std::size_t i = (b * a.rows + r) * a.c + k;
          if (!a.is_max) a.dx[i] = a.dy[b * a.c + k] / float(a.rows);
          else {
            const bool hit = !done && a.x[i] == a.y[b * a.c + k];
            a.dx[i] = hit ? a.dy[b * a.c + k] : 0.0f;
            done = done || hit;
          }
        }
      }
  }

  // ---- dropout and batch normalisation ---------------------------------------------------------
  static void dropout_forward(const DropoutArgs& a) {
    const float keep = 1.0f / (1.0f - a.rate);
    for (std::size_t i = 0; i < a.n; ++i) {
      a.mask[i] = siamese::detail::to_unit(siamese::detail::hash2(a.seed, i)) < a.rate ? 0.0f : keep;
      a.y[i] = a.x[i] * a.mask[i];
    }
  }
  /// y = a * b element-wise; y may alias a or b.
  static void mul(const float* a, const float* b, float* y, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) y[i] = a[i] * b[i];
  }
  static void batchnorm_forward(const BatchNormArgs& a) {
    const std::size_t c = a.c;
    for (std::size_t k = 0; k < c; ++k) {
      double mean = 0, var = 0;
      if (a.training) {
        for (std::size_t r = 0; r < a.rows; ++r) mean += a.x[r * c + k];
        mean /= double(a.rows);
        for (std::size_t r = 0; r < a.rows; ++r) var += (a.x[r * c + k] - mean) * (a.x[r * c + k] - mean);
        var /= double(a.rows);
        a.moving_mean[k] = a.momentum * a.moving_mean[k] + (1 - a.momentum) * float(mean);
        a.moving_var[k] = a.momentum * a.moving_var[k] + (1 - a.momentum) * float(var);
      } else {
        mean = a.moving_mean[k];
        var = a.moving_var[k];
      }
      const float is = static_cast<float>(1.0 / std::sqrt(var + a.eps));
      a.inv_std[k] = is;
      for (std::size_t r = 0; r < a.rows; ++r) {
        const float h = (a.x[r * c + k] - float(mean)) * is;
        a.xhat[r * c + k] = h;
        a.y[r * c + k] = a.gamma[k] * h + a.beta[k];
      }
    }
  }
  static void batchnorm_backward(const BatchNormGradArgs& a) {
    const std::size_t c = a.c;
    for (std::size_t k = 0; k < c; ++k) {
      double sdy = 0, sdyh = 0;
      for (std::size_t r = 0; r < a.rows; ++r) {
        sdy += a.dy[r * c + k];
        sdyh += double(a.dy[r * c + k]) * a.xhat[r * c + k];
      }
      if (a.dgamma) a.dgamma[k] = float(sdyh);
      if (a.dbeta) a.dbeta[k] = float(sdy);
      if (!a.dx) continue;
      if (!a.training) {
        for (std::size_t r = 0; r < a.rows; ++r) a.dx[r * c + k] = a.dy[r * c + k] * a.gamma[k] * a.inv_std[k];
        continue;
      }
      const double m = double(a.rows);
      for (std::size_t r = 0; r < a.rows; ++r)
        a.dx[r * c + k] =
            float(a.gamma[k] * a.inv_std[k] / m * (m * a.dy[r * c + k] - sdy - a.xhat[r * c + k] * sdyh));
    }
  }

  static void batchnorm_fold(const BatchNormFoldArgs& a) {
    for (std::size_t k = 0; k < a.c; ++k) {
      const double s = double(a.gamma[k]) / std::sqrt(double(a.moving_var[k]) + a.eps);
      a.bf[k] = float(a.beta[k] - a.moving_mean[k] * s);
      for (std::size_t r = 0; r < a.rows; ++r) a.wf[r * a.c + k] = float(a.w[r * a.c + k] * s);
    }
  }

  // ---- pair features: one kernel template per feature type, element-wise in float, row features
  // ---- in double -----------------------------------------------------------------------------------
  template <PairFeatureType F>
  static void pair_feature_forward(const PairFeatureArgs& a) {
    for (std::size_t i = 0; i < a.n; ++i) {
      const float* x = a.a + i * a.d;
      const float* z = a.b + i * a.d;
      float* o = a.out + i * a.ld;
      if constexpr (RowPairFeature<F>) {
        double s[F::sums];
        row_sums<F>(x, z, a.d, s);
        o[0] = float(F::value(s));
      } else {
        for (std::size_t j = 0; j < a.d; ++j) o[j] = F::forward(x[j], z[j]);
      }
    }
  }
  template <PairFeatureType F>
  static void pair_feature_backward(const PairFeatureGradArgs& a) {
    for (std::size_t i = 0; i < a.n; ++i) {
      const float* x = a.a + i * a.d;
      const float* z = a.b + i * a.d;
      const float* g = a.dout + i * a.ld;
      float* gx = a.da + i * a.d;
      float* gz = a.db + i * a.d;
      if constexpr (RowPairFeature<F>) {
        double s[F::sums], c[F::coefs];
        row_sums<F>(x, z, a.d, s);
        F::coefficients(s, double(g[0]), c);
        for (std::size_t j = 0; j < a.d; ++j) {
          const PairGrad<double> t = F::backward(double(x[j]), double(z[j]), static_cast<const double*>(c));
          gx[j] += float(t.a);
          gz[j] += float(t.b);
        }
      } else {
        for (std::size_t j = 0; j < a.d; ++j) {
          const PairGrad<float> t = F::backward(x[j], z[j], g[j]);
          gx[j] += t.a;
          gz[j] += t.b;
        }
      }
    }
  }

  // ---- losses: each returns the mean loss over n and writes the gradient of that mean ----------
  /// Binary cross-entropy from logits, stable for any z.
  static float bce_logits(const BceArgs& a) {
    double s = 0;
    for (std::size_t i = 0; i < a.n; ++i) {
      s += std::max(a.z[i], 0.0f) - double(a.z[i]) * a.t[i] + std::log1p(std::exp(-std::fabs(double(a.z[i]))));
      if (a.dz) a.dz[i] = (act1(Act::Sigmoid, a.z[i]) - a.t[i]) / float(a.n);
    }
    return float(s / double(a.n));
  }
  /// Contrastive loss (Hadsell et al. 2006), t = 1 for similar pairs, d the Euclidean distance.
  static float contrastive(const ContrastiveArgs& c) {
    const std::size_t n = c.n, d = c.d;
    double s = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const float* a = c.a + i * d;
      const float* b = c.b + i * d;
      double dd = 0;
      for (std::size_t j = 0; j < d; ++j) dd += double(a[j] - b[j]) * (a[j] - b[j]);
      const double dist = std::sqrt(dd + kEps), hinge = std::max(0.0, c.margin - dist);
      s += 0.5 * (c.t[i] * dd + (1 - c.t[i]) * hinge * hinge);
      // d/d(a) of 0.5 t d^2 = t (a-b); of 0.5 h^2 = -h (a-b)/d
      const double coef = (c.t[i] - (1 - c.t[i]) * hinge / dist) / double(n);
      for (std::size_t j = 0; j < d; ++j) {
        const float g = float(coef * (a[j] - b[j]));
        if (c.da) c.da[i * d + j] = g;
        if (c.db) c.db[i * d + j] = -g;
      }
    }
    return float(s / double(n));
  }
  /// Distance between rows x and z and its gradients with respect to both (a helper, not a kernel).
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
  static float triplet(const TripletArgs& t) {
    const std::size_t n = t.n, d = t.d;
    double s = 0;
    std::vector<double> buf(t.da ? 4 * d : 0);
    double *g1 = buf.data(), *g2 = g1 + d, *g3 = g2 + d, *g4 = g3 + d;
    for (std::size_t i = 0; i < n; ++i) {
      const bool grad = t.da != nullptr;
      const double dp_ = distance(t.distance, t.a + i * d, t.p + i * d, d, grad ? g1 : nullptr, grad ? g2 : nullptr);
      const double dn_ = distance(t.distance, t.a + i * d, t.q + i * d, d, grad ? g3 : nullptr, grad ? g4 : nullptr);
      const double l = dp_ - dn_ + t.margin;
      const bool active = !(l <= 0);  // a NaN distance stays active, so a NaN loss surfaces
      if (active) s += l;
      if (!grad) continue;
      for (std::size_t j = 0; j < d; ++j) {
        t.da[i * d + j] = active ? float((g1[j] - g3[j]) / double(n)) : 0.0f;
        t.dp[i * d + j] = active ? float(g2[j] / double(n)) : 0.0f;
        t.dq[i * d + j] = active ? float(-g4[j] / double(n)) : 0.0f;
      }
    }
    return float(s / double(n));
  }
  /// NTXent, SupCon or MultiSimilarity (with its miner) from a similarity matrix (args/losses.hpp).
  static float similarity_loss(const SimilarityLossArgs& a) {
    namespace sr = similarity_rows;
    double pos = 0, neg = 0;
    for (std::size_t i = 0; i < a.rows; ++i) pos += sr::count(a, i, 1), neg += sr::count(a, i, -1);
    const bool inactive = sr::inactive(a.kind, pos, neg);
    double loss = 0, counted = 0;
    std::vector<double> row(a.rows, 0.0);
    if (!inactive)
      for (std::size_t i = 0; i < a.rows; ++i) {
        row[i] = sr::row_loss(a, i);
        loss += row[i];
        counted += row[i] > 0 || !(row[i] == row[i]) ? 1.0 : 0.0;  // SupCon's normaliser (a NaN row counts)
      }
    const double norm = a.kind == SimilarityLossKind::NTXent ? pos
                        : a.kind == SimilarityLossKind::SupCon ? counted
                                                               : double(a.rows);
    if (a.ds)
      for (std::size_t i = 0; i < a.rows; ++i)
        sr::row_grad(a, i,
                     inactive || norm == 0 || (a.kind == SimilarityLossKind::SupCon && !(row[i] > 0) && row[i] == row[i])
                         ? 0.0
                         : 1.0 / norm);
    return inactive || norm == 0 ? 0.0f : float(loss / norm);
  }
  /// ArcFace or CosFace: softmax cross-entropy over classes with a margin on the own class (args/losses.hpp).
  static float class_margin_loss(const ClassMarginLossArgs& a) {
    namespace cm = class_margin_rows;
    if (a.rows == 0) return 0.0f;
    double loss = 0;
    for (std::size_t i = 0; i < a.rows; ++i) {
      loss += cm::row_loss(a, i);
      if (a.dc) cm::row_grad(a, i, 1.0 / double(a.rows));
    }
    return float(loss / double(a.rows));
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
  static void sgd_step(const SgdArgs& a) {
    for_rows(a.g, a.n, a.row, [&](std::size_t i0, std::size_t i1) {
      for (std::size_t i = i0; i < i1; ++i) {
        const float gi = a.g[i] + a.weight_decay * a.w[i];
        if (a.momentum == 0.0f) {
          a.w[i] -= a.lr * gi;
          continue;
        }
        a.v[i] = a.momentum * a.v[i] - a.lr * gi;
        a.w[i] += a.nesterov ? a.momentum * a.v[i] - a.lr * gi : a.v[i];
      }
    });
  }
  static void adam_step(const AdamArgs& a) {
    const double c1 = 1.0 - std::pow(double(a.beta1), double(a.step));
    const double c2 = 1.0 - std::pow(double(a.beta2), double(a.step));
    for_rows(a.g, a.n, a.row, [&](std::size_t i0, std::size_t i1) {
      for (std::size_t i = i0; i < i1; ++i) {
        const float gi = a.decoupled ? a.g[i] : a.g[i] + a.weight_decay * a.w[i];
        a.m[i] = a.beta1 * a.m[i] + (1 - a.beta1) * gi;
        a.v[i] = a.beta2 * a.v[i] + (1 - a.beta2) * gi * gi;
        const double mh = a.m[i] / c1, vh = a.v[i] / c2;
        if (a.decoupled) a.w[i] -= a.lr * a.weight_decay * a.w[i];
        a.w[i] -= float(a.lr * mh / (std::sqrt(vh) + a.eps));
      }
    });
  }
  /// True when some element of the `width` floats at g is not zero.
  static bool any_nonzero_row(const float* g, std::size_t width) {
    for (std::size_t k = 0; k < width; ++k)
      if (g[k] != 0.0f) return true;
    return false;
  }

  static constexpr double kEps = 1e-12;

 private:
  /// f(i0, i1) over [0, n): in one piece, or (row > 0) for each row of that width with a gradient
  /// that is not all zero.
  template <class F>
  static void for_rows(const float* g, std::size_t n, std::size_t row, F&& f) {
    if (row == 0) return f(std::size_t{0}, n);
    for (std::size_t r = 0; r + row <= n; r += row)
      if (any_nonzero_row(g + r, row)) f(r, r + row);
  }
  /// The sums of F's terms over a row, in double.
  template <class F>
  static void row_sums(const float* x, const float* z, std::size_t d, double* s) {
    for (std::size_t k = 0; k < F::sums; ++k) s[k] = 0;
    double t[F::sums];
    for (std::size_t j = 0; j < d; ++j) {
      F::terms(double(x[j]), double(z[j]), static_cast<double*>(t));
      for (std::size_t k = 0; k < F::sums; ++k) s[k] += t[k];
    }
  }
  template <class F>
  static void for_window(const siamese::detail::PoolGeom& g, std::size_t oy, std::size_t ox, F&& f) {
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
