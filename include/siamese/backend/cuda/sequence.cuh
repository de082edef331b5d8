#pragma once
// backend::Cuda's sequence kernels (Embedding, masks, LSTM and GRU steps, masked time pooling), the
// counterparts of backend/reference/sequence_kernels.hpp. A recurrent step is one fused kernel over
// (sample, unit); its recurrent GEMM runs in cuBLAS, called by the layer.
#include <cmath>
#include <cstddef>
#include <limits>

#include "../args/pool.hpp"
#include "../args/sequence.hpp"
#include "common.cuh"

namespace siamese::backend::detail_cuda {

template <class X>
struct SequenceOps {
  // ---- embedding -------------------------------------------------------------------------------------
  /// y[i, :] = table[ids[i], :]; with mask_zero, id 0 gives a zero row. An id that is not an integer in
  /// [0, vocab) gives a NaN row (a kernel cannot throw), so that the loss turns NaN.
  static void embedding_forward(const EmbeddingArgs& a) {
    const float *ids = a.ids, *table = a.table;
    float* y = a.y;
    const std::size_t count = a.count, vocab = a.vocab, dim = a.dim;
    const bool mask_zero = a.mask_zero;
    if (dim == 0) return;
    X::launch("embedding_forward", count * dim, [=] __host__ __device__(std::size_t e) {
      const std::size_t i = e / dim, j = e % dim;
      const float v = ids[i];
      if (!(v >= 0.0f && v < float(vocab) && v == ::floorf(v))) {
        y[e] = std::numeric_limits<float>::quiet_NaN();
        return;
      }
      const std::size_t id = static_cast<std::size_t>(v);
      y[e] = mask_zero && id == 0 ? 0.0f : table[id * dim + j];
    });
  }
  /// Embedding gradients the same from run to run (float atomic adds of repeated ids depend on thread
  /// timing): set from the environment (SIAMESE_CUDA_DETERMINISTIC=1) or by the program. Costs a pass
  /// over a 64-bit copy of the table per backward step.
  static inline bool deterministic_embeddings = env_flag("SIAMESE_CUDA_DETERMINISTIC");

  /// dtable = 0, then dtable[ids[i], :] += dy[i, :] (atomic adds: ids repeat); deterministic_embeddings:
  /// the adds in fixed point, which sum alike in any order (embedding_backward_fixed).
  static void embedding_backward(const EmbeddingGradArgs& a) {
    if (deterministic_embeddings) return embedding_backward_fixed(a);
    const float *ids = a.ids, *dy = a.dy;
    float* dtable = a.dtable;
    const std::size_t count = a.count, vocab = a.vocab, dim = a.dim;
    const bool mask_zero = a.mask_zero;
    X::zero(dtable, vocab * dim * sizeof(float));
    if (dim == 0) return;
    X::launch("embedding_backward", count * dim, [=] __host__ __device__(std::size_t e) {
      const std::size_t i = e / dim, j = e % dim;
      const float v = ids[i];
      if (!(v >= 0.0f && v < float(vocab))) return;
      const std::size_t id = static_cast<std::size_t>(v);
      if (mask_zero && id == 0) return;
      atomic_add(dtable + id * dim + j, dy[e]);
    });
  }

