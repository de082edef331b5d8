#pragma once
// Single-precision matrix product of the CPU backend: packed panels, an
// xsimd register-blocked micro-kernel (14x32 on AVX-512, 6x16 on AVX2) and
// oneTBB parallelism over blocks of C.

#include <siamese/backend/cpu/gemm_kernel.hpp>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cstddef>
#include <stdexcept>
#include <string>

namespace siamese::cpu {

namespace detail {

inline void gemm_require(bool ok, const char* what) {
  if (!ok) throw std::invalid_argument(std::string("siamese::cpu::sgemm: ") + what);
}

inline std::size_t ceil_div(std::size_t a, std::size_t b) { return (a + b - 1) / b; }
inline std::size_t round_up(std::size_t a, std::size_t b) { return ceil_div(a, b) * b; }

/// Largest packed B block, in floats (16 MiB): all of K for as many panels as fit.
inline constexpr std::size_t gemm_b_budget = std::size_t{1} << 22;
/// Most register tiles per block of rows: 24 x 14 rows x 256 deep is 344 KiB of A in L2.
inline constexpr std::size_t gemm_mc_tiles = 24;
/// Below this many flops one thread finishes before a parallel region pays off.
inline constexpr double gemm_parallel_flops = 4.0e6;

/// C = act(beta*C + bias) for the products that contribute nothing (k == 0 or alpha == 0).
inline void gemm_scale_only(std::size_t m, std::size_t n, float beta, float* c, std::size_t ldc,
                            const GemmEpilogue& ep) {
  for (std::size_t i = 0; i < m; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      float v = beta == 0.f ? 0.f : beta * c[i * ldc + j];
      if (ep.col_bias != nullptr) v += ep.col_bias[j];
      if (ep.row_bias != nullptr) v += ep.row_bias[i];
      if (ep.act == GemmAct::relu) v = std::max(v, 0.f);
      c[i * ldc + j] = v;
    }
  }
}

/// How one call is cut into blocks; derived from the shape and the thread count.
struct GemmPlan {
  std::size_t kc;          // depth of one micro-kernel pass
  std::size_t kcb;         // depth of one packed B block (a multiple of kc, or all of k)
  std::size_t nc_panels;   // NR-wide panels per packed B block
  std::size_t mt;          // register tiles along m
  std::size_t mb;          // blocks of tiles along m
  std::size_t nb;          // groups of panels along n (per B block)
  std::size_t slot_floats; // per-thread A packing area
  std::size_t threads;
};

inline GemmPlan make_plan(std::size_t m, std::size_t n, std::size_t k, std::size_t threads) {
  constexpr std::size_t MR = gemm_mr, NR = gemm_nr;
  GemmPlan p{};
  p.threads = threads;
  // Equal chunks of at most gemm_kc: 300 becomes 2 x 150 instead of 256 + 44.
  const std::size_t nk = ceil_div(k, gemm_kc);
  p.kc = ceil_div(k, nk);
  const std::size_t np_total = ceil_div(n, NR);
  if (k * NR <= gemm_b_budget) {
    p.kcb = k;
    p.nc_panels = std::clamp<std::size_t>(gemm_b_budget / (k * NR), 1, np_total);
  } else {
    p.kcb = std::max<std::size_t>(1, gemm_b_budget / (NR * p.kc)) * p.kc;
    p.nc_panels = 1;
  }
  p.mt = ceil_div(m, MR);
  p.mb = ceil_div(p.mt, gemm_mc_tiles);
  p.nb = 1;
  if (threads > 1) {
    // Equal shares per thread: a multiple of the thread count when there is enough m.
    p.mb = p.mb < threads ? std::min(p.mt, threads) : std::min(p.mt, round_up(p.mb, threads));
    if (p.mb < threads) p.nb = std::min(p.nc_panels, ceil_div(threads, p.mb));
  }
  const std::size_t block_tiles = ceil_div(p.mt, p.mb);
  p.slot_floats = round_up((block_tiles + 1) * MR * p.kc, gemm_align / sizeof(float));
  return p;
}

struct GemmArgs {
  bool trans_a, trans_b;
  std::size_t m, n, k;
  float alpha;
  const float* a;
  std::size_t lda;
  const float* b;
  std::size_t ldb;
  float beta;
  float* c;
  std::size_t ldc;
  GemmEpilogue ep;
};

/// Rows [t0*MR, t1*MR) and panels [q0, q1) of C over the packed B block that
/// holds columns from panel jc0 and depths [pb, pb + kcb).
inline void gemm_block(const GemmArgs& g, const GemmPlan& p, const float* bpack,
                       std::size_t jc0, std::size_t pb, std::size_t kcb, std::size_t t0,
                       std::size_t t1, std::size_t q0, std::size_t q1, float* slot) {
  constexpr std::size_t MR = gemm_mr, NR = gemm_nr;
  alignas(gemm_align) float edge[MR * NR];
  for (std::size_t p0 = pb; p0 < pb + kcb; p0 += p.kc) {
    const std::size_t kc = std::min(p.kc, pb + kcb - p0);
    const bool first = p0 == 0, last = p0 + kc == g.k;
    // Transposed A is packed (cheap contiguous copies); plain A is read in
    // place except for a ragged last tile, which is packed zero-padded.
    const bool ragged = t1 * MR > g.m;
    if (g.trans_a) {
      for (std::size_t t = t0; t < t1; ++t)
        pack_a_panel(true, g.a, g.lda, t * MR, p0, std::min(MR, g.m - t * MR), kc,
                     slot + (t - t0) * MR * kc);
    } else if (ragged) {
      pack_a_panel(false, g.a, g.lda, (t1 - 1) * MR, p0, g.m - (t1 - 1) * MR, kc,
                   slot + (t1 - 1 - t0) * MR * kc);
    }
    for (std::size_t q = q0; q < q1; ++q) {
      const std::size_t j = q * NR;
      const std::size_t nr = std::min(NR, g.n - j);
      const float* bp = bpack + (q - jc0) * kcb * NR + (p0 - pb) * NR;
      for (std::size_t t = t0; t < t1; ++t) {
        const std::size_t i = t * MR;
        const std::size_t mr = std::min(MR, g.m - i);
        TileOut out{g.alpha,
                    first ? g.beta : 1.f,
                    !first || g.beta != 0.f,
                    last,
                    g.ep.col_bias != nullptr ? g.ep.col_bias + j : nullptr,
                    g.ep.row_bias != nullptr ? g.ep.row_bias + i : nullptr,
                    g.ep.act};
        const bool packed = g.trans_a || mr < MR;
        const float* ap = packed ? slot + (t - t0) * MR * kc : g.a + i * g.lda + p0;
        if (mr == MR && nr == NR) {
          if (packed)
            micro_kernel<false>(kc, ap, 0, bp, g.c + i * g.ldc + j, g.ldc, out);
          else
            micro_kernel<true>(kc, ap, g.lda, bp, g.c + i * g.ldc + j, g.ldc, out);
          continue;
        }
        const TileOut raw{g.alpha, 0.f, false, false, nullptr, nullptr, GemmAct::identity};
        if (packed)
          micro_kernel<false>(kc, ap, 0, bp, edge, NR, raw);
        else
          micro_kernel<true>(kc, ap, g.lda, bp, edge, NR, raw);
        merge_edge_tile(edge, mr, nr, g.c + i * g.ldc + j, g.ldc, out);
      }
    }
  }
}

inline void gemm_driver(const GemmArgs& g) {
  constexpr std::size_t NR = gemm_nr;
  const double flops = 2.0 * double(g.m) * double(g.n) * double(g.k);
  const std::size_t threads =
      flops < gemm_parallel_flops
          ? 1
          : static_cast<std::size_t>(std::max(1, tbb::this_task_arena::max_concurrency()));
  const GemmPlan p = make_plan(g.m, g.n, g.k, threads);

  const std::size_t bfloats = p.nc_panels * p.kcb * NR;
  float* const ws = gemm_workspace().reserve(bfloats + p.threads * p.slot_floats);
  float* const bpack = ws;
  float* const slots = ws + bfloats;

  const std::size_t np_total = ceil_div(g.n, NR);
  for (std::size_t jc0 = 0; jc0 < np_total; jc0 += p.nc_panels) {
    const std::size_t jc1 = std::min(np_total, jc0 + p.nc_panels);
    for (std::size_t pb = 0; pb < g.k; pb += p.kcb) {
      const std::size_t kcb = std::min(p.kcb, g.k - pb);
      auto pack = [&](std::size_t q) {
        pack_b_panel(g.trans_b, g.b, g.ldb, pb, q * NR, kcb, std::min(NR, g.n - q * NR),
                     bpack + (q - jc0) * kcb * NR);
      };
      auto block = [&](std::size_t task, float* slot) {
        const std::size_t bm = task / p.nb, bn = task % p.nb;
        const std::size_t t0 = bm * p.mt / p.mb, t1 = (bm + 1) * p.mt / p.mb;
        const std::size_t np = jc1 - jc0;
        const std::size_t q0 = jc0 + bn * np / p.nb, q1 = jc0 + (bn + 1) * np / p.nb;
        if (t0 < t1 && q0 < q1) gemm_block(g, p, bpack, jc0, pb, kcb, t0, t1, q0, q1, slot);
      };
      const std::size_t tasks = p.mb * p.nb;
      if (p.threads == 1) {
        for (std::size_t q = jc0; q < jc1; ++q) pack(q);
        for (std::size_t t = 0; t < tasks; ++t) block(t, slots);
        continue;
      }
      // Isolation keeps this thread from picking up an unrelated task (which
      // might call sgemm and reuse this thread's workspace) while it waits.
      tbb::this_task_arena::isolate([&] {
        tbb::parallel_for(tbb::blocked_range<std::size_t>(jc0, jc1),
                          [&](const tbb::blocked_range<std::size_t>& r) {
                            for (std::size_t q = r.begin(); q != r.end(); ++q) pack(q);
                          });
        tbb::parallel_for(tbb::blocked_range<std::size_t>(0, tasks),
                          [&](const tbb::blocked_range<std::size_t>& r) {
                            const auto slot = static_cast<std::size_t>(
                                tbb::this_task_arena::current_thread_index());
                            for (std::size_t t = r.begin(); t != r.end(); ++t)
                              block(t, slots + slot * p.slot_floats);
                          });
      });
    }
  }
}

inline void gemm_checked(const GemmArgs& g) {
  if (g.m == 0 || g.n == 0) return;
  gemm_require(g.c != nullptr, "C is null");
  gemm_require(g.ldc >= g.n, "ldc is smaller than n");
  if (g.k == 0 || g.alpha == 0.f) {
    gemm_scale_only(g.m, g.n, g.beta, g.c, g.ldc, g.ep);
    return;
  }
  gemm_require(g.a != nullptr, "A is null");
  gemm_require(g.b != nullptr, "B is null");
  gemm_require(g.lda >= (g.trans_a ? g.m : g.k),
               g.trans_a ? "lda is smaller than m (A is stored k x m)"
                         : "lda is smaller than k (A is stored m x k)");
  gemm_require(g.ldb >= (g.trans_b ? g.k : g.n),
               g.trans_b ? "ldb is smaller than k (B is stored n x k)"
                         : "ldb is smaller than n (B is stored k x n)");
  gemm_driver(g);
}

}  // namespace detail

