#pragma once
// In-batch losses over cosine similarities for Embedder models, as pytorch-metric-learning defines them:
// NTXent (NT-Xent / InfoNCE over labels), SupCon (supervised contrastive) and MultiSimilarity (with its miner).
// Every step runs on the backend: L2 normalisation, one matrix product for the similarities, the similarity_loss
// kernel, two products and the normalisation's backward pass for the gradient. The workspaces are per thread
// and per backend, and grow only: after the first step at a batch size, a step allocates nothing.
#include <algorithm>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>

#include "../backend/args/losses.hpp"
#include "../core/errors.hpp"
#include "losses.hpp"

namespace siamese {

namespace detail {

/// The backend buffers of a similarity loss: normalised embeddings, their norms, similarities, their gradient
/// and the normalised embeddings' gradient.
template <class B>
struct SimilarityWorkspace {
  typename B::Buffer y, norm, s, ds, dy;
  static void fit(typename B::Buffer& b, std::size_t n) {
    if (b.size() < n) b.resize(n);
  }
  static SimilarityWorkspace& get() {
    thread_local SimilarityWorkspace w;
    return w;
  }
};

/// The loss `proto` (kind and parameters) over the n labelled embeddings emb (n x d): queries and references are
/// the batch itself, each sample left out of its own pairs.
template <class B>
float similarity_loss_on_batch(backend::SimilarityLossArgs proto, const float* emb, const float* labels, float* demb,
                               std::size_t n, std::size_t d, const char* who) {
  if (!B::all_finite(emb, n * d))
    throw NumericError(std::string("siamese::") + who + ": the batch's embeddings (" + std::to_string(n) + " x " +
                       std::to_string(d) + ") hold a NaN or infinite value");
  auto& w = SimilarityWorkspace<B>::get();
  w.fit(w.y, n * d);
  w.fit(w.norm, n);
  w.fit(w.s, n * n);
  if (demb) w.fit(w.ds, n * n), w.fit(w.dy, n * d);
  constexpr float eps = 1e-12f;  // torch.nn.functional.normalize's
  B::l2_normalize_forward({.x = emb, .y = w.y.data(), .norm = w.norm.data(), .rows = n, .cols = d, .eps = eps});
  B::gemm({.trans_b = true, .m = n, .n = n, .k = d, .a = w.y.data(), .lda = d, .b = w.y.data(), .ldb = d,
           .c = w.s.data(), .ldc = n});
  proto.s = w.s.data();
  proto.row_labels = labels;
  proto.col_labels = labels;
  proto.ds = demb ? w.ds.data() : nullptr;
  proto.rows = n;
  proto.cols = n;
  proto.self_column = true;
  const float l = B::similarity_loss(proto);
  if (demb) {
    // s = Y Y^T, so dY = G Y + G^T Y.
    B::gemm({.m = n, .n = d, .k = n, .a = w.ds.data(), .lda = n, .b = w.y.data(), .ldb = d, .c = w.dy.data(),
             .ldc = d});
    B::gemm({.trans_a = true, .m = n, .n = d, .k = n, .a = w.ds.data(), .lda = n, .b = w.y.data(), .ldb = d,
             .beta = 1.0f, .c = w.dy.data(), .ldc = d});
    B::l2_normalize_backward({.y = w.y.data(), .dy = w.dy.data(), .norm = w.norm.data(), .dx = demb, .rows = n,
                              .cols = d, .eps = eps});
  }
  return l;
}

/// The loss `proto` of the n labelled embeddings emb (n x d, the queries) against m references ref (m x d, already
/// L2-normalised, in backend memory) with labels ref_labels; the references are constants (no gradient). The
/// queries' normalised rows stay in the workspace's y. `s_floats`: the similarity buffer's size to reserve (at
/// least n x m), so that a growing m does not reallocate.
template <class B>
float similarity_loss_on_refs(backend::SimilarityLossArgs proto, const float* emb, const float* labels, float* demb,
                              std::size_t n, std::size_t d, const float* ref, const float* ref_labels, std::size_t m,
                              std::size_t s_floats, const char* who) {
  if (!B::all_finite(emb, n * d))
    throw NumericError(std::string("siamese::") + who + ": the batch's embeddings (" + std::to_string(n) + " x " +
                       std::to_string(d) + ") hold a NaN or infinite value");
  auto& w = SimilarityWorkspace<B>::get();
  w.fit(w.y, n * d);
  w.fit(w.norm, n);
  w.fit(w.s, std::max(s_floats, n * m));
  if (demb) w.fit(w.ds, std::max(s_floats, n * m)), w.fit(w.dy, n * d);
  constexpr float eps = 1e-12f;
  B::l2_normalize_forward({.x = emb, .y = w.y.data(), .norm = w.norm.data(), .rows = n, .cols = d, .eps = eps});
  if (m == 0) {
    if (demb) B::fill(demb, 0.0f, n * d);
    return 0.0f;
  }
  B::gemm({.trans_b = true, .m = n, .n = m, .k = d, .a = w.y.data(), .lda = d, .b = ref, .ldb = d, .c = w.s.data(),
           .ldc = m});
  proto.s = w.s.data();
  proto.row_labels = labels;
  proto.col_labels = ref_labels;
  proto.ds = demb ? w.ds.data() : nullptr;
  proto.rows = n;
  proto.cols = m;
  proto.self_column = false;
  const float l = B::similarity_loss(proto);
  if (demb) {
    // s = Y R^T with R constant, so dY = G R.
    B::gemm({.m = n, .n = d, .k = m, .a = w.ds.data(), .lda = m, .b = ref, .ldb = d, .c = w.dy.data(), .ldc = d});
    B::l2_normalize_backward({.y = w.y.data(), .dy = w.dy.data(), .norm = w.norm.data(), .dx = demb, .rows = n,
                              .cols = d, .eps = eps});
  }
  return l;
}

/// What CrossBatchMemory keeps, in one backend's memory.
struct MemoryBase {
  virtual ~MemoryBase() = default;
  std::size_t filled = 0, next = 0, width = 0;
};
template <class B>
struct Memory : MemoryBase {
  typename B::Buffer emb, labels;
};

inline void check_positive(float v, const char* who, const char* what) {
  if (!(v > 0.0f) || !(v < 3.0e38f))
    throw std::invalid_argument(std::string("siamese::") + who + ": " + what + " must be positive and finite, got " +
                                std::to_string(v));
}

}  // namespace detail

/// NT-Xent (Chen et al. 2020, SimCLR; pytorch-metric-learning's NTXentLoss) over labelled samples: for each
/// positive pair (i, p), -log(e^{cos_ip/T} / (e^{cos_ip/T} + sum over i's negatives n of e^{cos_in/T})), averaged
/// over the positive pairs. A batch without both a positive and a negative pair gives 0.
struct NTXent {
  float temperature = 0.07f;
  static constexpr std::size_t arity = 1;
  static constexpr const char* name = "NTXent";
  backend::SimilarityLossArgs similarity_args() const {
    detail::check_positive(temperature, name, "the temperature");
    return {.kind = backend::SimilarityLossKind::NTXent, .temperature = temperature};
  }
  template <class B>
  float operator()(const float* emb, const float* labels, float* demb, std::size_t n, std::size_t d) const {
    return detail::similarity_loss_on_batch<B>(similarity_args(), emb, labels, demb, n, d, name);
  }
};

/// Supervised contrastive loss (Khosla et al. 2020; pytorch-metric-learning's SupConLoss): for each sample i,
/// -(1/P_i) sum over its P_i positives p of log(e^{cos_ip/T} / sum_{j != i} e^{cos_ij/T}), averaged over the samples
/// whose term is positive (those with a positive). A batch without both a positive and a negative pair gives 0.
struct SupCon {
  float temperature = 0.1f;
  static constexpr std::size_t arity = 1;
  static constexpr const char* name = "SupCon";
  backend::SimilarityLossArgs similarity_args() const {
    detail::check_positive(temperature, name, "the temperature");
    return {.kind = backend::SimilarityLossKind::SupCon, .temperature = temperature};
  }
  template <class B>
  float operator()(const float* emb, const float* labels, float* demb, std::size_t n, std::size_t d) const {
    return detail::similarity_loss_on_batch<B>(similarity_args(), emb, labels, demb, n, d, name);
  }
};

/// Multi-similarity loss (Wang et al. 2019; pytorch-metric-learning's MultiSimilarityLoss) with its miner
/// (MultiSimilarityMiner): per sample, (1/alpha) log(1 + sum_p e^{-alpha (cos_ip - base)}) + (1/beta) log(1 +
/// sum_n e^{beta (cos_in - base)}), averaged over the batch, over the pairs the miner keeps: positives less similar
/// than the most similar negative plus epsilon, negatives more similar than the least similar positive minus
/// epsilon. A negative epsilon turns the miner off (every pair).
struct MultiSimilarity {
  float alpha = 2.0f, beta = 50.0f, base = 0.5f;
  float epsilon = 0.1f;
  static constexpr std::size_t arity = 1;
  static constexpr const char* name = "MultiSimilarity";
  backend::SimilarityLossArgs similarity_args() const {
    detail::check_positive(alpha, name, "alpha");
    detail::check_positive(beta, name, "beta");
    return {.kind = backend::SimilarityLossKind::MultiSimilarity,
            .alpha = alpha,
            .beta = beta,
            .base = base,
            .epsilon = epsilon};
  }
  template <class B>
  float operator()(const float* emb, const float* labels, float* demb, std::size_t n, std::size_t d) const {
    return detail::similarity_loss_on_batch<B>(similarity_args(), emb, labels, demb, n, d, name);
  }
};

/// A cosine-similarity loss whose references are a queue of the `size` latest embeddings (L2-normalised) and labels
/// of earlier training batches (Wang et al. 2020, "Cross-Batch Memory"): each training step's batch is the queries
/// against the memory, and only those batch x memory pairs count; then the batch is enqueued (the oldest rows make
/// way). Evaluation (no gradient) reads the memory and leaves it unchanged. The memory is empty at the first step,
/// whose loss is 0. Loss: NTXent, SupCon or MultiSimilarity. Copies of a CrossBatchMemory share one memory; the
/// memory is not part of checkpoints, so a resumed run starts with it empty.
/// pytorch-metric-learning's CrossBatchMemory differs: it enqueues the batch first and also counts in-batch pairs.
template <class Loss>
struct CrossBatchMemory {
  Loss loss{};
  std::size_t size = 1024;
  static constexpr std::size_t arity = 1;
  static constexpr const char* name = "CrossBatchMemory";

