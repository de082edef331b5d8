#pragma once
// Step kernels of the recurrent layers on backend::Cpu: the LSTM and GRU gate maps of one time step,
// vectorised over the units with xsimd and threaded over the sequences with oneTBB. Same contract and
// layout as backend::Reference's (reference/sequence_kernels.hpp), which they match to float rounding
// (xsimd's exp and tanh against libm's).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <type_traits>

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

/// Loads, stores and maps on a SIMD batch or, for the tail of a row, on one float: each step kernel is
/// written once as a body over lane type L and run by for_lanes.
template <class L>
L lane_load(const float* p) {
  if constexpr (std::is_same_v<L, float>) return *p;
  else return Vec::load_unaligned(p);
}
template <class L>
L lane_load_or_zero(const float* p, std::size_t k) {
  return p ? lane_load<L>(p + k) : L(0.0f);
}
inline void lane_store(float* p, float v) { *p = v; }
inline void lane_store(float* p, const Vec& v) { v.store_unaligned(p); }
inline float lane_tanh(float x) { return std::tanh(x); }
inline Vec lane_tanh(const Vec& x) { return xsimd::tanh(x); }
/// body(L{}, k) for k in [0, u): SIMD batches of vw lanes, then single floats.
template <class Body>
void for_lanes(std::size_t u, Body&& body) {
  std::size_t k = 0;
  for (; k + vw <= u; k += vw) body(Vec(0.0f), k);
  for (; k < u; ++k) body(0.0f, k);
}
}  // namespace detail

/// See Reference::lstm_step_forward: gates i, f, c, o of step t activated in place in z (n, T, 4u);
/// c, h (n, T, u) receive the step's states from those of step tp (tp >= T: zero).
inline void lstm_step_forward(std::size_t n, std::size_t T, std::size_t u, std::size_t t, std::size_t tp, float* z,
                              float* c, float* h, const float* mask) {
  using namespace detail;
  for_ranges(n, rows_grain(4 * u), n * 4 * u, [&](std::size_t b0, std::size_t b1) {
    for (std::size_t b = b0; b < b1; ++b) {
      float* g = z + (b * T + t) * 4 * u;
      float* ct = c + (b * T + t) * u;
      float* ht = h + (b * T + t) * u;
      const float* cp = tp < T ? c + (b * T + tp) * u : nullptr;
      const float* hp = tp < T ? h + (b * T + tp) * u : nullptr;
      if (mask && mask[b * T + t] == 0.0f) {  // a masked step: the state carries over
        std::fill(g, g + 4 * u, 0.0f);
        for (std::size_t k = 0; k < u; ++k) {
          ct[k] = cp ? cp[k] : 0.0f;
          ht[k] = hp ? hp[k] : 0.0f;
        }
        continue;
      }
      for_lanes(u, [&](auto lane, std::size_t k) {
        using L = decltype(lane);
        const L i = sigmoid(lane_load<L>(g + k)), f = sigmoid(lane_load<L>(g + u + k));
        const L cc = lane_tanh(lane_load<L>(g + 2 * u + k)), o = sigmoid(lane_load<L>(g + 3 * u + k));
        lane_store(g + k, i);
        lane_store(g + u + k, f);
        lane_store(g + 2 * u + k, cc);
        lane_store(g + 3 * u + k, o);
        const L cn = f * lane_load_or_zero<L>(cp, k) + i * cc;
        lane_store(ct + k, cn);
        lane_store(ht + k, L(o * lane_tanh(cn)));
      });
    }
  });
}

/// See Reference::lstm_step_backward.
inline void lstm_step_backward(std::size_t n, std::size_t T, std::size_t u, std::size_t t, std::size_t tp,
                               const float* z, const float* c, const float* dy, const float* mask, float* dh,
                               float* dc, float* dz) {
  using namespace detail;
  for_ranges(n, rows_grain(4 * u), n * 4 * u, [&](std::size_t b0, std::size_t b1) {
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
      for_lanes(u, [&](auto lane, std::size_t k) {
        using L = decltype(lane);
        const L one(1.0f);
        const L i = lane_load<L>(g + k), f = lane_load<L>(g + u + k);
        const L cc = lane_load<L>(g + 2 * u + k), o = lane_load<L>(g + 3 * u + k);
        const L dht = lane_load<L>(dhb + k) + lane_load_or_zero<L>(dyt, k);
        const L tc = lane_tanh(lane_load<L>(ct + k));
        const L dct = lane_load<L>(dcb + k) + dht * o * (one - tc * tc);
        lane_store(d + k, L(dct * cc * i * (one - i)));
        lane_store(d + u + k, L(dct * lane_load_or_zero<L>(cp, k) * f * (one - f)));
        lane_store(d + 2 * u + k, L(dct * i * (one - cc * cc)));
        lane_store(d + 3 * u + k, L(dht * tc * o * (one - o)));
        lane_store(dcb + k, L(dct * f));
        lane_store(dhb + k, L(0.0f));
      });
    }
  });
}

