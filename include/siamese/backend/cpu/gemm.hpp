#pragma once
// Single-precision matrix product of the CPU backend: packed panels, an
// xsimd register-blocked micro-kernel (14x32 on AVX-512, 6x16 on AVX2) and
// oneTBB parallelism over blocks of C.

#include <siamese/backend/args/dense.hpp>
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

/// Most register tiles per block of rows: 64 x 14 rows x 256 deep is 0.9 MiB of A,
/// which stays in the 2 MiB L2 while every panel of B passes over it (panel-outer order).
inline constexpr std::size_t gemm_mc_tiles = 64;
/// Largest packed B block (floats) for which a task walks tiles in the outer
/// loop: the block stays in L2 and each A tile is read once (1 MiB).
inline constexpr std::size_t gemm_tile_outer_floats = std::size_t{1} << 18;
/// Deepest pass when tiles are outer: deeper passes read and write C less often;
/// the A tile is reused from L1 or L2 (measured: 576-768 beat 384 by 2-8%).
inline constexpr std::size_t gemm_kc_tile_outer = 768;
/// Tiles outer with at most this many panels per task, and passes at least this
/// deep, prefetch the next A tile (measured: +10% at 12544x128x576, -4% at 8 panels).
inline constexpr std::size_t gemm_prefetch_panels = 4;
inline constexpr std::size_t gemm_prefetch_depth = 64;
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

/// How one call is cut into tasks; derived from the shape and the thread count.
/// A task owns a block of register tiles (rows) times a group of NR-wide panels
/// (columns) over all of k, and packs the B panels it needs itself.
struct GemmPlan {
  std::size_t kc;           // depth of one micro-kernel pass
  std::size_t mt, np;       // register tiles along m, panels along n
  std::size_t mb, nb;       // blocks of tiles along m, groups of panels along n
  bool tile_outer;          // tiles in the outer loop (B block in L2) or panels (A block in L2)
  std::size_t b_floats;     // per-task packed B area
  std::size_t a_floats;     // per-task packed A area
  std::size_t slot_floats;  // both, rounded to whole cache lines
  std::size_t threads;
};

inline GemmPlan make_plan(std::size_t m, std::size_t n, std::size_t k,
                          std::size_t threads) {
  constexpr std::size_t MR = gemm_mr, NR = gemm_nr, line = gemm_align / sizeof(float);
  GemmPlan p{};
  p.threads = threads;
  p.mt = ceil_div(m, MR);
  p.np = ceil_div(n, NR);
  const std::size_t mb_min = ceil_div(p.mt, gemm_mc_tiles);
  p.mb = mb_min;
  p.nb = 1;
  if (threads > 1) {
    if (mb_min >= threads) {
      // Plenty of rows: equal row blocks per thread, each task packs all of B.
      p.mb = std::min(p.mt, round_up(mb_min, threads));
    } else {
      // Few rows: split the columns so that each thread packs only its part of B.
      p.nb = std::min(p.np, ceil_div(threads, mb_min));
      p.mb = std::max(mb_min, std::min(p.mt, ceil_div(threads, p.nb)));
    }
  }
  const std::size_t block_tiles = ceil_div(p.mt, p.mb);
  const std::size_t group_panels = ceil_div(p.np, p.nb);
  // Equal chunks: 1000 deep becomes 2 x 500 rather than 768 + 232. Tiles go
  // outer when the B block of a pass at least gemm_kc deep fits the budget.
  auto chunk = [k](std::size_t most) { return ceil_div(k, ceil_div(k, most)); };
  const std::size_t deepest = gemm_tile_outer_floats / (group_panels * NR);
  p.tile_outer = deepest >= gemm_kc || deepest >= k;
  p.kc = chunk(p.tile_outer ? std::min(gemm_kc_tile_outer, deepest) : gemm_kc);
  p.b_floats = (p.tile_outer ? group_panels : 1) * p.kc * NR;
  // Panels outer: the packed A block is swept once per panel, so all of it is
  // kept; tiles outer: one tile at a time. Plain A needs room only for a ragged
  // last tile, but the offsets are the same either way.
  p.a_floats = (p.tile_outer ? 1 : block_tiles) * MR * p.kc;
  p.slot_floats = round_up(p.b_floats, line) + round_up(p.a_floats, line);
  return p;
}

