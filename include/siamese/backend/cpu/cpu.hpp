#pragma once
// backend::Cpu: the fast host backend. It derives from Reference and replaces kernels with vectorised
// (xsimd) and threaded (oneTBB) ones; every replacement is tested against Reference.
#include <cstddef>
#include <cstdint>

#include "../concept.hpp"
#include "../reference/reference.hpp"
#include "attention.hpp"
#include "batchnorm.hpp"
#include "bert.hpp"
#include "conv.hpp"
#include "elementwise.hpp"
#include "features.hpp"
#include "gemm.hpp"
#include "losses.hpp"
#include "optim.hpp"
#include "pool.hpp"
#include "sequence.hpp"

namespace siamese::backend {

/// The default backend: host memory like Reference, kernels from siamese::cpu. Threads come from the
/// calling thread's oneTBB task arena (limit them with tbb::global_control or a tbb::task_arena); small
/// inputs stay on the calling thread. Scratch memory is grow-only and per calling thread, so repeated
/// steps at one batch size allocate nothing. Kernels not listed here are Reference's.
struct Cpu : detail_cpu::BertKernels<Reference> {
  static constexpr const char* name = "Cpu";

  // ---- memory ------------------------------------------------------------------------------
  static void copy(float* dst, const float* src, std::size_t n) { cpu::copy(dst, src, n); }
  static void fill(float* dst, float v, std::size_t n) { cpu::fill(dst, v, n); }
  static void add(float* y, const float* x, std::size_t n) { cpu::add(y, x, n); }
  static void copy_cols(float* dst, std::size_t ld_dst, const float* src, std::size_t ld_src, std::size_t rows,
                        std::size_t cols) {
    cpu::copy_cols(dst, ld_dst, src, ld_src, rows, cols);
  }

