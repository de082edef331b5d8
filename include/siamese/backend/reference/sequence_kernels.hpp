#pragma once
// Reference kernels of the sequence layers (Embedding, LSTM, GRU, masked time pooling): plain loops,
// the oracle. Sequences are batch-major: row (b, t) of an (n, T, w) buffer starts at (b * T + t) * w.
// A time step is masked when its input row is exactly zero, the padding convention of Embedding
// (mask_zero): masked steps carry the state over and output a zero row.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>

#include "../../core/errors.hpp"
#include "../args/pool.hpp"
#include "../args/sequence.hpp"

namespace siamese::backend::detail_reference {

struct SequenceKernels {
  // ---- embedding ---------------------------------------------------------------------------------
  /// y[i, :] = table[ids[i], :] for `count` ids (T per sample); with mask_zero, id 0 gives a zero row.
  /// An id that is not an integer in [0, vocab) throws ShapeError naming the sample and position
  /// (host backends; a device backend writes a NaN row instead, so that the loss turns NaN).
  static void embedding_forward(const EmbeddingArgs& a) {
    const std::size_t dim = a.dim;
    for (std::size_t i = 0; i < a.count; ++i) {
      const std::size_t id = checked_id(a, i);
      for (std::size_t j = 0; j < dim; ++j) a.y[i * dim + j] = a.mask_zero && id == 0 ? 0.0f : a.table[id * dim + j];
    }
  }
  /// ids[i] as an index, or ShapeError naming the sample and position (shared with backend::Cpu).
  static std::size_t checked_id(const EmbeddingArgs& a, std::size_t i) {
    const float v = a.ids[i];
    if (!(v >= 0.0f && v < float(a.vocab) && v == std::floor(v)))
      throw ShapeError("Embedding<" + std::to_string(a.vocab) + "," + std::to_string(a.dim) + ">: token id " +
                       std::to_string(v) + " at sample " + std::to_string(i / a.steps) + ", position " +
                       std::to_string(i % a.steps) + " is not an integer in [0, " + std::to_string(a.vocab) + ")");
    return static_cast<std::size_t>(v);
  }
  /// dtable = 0, then dtable[ids[i], :] += dy[i, :]: only rows of ids present get a non-zero gradient
  /// (with mask_zero, row 0 gets none: its output is the constant zero).
  static void embedding_backward(const EmbeddingGradArgs& a) {
    const std::size_t dim = a.dim;
    std::fill(a.dtable, a.dtable + a.vocab * dim, 0.0f);
    for (std::size_t i = 0; i < a.count; ++i) {
      const std::size_t id = static_cast<std::size_t>(a.ids[i]);
      if (id >= a.vocab || (a.mask_zero && id == 0)) continue;
      for (std::size_t j = 0; j < dim; ++j) a.dtable[id * dim + j] += a.dy[i * dim + j];
    }
  }

  // ---- masks and time shifts -----------------------------------------------------------------------
  /// mask[r] = 1 when row r of x (cols wide) holds a non-zero value, else 0 (a masked step).
  static void row_mask(const RowMaskArgs& a) {
    for (std::size_t r = 0; r < a.rows; ++r) a.mask[r] = any_nonzero(a.x + r * a.cols, a.cols) ? 1.0f : 0.0f;
  }
  /// y[r, :] *= s[r]
  static void scale_rows(const ScaleRowsArgs& a) {
    for (std::size_t r = 0; r < a.rows; ++r)
      for (std::size_t c = 0; c < a.cols; ++c) a.y[r * a.cols + c] *= a.s[r];
  }
  /// dst[b, t] = src[b, t - 1] (reverse: src[b, t + 1]) for (n, T, w) buffers; zero where that step
  /// does not exist. It lines up each step with the state that entered it.
  static void shift_time(const ShiftTimeArgs& a) {
    const std::size_t T = a.steps, w = a.width;
    for (std::size_t b = 0; b < a.n; ++b)
      for (std::size_t t = 0; t < T; ++t) {
        const bool none = a.reverse ? t + 1 == T : t == 0;
        const std::size_t from = a.reverse ? t + 1 : t - 1;
        for (std::size_t k = 0; k < w; ++k) a.dst[(b * T + t) * w + k] = none ? 0.0f : a.src[(b * T + from) * w + k];
      }
  }

