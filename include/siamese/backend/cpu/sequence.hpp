#pragma once
// Step kernels of the recurrent layers on backend::Cpu: the LSTM and GRU gate maps of one time step,
// vectorised over the units with xsimd and threaded over the sequences with oneTBB. Same contract and
// layout as backend::Reference's (reference/sequence_kernels.hpp), which they match to float rounding
// (xsimd's exp and tanh against libm's).
#include <algorithm>
#include <cmath>
#include <cstddef>

#include "elementwise.hpp"
#include "parallel.hpp"

namespace siamese::cpu {

// g++ 12 flags the deliberately undefined operands inside its AVX-512 intrinsics (used by xsimd's exp
// and tanh) as uninitialized: a false positive.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace detail {
/// Sequences per task: enough gate values that a task outweighs its scheduling.
inline std::size_t rows_grain(std::size_t row_floats) { return std::max<std::size_t>(1, 4096 / (row_floats + 1)); }
inline Vec load_or_zero(const float* p, std::size_t k) { return p ? Vec::load_unaligned(p + k) : Vec(0.0f); }
inline float at_or_zero(const float* p, std::size_t k) { return p ? p[k] : 0.0f; }
inline float tanh1(float x) { return std::tanh(x); }
}  // namespace detail

/// See Reference::lstm_step_forward: gates i, f, c, o of step t activated in place in z (n, T, 4u);
/// c, h (n, T, u) receive the step's states from those of step tp (tp >= T: zero).
inline void lstm_step_forward(std::size_t n, std::size_t T, std::size_t u, std::size_t t, std::size_t tp, float* z,
                              float* c, float* h, const float* mask) {
  using detail::Vec, detail::vw, detail::sigmoid;
  detail::for_ranges(n, detail::rows_grain(4 * u), n * 4 * u, [&](std::size_t b0, std::size_t b1) {
    for (std::size_t b = b0; b < b1; ++b) {
      float* g = z + (b * T + t) * 4 * u;
      float* ct = c + (b * T + t) * u;
      float* ht = h + (b * T + t) * u;
      const float* cp = tp < T ? c + (b * T + tp) * u : nullptr;
      const float* hp = tp < T ? h + (b * T + tp) * u : nullptr;
      if (mask && mask[b * T + t] == 0.0f) {  // a masked step: the state carries over
        std::fill(g, g + 4 * u, 0.0f);
        for (std::size_t k = 0; k < u; ++k) {
          ct[k] = detail::at_or_zero(cp, k);
          ht[k] = detail::at_or_zero(hp, k);
        }
        continue;
      }
      std::size_t k = 0;
      for (; k + vw <= u; k += vw) {
        const Vec i = sigmoid(Vec::load_unaligned(g + k)), f = sigmoid(Vec::load_unaligned(g + u + k));
        const Vec cc = xsimd::tanh(Vec::load_unaligned(g + 2 * u + k)), o = sigmoid(Vec::load_unaligned(g + 3 * u + k));
        i.store_unaligned(g + k);
        f.store_unaligned(g + u + k);
        cc.store_unaligned(g + 2 * u + k);
        o.store_unaligned(g + 3 * u + k);
        const Vec cn = f * detail::load_or_zero(cp, k) + i * cc;
        cn.store_unaligned(ct + k);
        (o * xsimd::tanh(cn)).store_unaligned(ht + k);
      }
      for (; k < u; ++k) {
        const float i = sigmoid(g[k]), f = sigmoid(g[u + k]), cc = detail::tanh1(g[2 * u + k]),
                    o = sigmoid(g[3 * u + k]);
        g[k] = i;
        g[u + k] = f;
        g[2 * u + k] = cc;
        g[3 * u + k] = o;
        ct[k] = f * detail::at_or_zero(cp, k) + i * cc;
        ht[k] = o * detail::tanh1(ct[k]);
      }
    }
  });
}