  // ---- dense algebra -----------------------------------------------------------------------
  static void gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, float alpha, const float* a,
                   std::size_t lda, const float* b, std::size_t ldb, float beta, float* c, std::size_t ldc) {
    cpu::sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
  static void add_bias(float* y, const float* bias, std::size_t rows, std::size_t cols) {
    cpu::add_bias(y, bias, rows, cols);
  }
  static void bias_grad(const float* dy, float* db, std::size_t rows, std::size_t cols) {
    cpu::bias_grad(dy, db, rows, cols);
  }

  // ---- activations -------------------------------------------------------------------------
  static void activation(Act a, const float* x, float* y, std::size_t n) { cpu::activation(a, x, y, n); }
  static void activation_backward(Act a, const float* y, const float* dy, float* dx, std::size_t n) {
    cpu::activation_backward(a, y, dy, dx, n);
  }

  // ---- convolution and pooling ---------------------------------------------------------------
  static void conv2d_forward(const detail::ConvGeom& g, const float* x, const float* w, const float* bias, float* y,
                             std::size_t n) {
    cpu::conv2d_forward(g, x, w, bias, y, n);
  }
  static void conv2d_backward(const detail::ConvGeom& g, const float* x, const float* w, const float* dy, float* dx,
                              float* dw, float* db, std::size_t n) {
    cpu::conv2d_backward(g, x, w, dy, dx, dw, db, n);
  }
  /// conv2d_forward then act, in one pass (the Conv2D layer calls this when the backend has it).
  static void conv2d_forward_act(const detail::ConvGeom& g, Act act, const float* x, const float* w, const float* bias,
                                 float* y, std::size_t n) {
    cpu::conv2d_forward_act(g, act, x, w, bias, y, n);
  }
  /// activation_backward through the output y, then conv2d_backward, without the intermediate pass.
  static void conv2d_backward_act(const detail::ConvGeom& g, Act act, const float* x, const float* y, const float* w,
                                  const float* dy, float* dx, float* dw, float* db, std::size_t n) {
    cpu::conv2d_backward_act(g, act, x, y, w, dy, dx, dw, db, n);
  }
  static void pool2d_forward(const detail::PoolGeom& g, bool is_max, const float* x, float* y, std::size_t n) {
    cpu::pool2d_forward(g, is_max, x, y, n);
  }
  static void pool2d_backward(const detail::PoolGeom& g, bool is_max, const float* x, const float* y, const float* dy,
                              float* dx, std::size_t n) {
    cpu::pool2d_backward(g, is_max, x, y, dy, dx, n);
  }
  static void global_pool_forward(bool is_max, const float* x, float* y, std::size_t n, std::size_t rows,
                                  std::size_t c) {
    cpu::global_pool_forward(is_max, x, y, n, rows, c);
  }
  static void global_pool_backward(bool is_max, const float* x, const float* y, const float* dy, float* dx,
                                   std::size_t n, std::size_t rows, std::size_t c) {
    cpu::global_pool_backward(is_max, x, y, dy, dx, n, rows, c);
  }

  // ---- dropout and batch normalisation ---------------------------------------------------------
  static void dropout_forward(const float* x, float* y, float* mask, float rate, std::uint64_t seed, std::size_t n) {
    cpu::dropout_forward(x, y, mask, rate, seed, n);
  }
  static void mul(const float* a, const float* b, float* y, std::size_t n) { cpu::mul(a, b, y, n); }
  static void batchnorm_forward(const float* x, float* y, const float* gamma, const float* beta, float* moving_mean,
                                float* moving_var, float* xhat, float* inv_std, std::size_t rows, std::size_t c,
                                float momentum, float eps, bool training) {
    cpu::batchnorm_forward(x, y, gamma, beta, moving_mean, moving_var, xhat, inv_std, rows, c, momentum, eps, training);
  }
  static void batchnorm_backward(const float* dy, const float* gamma, const float* xhat, const float* inv_std,
                                 float* dx, float* dgamma, float* dbeta, std::size_t rows, std::size_t c) {
    cpu::batchnorm_backward(dy, gamma, xhat, inv_std, dx, dgamma, dbeta, rows, c);
  }

  // ---- pair features and losses ------------------------------------------------------------------
  static void pair_feature_forward(PairFeature f, const float* a, const float* b, float* out, std::size_t ld,
                                   std::size_t n, std::size_t d) {
    cpu::pair_feature_forward(f, a, b, out, ld, n, d);
  }
  static void pair_feature_backward(PairFeature f, const float* a, const float* b, const float* dout, std::size_t ld,
                                    float* da, float* db, std::size_t n, std::size_t d) {
    cpu::pair_feature_backward(f, a, b, dout, ld, da, db, n, d);
  }
  static float bce_logits(const float* z, const float* t, float* dz, std::size_t n) {
    return cpu::bce_logits(z, t, dz, n);
  }
  static float contrastive(const float* a, const float* b, const float* t, float* da, float* db, std::size_t n,
                           std::size_t d, float margin) {
    return cpu::contrastive(a, b, t, da, db, n, d, margin);
  }
  static float triplet(const float* a, const float* p, const float* q, float* da, float* dp, float* dq, std::size_t n,
                       std::size_t d, float margin, Distance k) {
    return cpu::triplet(a, p, q, da, dp, dq, n, d, margin, k);
  }

  // ---- attention core ------------------------------------------------------------------------
  static void attention_forward(const AttentionArgs& a) { cpu::attention_forward(a); }
  static void attention_backward(const AttentionGradArgs& a) { cpu::attention_backward(a); }

  // ---- recurrent steps -------------------------------------------------------------------------
  static void lstm_step_forward(std::size_t n, std::size_t T, std::size_t u, std::size_t t, std::size_t tp, float* z,
                                float* c, float* h, const float* mask) {
    cpu::lstm_step_forward(n, T, u, t, tp, z, c, h, mask);
  }
  static void lstm_step_backward(std::size_t n, std::size_t T, std::size_t u, std::size_t t, std::size_t tp,
                                 const float* z, const float* c, const float* dy, const float* mask, float* dh,
                                 float* dc, float* dz) {
    cpu::lstm_step_backward(n, T, u, t, tp, z, c, dy, mask, dh, dc, dz);
  }
  static void gru_step_forward(std::size_t n, std::size_t T, std::size_t u, std::size_t t, std::size_t tp, float* xp,
                               float* rp, const float* brec, float* h, const float* mask) {
    cpu::gru_step_forward(n, T, u, t, tp, xp, rp, brec, h, mask);
  }
  static void gru_step_backward(std::size_t n, std::size_t T, std::size_t u, std::size_t t, std::size_t tp,
                                const float* xp, const float* rp, const float* h, const float* dy, const float* mask,
                                float* dh, float* dxp, float* drp) {
    cpu::gru_step_backward(n, T, u, t, tp, xp, rp, h, dy, mask, dh, dxp, drp);
  }

  // ---- optimizers and gradient utilities -----------------------------------------------------------
  static double sum_squares(const float* x, std::size_t n) { return cpu::sum_squares(x, n); }
  static void scale(float* x, float s, std::size_t n) { cpu::scale(x, s, n); }
  static void clip(float* x, float lim, std::size_t n) { cpu::clip(x, lim, n); }
  static bool all_finite(const float* x, std::size_t n) { return cpu::all_finite(x, n); }
  static void sgd_step(float* w, const float* g, float* v, std::size_t n, float lr, float momentum, bool nesterov,
                       float wd) {
    cpu::sgd_step(w, g, v, n, lr, momentum, nesterov, wd);
  }
  static void adam_step(float* w, const float* g, float* m, float* v, std::size_t n, float lr, float b1, float b2,
                        float eps, std::size_t t, float wd, bool decoupled) {
    cpu::adam_step(w, g, m, v, n, lr, b1, b2, eps, t, wd, decoupled);
  }
  static void sgd_step_rows(float* w, const float* g, float* v, std::size_t rows, std::size_t width, float lr,
                            float momentum, bool nesterov, float wd) {
    cpu::sgd_step_rows(w, g, v, rows, width, lr, momentum, nesterov, wd);
  }
  static void adam_step_rows(float* w, const float* g, float* m, float* v, std::size_t rows, std::size_t width,
                             float lr, float b1, float b2, float eps, std::size_t t, float wd, bool decoupled) {
    cpu::adam_step_rows(w, g, m, v, rows, width, lr, b1, b2, eps, t, wd, decoupled);
  }
};
static_assert(Backend<Cpu>);

}  // namespace siamese::backend
