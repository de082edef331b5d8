#pragma once
// backend::Cuda's losses: each writes the gradient of the batch mean on the device while summing the
// per-sample terms (one thread per sample), and returns the mean to the host, or, in a training step
// on the device (ScalarSink), leaves it in device memory.
#include <cstddef>

#include "../args/losses.hpp"
#include "../kinds.hpp"
#include "../class_margin_rows.hpp"
#include "../similarity_rows.hpp"
#include "common.cuh"
#include "features.cuh"

namespace siamese::backend::detail_cuda {

/// A distance between rows x and z (width d) and what its gradient needs.
struct RowDistance {
  double value, nx, nz, cs;  // cs, nx, nz: cosine only; value: the distance (Euclidean: with eps)

  __host__ __device__ static RowDistance of(Distance k, const float* x, const float* z, std::size_t d) {
    if (k == Distance::Cosine) {
      double xx = 0, zz = 0, xz = 0;
      for (std::size_t j = 0; j < d; ++j) {
        xx += double(x[j]) * x[j];
        zz += double(z[j]) * z[j];
        xz += double(x[j]) * z[j];
      }
      const double nx = ::sqrt(max_of(xx, feature_eps)), nz = ::sqrt(max_of(zz, feature_eps)), cs = xz / (nx * nz);
      return {1.0 - cs, nx, nz, cs};
    }
    double dd = 0;
    for (std::size_t j = 0; j < d; ++j) dd += double(x[j] - z[j]) * (x[j] - z[j]);
    return {k == Distance::Euclidean ? ::sqrt(dd + feature_eps) : dd, 0, 0, 0};
  }
  /// d(distance)/d(x[j]); the gradient with respect to z[j] is grad_z.
  __host__ __device__ double grad_x(Distance k, const float* x, const float* z, std::size_t j) const {
    if (k == Distance::Cosine) return -(z[j] / (nx * nz) - cs * x[j] / (nx * nx));
    return k == Distance::Euclidean ? (x[j] - z[j]) / value : 2.0 * (x[j] - z[j]);
  }
  __host__ __device__ double grad_z(Distance k, const float* x, const float* z, std::size_t j) const {
    if (k == Distance::Cosine) return -(x[j] / (nx * nz) - cs * z[j] / (nz * nz));
    return -grad_x(k, x, z, j);
  }
};

template <class X>
struct LossOps {
  static constexpr double kEps = feature_eps;

  /// Binary cross-entropy from logits z with targets t in [0, 1], stable for any z.
  static float bce_logits(const BceArgs& a) {
    const float *z = a.z, *t = a.t;
    float* dz = a.dz;
    const std::size_t n = a.n;
    return loss_mean<X>("bce_logits", n, [=] __host__ __device__(std::size_t i) {
      const float zi = z[i];
      if (dz) dz[i] = (sigmoid(zi) - t[i]) / float(n);
      return double(max_of(zi, 0.0f)) - double(zi) * t[i] + ::log1p(::exp(-::fabs(double(zi))));
    });
  }

  /// Contrastive loss 0.5 (t d^2 + (1 - t) max(0, margin - d)^2), t = 1 for similar pairs.
  static float contrastive(const ContrastiveArgs& args) {
    const float *a = args.a, *b = args.b, *t = args.t;
    float *da = args.da, *db = args.db;
    const std::size_t n = args.n, d = args.d;
    const float margin = args.margin;
    return loss_mean<X>("contrastive", n, [=] __host__ __device__(std::size_t i) {
      const float *x = a + i * d, *z = b + i * d;
      double dd = 0;
      for (std::size_t j = 0; j < d; ++j) dd += double(x[j] - z[j]) * (x[j] - z[j]);
      const double dist = ::sqrt(dd + feature_eps), hinge = max_of(0.0, margin - dist);
      const double coef = (t[i] - (1 - t[i]) * hinge / dist) / double(n);
      for (std::size_t j = 0; j < d; ++j) {
        const float g = float(coef * (x[j] - z[j]));
        if (da) da[i * d + j] = g;
        if (db) db[i * d + j] = -g;
      }
      return 0.5 * (t[i] * dd + (1 - t[i]) * hinge * hinge);
    });
  }