struct GemmProblem {
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

/// One task: rows [t0*MR, t1*MR) and panels [q0, q1) of C, over all of k.
/// `slot` is this thread's packing area of p.slot_floats floats.
inline void gemm_task(const GemmProblem& g, const GemmPlan& p, std::size_t t0, std::size_t t1,
                      std::size_t q0, std::size_t q1, float* slot) {
  constexpr std::size_t MR = gemm_mr, NR = gemm_nr, line = gemm_align / sizeof(float);
  float* const bbuf = slot;
  float* const abuf = slot + round_up(p.b_floats, line);
  alignas(gemm_align) float edge[MR * NR];
  const std::size_t nq = q1 - q0;
  for (std::size_t p0 = 0; p0 < g.k; p0 += p.kc) {
    const std::size_t kc = std::min(p.kc, g.k - p0);
    const bool first = p0 == 0, last = p0 + kc == g.k;
    const float beta = first ? g.beta : 1.f;
    const bool read_c = !first || g.beta != 0.f;
    // Plain A is read in place; transposed A and a ragged last tile are packed
    // (zero-padded) into `dst`, which is returned for the micro-kernel.
    auto a_tile = [&](std::size_t t, float* dst) -> const float* {
      const std::size_t i = t * MR, mr = std::min(MR, g.m - i);
      if (!g.trans_a && mr == MR) return g.a + i * g.lda + p0;
      pack_a_panel(g.trans_a, g.a, g.lda, i, p0, mr, kc, dst);
      return dst;
    };
    auto pack_b = [&](std::size_t q, float* dst) {
      pack_b_panel(g.trans_b, g.b, g.ldb, p0, q * NR, kc, std::min(NR, g.n - q * NR), dst);
    };
    auto tile = [&](std::size_t t, std::size_t q, const float* ap, const float* bp,
                    const float* pf = nullptr, std::size_t pf_rows = 0) {
      const std::size_t i = t * MR, j = q * NR;
      const std::size_t mr = std::min(MR, g.m - i), nr = std::min(NR, g.n - j);
      // Built from scalars: copying a TileOut made g++ -O3 read it back with
      // one wide load over narrow stores, a store-forwarding stall per tile.
      const TileOut o{g.alpha, beta, read_c, last,
                      g.ep.col_bias != nullptr ? g.ep.col_bias + j : nullptr,
                      g.ep.row_bias != nullptr ? g.ep.row_bias + i : nullptr, g.ep.act};
      const bool full = mr == MR && nr == NR;
      float* const cp = full ? g.c + i * g.ldc + j : edge;
      const std::size_t ldc = full ? g.ldc : NR;
      const TileOut raw{g.alpha, 0.f, false, false, nullptr, nullptr, GemmAct::identity};
      const bool in_place = ap == g.a + i * g.lda + p0;  // else a packed panel
      if (in_place)
        micro_kernel<true>(kc, ap, g.lda, bp, cp, ldc, full ? o : raw, pf, pf_rows);
      else
        micro_kernel<false>(kc, ap, 0, bp, cp, ldc, full ? o : raw);
      if (!full) merge_edge_tile(edge, mr, nr, g.c + i * g.ldc + j, g.ldc, o);
    };
    if (p.tile_outer) {
      // The task's B block stays in L2; each A tile is brought into L1 once.
      for (std::size_t q = q0; q < q1; ++q) pack_b(q, bbuf + (q - q0) * kc * NR);
      // With few panels an A tile is used only briefly and its 14 short row
      // streams escape the hardware prefetcher: fetch the next tile ahead.
      const bool ahead = !g.trans_a && nq <= gemm_prefetch_panels && kc >= gemm_prefetch_depth;
      for (std::size_t t = t0; t < t1; ++t) {
        const float* ap = a_tile(t, abuf);
        // The next tile's rows, shared out evenly over this tile's calls.
        const std::size_t rows = ahead && t + 1 < t1 ? std::min(MR, g.m - (t + 1) * MR) : 0;
        const std::size_t per = ceil_div(rows, nq);
        for (std::size_t q = q0; q < q1; ++q) {
          const std::size_t r0 = std::min(rows, (q - q0) * per), r1 = std::min(rows, r0 + per);
          tile(t, q, ap, bbuf + (q - q0) * kc * NR,
               r1 > r0 ? g.a + ((t + 1) * MR + r0) * g.lda + p0 : nullptr, r1 - r0);
        }
      }
    } else {
      // One B panel at a time, packed straight into L1 and swept by the A block,
      // which stays in L2 (packed once per pass when it is packed at all).
      const float* ap[gemm_mc_tiles];
      for (std::size_t t = t0; t < t1; ++t) ap[t - t0] = a_tile(t, abuf + (t - t0) * MR * kc);
      for (std::size_t q = q0; q < q1; ++q) {
        pack_b(q, bbuf);
        for (std::size_t t = t0; t < t1; ++t) tile(t, q, ap[t - t0], bbuf);
      }
    }
  }
}

inline void gemm_driver(const GemmProblem& g) {
  const double flops = 2.0 * double(g.m) * double(g.n) * double(g.k);
  const std::size_t threads =
      flops < gemm_parallel_flops
          ? 1
          : static_cast<std::size_t>(std::max(1, tbb::this_task_arena::max_concurrency()));
  const GemmPlan p = make_plan(g.m, g.n, g.k, threads);
  float* const slots = gemm_workspace().reserve(p.threads * p.slot_floats);
  auto task = [&](std::size_t id, float* slot) {
    const std::size_t bm = id / p.nb, bn = id % p.nb;
    const std::size_t t0 = bm * p.mt / p.mb, t1 = (bm + 1) * p.mt / p.mb;
    const std::size_t q0 = bn * p.np / p.nb, q1 = (bn + 1) * p.np / p.nb;
    if (t0 < t1 && q0 < q1) gemm_task(g, p, t0, t1, q0, q1, slot);
  };
  const std::size_t tasks = p.mb * p.nb;
  if (p.threads == 1) {
    for (std::size_t id = 0; id < tasks; ++id) task(id, slots);
    return;
  }
  // Isolation keeps this thread from picking up an unrelated task (which
  // might call sgemm and reuse this thread's workspace) while it waits.
  tbb::this_task_arena::isolate([&] {
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, tasks),
                      [&](const tbb::blocked_range<std::size_t>& r) {
                        const auto slot =
                            static_cast<std::size_t>(tbb::this_task_arena::current_thread_index());
                        for (std::size_t id = r.begin(); id != r.end(); ++id)
                          task(id, slots + slot * p.slot_floats);
                      });
  });
}

inline void gemm_checked(const GemmProblem& g) {
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
/// calling thread. Packing memory is a buffer owned by the calling thread (at
/// most about 1 MiB per arena thread) that only grows: repeated calls at one
/// size, or smaller ones, do not allocate.
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

/// The matrix product of backend::Cpu over the kernels of Base: sgemm with the backend's arguments.
template <class Base>
struct GemmKernels : Base {
  static void gemm(const backend::GemmArgs& g) {
    detail::gemm_checked(
        {g.trans_a, g.trans_b, g.m, g.n, g.k, g.alpha, g.a, g.lda, g.b, g.ldb, g.beta, g.c, g.ldc, {}});
  }
};

}  // namespace siamese::cpu
