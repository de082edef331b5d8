#pragma once
// Deterministic parameter initialisation from a seed, with Keras' initialisers.
#include <cmath>
#include <vector>

#include "../core/random.hpp"
#include "../layers/layer.hpp"

namespace siamese::detail {

/// Fills one tensor on the host. Each tensor draws from its own stream (seed, tensor index), so
/// adding a layer does not change the others' initial values.
inline void init_tensor(float* v, const ParamInfo& p, std::uint64_t seed) {
  Rng r(seed);
  const double fi = double(p.fan_in), fo = double(p.fan_out);
  switch (p.init) {
    case Init::Zeros: for (std::size_t i = 0; i < p.size; ++i) v[i] = 0.0f; break;
    case Init::Ones: for (std::size_t i = 0; i < p.size; ++i) v[i] = 1.0f; break;
    case Init::GlorotUniform: {
      const float lim = float(std::sqrt(6.0 / (fi + fo)));
      for (std::size_t i = 0; i < p.size; ++i) v[i] = r.uniform(-lim, lim);
      break;
    }
    case Init::HeUniform: {
      const float lim = float(std::sqrt(6.0 / fi));
      for (std::size_t i = 0; i < p.size; ++i) v[i] = r.uniform(-lim, lim);
      break;
    }
    case Init::HeNormal: {
      const float sd = float(std::sqrt(2.0 / fi));
      for (std::size_t i = 0; i < p.size; ++i) v[i] = sd * r.normal();
      break;
    }
    case Init::Normal002: for (std::size_t i = 0; i < p.size; ++i) v[i] = 0.02f * r.normal(); break;
    case Init::UniformKeras: for (std::size_t i = 0; i < p.size; ++i) v[i] = r.uniform(-0.05f, 0.05f); break;
    case Init::Normal: for (std::size_t i = 0; i < p.size; ++i) v[i] = r.normal(); break;
    case Init::UniformFanIn: {
      const float lim = float(1.0 / std::sqrt(fi));
      for (std::size_t i = 0; i < p.size; ++i) v[i] = r.uniform(-lim, lim);
      break;
    }
    case Init::UnitForgetBias:
      for (std::size_t i = 0; i < p.size; ++i) v[i] = i / (p.size / 4) == 1 ? 1.0f : 0.0f;
      break;
    case Init::Orthogonal: {
      // Rows of a (rows x cols) matrix, orthonormalised by Gram-Schmidt (columns when rows > cols).
      const std::size_t cols = p.shape.back(), rows = p.size / cols;
      const bool by_rows = rows <= cols;
      const std::size_t cnt = by_rows ? rows : cols, len = by_rows ? cols : rows;
      std::vector<double> q(cnt * len);
      for (auto& x : q) x = r.normal();
      for (std::size_t i = 0; i < cnt; ++i) {
        double* qi = &q[i * len];
        for (std::size_t j = 0; j < i; ++j) {
          const double* qj = &q[j * len];
          double d = 0;
          for (std::size_t k = 0; k < len; ++k) d += qi[k] * qj[k];
          for (std::size_t k = 0; k < len; ++k) qi[k] -= d * qj[k];
        }
        double nrm = 0;
        for (std::size_t k = 0; k < len; ++k) nrm += qi[k] * qi[k];
        nrm = std::sqrt(nrm) + 1e-12;
        for (std::size_t k = 0; k < len; ++k) qi[k] /= nrm;
      }
      for (std::size_t i = 0; i < rows; ++i)
        for (std::size_t j = 0; j < cols; ++j) v[i * cols + j] = float(by_rows ? q[i * len + j] : q[j * len + i]);
      break;
    }
  }
}

/// Initialises every tensor of `list` inside the host buffer `host`.
inline void init_all(float* host, const std::vector<ParamInfo>& list, std::uint64_t seed) {
  for (std::size_t t = 0; t < list.size(); ++t) init_tensor(host + list[t].offset, list[t], hash2(seed, t));
}

}  // namespace siamese::detail
