#pragma once
// Loss kernels of backend::Cpu: binary cross-entropy on logits, contrastive and triplet losses on
// embeddings. Each returns the mean loss and writes the gradient of that mean. Rows are vectorised;
// the batch loop stays serial (these are a sliver of a step) so the sum is reproducible.
#include <algorithm>
#include <cmath>
#include <cstddef>

#include "../args/losses.hpp"
#include "../kinds.hpp"
#include "elementwise.hpp"
#include "features.hpp"
#include "parallel.hpp"

namespace siamese::cpu {

/// The loss kernels of backend::Cpu over the kernels of Base.
template <class Base>
struct LossKernels : Base {
  /// Binary cross-entropy from logits z with targets t in [0, 1], stable for any z; dz may be null.
  static float bce_logits(const backend::BceArgs& a) {
    const float *z = a.z, *t = a.t;
    float* dz = a.dz;
    const std::size_t n = a.n;
    using detail::Vec, detail::vw;
    const float inv_n = 1.0f / float(n);
    double s = 0;
    std::size_t i = 0;
    for (const std::size_t body = i + (n - i) / vw * vw; i < body; i += vw) {
      const Vec v = Vec::load_unaligned(z + i), y = Vec::load_unaligned(t + i);
      const Vec e = xsimd::exp(-xsimd::abs(v));  // in (0, 1]: neither log1p nor the sigmoid overflows
      s += xsimd::hadd(xsimd::max(v, Vec(0.0f)) - v * y + xsimd::log1p(e));
      if (dz) {
        const Vec r = Vec(1.0f) / (Vec(1.0f) + e);
        const Vec sig = xsimd::select(v >= Vec(0.0f), r, e * r);
        ((sig - y) * Vec(inv_n)).store_unaligned(dz + i);
      }
    }
    for (; i < n; ++i) {
      s += std::max(z[i], 0.0f) - double(z[i]) * t[i] + std::log1p(std::exp(-std::fabs(double(z[i]))));
      if (dz) dz[i] = (detail::sigmoid(z[i]) - t[i]) * inv_n;
    }
    return float(s / double(n));
  }

  /// Contrastive loss 0.5 * (t d^2 + (1 - t) max(0, margin - d)^2), d = |a - b|, t = 1 for similar pairs.
  /// da, db (n x d) may be null.
  static float contrastive(const backend::ContrastiveArgs& args) {
    const float *a = args.a, *b = args.b, *t = args.t;
    float *da = args.da, *db = args.db;
    const std::size_t n = args.n, d = args.d;
    const float margin = args.margin;
    double s = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const float* x = a + i * d;
      const float* z = b + i * d;
      const double dd = detail::row_dots(x, z, d).dd;
      const double dist = std::sqrt(dd + detail::feature_eps), hinge = std::max(0.0, margin - dist);
      s += 0.5 * (t[i] * dd + (1 - t[i]) * hinge * hinge);
      if (!da && !db) continue;
      // d/da of 0.5 t d^2 is t (a - b); of 0.5 hinge^2 it is -hinge (a - b) / d.
      const float coef = float((t[i] - (1 - t[i]) * hinge / dist) / double(n));
      float* ga = da ? da + i * d : nullptr;
      float* gb = db ? db + i * d : nullptr;
      std::size_t j = 0;
      for (const std::size_t body = j + (d - j) / detail::vw * detail::vw; j < body; j += detail::vw) {
        const detail::Vec g = coef * (detail::Vec::load_unaligned(x + j) - detail::Vec::load_unaligned(z + j));
        if (ga) g.store_unaligned(ga + j);
        if (gb) (-g).store_unaligned(gb + j);
      }
      for (; j < d; ++j) {
        const float g = coef * (x[j] - z[j]);
        if (ga) ga[j] = g;
        if (gb) gb[j] = -g;
      }
    }
    return float(s / double(n));
  }

