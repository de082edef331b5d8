#pragma once
// Sequence kernels of backend::Cpu: the LSTM and GRU gate maps of one time step, vectorised over the
// units with xsimd and threaded over the sequences with oneTBB; embedding lookups and their gradient,
// step masks, time shifts and masked time pooling. Same contract and
// layout as backend::Reference's (reference/sequence_kernels.hpp), which they match to float rounding
// (xsimd's exp and tanh against libm's).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <type_traits>

#include "../args/pool.hpp"
#include "../args/sequence.hpp"
#include "../reference/sequence_kernels.hpp"
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
/// One flag per time step of a sample: on the stack up to 1024 steps, so that a pool thread that first runs a
/// range in a later step allocates nothing; longer sequences use a thread-local, grow-only workspace.
class StepFlags {
 public:
  explicit StepFlags(std::size_t steps) : p_(steps <= local_steps ? local_ : workspace(steps)) {}
  float* data() { return p_; }

 private:
  static constexpr std::size_t local_steps = 1024;
  static float* workspace(std::size_t steps) {
    static thread_local Workspace ws;
    return ws.reserve(steps);
  }
  float local_[local_steps];
  float* p_;
};
/// valid[t] = 1 when row t of xs (c wide) is not all zero, else 0; returns the count of such rows.
inline std::size_t flag_rows(const float* xs, std::size_t steps, std::size_t c, float* valid) {
  std::size_t cnt = 0;
  for (std::size_t t = 0; t < steps; ++t) {
    const bool v = any_nonzero(xs + t * c, c);
    valid[t] = v ? 1.0f : 0.0f;
    cnt += v;
  }
  return cnt;
}
/// body(L{}, k) for k in [0, u): SIMD batches of vw lanes, then single floats.
template <class Body>
void for_lanes(std::size_t u, Body&& body) {
  std::size_t k = 0;
  for (; k + vw <= u; k += vw) body(Vec(0.0f), k);
  for (; k < u; ++k) body(0.0f, k);
}
}  // namespace detail

