#pragma once
// Embedding<Vocab, Dim>: token ids -> rows of a trainable (Vocab, Dim) table, and load_glove() to start
// the table from pre-trained GloVe vectors.
#include <algorithm>
#include <charconv>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "../core/errors.hpp"
#include "layer.hpp"
#include "token_ids.hpp"

namespace siamese {

namespace detail {
template <std::size_t V, std::size_t D, bool Trainable, bool MaskZero, Init I, class In, class Pos>
struct EmbeddingImpl : LayerDefaults {
  static_assert(In::rank == 1, "Embedding expects token ids (rank 1: time steps), e.g. Input<30>");
  static constexpr std::size_t T = In::dims[0];
  using in_shape = In;
  using out_shape = Shape<T, D>;
  static constexpr auto params = specs(ParamSpec{"embeddings", {V, D}, 2, I, V, D});
  static constexpr bool has_trainable_params = Trainable;
  static constexpr std::size_t token_vocab = V;  // models check the ids of their inputs against it (network.hpp)

  template <class B>
  static void forward(const Forward& f) {
    B::embedding_forward({.ids = f.x,
                          .table = f.w,
                          .y = f.y,
                          .count = f.n * T,
                          .steps = T,
                          .vocab = V,
                          .dim = D,
                          .mask_zero = MaskZero});
  }
  template <class B>
  static void backward(const Backward& b) {
    if (b.dw && Trainable)
      B::embedding_backward(
          {.ids = b.x, .dy = b.dy, .dtable = b.dw, .count = b.n * T, .vocab = V, .dim = D, .mask_zero = MaskZero});
    if (b.dx) B::fill(b.dx, 0.0f, b.n * T);  // ids are discrete: nothing flows back to them
  }
  static void collect(std::vector<ParamInfo>& out, const std::string& prefix, std::size_t offset, bool trainable,
                      bool states) {
    if (states) return;
    out.push_back({prefix + "embeddings", {V, D}, offset, V * D, I, V, D, trainable && Trainable, D});
  }
  static std::string describe() {
    return "Embedding<" + std::to_string(V) + "," + std::to_string(D) + (Trainable ? "" : ",frozen") +
           (MaskZero ? "" : ",no_mask") + ">";
  }
};
}  // namespace detail

/// A lookup table mapping token ids to vectors: input Shape<T> of ids stored as floats (exact up to
/// 2^24), output Shape<T, Dim>; the (Vocab, Dim) table starts as Init says: uniform in [-0.05, 0.05] as
/// in Keras (Init::UniformKeras, the default: it trains the text example best, see docs/text_similarity.md),
/// or N(0, 1) as in PyTorch (Init::Normal).
/// Requires every id to be an integer in [0, Vocab): host backends throw ShapeError naming the sample
/// and position of a bad one (check_token_ids() tests a batch beforehand).
/// MaskZero (on by default, unlike Keras, because the Tokenizer never assigns 0 and pad_sequences pads
/// with 0): id 0 is padding and gives an exact zero vector, which the sequence layers after it (LSTM,
/// GRU, GlobalMaxPool1D, ...) treat as a masked step, so padding 'pre' or 'post' changes nothing.
/// Trainable = false keeps the table fixed (as Frozen<Embedding<...>> does), e.g. after load_glove().
/// The table's gradient is overwritten at each step: zero, then the rows of the ids present in the
/// batch receive the sum of their outputs' gradients (a dense gradient whose other rows are 0). The
/// gradient is row-sparse: optimizers update only the rows present in the batch (Adam's moments and
/// SGD's momentum of the other rows stay as they are, like PyTorch's SparseAdam or TensorFlow's
/// LazyAdam), which also makes a step over a large vocabulary cheap.
template <std::size_t Vocab, std::size_t Dim, bool Trainable = true, bool MaskZero = true, Init I = Init::UniformKeras>
struct Embedding {
  static_assert(Vocab > 0 && Dim > 0, "Embedding needs a vocabulary and a width of at least 1");
  static_assert(Vocab <= (std::size_t{1} << 24), "Embedding: ids are stored as floats, exact up to 2^24");
  template <class In>
  static constexpr bool accepts = In::rank == 1;
  template <class In, class Pos>
  using bind = detail::EmbeddingImpl<Vocab, Dim, Trainable, MaskZero, I, In, Pos>;
};

/// What load_glove() found: lines read, and rows of the table it set.
struct GloveStats {
  std::size_t lines = 0, rows_set = 0;
};

/// Fills rows of a host table (vocab, dim) from a GloVe text file ("word v1 ... vdim" per line): the
/// row of each word w with 0 < word_index[w] < vocab. Rows of words absent from the file keep their
/// values (not zeroed: a zero row would read as padding). WordIndex maps std::string to int (e.g.
/// Tokenizer::word_index()). A line with another number of values or a value that is not a number
/// throws FileError naming the file and the line; so does a file that sets no row (empty, or none of
/// its words in the table).
template <class WordIndex>
GloveStats load_glove(float* table, std::size_t vocab, std::size_t dim, const std::string& path,
                      const WordIndex& word_index) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FileError("load_glove: cannot open '" + path + "'");
  GloveStats st;
  std::size_t vectors = 0;
  std::string line;
  std::vector<float> values(dim);
  while (std::getline(in, line)) {
    ++st.lines;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const auto where = [&] { return "load_glove: " + path + ":" + std::to_string(st.lines) + ": "; };
    const std::size_t sp = line.find(' ');
    if (sp == 0 || sp == std::string::npos) throw FileError(where() + "expected 'word v1 ... v" + std::to_string(dim) + "'");
    const std::string word = line.substr(0, sp);
    std::size_t count = 0;
    for (std::size_t p = sp; p < line.size();) {
      while (p < line.size() && line[p] == ' ') ++p;
      if (p == line.size()) break;
      std::size_t e = line.find(' ', p);
      if (e == std::string::npos) e = line.size();
      if (count < dim) {
        const auto r = std::from_chars(line.data() + p, line.data() + e, values[count]);
        if (r.ec != std::errc() || r.ptr != line.data() + e)
          throw FileError(where() + "value " + std::to_string(count + 1) + " of '" + word + "' is not a number: '" +
                          line.substr(p, e - p) + "'");
      }
      ++count;
      p = e;
    }
    if (count != dim)
      throw FileError(where() + "'" + word + "' has " + std::to_string(count) + " values, but the embedding is " +
                      std::to_string(dim) + " wide");
    ++vectors;
    const auto it = word_index.find(word);
    if (it == word_index.end() || it->second <= 0 || std::size_t(it->second) >= vocab) continue;
    std::copy(values.begin(), values.end(), table + std::size_t(it->second) * dim);
    ++st.rows_set;
  }
  // A file that sets no row leaves the table as it was: say why rather than let training start from nothing.
  if (st.rows_set == 0)
    throw FileError("load_glove: '" + path + "': " +
                    (vectors == 0 ? std::string("the file holds no vectors")
                                   : "none of its words has a row in the table (a vocabulary of " +
                                         std::to_string(vocab) + " rows)"));
  return st;
}

/// load_glove() into the embedding table of a model: the parameter named `tensor`, or, when empty, its
/// only one whose name ends in "embeddings". The table moves to the host and back once.
template <class Model, class WordIndex>
GloveStats load_glove(Model& model, const std::string& path, const WordIndex& word_index,
                      std::string_view tensor = {}) {
  const ParamInfo* found = nullptr;
  for (const auto& p : model.parameter_info()) {
    const bool match = tensor.empty() ? p.name.ends_with("embeddings") : p.name == tensor;
    if (!match) continue;
    if (found) throw std::invalid_argument("load_glove: the model has several embedding tables; name one");
    found = &p;
  }
  if (!found || found->shape.size() != 2)
    throw std::invalid_argument("load_glove: the model has no embedding table" +
                                (tensor.empty() ? std::string() : " named '" + std::string(tensor) + "'"));
  const auto view = model.parameters().sub(found->offset, found->size);
  std::vector<float> host = view.to_host();
  const GloveStats s = load_glove(host.data(), found->shape[0], found->shape[1], path, word_index);
  view.from_host(host);
  return s;
}

}  // namespace siamese
