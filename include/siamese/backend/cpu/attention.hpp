#pragma once
// The attention core on backend::Cpu: one task per (sample, head) on oneTBB, each running its small
// products through sgemm's packing and micro-kernel on its own thread and a vectorised softmax.
// BERT pads at the end, so a sample's valid positions are usually a prefix of length L: then only the
// L x L corner of the scores is computed, in place. Any other mask gathers the valid rows into a
// compact copy first and scatters the results back. Same contract as Reference (args/attention.hpp),
// which it matches to float rounding.
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <vector>

#include "../args/attention.hpp"
#include "gemm.hpp"
#include "parallel.hpp"

namespace siamese::cpu {

// g++ 12 flags the deliberately undefined operands inside its AVX-512 intrinsics (used by xsimd's exp)
// as uninitialized: a false positive.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace detail {

/// C = alpha op(A) op(B) (C is not read) on the calling thread, by sgemm's blocking, packing and
/// micro-kernel: a product inside a task of a parallel loop. `slot` is the thread's packing area.
inline void serial_gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, float alpha, const float* a,
                        std::size_t lda, const float* b, std::size_t ldb, float* c, std::size_t ldc,
                        Workspace& slot) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    for (std::size_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, 0.0f);
    return;
  }
  const GemmProblem g{ta, tb, m, n, k, alpha, a, lda, b, ldb, 0.0f, c, ldc, {}};
  const GemmPlan p = make_plan(m, n, k, 1);
  float* s = slot.reserve(p.slot_floats);
  for (std::size_t bm = 0; bm < p.mb; ++bm) gemm_task(g, p, bm * p.mt / p.mb, (bm + 1) * p.mt / p.mb, 0, p.np, s);
}

/// x[0, L) = softmax(x[0, L)), in place.
inline void softmax_row(float* x, std::size_t L) {
  const std::size_t body = L - L % vw;
  Vec mv(-std::numeric_limits<float>::infinity());
  for (std::size_t j = 0; j < body; j += vw) mv = xsimd::max(mv, Vec::load_unaligned(x + j));
  alignas(64) float lanes[vw];
  mv.store_aligned(lanes);
  float m = -std::numeric_limits<float>::infinity();
  for (std::size_t l = 0; l < vw; ++l) m = std::max(m, lanes[l]);
  for (std::size_t j = body; j < L; ++j) m = std::max(m, x[j]);
  const Vec vm(m);
  Vec acc(0.0f);
  for (std::size_t j = 0; j < body; j += vw) {
    const Vec e = xsimd::exp(Vec::load_unaligned(x + j) - vm);
    e.store_unaligned(x + j);
    acc += e;
  }
  float sum = lanes_sum(acc);
  for (std::size_t j = body; j < L; ++j) sum += (x[j] = std::exp(x[j] - m));
  const float inv = 1.0f / sum;
  for (std::size_t j = 0; j < body; j += vw) (Vec::load_unaligned(x + j) * Vec(inv)).store_unaligned(x + j);
  for (std::size_t j = body; j < L; ++j) x[j] *= inv;
}

/// p[0, L) = p * (d - sum(p * d)): the softmax backward of one row, d = dL/dp.
inline void softmax_row_backward(float* p, const float* d, std::size_t L) {
  const std::size_t body = L - L % vw;
  Vec acc(0.0f);
  for (std::size_t j = 0; j < body; j += vw) acc = xsimd::fma(Vec::load_unaligned(p + j), Vec::load_unaligned(d + j), acc);
  float dot = lanes_sum(acc);
  for (std::size_t j = body; j < L; ++j) dot += p[j] * d[j];
  const Vec vd(dot);
  for (std::size_t j = 0; j < body; j += vw)
    (Vec::load_unaligned(p + j) * (Vec::load_unaligned(d + j) - vd)).store_unaligned(p + j);
  for (std::size_t j = body; j < L; ++j) p[j] *= d[j] - dot;
}

/// A thread's buffers: the packing area of its products, compact copies and products of one head,
/// and the valid positions of the sample at hand. All grow only.
struct AttentionWork {
  Workspace pack, data;
  std::vector<std::size_t> pos;
};
/// The calling thread's buffers, one set per thread of the arena (see PerThread).
inline PerThread<AttentionWork>& attention_work() {
  static thread_local PerThread<AttentionWork> w;
  return w;
}

