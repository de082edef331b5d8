// Text similarity on Quora Question Pairs-format data: do two questions (texts) mean the same?
// A shared encoder (word embedding, then an LSTM whose last state is the text's embedding), a head
// (a-b)^2, a^2-b^2, cos(a,b), then Dense, Dropout and a sigmoid; binary cross-entropy and Adam.
// The tokenizer is fit on the training questions only; texts are padded to 30 tokens with id 0,
// which the embedding and the LSTM treat as padding (masked). The decision threshold is calibrated
// on a validation split of the training file and applied unchanged to the test pairs.
//
// usage: text_similarity [--encoder lstm|minilm] [--train FILE [--test FILE]] [--epochs N] [--batch N] [--seed N]
//   --encoder minilm: the pretrained all-MiniLM-L6-v2 encoder, zero-shot and fine-tuned (text_minilm.cpp).
//   FILE: a Quora train.csv-format file (id,qid1,qid2,question1,question2,is_duplicate). Without
//   --test, a seeded 20% of the training file is held out as the test set. Without --train, the
//   real-text definition pairs of scripts/make_text_pairs (WordNet 3.0 glosses against 1913 Webster
//   definitions, all 17k of them) are generated in a temporary folder.
// Training stops early when the validation loss has not improved for 3 epochs, keeping the best weights.
#include <siamese/layers/embedding.hpp>
#include <siamese/layers/lstm.hpp>
#include <siamese/siamese.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "common/definition_pairs.hpp"

using namespace siamese;
namespace fs = std::filesystem;

constexpr std::size_t kLength = 30, kVocabulary = 20000;
using Encoder = Sequential<Input<kLength>, Embedding<kVocabulary, 100>, LSTM<64>>;
using Model = Siamese<Encoder, Head<SqDiff, DiffSq, Cosine>>;


namespace {

struct Options {
  std::string train, test;
  std::size_t epochs = 15, batch = 64;
  std::uint64_t seed = 1;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--encoder" && has_value && std::string(argv[i + 1]) == "lstm") ++i;
    else if (a == "--train" && has_value) o.train = argv[++i];
    else if (a == "--test" && has_value) o.test = argv[++i];
    else if (a == "--epochs" && has_value) o.epochs = std::stoul(argv[++i]);
    else if (a == "--batch" && has_value) o.batch = std::stoul(argv[++i]);
    else if (a == "--seed" && has_value) o.seed = std::stoull(argv[++i]);
    else {
      std::fprintf(stderr, "usage: %s [--train FILE [--test FILE]] [--epochs N] [--batch N] [--seed N]\n", argv[0]);
      std::exit(2);
    }
  }
  if (!o.test.empty() && o.train.empty()) {
    std::fprintf(stderr, "--test needs --train\n");
    std::exit(2);
  }
  return o;
}

/// Pairs as padded token ids: a and b are (n, kLength).
struct Encoded {
  Tensor a, b;
  std::vector<float> labels;
  std::size_t size() const { return labels.size(); }
};

Encoded encode(const Tokenizer& tok, const std::vector<QuestionPair>& pairs) {
  std::vector<std::string> q1, q2;
  Encoded e;
  for (const auto& p : pairs) {
    q1.push_back(p.q1);
    q2.push_back(p.q2);
    e.labels.push_back(float(p.label));
  }
  PadOptions pad;
  pad.maxlen = kLength;
  auto fill = [&](const std::vector<std::string>& texts, Tensor& t) {
    const Padded<float> ids = pad_sequences<float>(tok.texts_to_sequences(texts), pad);
    t = Tensor({pairs.size(), kLength});
    std::copy(ids.values.begin(), ids.values.end(), t.begin());
  };
  fill(q1, e.a);
  fill(q2, e.b);
  return e;
}

/// Rows [begin, end) of the pairs, sides swapped where `swap` says so (the DiffSq feature is not symmetric).
void gather(const Encoded& d, const std::vector<std::size_t>& rows, std::size_t begin, std::size_t end,
            std::uint64_t swap_seed, PairBatch& out) {
  const std::size_t n = end - begin;
  out.a = Tensor({n, kLength});
  out.b = Tensor({n, kLength});
  out.labels.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t r = rows[begin + i];
    const bool swap = swap_seed && derive_seed(swap_seed, r) & 1;
    std::copy_n(d.a.data() + r * kLength, kLength, (swap ? out.b : out.a).data() + i * kLength);
    std::copy_n(d.b.data() + r * kLength, kLength, (swap ? out.a : out.b).data() + i * kLength);
    out.labels[i] = d.labels[r];
  }
}