/// C = alpha * op(A) * op(B) + beta * C on row-major matrices, where op(X) is X
/// or its transpose: op(A) is m x k, op(B) is k x n, C is m x n.
/// A is stored m x k (k x m when trans_a) with row stride lda; likewise B is
/// stored k x n (n x k when trans_b) with stride ldb; C has row stride ldc.
/// Requires lda, ldb, ldc at least the stored row lengths (std::invalid_argument
/// otherwise) and C not overlapping A or B. With beta == 0 C is never read, so
/// it may hold garbage (NaN included).
/// Threads: runs in the calling thread's oneTBB task arena, so it uses at most
/// this_task_arena::max_concurrency() threads, fewer under an active
/// tbb::global_control(max_allowed_parallelism); small products stay on the
/// calling thread. Packing memory is a per-calling-thread buffer that only
/// grows: repeated calls at one size do not allocate.
inline void sgemm(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k,
                  float alpha, const float* a, std::size_t lda, const float* b, std::size_t ldb,
                  float beta, float* c, std::size_t ldc) {
  detail::gemm_checked({trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, {}});
}

/// sgemm with a fused epilogue: C = act(alpha * op(A) * op(B) + beta * C + bias),
/// bias being ep.col_bias[j] (n entries) and/or ep.row_bias[i] (m entries).
/// The epilogue is applied while the tile is in registers, so it costs no extra
/// pass over C. Same requirements and threading as sgemm.
inline void sgemm_bias_act(bool trans_a, bool trans_b, std::size_t m, std::size_t n,
                           std::size_t k, float alpha, const float* a, std::size_t lda,
                           const float* b, std::size_t ldb, float beta, float* c,
                           std::size_t ldc, const GemmEpilogue& ep) {
  detail::gemm_checked({trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, ep});
}

}  // namespace siamese::cpu