/// Floats of every buffer a task may need at length T and head width dh, whatever its number of valid
/// positions: each thread sizes its buffers once, and later calls with fewer valid positions, in
/// whatever order the threads meet them, allocate nothing.
struct AttentionSizes {
  std::size_t pack = 0, data = 0;
  AttentionSizes(std::size_t T, std::size_t dh) : data(5 * T * dh + 2 * T * T) {
    for (std::size_t L = 1; L <= T; ++L)
      pack = std::max({pack, make_plan(L, L, dh, 1).slot_floats, make_plan(L, dh, L, 1).slot_floats});
  }
  void reserve(AttentionWork& w, std::size_t T) const {
    w.pack.reserve(pack);
    w.data.reserve(data);
    if (w.pos.size() < T) w.pos.resize(T);
  }
};

/// The valid positions of sample b in w.pos[0, L); returns L, and whether they are the prefix [0, L).
inline std::size_t valid_positions(const float* tokens, std::size_t stride, std::size_t b, std::size_t T,
                                   AttentionWork& w, bool& prefix) {
  prefix = true;
  std::size_t L = 0;
  for (std::size_t t = 0; t < T; ++t)
    if (tokens == nullptr || tokens[b * stride + t] != 0.0f) {
      prefix = prefix && L == t;
      w.pos[L++] = t;
    }
  return L;
}

inline void copy_rows(float* dst, std::size_t ldd, const float* src, std::size_t lds, const std::size_t* rows,
                      std::size_t count, std::size_t width) {
  for (std::size_t r = 0; r < count; ++r) std::memcpy(dst + r * ldd, src + rows[r] * lds, width * sizeof(float));
}
inline void zero_rows(float* p, std::size_t ld, std::size_t from, std::size_t to, std::size_t width) {
  for (std::size_t t = from; t < to; ++t) std::fill(p + t * ld, p + t * ld + width, 0.0f);
}

/// Head h of sample b: scores into the L x L corner of its probability block, softmax, context. Other
/// masks work on compact copies of the valid rows and scatter the probabilities and the context back.
inline void attention_head_forward(const backend::AttentionArgs& a, std::size_t b, std::size_t h, AttentionWork& w) {
  const std::size_t T = a.T, dh = a.head_dim;
  bool prefix = true;
  const std::size_t L = valid_positions(a.tokens, a.tokens_stride, b, T, w, prefix);
  float* const P0 = a.probs + (b * a.heads + h) * T * T;
  float* const ctx = a.ctx + b * T * a.ldc + h * dh;
  const float *q = a.q + b * T * a.ld + h * dh, *k = a.k + b * T * a.ld + h * dh, *v = a.v + b * T * a.ld + h * dh;
  std::size_t ld = a.ld, ldc = a.ldc, ldp = T;
  float *out = ctx, *P = P0;
  if (!prefix) {  // compact copies of the valid rows, ld = dh
    float* buf = w.data.reserve(4 * T * dh + T * T);  // within AttentionSizes: no allocation
    const std::size_t* pos = w.pos.data();
    copy_rows(buf, dh, q, a.ld, pos, L, dh);
    copy_rows(buf + T * dh, dh, k, a.ld, pos, L, dh);
    copy_rows(buf + 2 * T * dh, dh, v, a.ld, pos, L, dh);
    q = buf;
    k = buf + T * dh;
    v = buf + 2 * T * dh;
    out = buf + 3 * T * dh;
    P = buf + 4 * T * dh;
    ld = ldc = dh;
    ldp = L;
  }
  serial_gemm(false, true, L, L, dh, a.scale, q, ld, k, ld, P, ldp, w.pack);
  for (std::size_t i = 0; i < L; ++i) softmax_row(P + i * ldp, L);
  serial_gemm(false, false, L, dh, L, 1.0f, P, ldp, v, ld, out, ldc, w.pack);
  if (prefix) {
    zero_rows(ctx, a.ldc, L, T, dh);
    return;
  }
  zero_rows(ctx, a.ldc, 0, T, dh);
  for (std::size_t r = 0; r < L; ++r) {
    std::memcpy(ctx + w.pos[r] * a.ldc, out + r * dh, dh * sizeof(float));
    for (std::size_t c = 0; c < L; ++c) P0[w.pos[r] * T + w.pos[c]] = P[r * L + c];
  }
}

