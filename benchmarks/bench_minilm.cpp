// all-MiniLM-L6-v2 on backend::Cpu against sentence-transformers on PyTorch's CPU (benchmarks/st_minilm.py, run in
// the peers' environment that scripts/peers_venv installs), on real sentences: the definitions of the repository's
// WordNet/GCIDE pair set (scripts/make_text_pairs), the first 1024 distinct ones.
//   minilm_encode:     sentences/s, batches of 64; here sorted by length so that each runs in the shortest length
//                      bucket, there padded to each batch's longest sentence (model.encode, as users run it)
//   minilm_encode_128: sentences/s, every sentence padded to 128 tokens on both sides
//   minilm_train:      pairs/s of a fine-tuning step, batch 32, contrastive loss, AdamW
// Both sides use the same number of threads (2, or the first argument); the peer runs before and after ours and its
// rate is the mean. Pretrained files: $SIAMESE_MINILM_DIR or scripts/fetch_minilm.
#include <tbb/global_control.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include <siamese/data/quora.hpp>
#include <siamese/data/wordpiece.hpp>
#include <siamese/model/zoo/minilm.hpp>
#include <siamese/siamese.hpp>

#include "bench_common.hpp"

using namespace siamese;
namespace fs = std::filesystem;

namespace {
std::string run(const std::string& cmd) {
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
  std::string out;
  if (!p) return out;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p.get())) out += buf;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::map<std::string, double> peer_rates(const std::string& python, const fs::path& model, const fs::path& sentences,
                                         int threads, int rounds) {
  std::map<std::string, double> out;
  if (python.empty()) return out;
  const std::string cmd = "cd '" + std::string(BENCH_DIR) + "' && '" + python + "' st_minilm.py '" + model.string() +
                          "' '" + sentences.string() + "' " + std::to_string(threads) + " " + std::to_string(rounds) +
                          " 2>/dev/null";
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
  if (!p) return out;
  char name[64];
  double v;
  while (std::fscanf(p.get(), "%63s %lf", name, &v) == 2) out[name] = v;
  return out;
}

using Body = detail::bert_body<30522, 384, 6, 12, 1536, 512, 6, MaskedMeanPool>::type;
using Bucketed = Embedder<MiniLM_L6<128>>;
using Full = Embedder<Sequential<Input<128>, LengthBuckets<Body>>>;  // every batch at 128 tokens
using Pairs = Siamese<MiniLM_L6<128>, Head<Cosine, Classifier<Dense<1>>>>;
}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::max(1, std::atoi(argv[1])) : 2;
  const int rounds = argc > 2 ? std::max(1, std::atoi(argv[2])) : 3;
  const char* env = std::getenv("SIAMESE_MINILM_DIR");
  const fs::path model_dir = env && *env ? fs::path(env) : fs::path(run("'" + std::string(BENCH_DIR) + "/../scripts/fetch_minilm'"));
  const fs::path tmp = fs::temp_directory_path() / "siamese_bench_minilm";
  fs::create_directories(tmp);
  if (std::system(("'" + std::string(BENCH_DIR) + "/../scripts/make_text_pairs' '" + (tmp / "pairs.csv").string() +
                   "' > /dev/null 2>&1").c_str()) != 0) {
    std::printf("minilm: the pair set could not be made (scripts/make_text_pairs); skipped\n");
    return 1;
  }
  std::vector<std::string> sentences;
  std::set<std::string> seen;
  for (const auto& p : load_quora((tmp / "pairs.csv").string(), true).pairs)
    for (const std::string* s : {&p.q1, &p.q2})
      if (sentences.size() < 1024 && seen.insert(*s).second) sentences.push_back(*s);
  {
    std::ofstream f(tmp / "sentences.txt");
    for (const auto& s : sentences) f << s << "\n";
  }
  const std::string py = bench::peers_python();
  const auto before = peer_rates(py, model_dir, tmp / "sentences.txt", threads, rounds);

  const WordPieceTokenizer tok((model_dir / "vocab.txt").string());
  const std::size_t n = sentences.size();
  Tensor ids({n, 128});
  std::vector<std::string_view> views(sentences.begin(), sentences.end());
  const auto lens = tok.encode_batch(views, 128, ids.data());
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return lens[a] < lens[b]; });
  std::vector<Tensor> sorted_batches, plain_batches;
  for (std::size_t s = 0; s < n; s += 64) {
    const std::size_t m = std::min<std::size_t>(64, n - s);
    Tensor x({m, 128}), y({m, 128});
    for (std::size_t i = 0; i < m; ++i) {
      std::copy_n(ids.data() + order[s + i] * 128, 128, x.data() + i * 128);
      std::copy_n(ids.data() + (s + i) * 128, 128, y.data() + i * 128);
    }
    sorted_batches.push_back(std::move(x));
    plain_batches.push_back(std::move(y));
  }
  std::map<std::string, double> ours;
  {
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, std::size_t(threads));
    auto bucketed = std::make_unique<Bucketed>(1);
    import_bert(*bucketed, model_dir / "model.safetensors");
    ours["minilm_encode"] = bench::median_rate([&] {
      for (const auto& b : sorted_batches) bucketed->embed(b);
    }, n, rounds, 1);
    bucketed.reset();
    auto full = std::make_unique<Full>(1);
    import_bert(*full, model_dir / "model.safetensors");
    ours["minilm_encode_128"] = bench::median_rate([&] {
      for (const auto& b : plain_batches) full->embed(b);
    }, n, rounds, 1);
    full.reset();
    auto pairs = std::make_unique<Pairs>(1);
    import_bert(*pairs, model_dir / "model.safetensors");
    std::vector<PairBatch> train;
    for (std::size_t s = 0; s + 48 <= std::min<std::size_t>(n, 8 * 32 + 16); s += 32) {
      PairBatch b{Tensor({32, 128}), Tensor({32, 128}), {}};
      for (std::size_t i = 0; i < 32; ++i) {
        std::copy_n(ids.data() + (s + i) * 128, 128, b.a.data() + i * 128);
        std::copy_n(ids.data() + (s + 16 + i) * 128, 128, b.b.data() + i * 128);
        b.labels.push_back(float(i % 2));
      }
      train.push_back(std::move(b));
    }
    AdamW adam;
    adam.learning_rate = 2e-5f;
    std::size_t k = 0;
    ours["minilm_train"] = bench::median_rate([&] { pairs->train_step(train[k++ % train.size()], Contrastive{1.0f}, adam); },
                                              32, std::max(1, rounds / 2), 2);
  }
  const auto after = peer_rates(py, model_dir, tmp / "sentences.txt", threads, rounds);
  const auto peer = bench::mean_rates(before, after);
  for (const auto& [name, unit] : std::vector<std::pair<std::string, std::string>>{
           {"minilm_encode", "sentences"}, {"minilm_encode_128", "sentences"}, {"minilm_train", "pairs"}}) {
    const auto it = peer.find(name);
    if (it != peer.end() && it->second > 0)
      std::printf("%s: siamese %.1f %s/s, sentence-transformers %.1f %s/s, speedup %.2fx\n", name.c_str(), ours[name],
                  unit.c_str(), it->second, unit.c_str(), ours[name] / it->second);
    else
      std::printf("%s: siamese %.1f %s/s, sentence-transformers unavailable (scripts/peers_venv installs it)\n",
                  name.c_str(), ours[name], unit.c_str());
  }
  fs::remove_all(tmp);
  return 0;
}