/// See Reference::gru_step_forward: gates z, r, hh of step t activated in place in xp (n, T, 3u); rp
/// receives h_prev R + b_rec; h (n, T, u) the state.
inline void gru_step_forward(std::size_t n, std::size_t T, std::size_t u, std::size_t t, std::size_t tp, float* xp,
                             float* rp, const float* brec, float* h, const float* mask) {
  using namespace detail;
  for_ranges(n, rows_grain(3 * u), n * 3 * u, [&](std::size_t b0, std::size_t b1) {
    for (std::size_t b = b0; b < b1; ++b) {
      float* g = xp + (b * T + t) * 3 * u;
      float* r = rp + (b * T + t) * 3 * u;
      float* ht = h + (b * T + t) * u;
      const float* hp = tp < T ? h + (b * T + tp) * u : nullptr;
      for_lanes(3 * u, [&](auto lane, std::size_t k) {
        using L = decltype(lane);
        lane_store(r + k, L((hp ? lane_load<L>(r + k) : L(0.0f)) + lane_load<L>(brec + k)));
      });
      if (mask && mask[b * T + t] == 0.0f) {
        std::fill(g, g + 3 * u, 0.0f);
        for (std::size_t k = 0; k < u; ++k) ht[k] = hp ? hp[k] : 0.0f;
        continue;
      }
      for_lanes(u, [&](auto lane, std::size_t k) {
        using L = decltype(lane);
        const L zg = sigmoid(L(lane_load<L>(g + k) + lane_load<L>(r + k)));
        const L rg = sigmoid(L(lane_load<L>(g + u + k) + lane_load<L>(r + u + k)));
        const L hh = lane_tanh(L(lane_load<L>(g + 2 * u + k) + rg * lane_load<L>(r + 2 * u + k)));
        lane_store(g + k, zg);
        lane_store(g + u + k, rg);
        lane_store(g + 2 * u + k, hh);
        lane_store(ht + k, L(zg * lane_load_or_zero<L>(hp, k) + (L(1.0f) - zg) * hh));
      });
    }
  });
}

/// See Reference::gru_step_backward.
inline void gru_step_backward(std::size_t n, std::size_t T, std::size_t u, std::size_t t, std::size_t tp,
                              const float* xp, const float* rp, const float* h, const float* dy, const float* mask,
                              float* dh, float* dxp, float* drp) {
  using namespace detail;
  for_ranges(n, rows_grain(3 * u), n * 3 * u, [&](std::size_t b0, std::size_t b1) {
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
      for_lanes(u, [&](auto lane, std::size_t k) {
        using L = decltype(lane);
        const L one(1.0f);
        const L zg = lane_load<L>(g + k), rg = lane_load<L>(g + u + k), hh = lane_load<L>(g + 2 * u + k);
        const L dht = lane_load<L>(dhb + k) + lane_load_or_zero<L>(dyt, k);
        const L dzp = dht * (lane_load_or_zero<L>(hp, k) - hh) * zg * (one - zg);
        const L dhp = dht * (one - zg) * (one - hh * hh);
        const L drg = dhp * lane_load<L>(r + 2 * u + k) * rg * (one - rg);
        lane_store(dx + k, dzp);
        lane_store(dr + k, dzp);
        lane_store(dx + u + k, drg);
        lane_store(dr + u + k, drg);
        lane_store(dx + 2 * u + k, dhp);
        lane_store(dr + 2 * u + k, L(dhp * rg));
        lane_store(dhb + k, L(dht * zg));
      });
    }
  });
}

#pragma GCC diagnostic pop

}  // namespace siamese::cpu