/// Head h of sample b backward, in place over its Q, K, V (see AttentionGradArgs).
inline void attention_head_backward(const backend::AttentionGradArgs& a, std::size_t b, std::size_t h,
                                    AttentionWork& w) {
  const std::size_t T = a.T, dh = a.head_dim;
  bool prefix = true;
  const std::size_t L = valid_positions(a.tokens, a.tokens_stride, b, T, w, prefix);
  float* P = a.probs + (b * a.heads + h) * T * T;
  float *q0 = a.q + b * T * a.ld + h * dh, *k0 = a.k + b * T * a.ld + h * dh, *v0 = a.v + b * T * a.ld + h * dh;
  const float* g0 = a.dctx + b * T * a.ldc + h * dh;
  float* buf = w.data.reserve(5 * T * dh + 2 * T * T);
  float *dq = buf + 4 * T * dh, *dp = dq + T * dh;
  float *q = q0, *k = k0, *v = v0;
  const float* g = g0;
  std::size_t ld = a.ld, ldg = a.ldc, ldp = T;
  if (!prefix) {
    const std::size_t* pos = w.pos.data();
    copy_rows(buf, dh, q0, a.ld, pos, L, dh);
    copy_rows(buf + T * dh, dh, k0, a.ld, pos, L, dh);
    copy_rows(buf + 2 * T * dh, dh, v0, a.ld, pos, L, dh);
    copy_rows(buf + 3 * T * dh, dh, g0, a.ldc, pos, L, dh);
    float* Pc = dp + T * T;
    for (std::size_t r = 0; r < L; ++r)
      for (std::size_t c = 0; c < L; ++c) Pc[r * L + c] = P[pos[r] * T + pos[c]];
    q = buf;
    k = buf + T * dh;
    v = buf + 2 * T * dh;
    g = buf + 3 * T * dh;
    P = Pc;
    ld = ldg = dh;
    ldp = L;
  }
  // dP = dctx V^T; then V is free for dV = P^T dctx; P becomes dS; dQ = scale dS K waits in dq while
  // K becomes dK = scale dS^T Q.
  serial_gemm(false, true, L, L, dh, 1.0f, g, ldg, v, ld, dp, L, w.pack);
  serial_gemm(true, false, L, dh, L, 1.0f, P, ldp, g, ldg, v, ld, w.pack);
  for (std::size_t i = 0; i < L; ++i) softmax_row_backward(P + i * ldp, dp + i * L, L);
  serial_gemm(false, false, L, dh, L, a.scale, P, ldp, k, ld, dq, dh, w.pack);
  serial_gemm(true, false, L, dh, L, a.scale, P, ldp, q, ld, k, ld, w.pack);
  for (std::size_t r = 0; r < L; ++r) std::memcpy(q + r * ld, dq + r * dh, dh * sizeof(float));
  if (prefix) {
    for (float* p : {q0, k0, v0}) zero_rows(p, a.ld, L, T, dh);
    return;
  }
  for (float* p : {q0, k0, v0}) zero_rows(p, a.ld, 0, T, dh);
  for (std::size_t r = 0; r < L; ++r) {
    const std::size_t t = w.pos[r] * a.ld;
    std::memcpy(q0 + t, q + r * dh, dh * sizeof(float));
    std::memcpy(k0 + t, k + r * dh, dh * sizeof(float));
    std::memcpy(v0 + t, v + r * dh, dh * sizeof(float));
  }
}

}  // namespace detail

/// See backend::AttentionArgs. Parallel over (sample, head).
inline void attention_forward(const backend::AttentionArgs& a) {
  const std::size_t heads = a.heads;
  const detail::AttentionSizes sizes(a.T, a.head_dim);
  auto& work = detail::attention_work();
  work.prepare([&](detail::AttentionWork& w) { sizes.reserve(w, a.T); });
  detail::for_ranges(a.n * heads, 1, a.n * heads * a.T * a.T, [&](std::size_t i0, std::size_t i1) {
    detail::AttentionWork& w = work.local();
    for (std::size_t i = i0; i < i1; ++i) detail::attention_head_forward(a, i / heads, i % heads, w);
  });
}

/// See backend::AttentionGradArgs. Parallel over (sample, head).
inline void attention_backward(const backend::AttentionGradArgs& a) {
  const std::size_t heads = a.heads;
  const detail::AttentionSizes sizes(a.T, a.head_dim);
  auto& work = detail::attention_work();
  work.prepare([&](detail::AttentionWork& w) { sizes.reserve(w, a.T); });
  detail::for_ranges(a.n * heads, 1, a.n * heads * a.T * a.T, [&](std::size_t i0, std::size_t i1) {
    detail::AttentionWork& w = work.local();
    for (std::size_t i = i0; i < i1; ++i) detail::attention_head_backward(a, i / heads, i % heads, w);
  });
}

#pragma GCC diagnostic pop

/// The attention core of backend::Cpu over the kernels of Base.
template <class Base>
struct AttentionKernels : Base {
  static void attention_forward(const backend::AttentionArgs& a) { cpu::attention_forward(a); }
  static void attention_backward(const backend::AttentionGradArgs& a) { cpu::attention_backward(a); }
};

}  // namespace siamese::cpu