  /// embedding_backward with 64-bit fixed-point sums: every dy is rounded to a multiple of 1 / scale,
  /// scale = 2^62 / sum |dy| rounded down to a power of two (computed on the device), so no sum can
  /// overflow and each term is off by at most sum |dy| * 2^-62; integer adds give the same sum in any
  /// order. A non-finite dy among the counted ones makes the whole table's gradient NaN.
  static void embedding_backward_fixed(const EmbeddingGradArgs& a) {
    const float *ids = a.ids, *dy = a.dy;
    float* dtable = a.dtable;
    const std::size_t count = a.count, vocab = a.vocab, dim = a.dim;
    const bool mask_zero = a.mask_zero;
    if (dim == 0 || vocab == 0) return;
    const std::size_t cells = vocab * dim;
    auto* acc = static_cast<unsigned long long*>(
        X::scratch(Slot::Fixed, cells * sizeof(unsigned long long) + sizeof(double)));
    double* scale = reinterpret_cast<double*>(acc + cells);
    X::zero(acc, cells * sizeof(unsigned long long));
    reduce_sum_into<X>("embedding_backward (scale)", count * dim,
                       [=] __host__ __device__(std::size_t e) {
                         const float v = ids[e / dim];
                         const bool counted = v >= 0.0f && v < float(vocab) && !(mask_zero && v < 1.0f);
                         return counted ? double(::fabsf(dy[e])) : 0.0;
                       },
                       [=] __host__ __device__(double total) {
                         int e = 0;
                         (void)::frexp(total, &e);  // total = m 2^e, m in [0.5, 1): total 2^(62 - e) <= 2^62
                         *scale = !(total - total == 0.0) ? 0.0 : total > 0.0 ? ::ldexp(1.0, 62 - e) : 1.0;
                       });
    X::launch("embedding_backward (fixed point)", count * dim, [=] __host__ __device__(std::size_t e) {
      const std::size_t i = e / dim, j = e % dim;
      const float v = ids[i];
      if (!(v >= 0.0f && v < float(vocab))) return;
      const std::size_t id = static_cast<std::size_t>(v);
      if (mask_zero && id == 0) return;
      const long long q = ::llrint(double(dy[e]) * *scale);
      atomic_add(acc + id * dim + j, static_cast<unsigned long long>(q));
    });
    X::launch("embedding_backward (from fixed point)", cells, [=] __host__ __device__(std::size_t e) {
      const double s = *scale;
      dtable[e] = s > 0.0 ? float(double(static_cast<long long>(acc[e])) / s)
                          : std::numeric_limits<float>::quiet_NaN();
    });
  }

  // ---- masks and time shifts ---------------------------------------------------------------------------
  /// mask[r] = 1 when row r of x (cols wide) holds a non-zero value, else 0.
  static void row_mask(const RowMaskArgs& a) {
    const float* x = a.x;
    float* mask = a.mask;
    const std::size_t rows = a.rows, cols = a.cols;
    X::launch("row_mask", rows, [=] __host__ __device__(std::size_t r) {
      bool any = false;
      for (std::size_t k = 0; k < cols && !any; ++k) any = x[r * cols + k] != 0.0f;
      mask[r] = any ? 1.0f : 0.0f;
    });
  }
  /// y[r, :] *= s[r]
  static void scale_rows(const ScaleRowsArgs& a) {
    float* y = a.y;
    const float* s = a.s;
    const std::size_t rows = a.rows, cols = a.cols;
    if (cols == 0) return;
    X::launch("scale_rows", rows * cols, [=] __host__ __device__(std::size_t i) { y[i] *= s[i / cols]; });
  }
  /// dst[b, t] = src[b, t - 1] (reverse: src[b, t + 1]) for (n, T, w) buffers; zero where none.
  static void shift_time(const ShiftTimeArgs& a) {
    float* dst = a.dst;
    const float* src = a.src;
    const std::size_t n = a.n, T = a.steps, w = a.width;
    const bool reverse = a.reverse;
    if (w == 0 || T == 0) return;
    X::launch("shift_time", n * T * w, [=] __host__ __device__(std::size_t i) {
      const std::size_t k = i % w, t = (i / w) % T, b = i / (w * T);
      const bool none = reverse ? t + 1 == T : t == 0;
      const std::size_t from = reverse ? t + 1 : t - 1;
      dst[i] = none ? 0.0f : src[(b * T + from) * w + k];
    });
  }