  // ---- LSTM (Keras gate order i, f, c, o) ------------------------------------------------------------
  /// One step at time t of n sequences. z (n, T, 4u) holds x W + b, plus h_prev R once tp < T; it is
  /// overwritten with the activated gates. c, h (n, T, u) receive the step's cell and hidden state;
  /// tp is the step whose state enters (tp >= T: the zero initial state). mask (n, T) or nullptr.
  static void lstm_step_forward(const LstmStepArgs& a) {
    const std::size_t n = a.n, T = a.steps, u = a.units, t = a.t, tp = a.tp;
    float *z = a.z, *c = a.c, *h = a.h;
    const float* mask = a.mask;
    for (std::size_t b = 0; b < n; ++b) {
      float* g = z + (b * T + t) * 4 * u;
      float* ct = c + (b * T + t) * u;
      float* ht = h + (b * T + t) * u;
      const float* cp = tp < T ? c + (b * T + tp) * u : nullptr;
      const float* hp = tp < T ? h + (b * T + tp) * u : nullptr;
      const bool valid = !mask || mask[b * T + t] != 0.0f;
      for (std::size_t k = 0; k < u; ++k) {
        const float c0 = cp ? cp[k] : 0.0f, h0 = hp ? hp[k] : 0.0f;
        if (!valid) {
          g[k] = g[u + k] = g[2 * u + k] = g[3 * u + k] = 0.0f;
          ct[k] = c0;
          ht[k] = h0;
          continue;
        }
        const float i = sigmoid(g[k]), f = sigmoid(g[u + k]), cc = std::tanh(g[2 * u + k]), o = sigmoid(g[3 * u + k]);
        g[k] = i;
        g[u + k] = f;
        g[2 * u + k] = cc;
        g[3 * u + k] = o;
        ct[k] = f * c0 + i * cc;
        ht[k] = o * std::tanh(ct[k]);
      }
    }
  }
  /// Backward through the step at time t. dh, dc (n, u) hold dL/dh_t and dL/dc_t from later steps; dy
  /// (n, T, u, the gradient of a returned sequence) or nullptr adds to dh. Writes dz (n, T, 4u) at t
  /// (gradient of the gate pre-activations; zero on masked steps), leaves dL/dc_tp in dc and in dh the
  /// part of dL/dh_tp that does not go through R (the caller adds dz_t R^T).
  static void lstm_step_backward(const LstmStepGradArgs& a) {
    const std::size_t n = a.n, T = a.steps, u = a.units, t = a.t, tp = a.tp;
    const float *z = a.z, *c = a.c, *dy = a.dy, *mask = a.mask;
    float *dh = a.dh, *dc = a.dc, *dz = a.dz;
    for (std::size_t b = 0; b < n; ++b) {
      const float* g = z + (b * T + t) * 4 * u;
      const float* ct = c + (b * T + t) * u;
      const float* cp = tp < T ? c + (b * T + tp) * u : nullptr;
      float* d = dz + (b * T + t) * 4 * u;
      const bool valid = !mask || mask[b * T + t] != 0.0f;
      for (std::size_t k = 0; k < u; ++k) {
        if (!valid) {  // h_t = h_tp, c_t = c_tp: the gradients pass through unchanged
          d[k] = d[u + k] = d[2 * u + k] = d[3 * u + k] = 0.0f;
          continue;
        }
        const float i = g[k], f = g[u + k], cc = g[2 * u + k], o = g[3 * u + k];
        const float dht = dh[b * u + k] + (dy ? dy[(b * T + t) * u + k] : 0.0f);
        const float tc = std::tanh(ct[k]);
        const float dct = dc[b * u + k] + dht * o * (1.0f - tc * tc);
        d[k] = dct * cc * i * (1.0f - i);
        d[u + k] = dct * (cp ? cp[k] : 0.0f) * f * (1.0f - f);
        d[2 * u + k] = dct * i * (1.0f - cc * cc);
        d[3 * u + k] = dht * tc * o * (1.0f - o);
        dc[b * u + k] = dct * f;
        dh[b * u + k] = 0.0f;
      }
    }
  }