  /// Rows the memory holds now.
  std::size_t filled() const { return memory_ ? memory_->filled : 0; }
  /// Empties the memory.
  void clear() const {
    if (memory_) memory_->filled = memory_->next = 0;
  }

  template <class B>
  float operator()(const float* emb, const float* labels, float* demb, std::size_t n, std::size_t d) const {
    if (size == 0) throw std::invalid_argument("siamese::CrossBatchMemory: the memory size must be positive");
    if (!memory_) {
      auto m = std::make_shared<detail::Memory<B>>();
      m->emb.resize(size * d);
      m->labels.resize(size);
      m->width = d;
      memory_ = std::move(m);
    }
    auto* mem = dynamic_cast<detail::Memory<B>*>(memory_.get());
    if (!mem)
      throw std::invalid_argument("siamese::CrossBatchMemory: the memory was filled on another backend than " +
                                  std::string(B::name));
    if (mem->width != d)
      throw ShapeError("siamese::CrossBatchMemory: the memory holds embeddings of width " + std::to_string(mem->width) +
                       " but the batch's are " + std::to_string(d) + " wide");
    const float l = detail::similarity_loss_on_refs<B>(loss.similarity_args(), emb, labels, demb, n, d,
                                                        mem->emb.data(), mem->labels.data(), mem->filled, n * size, name);
    if (demb) {  // training: enqueue the batch's normalised rows (the last `size` of them when the batch is larger)
      const auto& y = detail::SimilarityWorkspace<B>::get().y;
      const std::size_t take = std::min(n, size), first = n - take;
      for (std::size_t done = 0; done < take;) {
        const std::size_t run = std::min(take - done, size - mem->next);
        B::copy(mem->emb.data() + mem->next * d, y.data() + (first + done) * d, run * d);
        B::copy(mem->labels.data() + mem->next, labels + first + done, run);
        mem->next = (mem->next + run) % size;
        done += run;
      }
      mem->filled = std::min(size, mem->filled + take);
    }
    return l;
  }

  mutable std::shared_ptr<detail::MemoryBase> memory_{};
};

}  // namespace siamese