  // ---- LSTM (Keras gate order i, f, c, o) ----------------------------------------------------------------
  /// The gates of step t from z (n, T, 4u) = x W + b + h_prev R, activated in place; c, h receive the
  /// step's states. tp >= T: the zero initial state. mask (n, T) or nullptr.
  static void lstm_step_forward(const LstmStepArgs& a) {
    const std::size_t n = a.n, T = a.steps, u = a.units, t = a.t, tp = a.tp;
    float *z = a.z, *c = a.c, *h = a.h;
    const float* mask = a.mask;
    if (u == 0) return;
    X::launch("lstm_step_forward", n * u, [=] __host__ __device__(std::size_t e) {
      const std::size_t b = e / u, k = e % u;
      float* g = z + (b * T + t) * 4 * u;
      const bool has_prev = tp < T;
      const float c0 = has_prev ? c[(b * T + tp) * u + k] : 0.0f, h0 = has_prev ? h[(b * T + tp) * u + k] : 0.0f;
      float& ct = c[(b * T + t) * u + k];
      float& ht = h[(b * T + t) * u + k];
      if (mask && mask[b * T + t] == 0.0f) {
        g[k] = g[u + k] = g[2 * u + k] = g[3 * u + k] = 0.0f;
        ct = c0;
        ht = h0;
        return;
      }
      const float i = sigmoid(g[k]), f = sigmoid(g[u + k]), cc = ::tanhf(g[2 * u + k]), o = sigmoid(g[3 * u + k]);
      g[k] = i;
      g[u + k] = f;
      g[2 * u + k] = cc;
      g[3 * u + k] = o;
      ct = f * c0 + i * cc;
      ht = o * ::tanhf(ct);
    });
  }
  /// Backward through step t: dh, dc (n, u) hold dL/dh_t and dL/dc_t from later steps (dy, if given,
  /// adds to dh). Writes dz at t, leaves dL/dc_tp in dc and zero in dh (the caller adds dz_t R^T).
  static void lstm_step_backward(const LstmStepGradArgs& a) {
    const std::size_t n = a.n, T = a.steps, u = a.units, t = a.t, tp = a.tp;
    const float *z = a.z, *c = a.c, *dy = a.dy, *mask = a.mask;
    float *dh = a.dh, *dc = a.dc, *dz = a.dz;
    if (u == 0) return;
    X::launch("lstm_step_backward", n * u, [=] __host__ __device__(std::size_t e) {
      const std::size_t b = e / u, k = e % u;
      const float* g = z + (b * T + t) * 4 * u;
      float* d = dz + (b * T + t) * 4 * u;
      if (mask && mask[b * T + t] == 0.0f) {  // h_t = h_tp, c_t = c_tp: gradients pass through
        d[k] = d[u + k] = d[2 * u + k] = d[3 * u + k] = 0.0f;
        return;
      }
      const float i = g[k], f = g[u + k], cc = g[2 * u + k], o = g[3 * u + k];
      const float dht = dh[e] + (dy ? dy[(b * T + t) * u + k] : 0.0f);
      const float tc = ::tanhf(c[(b * T + t) * u + k]);
      const float dct = dc[e] + dht * o * (1.0f - tc * tc);
      d[k] = dct * cc * i * (1.0f - i);
      d[u + k] = dct * (tp < T ? c[(b * T + tp) * u + k] : 0.0f) * f * (1.0f - f);
      d[2 * u + k] = dct * i * (1.0f - cc * cc);
      d[3 * u + k] = dht * tc * o * (1.0f - o);
      dc[e] = dct * f;
      dh[e] = 0.0f;
    });
  }

  // ---- GRU (Keras reset_after=True, gate order z, r, h) --------------------------------------------------
  /// Step t: xp (n, T, 3u) = x W + b_in, activated in place to [z, r, hh]; rp (n, T, 3u) holds h_prev R
  /// and receives h_prev R + b_rec; h receives the state.
  static void gru_step_forward(const GruStepArgs& a) {
    const std::size_t n = a.n, T = a.steps, u = a.units, t = a.t, tp = a.tp;
    float *xp = a.xp, *rp = a.rp, *h = a.h;
    const float *brec = a.brec, *mask = a.mask;
    if (u == 0) return;
    X::launch("gru_step_forward", n * u, [=] __host__ __device__(std::size_t e) {
      const std::size_t b = e / u, k = e % u;
      float* g = xp + (b * T + t) * 3 * u;
      float* r = rp + (b * T + t) * 3 * u;
      const bool has_prev = tp < T;
      for (std::size_t q = 0; q < 3; ++q) r[q * u + k] = (has_prev ? r[q * u + k] : 0.0f) + brec[q * u + k];
      const float h0 = has_prev ? h[(b * T + tp) * u + k] : 0.0f;
      float& ht = h[(b * T + t) * u + k];
      if (mask && mask[b * T + t] == 0.0f) {
        g[k] = g[u + k] = g[2 * u + k] = 0.0f;
        ht = h0;
        return;
      }
      const float zg = sigmoid(g[k] + r[k]), rg = sigmoid(g[u + k] + r[u + k]);
      const float hh = ::tanhf(g[2 * u + k] + rg * r[2 * u + k]);
      g[k] = zg;
      g[u + k] = rg;
      g[2 * u + k] = hh;
      ht = zg * h0 + (1.0f - zg) * hh;
    });
  }
  /// Backward through the GRU step at t: writes dxp and drp at t, leaves in dh the part of dL/dh_tp
  /// that does not go through R (the caller adds drp_t R^T).
  static void gru_step_backward(const GruStepGradArgs& a) {
    const std::size_t n = a.n, T = a.steps, u = a.units, t = a.t, tp = a.tp;
    const float *xp = a.xp, *rp = a.rp, *h = a.h, *dy = a.dy, *mask = a.mask;
    float *dh = a.dh, *dxp = a.dxp, *drp = a.drp;
    if (u == 0) return;
    X::launch("gru_step_backward", n * u, [=] __host__ __device__(std::size_t e) {
      const std::size_t b = e / u, k = e % u;
      const float* g = xp + (b * T + t) * 3 * u;
      const float* r = rp + (b * T + t) * 3 * u;
      float* dx = dxp + (b * T + t) * 3 * u;
      float* dr = drp + (b * T + t) * 3 * u;
      if (mask && mask[b * T + t] == 0.0f) {
        dx[k] = dx[u + k] = dx[2 * u + k] = dr[k] = dr[u + k] = dr[2 * u + k] = 0.0f;
        return;
      }
      const float zg = g[k], rg = g[u + k], hh = g[2 * u + k];
      const float dht = dh[e] + (dy ? dy[(b * T + t) * u + k] : 0.0f);
      const float hp = tp < T ? h[(b * T + tp) * u + k] : 0.0f;
      const float dzp = dht * (hp - hh) * zg * (1.0f - zg);
      const float dhp = dht * (1.0f - zg) * (1.0f - hh * hh);
      const float drg = dhp * r[2 * u + k] * rg * (1.0f - rg);
      dx[k] = dr[k] = dzp;
      dx[u + k] = dr[u + k] = drg;
      dx[2 * u + k] = dhp;
      dr[2 * u + k] = dhp * rg;
      dh[e] = dht * zg;
    });
  }

