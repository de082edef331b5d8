#pragma once
// backend::Cpu's kernels of the text-encoder layers: GELU, LayerNorm, L2Normalize, masked mean pooling and
// the BertEmbeddings lookup. Rows are vectorised with xsimd (a row's tail runs as a zero-padded batch, so
// there is no scalar copy of any formula) and threaded with oneTBB; reductions over rows use fixed blocks,
// so results do not depend on the thread count. Same contracts as Reference's (reference/bert_kernels.hpp).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>

#include "../../layers/token_ids.hpp"
#include "../args/bert_layers.hpp"
#include "elementwise.hpp"
#include "gelu.hpp"
#include "parallel.hpp"

namespace siamese::cpu {

namespace detail {
/// Rows per task: enough floats that a task outweighs its scheduling.
inline std::size_t row_grain(std::size_t cols) { return std::max<std::size_t>(1, 8192 / (cols + 1)); }

/// body(k, m) for the batches of a row of `cols` floats: k the first column, m its valid lanes (vw but at the tail).
template <class Body>
[[gnu::always_inline]] inline void for_batches(std::size_t cols, Body&& body) {
  std::size_t k = 0;
  for (; k + vw <= cols; k += vw) body(k, vw);
  if (k < cols) body(k, cols - k);
}
inline Vec load(const float* p, std::size_t m) { return m == vw ? Vec::load_unaligned(p) : load_part(p, m); }
inline void store(float* p, const Vec& v, std::size_t m) {
  if (m == vw) v.store_unaligned(p);
  else store_part(p, v, m);
}
/// Sum of the batches body(k, m) returns over a row, in two accumulators.
template <class Body>
[[gnu::always_inline]] inline float row_sum(std::size_t cols, Body&& body) {
  Vec a0(0.0f), a1(0.0f);
  std::size_t k = 0;
  for (; k + 2 * vw <= cols; k += 2 * vw) {
    a0 += body(k, vw);
    a1 += body(k + vw, vw);
  }
  for (; k < cols; k += vw) a0 += body(k, std::min(vw, cols - k));
  return xsimd::hadd(a0 + a1);
}
}  // namespace detail

// ---- GELU ------------------------------------------------------------------------------------------------
inline void gelu_forward(const backend::GeluArgs& a) {
  using namespace detail;
  if (!a.bias) {
    const std::size_t n = a.rows * a.cols;
    if (a.pre) copy(a.pre, a.x, n);
    return map_vec(a.x, a.y, n, [](const Vec& v) { return gelu(v); });
  }
  for_ranges(a.rows, row_grain(a.cols), 8 * a.rows * a.cols, [&](std::size_t r0, std::size_t r1) {
    for (std::size_t r = r0; r < r1; ++r) {
      const float* x = a.x + r * a.cols;
      float* y = a.y + r * a.cols;
      float* pre = a.pre ? a.pre + r * a.cols : nullptr;
      for_batches(a.cols, [&](std::size_t k, std::size_t m) {
        const Vec z = load(x + k, m) + load(a.bias + k, m);
        if (pre) store(pre + k, z, m);
        store(y + k, gelu(z), m);
      });
    }
  });
}
inline void gelu_backward(const backend::GeluBackwardArgs& a) {
  detail::map_vec2(a.pre, a.dy, a.dx, a.n, [](const detail::Vec& z, const detail::Vec& g) {
    return g * detail::gelu_grad(z);
  });
}

// ---- LayerNorm -----------------------------------------------------------------------------------------------
/// One read of each row from memory: its sum, then the centred sum of squares (two-pass variance, with the row
/// in L1 by then), then the output; mean and rstd per row kept when their pointers are set.
inline void layernorm_forward(const backend::LayerNormArgs& a) {
  using namespace detail;
  const std::size_t c = a.cols;
  const float inv_c = 1.0f / float(c);
  const auto tail = lanes_below(c % vw);
  for_ranges(a.rows, row_grain(c), 4 * a.rows * c, [&](std::size_t r0, std::size_t r1) {
    for (std::size_t r = r0; r < r1; ++r) {
      const float* x = a.x + r * c;
      float* y = a.y + r * c;
      // everything relative to x[0]: the differences are exact for rows far from zero, and the mean of the
      // differences small, so that x - mean keeps its digits (a float mean near 1000 would lose 3e-5)
      const Vec x0(x[0]);
      const float md = row_sum(c, [&](std::size_t k, std::size_t m) {
                         const Vec d = load(x + k, m) - x0;
                         return m == vw ? d : xsimd::select(tail, d, Vec(0.0f));
                       }) * inv_c;
      const Vec mv(md);
      const float var = row_sum(c, [&](std::size_t k, std::size_t m) {
                          const Vec d = (load(x + k, m) - x0) - mv;
                          return m == vw ? d * d : xsimd::select(tail, d * d, Vec(0.0f));
                        }) * inv_c;
      const float rstd = 1.0f / std::sqrt(var + a.eps);
      if (a.mean) a.mean[r] = x[0] + md;
      if (a.rstd) a.rstd[r] = rstd;
      const Vec rv(rstd);
      for_batches(c, [&](std::size_t k, std::size_t m) {
        store(y + k, xsimd::fma(((load(x + k, m) - x0) - mv) * rv, load(a.gamma + k, m), load(a.beta + k, m)), m);
      });
    }
  });
}

/// Blocks of rows (fixed by the row count) each accumulate their partial dgamma, dbeta while writing dx; the
/// partials are summed in block order.
inline void layernorm_backward(const backend::LayerNormBackwardArgs& a) {
  using namespace detail;
  const std::size_t c = a.cols, rows = a.rows;
  const bool params = a.dgamma != nullptr;
  const std::size_t br = params ? reduce_block_rows(rows) : row_grain(c), nb = (rows + br - 1) / br;
  static thread_local Workspace ws;
  float* part = params ? ws.reserve(nb * 2 * c) : nullptr;
  const float inv_c = 1.0f / float(c);
  for_ranges(nb, 1, 6 * rows * c, [&](std::size_t b0, std::size_t b1) {
    for (std::size_t blk = b0; blk < b1; ++blk) {
      float* pg = params ? part + blk * 2 * c : nullptr;
      float* pb = params ? pg + c : nullptr;
      if (params) std::fill(pg, pg + 2 * c, 0.0f);
      for (std::size_t r = blk * br; r < std::min(rows, (blk + 1) * br); ++r) {
        const float *x = a.x + r * c, *dy = a.dy + r * c;
        const Vec mv(a.mean[r]), rv(a.rstd[r]);
        Vec sg(0.0f), sgx(0.0f);
        for_batches(c, [&](std::size_t k, std::size_t m) {
          const Vec xh = (load(x + k, m) - mv) * rv, d = load(dy + k, m), g = d * load(a.gamma + k, m);
          sg += g;  // the padded lanes of a tail have dy = 0, so g = 0 there
          sgx = xsimd::fma(g, xh, sgx);
          if (params) {
            store(pg + k, xsimd::fma(d, xh, load(pg + k, m)), m);
            store(pb + k, load(pb + k, m) + d, m);
          }
        });
        if (!a.dx) continue;
        const Vec mg(xsimd::hadd(sg) * inv_c), mgx(xsimd::hadd(sgx) * inv_c);
        float* dx = a.dx + r * c;
        for_batches(c, [&](std::size_t k, std::size_t m) {
          const Vec xh = (load(x + k, m) - mv) * rv, g = load(dy + k, m) * load(a.gamma + k, m);
          store(dx + k, rv * (g - mg - xh * mgx), m);
        });
      }
    }
  });
  if (!params) return;
  for_batches(c, [&](std::size_t k, std::size_t m) {
    Vec g(0.0f), b(0.0f);
    for (std::size_t blk = 0; blk < nb; ++blk) {
      g += load(part + blk * 2 * c + k, m);
      b += load(part + blk * 2 * c + c + k, m);
    }
    store(a.dgamma + k, g, m);
    if (a.dbeta) store(a.dbeta + k, b, m);
  });
}

// ---- L2Normalize -----------------------------------------------------------------------------------------------
inline void l2_normalize_forward(const backend::L2NormalizeArgs& a) {
  using namespace detail;
  const std::size_t c = a.cols;
  for_ranges(a.rows, row_grain(c), 3 * a.rows * c, [&](std::size_t r0, std::size_t r1) {
    for (std::size_t r = r0; r < r1; ++r) {
      const float* x = a.x + r * c;
      const float norm = std::sqrt(row_sum(c, [&](std::size_t k, std::size_t m) {
        const Vec v = load(x + k, m);
        return v * v;
      }));
      if (a.norm) a.norm[r] = norm;
      const Vec s(1.0f / std::max(norm, a.eps));
      for_batches(c, [&](std::size_t k, std::size_t m) { store(a.y + r * c + k, load(x + k, m) * s, m); });
    }
  });
}
inline void l2_normalize_backward(const backend::L2NormalizeBackwardArgs& a) {
  using namespace detail;
  const std::size_t c = a.cols;
  for_ranges(a.rows, row_grain(c), 3 * a.rows * c, [&](std::size_t r0, std::size_t r1) {
    for (std::size_t r = r0; r < r1; ++r) {
      const float *y = a.y + r * c, *dy = a.dy + r * c;
      const bool clamped = !(a.norm[r] > a.eps);
      const float dot = clamped ? 0.0f : row_sum(c, [&](std::size_t k, std::size_t m) {
        return load(y + k, m) * load(dy + k, m);
      });
      const Vec s(1.0f / (clamped ? a.eps : a.norm[r])), d(dot);
      for_batches(c, [&](std::size_t k, std::size_t m) {
        store(a.dx + r * c + k, (load(dy + k, m) - load(y + k, m) * d) * s, m);
      });
    }
  });
}

// ---- masked mean pooling ---------------------------------------------------------------------------------------
namespace detail {
inline std::size_t valid_steps(const float* tokens, std::size_t stride, std::size_t b, std::size_t steps) {
  if (!tokens) return steps;
  std::size_t count = 0;
  for (std::size_t t = 0; t < steps; ++t) count += tokens[b * stride + t] != 0.0f;
  return count;
}
}  // namespace detail
/// Samples in parallel; within one, the valid rows are added into the output row (kept in L1), then scaled.
inline void masked_mean_pool_forward(const backend::MaskedMeanPoolArgs& a) {
  using namespace detail;
  const std::size_t T = a.steps, D = a.dim;
  for_ranges(a.n, std::max<std::size_t>(1, 8192 / (T * D + 1)), a.n * T * D, [&](std::size_t b0, std::size_t b1) {
    for (std::size_t b = b0; b < b1; ++b) {
      float* y = a.y + b * D;
      std::fill(y, y + D, 0.0f);
      const std::size_t count = valid_steps(a.tokens, a.tokens_stride, b, T);
      for (std::size_t t = 0; t < T; ++t) {
        if (a.tokens && a.tokens[b * a.tokens_stride + t] == 0.0f) continue;
        const float* x = a.x + (b * T + t) * D;
        for_batches(D, [&](std::size_t k, std::size_t m) { store(y + k, load(y + k, m) + load(x + k, m), m); });
      }
      const Vec s(count ? 1.0f / float(count) : 0.0f);
      for_batches(D, [&](std::size_t k, std::size_t m) { store(y + k, load(y + k, m) * s, m); });
    }
  });
}
inline void masked_mean_pool_backward(const backend::MaskedMeanPoolBackwardArgs& a) {
  using namespace detail;
  const std::size_t T = a.steps, D = a.dim;
  for_ranges(a.n, std::max<std::size_t>(1, 8192 / (T * D + 1)), a.n * T * D, [&](std::size_t b0, std::size_t b1) {
    for (std::size_t b = b0; b < b1; ++b) {
      const std::size_t count = valid_steps(a.tokens, a.tokens_stride, b, T);
      const Vec s(count ? 1.0f / float(count) : 0.0f);
      for (std::size_t t = 0; t < T; ++t) {
        float* dx = a.dx + (b * T + t) * D;
        const bool valid = !a.tokens || a.tokens[b * a.tokens_stride + t] != 0.0f;
        for_batches(D, [&](std::size_t k, std::size_t m) {
          store(dx + k, valid ? load(a.dy + b * D + k, m) * s : Vec(0.0f), m);
        });
      }
    }
  });
}

// ---- BertEmbeddings ----------------------------------------------------------------------------------------------
inline std::string bert_embeddings_name(std::size_t vocab, std::size_t dim) {
  return "BertEmbeddings<" + std::to_string(vocab) + "," + std::to_string(dim) + ">";
}
/// The ids are checked first (ShapeError naming the sample and position), then each row is the sum of its
/// three table rows.
inline void bert_embeddings_forward(const backend::BertEmbeddingsArgs& a) {
  using namespace detail;
  if (!all_token_ids(a.ids, a.rows, a.vocab))  // the name is built only for a bad batch: a step allocates nothing
    check_token_ids(a.ids, a.rows, a.steps, a.vocab, bert_embeddings_name(a.vocab, a.dim));
  const std::size_t D = a.dim;
  for_ranges(a.rows, row_grain(D), 4 * a.rows * D, [&](std::size_t r0, std::size_t r1) {
    for (std::size_t i = r0; i < r1; ++i) {
      const float* w = a.word + static_cast<std::size_t>(a.ids[i]) * D;
      const float* p = a.position + (i % a.steps) * D;
      for_batches(D, [&](std::size_t k, std::size_t m) {
        store(a.sum + i * D + k, load(w + k, m) + load(p + k, m) + load(a.token_type + k, m), m);
      });
    }
  });
}
/// dword: column slices in parallel (each slice visits every id, so repeated ids never race and the order of
/// the additions is fixed); dposition: positions in parallel; dtoken_type row 0: the sum of dposition's rows.
inline void bert_embeddings_backward(const backend::BertEmbeddingsBackwardArgs& a) {
  using namespace detail;
  const std::size_t D = a.dim, T = a.steps, n = a.rows / T;
  fill(a.dword, 0.0f, a.vocab * D);
  constexpr std::size_t slice = 64;
  for_ranges((D + slice - 1) / slice, 1, a.rows * D, [&](std::size_t s0, std::size_t s1) {
    const std::size_t k0 = s0 * slice, k1 = std::min(D, s1 * slice);
    for (std::size_t i = 0; i < a.rows; ++i) {
      const std::size_t id = static_cast<std::size_t>(a.ids[i]);
      if (id == 0 || id >= a.vocab) continue;
      float* w = a.dword + id * D;
      const float* g = a.dsum + i * D;
      for (std::size_t k = k0; k < k1; k += vw) {
        const std::size_t m = std::min(vw, k1 - k);
        store(w + k, load(w + k, m) + load(g + k, m), m);
      }
    }
  });
  fill(a.dposition + T * D, 0.0f, (a.max_len - T) * D);
  for_ranges(T, row_grain(n * D), a.rows * D, [&](std::size_t t0, std::size_t t1) {
    for (std::size_t t = t0; t < t1; ++t)
      for_batches(D, [&](std::size_t k, std::size_t m) {
        Vec s(0.0f);
        for (std::size_t b = 0; b < n; ++b) s += load(a.dsum + (b * T + t) * D + k, m);
        store(a.dposition + t * D + k, s, m);
      });
  });
  for_batches(D, [&](std::size_t k, std::size_t m) {
    Vec s(0.0f);
    for (std::size_t t = 0; t < T; ++t) s += load(a.dposition + t * D + k, m);
    store(a.dtoken_type + k, s, m);
  });
  fill(a.dtoken_type + D, 0.0f, (a.type_vocab - 1) * D);
}

/// The text-encoder kernels of backend::Cpu over the kernels of Base.
template <class Base>
struct BertKernels : Base {
  static void gelu_forward(const backend::GeluArgs& a) { cpu::gelu_forward(a); }
  static void gelu_backward(const backend::GeluBackwardArgs& a) { cpu::gelu_backward(a); }
  static void layernorm_forward(const backend::LayerNormArgs& a) { cpu::layernorm_forward(a); }
  static void layernorm_backward(const backend::LayerNormBackwardArgs& a) { cpu::layernorm_backward(a); }
  static void l2_normalize_forward(const backend::L2NormalizeArgs& a) { cpu::l2_normalize_forward(a); }
  static void l2_normalize_backward(const backend::L2NormalizeBackwardArgs& a) { cpu::l2_normalize_backward(a); }
  static void masked_mean_pool_forward(const backend::MaskedMeanPoolArgs& a) { cpu::masked_mean_pool_forward(a); }
  static void masked_mean_pool_backward(const backend::MaskedMeanPoolBackwardArgs& a) {
    cpu::masked_mean_pool_backward(a);
  }
  static void bert_embeddings_forward(const backend::BertEmbeddingsArgs& a) { cpu::bert_embeddings_forward(a); }
  static void bert_embeddings_backward(const backend::BertEmbeddingsBackwardArgs& a) {
    cpu::bert_embeddings_backward(a);
  }
};

}  // namespace siamese::cpu