/// See Reference::lstm_step_backward.
inline void lstm_step_backward(std::size_t n, std::size_t T, std::size_t u, std::size_t t, std::size_t tp,
                               const float* z, const float* c, const float* dy, const float* mask, float* dh,
                               float* dc, float* dz) {
  using detail::Vec, detail::vw;
  detail::for_ranges(n, detail::rows_grain(4 * u), n * 4 * u, [&](std::size_t b0, std::size_t b1) {
    for (std::size_t b = b0; b < b1; ++b) {
      const float* g = z + (b * T + t) * 4 * u;
      const float* ct = c + (b * T + t) * u;
      const float* cp = tp < T ? c + (b * T + tp) * u : nullptr;
      const float* dyt = dy ? dy + (b * T + t) * u : nullptr;
      float* d = dz + (b * T + t) * 4 * u;
      float* dhb = dh + b * u;
      float* dcb = dc + b * u;
      if (mask && mask[b * T + t] == 0.0f) {  // h_t = h_tp, c_t = c_tp: the gradients pass through
        std::fill(d, d + 4 * u, 0.0f);
        continue;
      }
      const Vec one(1.0f);
      std::size_t k = 0;
      for (; k + vw <= u; k += vw) {
        const Vec i = Vec::load_unaligned(g + k), f = Vec::load_unaligned(g + u + k);
        const Vec cc = Vec::load_unaligned(g + 2 * u + k), o = Vec::load_unaligned(g + 3 * u + k);
        const Vec dht = Vec::load_unaligned(dhb + k) + detail::load_or_zero(dyt, k);
        const Vec tc = xsimd::tanh(Vec::load_unaligned(ct + k));
        const Vec dct = Vec::load_unaligned(dcb + k) + dht * o * (one - tc * tc);
        (dct * cc * i * (one - i)).store_unaligned(d + k);
        (dct * detail::load_or_zero(cp, k) * f * (one - f)).store_unaligned(d + u + k);
        (dct * i * (one - cc * cc)).store_unaligned(d + 2 * u + k);
        (dht * tc * o * (one - o)).store_unaligned(d + 3 * u + k);
        (dct * f).store_unaligned(dcb + k);
        Vec(0.0f).store_unaligned(dhb + k);
      }
      for (; k < u; ++k) {
        const float i = g[k], f = g[u + k], cc = g[2 * u + k], o = g[3 * u + k];
        const float dht = dhb[k] + detail::at_or_zero(dyt, k);
        const float tc = detail::tanh1(ct[k]);
        const float dct = dcb[k] + dht * o * (1.0f - tc * tc);
        d[k] = dct * cc * i * (1.0f - i);
        d[u + k] = dct * detail::at_or_zero(cp, k) * f * (1.0f - f);
        d[2 * u + k] = dct * i * (1.0f - cc * cc);
        d[3 * u + k] = dht * tc * o * (1.0f - o);
        dcb[k] = dct * f;
        dhb[k] = 0.0f;
      }
    }
  });
}

/// See Reference::gru_step_forward: gates z, r, hh of step t activated in place in xp (n, T, 3u); rp
/// receives h_prev R + b_rec; h (n, T, u) the state.
inline void gru_step_forward(std::size_t n, std::size_t T, std::size_t u, std::size_t t, std::size_t tp, float* xp,
                             float* rp, const float* brec, float* h, const float* mask) {
  using detail::Vec, detail::vw, detail::sigmoid;
  detail::for_ranges(n, detail::rows_grain(3 * u), n * 3 * u, [&](std::size_t b0, std::size_t b1) {
    for (std::size_t b = b0; b < b1; ++b) {
      float* g = xp + (b * T + t) * 3 * u;
      float* r = rp + (b * T + t) * 3 * u;
      float* ht = h + (b * T + t) * u;
      const float* hp = tp < T ? h + (b * T + tp) * u : nullptr;
      std::size_t k = 0;
      for (; k + vw <= 3 * u; k += vw)
        ((hp ? Vec::load_unaligned(r + k) : Vec(0.0f)) + Vec::load_unaligned(brec + k)).store_unaligned(r + k);
      for (; k < 3 * u; ++k) r[k] = (hp ? r[k] : 0.0f) + brec[k];
      if (mask && mask[b * T + t] == 0.0f) {
        std::fill(g, g + 3 * u, 0.0f);
        for (k = 0; k < u; ++k) ht[k] = detail::at_or_zero(hp, k);
        continue;
      }
      const Vec one(1.0f);
      for (k = 0; k + vw <= u; k += vw) {
        const Vec zg = sigmoid(Vec::load_unaligned(g + k) + Vec::load_unaligned(r + k));
        const Vec rg = sigmoid(Vec::load_unaligned(g + u + k) + Vec::load_unaligned(r + u + k));
        const Vec hh = xsimd::tanh(Vec::load_unaligned(g + 2 * u + k) + rg * Vec::load_unaligned(r + 2 * u + k));
        zg.store_unaligned(g + k);
        rg.store_unaligned(g + u + k);
        hh.store_unaligned(g + 2 * u + k);
        (zg * detail::load_or_zero(hp, k) + (one - zg) * hh).store_unaligned(ht + k);
      }
      for (; k < u; ++k) {
        const float zg = sigmoid(g[k] + r[k]), rg = sigmoid(g[u + k] + r[u + k]);
        const float hh = detail::tanh1(g[2 * u + k] + rg * r[2 * u + k]);
        g[k] = zg;
        g[u + k] = rg;
        g[2 * u + k] = hh;
        ht[k] = zg * detail::at_or_zero(hp, k) + (1.0f - zg) * hh;
      }
    }
  });
}

