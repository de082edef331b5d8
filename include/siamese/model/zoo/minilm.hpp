#pragma once
// BERT text encoders as types, all-MiniLM-L6-v2 among them, and the import of Hugging Face BERT weights
// (model.safetensors) into them.
#include <cstddef>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "../../core/errors.hpp"
#include "../../core/tensor.hpp"
#include "../../io/npz.hpp"
#include "../../io/safetensors.hpp"
#include "../../layers/attention.hpp"
#include "../../layers/bert_embeddings.hpp"
#include "../../layers/dropout.hpp"
#include "../../layers/feed_forward.hpp"
#include "../../layers/l2_normalize.hpp"
#include "../../layers/layer_norm.hpp"
#include "../../layers/length_buckets.hpp"
#include "../../layers/masked_mean_pool.hpp"
#include "../../layers/repeat.hpp"
#include "../../layers/residual.hpp"
#include "../sequential.hpp"

namespace siamese {

/// One BERT encoder block, post-LayerNorm as in BERT: x = LN(x + Dropout(Attention(x))), then
/// x = LN(x + Dropout(FeedForward(x))). Dropout acts in training only (BERT's hidden_dropout_prob).
template <std::size_t Dim, std::size_t Heads, std::size_t Hidden, float Eps = 1e-12f, float Drop = 0.1f>
using BertBlock = Sequential<Residual<MultiHeadSelfAttention<Dim, Heads>, Dropout<Drop>>, LayerNorm<Eps>,
                             Residual<FeedForward<Hidden, Dim>, Dropout<Drop>>, LayerNorm<Eps>>;

namespace detail {
/// The layer list of a BERT sentence encoder with only its last `Trainable` blocks trained.
template <std::size_t Vocab, std::size_t Dim, std::size_t Blocks, std::size_t Heads, std::size_t Hidden,
          std::size_t MaxPositions, std::size_t Trainable, class Pooling>
struct bert_body {
  static_assert(Trainable <= Blocks, "BertSentenceEncoder: more trainable blocks than blocks");
  using Embed = BertEmbeddings<Vocab, Dim, MaxPositions>;
  using Block = BertBlock<Dim, Heads, Hidden>;
  template <std::size_t N>
  using Blocks_ = Repeat<N, Block>;
  using type = std::conditional_t<
      Trainable == Blocks, Sequential<Embed, Dropout<0.1f>, Blocks_<Blocks>, Pooling, L2Normalize<>>,
      std::conditional_t<Trainable == 0, Sequential<Frozen<Embed, Dropout<0.1f>, Blocks_<Blocks>>, Pooling, L2Normalize<>>,
                         Sequential<Frozen<Embed, Dropout<0.1f>, Blocks_<Blocks - (Trainable < Blocks ? Trainable : 0)>>,
                                    Blocks_<(Trainable > 0 ? Trainable : 1)>, Pooling, L2Normalize<>>>>;
};
}  // namespace detail

/// A BERT sentence encoder as sentence-transformers runs it: BertEmbeddings, `Blocks` encoder blocks, mean pooling
/// over the tokens that are not padding, L2 normalisation. Input: MaxLength token ids per sentence ([CLS] ... [SEP]
/// then [PAD] = 0, as WordPieceTokenizer::encode writes them); each batch runs in the shortest of the lengths
/// 16, 32, 64 (and MaxLength) that holds it. Only the last `Trainable` blocks are trained (all by default); the
/// embeddings and the blocks before them are frozen, so backward stops below the first trainable block.
template <std::size_t MaxLength, std::size_t Vocab, std::size_t Dim, std::size_t Blocks, std::size_t Heads,
          std::size_t Hidden, std::size_t MaxPositions = 512, std::size_t Trainable = Blocks>
using BertSentenceEncoder =
    Sequential<Input<MaxLength>,
               LengthBuckets<typename detail::bert_body<Vocab, Dim, Blocks, Heads, Hidden, MaxPositions, Trainable,
                                                        MaskedMeanPool>::type,
                             16, 32, 64>>;

/// all-MiniLM-L6-v2 (sentence-transformers): vocabulary 30522, width 384, 6 blocks of 12 heads, feed-forward 1536,
/// 512 positions, mean pooling, normalised; 384-wide embeddings. MaxLength: the tokens per sentence (128 by
/// default; the model was trained with 128, its card allows 256). Trainable: how many of the last blocks train.
template <std::size_t MaxLength = 128, std::size_t Trainable = 6>
using MiniLM_L6 = BertSentenceEncoder<MaxLength, 30522, 384, 6, 12, 1536, 512, Trainable>;

/// Parameters of all-MiniLM-L6-v2 as sentence-transformers uses it: Hugging Face's BertModel has 22,713,216 with its
/// pooler (a 384 x 384 dense layer with bias, 147,840 values), which sentence embeddings do not use.
inline constexpr std::size_t minilm_l6_parameters = 22'713'216 - 147'840;

namespace detail {
/// Hugging Face names of a BERT sentence encoder's tensors, in the order the library packs them, and whether each is
/// a linear layer's weight (stored (out, in) by PyTorch, (in, out) here).
inline std::vector<std::pair<std::string, bool>> bert_tensor_names(std::size_t blocks) {
  std::vector<std::pair<std::string, bool>> out = {{"embeddings.word_embeddings.weight", false},
                                                   {"embeddings.position_embeddings.weight", false},
                                                   {"embeddings.token_type_embeddings.weight", false},
                                                   {"embeddings.LayerNorm.weight", false},
                                                   {"embeddings.LayerNorm.bias", false}};
  for (std::size_t i = 0; i < blocks; ++i) {
    const std::string l = "encoder.layer." + std::to_string(i) + ".";
    for (const char* p : {"attention.self.query", "attention.self.key", "attention.self.value",
                          "attention.output.dense"}) {
      out.push_back({l + p + ".weight", true});
      out.push_back({l + p + ".bias", false});
    }
    out.push_back({l + "attention.output.LayerNorm.weight", false});
    out.push_back({l + "attention.output.LayerNorm.bias", false});
    out.push_back({l + "intermediate.dense.weight", true});
    out.push_back({l + "intermediate.dense.bias", false});
    out.push_back({l + "output.dense.weight", true});
    out.push_back({l + "output.dense.bias", false});
    out.push_back({l + "output.LayerNorm.weight", false});
    out.push_back({l + "output.LayerNorm.bias", false});
  }
  return out;
}
}  // namespace detail

/// Copies Hugging Face BERT weights (the arrays of a model.safetensors, read with read_safetensors) into the BERT
/// encoder of `model` (a Siamese, Triplet or Embedder whose encoder is a BertSentenceEncoder such as MiniLM_L6):
/// the encoder's parameters in order, linear weights transposed from PyTorch's (out, in). A "bert." prefix of the
/// names (BertForXxx checkpoints) is accepted. Everything is checked before anything changes: a missing tensor or
/// one of another shape throws FileError naming the file, the tensor and the parameter. Returns the tensors copied.
template <class Model>
std::size_t import_bert(Model& model, const ArrayFile& file) {
  const auto& info = model.parameter_info();
  std::size_t blocks = 0;
  for (const auto& p : info)
    if (p.name.starts_with("encoder/") && p.name.ends_with("query/kernel")) ++blocks;
  const auto names = detail::bert_tensor_names(blocks);
  if (blocks == 0 || info.size() < names.size())
    throw std::invalid_argument("import_bert: the model's encoder is not a BERT encoder (no attention blocks found)");
  struct Job {
    const ParamInfo* dst;
    const NamedArray* src;
    bool transpose;
  };
  std::vector<Job> jobs;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const ParamInfo& p = info[i];
    const auto& [name, transpose] = names[i];
    const NamedArray* a = file.find(name);
    if (!a) a = file.find("bert." + name);
    if (!a) throw FileError("'" + file.file + "': has no tensor '" + name + "' (for parameter '" + p.name + "')");
    std::vector<std::size_t> want = p.shape;
    if (transpose && want.size() == 2) std::swap(want[0], want[1]);
    if (a->shape != want)
      throw FileError("'" + file.file + "': tensor '" + name + "' has shape " + Tensor::shape_str(a->shape) +
                      ", but parameter '" + p.name + "' needs " + Tensor::shape_str(want) +
                      (transpose ? " (PyTorch's (out, in) layout)" : ""));
    jobs.push_back({&p, a, transpose && want.size() == 2});
  }
  std::vector<float> buf;
  for (const auto& j : jobs) {
    const float* src = j.src->data.data();
    if (j.transpose) {
      const std::size_t rows = j.src->shape[0], cols = j.src->shape[1];  // (out, in) -> (in, out)
      buf.resize(rows * cols);
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c) buf[c * rows + r] = src[r * cols + c];
      src = buf.data();
    }
    model.parameters().sub(j.dst->offset, j.dst->size).from_host(src, j.dst->size);
  }
  return jobs.size();
}

/// import_bert from a model.safetensors file.
template <class Model>
std::size_t import_bert(Model& model, const std::filesystem::path& safetensors) {
  return import_bert(model, read_safetensors(safetensors));
}

}  // namespace siamese