  // ---- GRU (Keras reset_after=True, gate order z, r, h) -----------------------------------------------
  /// One step at time t. xp (n, T, 3u) holds x W + b_in and is overwritten with the activated [z, r, hh];
  /// rp (n, T, 3u) holds h_prev R at t once tp < T and receives h_prev R + b_rec (backward needs it);
  /// h (n, T, u) receives the state. tp >= T: the zero initial state. mask (n, T) or nullptr.
  static void gru_step_forward(const GruStepArgs& a) {
    const std::size_t n = a.n, T = a.steps, u = a.units, t = a.t, tp = a.tp;
    float *xp = a.xp, *rp = a.rp, *h = a.h;
    const float *brec = a.brec, *mask = a.mask;
    for (std::size_t b = 0; b < n; ++b) {
      float* g = xp + (b * T + t) * 3 * u;
      float* r = rp + (b * T + t) * 3 * u;
      float* ht = h + (b * T + t) * u;
      const float* hp = tp < T ? h + (b * T + tp) * u : nullptr;
      const bool valid = !mask || mask[b * T + t] != 0.0f;
      for (std::size_t k = 0; k < 3 * u; ++k) r[k] = (hp ? r[k] : 0.0f) + brec[k];
      for (std::size_t k = 0; k < u; ++k) {
        const float h0 = hp ? hp[k] : 0.0f;
        if (!valid) {
          g[k] = g[u + k] = g[2 * u + k] = 0.0f;
          ht[k] = h0;
          continue;
        }
        const float zg = sigmoid(g[k] + r[k]), rg = sigmoid(g[u + k] + r[u + k]);
        const float hh = std::tanh(g[2 * u + k] + rg * r[2 * u + k]);
        g[k] = zg;
        g[u + k] = rg;
        g[2 * u + k] = hh;
        ht[k] = zg * h0 + (1.0f - zg) * hh;
      }
    }
  }
  /// Backward through the GRU step at t: dh (n, u) holds dL/dh_t from later steps, dy as for the LSTM.
  /// Writes dxp (gradient of x W + b_in) and drp (of h_prev R + b_rec) at t, zero on masked steps, and
  /// leaves in dh the part of dL/dh_tp that does not go through R (the caller adds drp_t R^T).
  static void gru_step_backward(const GruStepGradArgs& a) {
    const std::size_t n = a.n, T = a.steps, u = a.units, t = a.t, tp = a.tp;
    const float *xp = a.xp, *rp = a.rp, *h = a.h, *dy = a.dy, *mask = a.mask;
    float *dh = a.dh, *dxp = a.dxp, *drp = a.drp;
    for (std::size_t b = 0; b < n; ++b) {
      const float* g = xp + (b * T + t) * 3 * u;
      const float* r = rp + (b * T + t) * 3 * u;
      const float* hp = tp < T ? h + (b * T + tp) * u : nullptr;
      float* dx = dxp + (b * T + t) * 3 * u;
      float* dr = drp + (b * T + t) * 3 * u;
      const bool valid = !mask || mask[b * T + t] != 0.0f;
      for (std::size_t k = 0; k < u; ++k) {
        if (!valid) {
          dx[k] = dx[u + k] = dx[2 * u + k] = dr[k] = dr[u + k] = dr[2 * u + k] = 0.0f;
          continue;
        }
        const float zg = g[k], rg = g[u + k], hh = g[2 * u + k];
        const float dht = dh[b * u + k] + (dy ? dy[(b * T + t) * u + k] : 0.0f);
        const float dzp = dht * ((hp ? hp[k] : 0.0f) - hh) * zg * (1.0f - zg);
        const float dhp = dht * (1.0f - zg) * (1.0f - hh * hh);
        const float drg = dhp * r[2 * u + k] * rg * (1.0f - rg);
        dx[k] = dr[k] = dzp;
        dx[u + k] = dr[u + k] = drg;
        dx[2 * u + k] = dhp;
        dr[2 * u + k] = dhp * rg;
        dh[b * u + k] = dht * zg;
      }
    }
  }

  // ---- pooling over time, mask-aware -------------------------------------------------------------
  /// Max or mean over the unmasked (non-zero) rows of each sample: x (n, T, c) -> y (n, c); a sample
  /// with every step masked gives zeros.
  static void masked_time_pool_forward(const RowPoolArgs& a) {
    const std::size_t n = a.n, T = a.rows, c = a.c;
    const bool is_max = a.is_max;
    const float* x = a.x;
    float* y = a.y;
    for (std::size_t b = 0; b < n; ++b) {
      std::size_t cnt = 0;
      for (std::size_t t = 0; t < T; ++t) cnt += any_nonzero(x + (b * T + t) * c, c);
      for (std::size_t k = 0; k < c; ++k) {
        float best = -std::numeric_limits<float>::infinity();
        double sum = 0;
        for (std::size_t t = 0; t < T; ++t) {
          const float* row = x + (b * T + t) * c;
          if (!any_nonzero(row, c)) continue;
          best = std::max(best, row[k]);
          sum += row[k];
        }
        y[b * c + k] = cnt == 0 ? 0.0f : is_max ? best : static_cast<float>(sum / double(cnt));
      }
    }
  }
  /// Max routes each gradient to the first unmasked maximum; mean spreads it over the unmasked rows.
  static void masked_time_pool_backward(const RowPoolGradArgs& a) {
    const std::size_t n = a.n, T = a.rows, c = a.c;
    const bool is_max = a.is_max;
    const float *x = a.x, *y = a.y, *dy = a.dy;
    float* dx = a.dx;
    for (std::size_t b = 0; b < n; ++b) {
      std::size_t cnt = 0;
      for (std::size_t t = 0; t < T; ++t) cnt += any_nonzero(x + (b * T + t) * c, c);
      for (std::size_t k = 0; k < c; ++k) {
        bool done = false;
        for (std::size_t t = 0; t < T; ++t) {
          const float* row = x + (b * T + t) * c;
          float& d = dx[(b * T + t) * c + k];
          d = 0.0f;
          if (!any_nonzero(row, c)) continue;
          if (!is_max) d = dy[b * c + k] / float(cnt);
          else if (!done && row[k] == y[b * c + k]) {
            d = dy[b * c + k];
            done = true;
          }
        }
      }
    }
  }

 private:
  static float sigmoid(float x) { return x >= 0 ? 1.0f / (1.0f + std::exp(-x)) : std::exp(x) / (1.0f + std::exp(x)); }
  static bool any_nonzero(const float* row, std::size_t cols) {
    for (std::size_t k = 0; k < cols; ++k)
      if (row[k] != 0.0f) return true;
    return false;
  }
};

}  // namespace siamese::backend::detail_reference