/// The sequence kernels of backend::Cpu over the kernels of Base (whose embedding id check it reuses).
template <class Base>
struct SequenceKernels : Base {
  /// See Reference::lstm_step_forward: gates i, f, c, o of step t activated in place in z (n, T, 4u);
  /// c, h (n, T, u) receive the step's states from those of step tp (tp >= T: zero).
  static void lstm_step_forward(const backend::LstmStepArgs& a) {
    using namespace detail;
    const std::size_t n = a.n, T = a.steps, u = a.units, t = a.t, tp = a.tp;
    float *z = a.z, *c = a.c, *h = a.h;
    const float* mask = a.mask;
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
          const L i = detail::sigmoid(lane_load<L>(g + k)), f = detail::sigmoid(lane_load<L>(g + u + k));
          const L cc = lane_tanh(lane_load<L>(g + 2 * u + k)), o = detail::sigmoid(lane_load<L>(g + 3 * u + k));
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
  static void lstm_step_backward(const backend::LstmStepGradArgs& a) {
    using namespace detail;
    const std::size_t n = a.n, T = a.steps, u = a.units, t = a.t, tp = a.tp;
    const float *z = a.z, *c = a.c, *dy = a.dy, *mask = a.mask;
    float *dh = a.dh, *dc = a.dc, *dz = a.dz;
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
  static void gru_step_forward(const backend::GruStepArgs& a) {
    using namespace detail;
    const std::size_t n = a.n, T = a.steps, u = a.units, t = a.t, tp = a.tp;
    float *xp = a.xp, *rp = a.rp, *h = a.h;
    const float *brec = a.brec, *mask = a.mask;
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
          const L zg = detail::sigmoid(L(lane_load<L>(g + k) + lane_load<L>(r + k)));
          const L rg = detail::sigmoid(L(lane_load<L>(g + u + k) + lane_load<L>(r + u + k)));
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
  static void gru_step_backward(const backend::GruStepGradArgs& a) {
    using namespace detail;
    const std::size_t n = a.n, T = a.steps, u = a.units, t = a.t, tp = a.tp;
    const float *xp = a.xp, *rp = a.rp, *h = a.h, *dy = a.dy, *mask = a.mask;
    float *dh = a.dh, *dxp = a.dxp, *drp = a.drp;
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
  // ---- embedding, masks, time shifts and masked time pooling ----------------------------------------
  /// y[i, :] = table[ids[i], :], a zero row for id 0 with mask_zero. The ids are checked first, in
  /// order, with Reference's ShapeError; then rows are copied in parallel.
  static void embedding_forward(const backend::EmbeddingArgs& a) {
    for (std::size_t i = 0; i < a.count; ++i) (void)backend::detail_reference::SequenceKernels::checked_id(a, i);
    const std::size_t dim = a.dim;
    detail::for_ranges(a.count, detail::rows_grain(dim), a.count * dim, [&](std::size_t i0, std::size_t i1) {
      for (std::size_t i = i0; i < i1; ++i) {
        const std::size_t id = static_cast<std::size_t>(a.ids[i]);
        if (a.mask_zero && id == 0) std::fill(a.y + i * dim, a.y + (i + 1) * dim, 0.0f);
        else std::memcpy(a.y + i * dim, a.table + id * dim, dim * sizeof(float));
      }
    });
  }
  /// dtable = 0, then dtable[ids[i], :] += dy[i, :]. Threads split the table's rows: each walks every
  /// id in order and adds those in its slice, so every row is summed in Reference's order, without
  /// atomics or two threads on one row.
  static void embedding_backward(const backend::EmbeddingGradArgs& a) {
    using detail::Vec, detail::vw;
    const std::size_t dim = a.dim, vocab = a.vocab;
    cpu::fill(a.dtable, 0.0f, vocab * dim);
    const std::size_t slices = std::min<std::size_t>(
        vocab, static_cast<std::size_t>(std::max(1, tbb::this_task_arena::max_concurrency())));
    detail::for_ranges(slices, 1, a.count * dim, [&](std::size_t s0, std::size_t s1) {
      const std::size_t v0 = s0 * vocab / slices, v1 = s1 * vocab / slices;
      for (std::size_t i = 0; i < a.count; ++i) {
        const float v = a.ids[i];
        if (!(v >= float(v0) && v < float(v1))) continue;  // also skips ids outside [0, vocab)
        const std::size_t id = static_cast<std::size_t>(v);
        if (a.mask_zero && id == 0) continue;
        float* row = a.dtable + id * dim;
        const float* src = a.dy + i * dim;
        std::size_t j = 0;
        for (const std::size_t body = dim / vw * vw; j < body; j += vw)
          (Vec::load_unaligned(row + j) + Vec::load_unaligned(src + j)).store_unaligned(row + j);
        for (; j < dim; ++j) row[j] += src[j];
      }
    });
  }
  /// mask[r] = 1 when row r holds a value other than zero (a NaN counts), else 0.
  static void row_mask(const backend::RowMaskArgs& a) {
    detail::for_ranges(a.rows, detail::rows_grain(a.cols), a.rows * a.cols, [&](std::size_t r0, std::size_t r1) {
      for (std::size_t r = r0; r < r1; ++r) a.mask[r] = detail::any_nonzero(a.x + r * a.cols, a.cols) ? 1.0f : 0.0f;
    });
  }
  /// y[r, :] *= s[r]
  static void scale_rows(const backend::ScaleRowsArgs& a) {
    using detail::Vec, detail::vw;
    const std::size_t cols = a.cols;
    detail::for_ranges(a.rows, detail::rows_grain(cols), a.rows * cols, [&](std::size_t r0, std::size_t r1) {
      for (std::size_t r = r0; r < r1; ++r) {
        float* row = a.y + r * cols;
        const float s = a.s[r];
        std::size_t k = 0;
        for (const std::size_t body = cols / vw * vw; k < body; k += vw)
          (Vec::load_unaligned(row + k) * Vec(s)).store_unaligned(row + k);
        for (; k < cols; ++k) row[k] *= s;
      }
    });
  }
  /// dst[b, t] = src[b, t - 1] (reverse: src[b, t + 1]), zero where that step does not exist: one block
  /// move and one zero row per sample.
  static void shift_time(const backend::ShiftTimeArgs& a) {
    const std::size_t T = a.steps, w = a.width;
    if (T == 0 || w == 0) return;
    detail::for_ranges(a.n, detail::rows_grain(T * w), a.n * T * w, [&](std::size_t b0, std::size_t b1) {
      for (std::size_t b = b0; b < b1; ++b) {
        float* d = a.dst + b * T * w;
        const float* s = a.src + b * T * w;
        if (a.reverse) {
          std::memmove(d, s + w, (T - 1) * w * sizeof(float));
          std::fill(d + (T - 1) * w, d + T * w, 0.0f);
        } else {
          std::memmove(d + w, s, (T - 1) * w * sizeof(float));
          std::fill(d, d + w, 0.0f);
        }
      }
    });
  }
  /// Max or mean over the unmasked (non-zero) rows of each sample, x (n, rows, c) -> y (n, c); zeros
  /// for a sample with every row masked. Vectorised across channels, threaded across samples.
  static void masked_time_pool_forward(const backend::RowPoolArgs& a) {
    using detail::Vec, detail::vw;
    const std::size_t T = a.rows, c = a.c;
    const float lowest = -std::numeric_limits<float>::infinity();
    detail::for_ranges(a.n, 1, a.n * T * c, [&](std::size_t b0, std::size_t b1) {
      detail::StepFlags flags(T);
      float* valid = flags.data();
      for (std::size_t b = b0; b < b1; ++b) {
        const float* xs = a.x + b * T * c;
        float* o = a.y + b * c;
        const std::size_t cnt = detail::flag_rows(xs, T, c, valid);
        if (cnt == 0) {
          std::fill(o, o + c, 0.0f);
          continue;
        }
        std::size_t k = 0;
        for (const std::size_t body = c / vw * vw; k < body; k += vw) {
          Vec acc(a.is_max ? lowest : 0.0f);
          for (std::size_t t = 0; t < T; ++t) {
            if (valid[t] == 0.0f) continue;
            const Vec v = Vec::load_unaligned(xs + t * c + k);
            acc = a.is_max ? xsimd::max(v, acc) : acc + v;  // skips a NaN, as std::max(acc, v) does
          }
          (a.is_max ? acc : acc / Vec(float(cnt))).store_unaligned(o + k);
        }
        for (; k < c; ++k) {
          float acc = a.is_max ? lowest : 0.0f;
          for (std::size_t t = 0; t < T; ++t)
            if (valid[t] != 0.0f) acc = a.is_max ? std::max(acc, xs[t * c + k]) : acc + xs[t * c + k];
          o[k] = a.is_max ? acc : acc / float(cnt);
        }
      }
    });
  }
  /// Max routes each gradient to the first unmasked maximum; mean spreads it over the unmasked rows.
  static void masked_time_pool_backward(const backend::RowPoolGradArgs& a) {
    using detail::Vec, detail::vw;
    const std::size_t T = a.rows, c = a.c;
    detail::for_ranges(a.n, 1, 2 * a.n * T * c, [&](std::size_t b0, std::size_t b1) {
      detail::StepFlags flags(T);
      float* valid = flags.data();
      for (std::size_t b = b0; b < b1; ++b) {
        const float* xs = a.x + b * T * c;
        float* ds = a.dx + b * T * c;
        const float* g = a.dy + b * c;
        const float* best = a.y + b * c;
        const std::size_t cnt = detail::flag_rows(xs, T, c, valid);
        std::size_t k = 0;
        for (const std::size_t body = c / vw * vw; k < body; k += vw) {
          const Vec d = Vec::load_unaligned(g + k), share = d / Vec(float(cnt ? cnt : 1));
          const Vec top = Vec::load_unaligned(best + k);
          xsimd::batch_bool<float> done(false);
          for (std::size_t t = 0; t < T; ++t) {
            Vec out(0.0f);
            if (valid[t] != 0.0f) {
              if (!a.is_max) {
                out = share;
              } else {
                const auto hit = (Vec::load_unaligned(xs + t * c + k) == top) && !done;
                out = xsimd::select(hit, d, Vec(0.0f));
                done = done || hit;
              }
            }
            out.store_unaligned(ds + t * c + k);
          }
        }
        for (; k < c; ++k) {
          bool done = false;
          for (std::size_t t = 0; t < T; ++t) {
            float& d = ds[t * c + k];
            d = 0.0f;
            if (valid[t] == 0.0f) continue;
            if (!a.is_max) d = g[k] / float(cnt);
            else if (!done && xs[t * c + k] == best[k]) {
              d = g[k];
              done = true;
            }
          }
        }
      }
    });
  }
};

#pragma GCC diagnostic pop

}  // namespace siamese::cpu