/// See Reference::gru_step_backward.
inline void gru_step_backward(std::size_t n, std::size_t T, std::size_t u, std::size_t t, std::size_t tp,
                              const float* xp, const float* rp, const float* h, const float* dy, const float* mask,
                              float* dh, float* dxp, float* drp) {
  using detail::Vec, detail::vw;
  detail::for_ranges(n, detail::rows_grain(3 * u), n * 3 * u, [&](std::size_t b0, std::size_t b1) {
    for (std::size_t b = b0; b < b1; ++b) {
      const float* g = xp + (b * T + t) * 3 * u;
      const float* r = rp + (b * T + t) * 3 * u;
      const float* hp = tp < T ? h + (b * T + tp) * u : nullptr;
      const float* dyt = dy ? dy + (b * T + t) * u : nullptr;
      float* dx = dxp + (b * T + t) * 3 * u;
      float* dr = drp + (b * T + t) * 3 * u;
      float* dhb = dh + b * u;
      if (mask && mask[b * T + t] == 0.0f) {
        std::fill(dx, dx + 3 * u, 0.0f);
        std::fill(dr, dr + 3 * u, 0.0f);
        continue;
      }
      const Vec one(1.0f);
      std::size_t k = 0;
      for (; k + vw <= u; k += vw) {
        const Vec zg = Vec::load_unaligned(g + k), rg = Vec::load_unaligned(g + u + k);
        const Vec hh = Vec::load_unaligned(g + 2 * u + k);
        const Vec dht = Vec::load_unaligned(dhb + k) + detail::load_or_zero(dyt, k);
        const Vec dzp = dht * (detail::load_or_zero(hp, k) - hh) * zg * (one - zg);
        const Vec dhp = dht * (one - zg) * (one - hh * hh);
        const Vec drg = dhp * Vec::load_unaligned(r + 2 * u + k) * rg * (one - rg);
        dzp.store_unaligned(dx + k);
        dzp.store_unaligned(dr + k);
        drg.store_unaligned(dx + u + k);
        drg.store_unaligned(dr + u + k);
        dhp.store_unaligned(dx + 2 * u + k);
        (dhp * rg).store_unaligned(dr + 2 * u + k);
        (dht * zg).store_unaligned(dhb + k);
      }
      for (; k < u; ++k) {
        const float zg = g[k], rg = g[u + k], hh = g[2 * u + k];
        const float dht = dhb[k] + detail::at_or_zero(dyt, k);
        const float dzp = dht * (detail::at_or_zero(hp, k) - hh) * zg * (1.0f - zg);
        const float dhp = dht * (1.0f - zg) * (1.0f - hh * hh);
        const float drg = dhp * r[2 * u + k] * rg * (1.0f - rg);
        dx[k] = dr[k] = dzp;
        dx[u + k] = dr[u + k] = drg;
        dx[2 * u + k] = dhp;
        dr[2 * u + k] = dhp * rg;
        dhb[k] = dht * zg;
      }
    }
  });
}

#pragma GCC diagnostic pop

}  // namespace siamese::cpu