  /// Triplet loss mean(max(d(a, p) - d(a, q) + margin, 0)); da, dp, dq (n x d) are all null or all set.
  static float triplet(const backend::TripletArgs& args) {
    const float *a = args.a, *p = args.p, *q = args.q;
    float *da = args.da, *dp = args.dp, *dq = args.dq;
    const std::size_t n = args.n, d = args.d;
    const float margin = args.margin;
    const Distance k = args.distance;
    using detail::Vec, detail::vw;
    constexpr double eps = detail::feature_eps;
    double s = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const float *x = a + i * d, *y = p + i * d, *z = q + i * d;
      const detail::RowDots pos = detail::row_dots(x, y, d), neg = detail::row_dots(x, z, d);
      // Cosine: the gradient rows are da = cx x + cy y + cz z, dp = px x + py y, dq = qx x + qz z.
      // Euclidean kinds: da = py (x - y) - qx (x - z), dp = -py (x - y), dq = qx (x - z). All over n.
      double dpos, dneg, cx = 0, cy = 0, cz = 0, px = 0, py = 0, qx = 0, qz = 0;
      const double inv_n = 1.0 / double(n);
      if (k == Distance::Cosine) {
        const double na = std::sqrt(std::max(pos.xx, eps)), np = std::sqrt(std::max(pos.zz, eps)),
                     nq = std::sqrt(std::max(neg.zz, eps));
        const double cp = pos.xz / (na * np), cn = neg.xz / (na * nq);
        dpos = 1.0 - cp;
        dneg = 1.0 - cn;
        // g1 = -(y/(na np) - cp x/na^2), g3 = -(z/(na nq) - cn x/na^2); da = g1 - g3
        cx = (cp - cn) / (na * na) * inv_n;
        cy = -1.0 / (na * np) * inv_n;
        cz = 1.0 / (na * nq) * inv_n;
        // dp = g2 = -(x/(na np) - cp y/np^2); dq = -g4 = x/(na nq) - cn z/nq^2
        px = -1.0 / (na * np) * inv_n;
        py = cp / (np * np) * inv_n;
        qx = 1.0 / (na * nq) * inv_n;
        qz = -cn / (nq * nq) * inv_n;
      } else {
        const bool sq = k == Distance::SquaredEuclidean;
        dpos = sq ? pos.dd : std::sqrt(pos.dd + eps);
        dneg = sq ? neg.dd : std::sqrt(neg.dd + eps);
        py = (sq ? 2.0 : 1.0 / dpos) * inv_n;
        qx = (sq ? 2.0 : 1.0 / dneg) * inv_n;
      }
      const double l = dpos - dneg + margin;
      const bool active = !(l <= 0);  // a NaN distance stays active, so a NaN loss surfaces
      if (active) s += l;
      if (!da) continue;
      float *ga = da + i * d, *gp = dp + i * d, *gq = dq + i * d;
      if (!active) {
        std::fill(ga, ga + d, 0.0f);
        std::fill(gp, gp + d, 0.0f);
        std::fill(gq, gq + d, 0.0f);
        continue;
      }
      std::size_t j = 0;
      if (k != Distance::Cosine) {
        // From the differences, which stay accurate when the embeddings nearly coincide.
        const float fp = float(py), fn = float(qx);
        for (const std::size_t body = j + (d - j) / vw * vw; j < body; j += vw) {
          const Vec vx = Vec::load_unaligned(x + j);
          const Vec gpos = fp * (vx - Vec::load_unaligned(y + j)), gneg = fn * (vx - Vec::load_unaligned(z + j));
          (gpos - gneg).store_unaligned(ga + j);
          (-gpos).store_unaligned(gp + j);
          gneg.store_unaligned(gq + j);
        }
        for (; j < d; ++j) {
          const float gpos = fp * (x[j] - y[j]), gneg = fn * (x[j] - z[j]);
          ga[j] = gpos - gneg;
          gp[j] = -gpos;
          gq[j] = gneg;
        }
        continue;
      }
      const float fcx = float(cx), fcy = float(cy), fcz = float(cz), fpx = float(px), fpy = float(py),
                  fqx = float(qx), fqz = float(qz);
      for (const std::size_t body = j + (d - j) / vw * vw; j < body; j += vw) {
        const Vec vx = Vec::load_unaligned(x + j), vy = Vec::load_unaligned(y + j), vz = Vec::load_unaligned(z + j);
        (fcx * vx + fcy * vy + fcz * vz).store_unaligned(ga + j);
        (fpx * vx + fpy * vy).store_unaligned(gp + j);
        (fqx * vx + fqz * vz).store_unaligned(gq + j);
      }
      for (; j < d; ++j) {
        ga[j] = fcx * x[j] + fcy * y[j] + fcz * z[j];
        gp[j] = fpx * x[j] + fpy * y[j];
        gq[j] = fqx * x[j] + fqz * z[j];
      }
    }
    return float(s / double(n));
  }
};

}  // namespace siamese::cpu