  // ---- pooling over time, mask-aware ---------------------------------------------------------------------
  /// Max or mean over the unmasked (non-zero) rows of each sample: x (n, T, c) -> y (n, c); zeros
  /// for a sample with every step masked.
  static void masked_time_pool_forward(const RowPoolArgs& a) {
    const bool is_max = a.is_max;
    const float* x = a.x;
    float* y = a.y;
    const std::size_t n = a.n, T = a.rows, c = a.c;
    const float* valid = step_mask(x, n * T, c);
    X::launch("masked_time_pool_forward", n * c, [=] __host__ __device__(std::size_t i) {
      const std::size_t b = i / c, k = i % c;
      std::size_t cnt = 0;
      float best = -std::numeric_limits<float>::infinity();
      double sum = 0;
      for (std::size_t t = 0; t < T; ++t) {
        if (valid[b * T + t] == 0.0f) continue;
        const float v = x[(b * T + t) * c + k];
        ++cnt;
        best = max_of(best, v);
        sum += v;
      }
      y[i] = cnt == 0 ? 0.0f : is_max ? best : static_cast<float>(sum / double(cnt));
    });
  }
  /// Max routes each gradient to the first unmasked maximum; mean spreads it over the unmasked rows.
  static void masked_time_pool_backward(const RowPoolGradArgs& a) {
    const bool is_max = a.is_max;
    const float *x = a.x, *y = a.y, *dy = a.dy;
    float* dx = a.dx;
    const std::size_t n = a.n, T = a.rows, c = a.c;
    const float* valid = step_mask(x, n * T, c);
    X::launch("masked_time_pool_backward", n * c, [=] __host__ __device__(std::size_t i) {
      const std::size_t b = i / c, k = i % c;
      std::size_t cnt = 0;
      for (std::size_t t = 0; t < T; ++t) cnt += valid[b * T + t] != 0.0f;
      bool done = false;
      for (std::size_t t = 0; t < T; ++t) {
        const std::size_t j = (b * T + t) * c + k;
        float d = 0.0f;
        if (valid[b * T + t] != 0.0f) {
          if (!is_max) {
            d = dy[i] / float(cnt);
          } else if (!done && x[j] == y[i]) {
            d = dy[i];
            done = true;
          }
        }
        dx[j] = d;
      }
    });
  }

 private:
  static const float* step_mask(const float* x, std::size_t rows, std::size_t cols) {
    float* m = static_cast<float*>(X::scratch(Slot::Mask, (rows ? rows : 1) * sizeof(float)));
    row_mask({.x = x, .mask = m, .rows = rows, .cols = cols});
    return m;
  }
};

}  // namespace siamese::backend::detail_cuda
