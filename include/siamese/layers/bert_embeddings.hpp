#pragma once
// BertEmbeddings<Vocab, Dim, MaxLen, TypeVocab, Eps>: BERT's input embeddings, token ids -> LayerNorm(word +
// position + token type).
#include <string>
#include <vector>

#include "../backend/args/bert_layers.hpp"
#include "layer.hpp"
#include "layer_norm.hpp"

namespace siamese {

namespace detail {
template <std::size_t V, std::size_t D, std::size_t MaxLen, std::size_t TypeVocab, float Eps, class In, class Pos>
struct BertEmbeddingsImpl : LayerDefaults {
  static_assert(In::rank == 1, "BertEmbeddings expects token ids (rank 1: positions), e.g. Input<128>");
  static constexpr std::size_t T = In::dims[0];
  static_assert(T <= MaxLen,
                "BertEmbeddings: the input has more positions than the table has position embeddings (MaxLen); "
                "shorten the input or raise MaxLen (BERT models have 512)");
  using in_shape = In;
  using out_shape = Shape<T, D>;
  static constexpr std::size_t token_vocab = V;  // models check the ids of their inputs against it (network.hpp)
  // offsets of the parameters, in the order of `params`
  static constexpr std::size_t word = 0, position = V * D, token_type = position + MaxLen * D,
                               gamma = token_type + TypeVocab * D, beta = gamma + D;
  static constexpr auto params = specs(ParamSpec{"word_embeddings", {V, D}, 2, Init::Normal002, V, D},
                                       ParamSpec{"position_embeddings", {MaxLen, D}, 2, Init::Normal002, MaxLen, D},
                                       ParamSpec{"token_type_embeddings", {TypeVocab, D}, 2, Init::Normal002,
                                                 TypeVocab, D},
                                       ParamSpec{"gamma", {D}, 1, Init::Ones, D, D},
                                       ParamSpec{"beta", {D}, 1, Init::Zeros, D, D});

  // scratch: the sum before normalisation (its gradient in backward), then each row's mean and 1/std
  static std::size_t scratch(std::size_t n) { return align_floats(n * T * D) + 2 * align_floats(n * T); }
  template <class B>
  static void forward(const Forward& f) {
    float *sum = f.scratch, *mean = sum + align_floats(f.n * T * D), *rstd = mean + align_floats(f.n * T);
    B::bert_embeddings_forward({.ids = f.x, .word = f.w + word, .position = f.w + position,
                                .token_type = f.w + token_type, .sum = sum, .rows = f.n * T, .steps = T, .vocab = V,
                                .dim = D});
    B::layernorm_forward({.x = sum, .y = f.y, .gamma = f.w + gamma, .beta = f.w + beta, .mean = mean, .rstd = rstd,
                          .rows = f.n * T, .cols = D, .eps = Eps});
  }
  template <class B>
  static void backward(const Backward& b) {
    if (b.dx) B::fill(b.dx, 0.0f, b.n * T);  // ids are discrete: nothing flows back to them
    if (!b.dw) return;
    float *sum = b.scratch, *mean = sum + align_floats(b.n * T * D), *rstd = mean + align_floats(b.n * T);
    // the sum's gradient overwrites the sum, row by row after reading it
    B::layernorm_backward({.x = sum, .dy = b.dy, .gamma = b.w + gamma, .mean = mean, .rstd = rstd, .dx = sum,
                           .dgamma = b.dw + gamma, .dbeta = b.dw + beta, .rows = b.n * T, .cols = D});
    B::bert_embeddings_backward({.ids = b.x, .dsum = sum, .dword = b.dw + word, .dposition = b.dw + position,
                                 .dtoken_type = b.dw + token_type, .rows = b.n * T, .steps = T, .vocab = V, .dim = D,
                                 .max_len = MaxLen, .type_vocab = TypeVocab});
  }
  static void collect(std::vector<ParamInfo>& out, const std::string& prefix, std::size_t offset, bool trainable,
                      bool states) {
    if (states) return;
    for (const auto& p : params) {
      const bool sparse = std::string(p.name) == "word_embeddings";  // row-sparse like Embedding's table
      out.push_back({prefix + p.name, std::vector<std::size_t>(p.dims.begin(), p.dims.begin() + p.rank), offset,
                     p.size(), p.init, p.fan_in, p.fan_out, trainable, sparse ? D : 0});
      offset += p.size();
    }
  }
  static std::string describe() {
    return "BertEmbeddings<" + std::to_string(V) + "," + std::to_string(D) + "," + std::to_string(MaxLen) + "," +
           std::to_string(TypeVocab) + "," + float_name(Eps) + ">";
  }
};
}  // namespace detail

/// BERT's embedding layer for single-segment input: token ids Shape<T> (floats, as Embedding; T <= MaxLen,
/// checked at compile time) -> Shape<T, Dim>, row t = LayerNorm(word_embeddings[id_t] + position_embeddings[t] +
/// token_type_embeddings[0]) with LayerNorm's Eps (BERT: 1e-12). Parameters, in this order: "word_embeddings"
/// (Vocab, Dim), "position_embeddings" (MaxLen, Dim), "token_type_embeddings" (TypeVocab, Dim), "gamma", "beta"
/// (Dim); the tables start normal(0, 0.02) as in BERT. Id 0 ([PAD]) is an ordinary row in the forward pass (BERT
/// masks padding in attention and pooling, not here) but gets no gradient (PyTorch's padding_idx); the word table's
/// gradient is row-sparse, as Embedding's. Ids that are not integers in [0, Vocab) throw ShapeError naming the
/// sample and position (host backends; models check their inputs beforehand, as for Embedding).
template <std::size_t Vocab, std::size_t Dim, std::size_t MaxLen, std::size_t TypeVocab = 2, float Eps = 1e-12f>
struct BertEmbeddings {
  static_assert(Vocab > 0 && Dim > 0 && MaxLen > 0 && TypeVocab > 0,
                "BertEmbeddings needs a vocabulary, a width, positions and token types of at least 1");
  static_assert(Vocab <= (std::size_t{1} << 24), "BertEmbeddings: ids are stored as floats, exact up to 2^24");
  template <class In>
  static constexpr bool accepts = In::rank == 1;
  template <class In, class Pos>
  using bind = detail::BertEmbeddingsImpl<Vocab, Dim, MaxLen, TypeVocab, Eps, In, Pos>;
};

}  // namespace siamese
