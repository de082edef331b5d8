#pragma once
// Arguments of the sequence kernels (Embedding, masks, LSTM and GRU steps). Sequences are batch-major:
// row (b, t) of an (n, steps, w) buffer starts at (b * steps + t) * w. Masked time pooling takes
// RowPoolArgs (args/pool.hpp).
#include <cstddef>

namespace siamese::backend {

/// embedding_forward: y[i, :] = table[ids[i], :] for `count` ids (`steps` per sample); with mask_zero,
/// id 0 gives a zero row.
struct EmbeddingArgs {
  const float* ids;
  const float* table;
  float* y;
  std::size_t count, steps, vocab, dim;
  bool mask_zero;
};

/// embedding_backward: dtable = 0, then dtable[ids[i], :] += dy[i, :].
struct EmbeddingGradArgs {
  const float* ids;
  const float* dy;
  float* dtable;
  std::size_t count, vocab, dim;
  bool mask_zero;
};

/// row_mask: mask[r] = 1 when row r of x (cols wide) holds a non-zero value, else 0.
struct RowMaskArgs {
  const float* x;
  float* mask;
  std::size_t rows, cols;
};

/// scale_rows: y[r, :] *= s[r].
struct ScaleRowsArgs {
  float* y;
  const float* s;
  std::size_t rows, cols;
};

/// shift_time: dst[b, t] = src[b, t - 1] (reverse: src[b, t + 1]) for (n, steps, width) buffers, zero
/// where that step does not exist.
struct ShiftTimeArgs {
  float* dst;
  const float* src;
  std::size_t n, steps, width;
  bool reverse;
};

/// lstm_step_forward at step t: z (n, steps, 4 units) holds x W + b (+ h_prev R), overwritten with the
/// activated gates; c, h (n, steps, units) receive the step's states from those of step tp (tp >= steps:
/// the zero initial state). mask (n, steps) or null.
struct LstmStepArgs {
  std::size_t n, steps, units, t, tp;
  float* z;
  float* c;
  float* h;
  const float* mask;
};

/// lstm_step_backward at step t: dh, dc (n, units) hold dL/dh_t, dL/dc_t; dy (n, steps, units) or null
/// adds to dh. Writes dz at t, leaves dL/dc_tp in dc and the part of dL/dh_tp not through R in dh.
struct LstmStepGradArgs {
  std::size_t n, steps, units, t, tp;
  const float* z;
  const float* c;
  const float* dy;
  const float* mask;
  float* dh;
  float* dc;
  float* dz;
};

/// gru_step_forward at step t: xp (n, steps, 3 units) = x W + b_in, activated in place to [z, r, hh];
/// rp holds h_prev R and receives h_prev R + brec; h (n, steps, units) receives the state.
struct GruStepArgs {
  std::size_t n, steps, units, t, tp;
  float* xp;
  float* rp;
  const float* brec;
  float* h;
  const float* mask;
};

/// gru_step_backward at step t: writes dxp and drp at t and leaves in dh the part of dL/dh_tp that
/// does not go through R.
struct GruStepGradArgs {
  std::size_t n, steps, units, t, tp;
  const float* xp;
  const float* rp;
  const float* h;
  const float* dy;
  const float* mask;
  float* dh;
  float* dxp;
  float* drp;
};

}  // namespace siamese::backend