/// Training batches: a seeded shuffle per epoch, sides swapped at random.
struct Shuffled {
  const Encoded* data;
  std::size_t batch_size;
  std::uint64_t seed;
  std::size_t size() const { return data->size() / batch_size; }
  void batch(std::size_t epoch, std::size_t index, PairBatch& out) const {
    std::vector<std::size_t> order(data->size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    Rng r(derive_seed(seed, epoch));
    for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[r.below(i)]);
    gather(*data, order, index * batch_size, (index + 1) * batch_size, derive_seed(seed, epoch + 1000), out);
  }
};

/// Validation batches in file order (fit() evaluates them after each epoch).
struct InOrder {
  const Encoded* data;
  std::size_t batch_size;
  std::size_t size() const { return (data->size() + batch_size - 1) / batch_size; }
  void batch(std::size_t, std::size_t index, PairBatch& out) const {
    std::vector<std::size_t> all(data->size());
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
    gather(*data, all, index * batch_size, std::min(data->size(), (index + 1) * batch_size), 0, out);
  }
};

std::vector<float> scores(Model& m, const Encoded& d) {
  std::vector<float> s;
  InOrder chunks{&d, 512};
  PairBatch b;
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    chunks.batch(0, i, b);
    const Tensor p = m.predict(b.a, b.b);
    s.insert(s.end(), p.begin(), p.end());
  }
  return s;
}

}  // namespace

int run_minilm(int argc, char** argv);  // text_minilm.cpp

int main(int argc, char** argv) try {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--encoder" && std::string(argv[i + 1]) == "minilm") return run_minilm(argc, argv);
  const Options o = parse(argc, argv);
  const auto start = std::chrono::steady_clock::now();
  const examples::TextSplits data = examples::load_text_splits(o.train, o.test, o.seed);

  TokenizerOptions to;
  to.num_words = kVocabulary;
  Tokenizer tok(to);
  std::vector<std::string_view> questions;
  for (const auto& p : data.train) questions.insert(questions.end(), {p.q1, p.q2});
  tok.fit_on_texts(questions);
  std::printf("tokenizer: %zu words in the training questions, %zu kept\n", tok.word_index().size(),
              tok.vocabulary_size() - 1);
  const Encoded train = encode(tok, data.train), validation = encode(tok, data.validation), test = encode(tok, data.test);

  Model model(o.seed);
  std::fputs(Model::summary().c_str(), stdout);
  Adam adam;
  adam.learning_rate = 3e-4f;  // the table of 2M weights memorises the training pairs quickly at 1e-3
  FitOptions fo;
  fo.epochs = o.epochs;
  fo.out = stdout;
  fo.patience = 3;
  const Shuffled batches{&train, o.batch, o.seed};
  const History h = fit(model, BinaryCrossEntropy{}, adam, batches, InOrder{&validation, 512}, fo);
  const double train_secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const std::vector<float> val_scores = scores(model, validation), test_scores = scores(model, test);
  const CalibratedThreshold cal = calibrate_threshold(val_scores, validation.labels);
  const BinaryMetrics bm = binary_metrics(test_scores, test.labels, cal.threshold);
  const double auc = roc_auc(test_scores, test.labels);
  std::printf("training: %zu epochs (best: %zu) in %.1f s\n", h.loss.size(), h.best_epoch + 1, train_secs);
  std::printf("validation: roc_auc=%.4f accuracy=%.4f at the calibrated threshold\n",
              roc_auc(val_scores, validation.labels), cal.accuracy);
  std::printf("test: precision=%.4f recall=%.4f f1=%.4f\n", bm.precision, bm.recall, bm.f1);
  std::printf("test: roc_auc=%.4f accuracy=%.4f threshold=%.4f\n", auc, bm.accuracy, double(cal.threshold));
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