  /// Triplet loss mean(max(d(a, p) - d(a, n) + margin, 0)).
  static float triplet(const TripletArgs& args) {
    const float *a = args.a, *p = args.p, *q = args.q;
    float *da = args.da, *dp = args.dp, *dq = args.dq;
    const std::size_t n = args.n, d = args.d;
    const float margin = args.margin;
    const Distance k = args.distance;
    return loss_mean<X>("triplet", n, [=] __host__ __device__(std::size_t i) {
      const float *x = a + i * d, *pos = p + i * d, *neg = q + i * d;
      const RowDistance dpos = RowDistance::of(k, x, pos, d), dneg = RowDistance::of(k, x, neg, d);
      const double l = dpos.value - dneg.value + margin;
      const bool active = !(l <= 0);  // a NaN distance stays active, so a NaN loss surfaces
      if (da)
        for (std::size_t j = 0; j < d; ++j) {
          da[i * d + j] = active ? float((dpos.grad_x(k, x, pos, j) - dneg.grad_x(k, x, neg, j)) / double(n)) : 0.0f;
          dp[i * d + j] = active ? float(dpos.grad_z(k, x, pos, j) / double(n)) : 0.0f;
          dq[i * d + j] = active ? float(-dneg.grad_z(k, x, neg, j) / double(n)) : 0.0f;
        }
      return active ? l : 0.0;
    });
  }

  /// NTXent, SupCon or MultiSimilarity (with its miner) from a similarity matrix: one thread per query, each over
  /// its row (similarity_rows.hpp, the arithmetic Reference runs); the batch's pair counts and loss are sums
  /// over the queries.
  static float similarity_loss(const SimilarityLossArgs& args) {
    namespace sr = similarity_rows;
    const SimilarityLossArgs a = args;
    const std::size_t rows = a.rows;
    if (rows == 0) return 0.0f;
    const double pos = reduce_sum<X>("similarity_loss", rows, [=] __host__ __device__(std::size_t i) {
      return sr::count(a, i, 1);
    });
    const double neg = reduce_sum<X>("similarity_loss", rows, [=] __host__ __device__(std::size_t i) {
      return sr::count(a, i, -1);
    });
    const bool inactive = sr::inactive(a.kind, pos, neg);
    const bool supcon = a.kind == SimilarityLossKind::SupCon;
    double loss = 0, norm = a.kind == SimilarityLossKind::NTXent ? pos : double(rows);
    if (!inactive) {
      loss = reduce_sum<X>("similarity_loss", rows, [=] __host__ __device__(std::size_t i) {
        return sr::row_loss(a, i);
      });
      if (supcon)
        norm = reduce_sum<X>("similarity_loss", rows, [=] __host__ __device__(std::size_t i) {
          return sr::row_loss(a, i) > 0 ? 1.0 : 0.0;
        });
    }
    const bool zero = inactive || norm == 0;
    if (a.ds) {
      const double w = zero ? 0.0 : 1.0 / norm;
      X::launch("similarity_loss", rows, [=] __host__ __device__(std::size_t i) {
        sr::row_grad(a, i, supcon && w != 0.0 && !(sr::row_loss(a, i) > 0) ? 0.0 : w);
      });
    }
    return zero ? 0.0f : float(loss / norm);
  }

  /// ArcFace or CosFace from the cosines of queries with class weights: one thread per query over its row
  /// (class_margin_rows.hpp, the arithmetic Reference runs), writing its gradient row; the loss is the mean.
  static float class_margin_loss(const ClassMarginLossArgs& args) {
    namespace cm = class_margin_rows;
    const ClassMarginLossArgs a = args;
    const std::size_t rows = a.rows;
    if (rows == 0) return 0.0f;
    const double w = 1.0 / double(rows);
    const double loss = reduce_sum<X>("class_margin_loss", rows, [=] __host__ __device__(std::size_t i) {
      if (a.dc) cm::row_grad(a, i, w);
      return cm::row_loss(a, i);
    });
    return float(loss / double(rows));
  }
};

}  // namespace siamese::backend::detail_cuda
