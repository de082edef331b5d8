#pragma once
// The kinship example's training and evaluation, generic over the backbone (VGGFace or ResNet-50), the image size
// and the loss (binary cross-entropy on pairs through the head, or the triplet loss on embeddings with offline
// hard-negative mining). examples/kinship.cpp instantiates it for VGGFace, examples/kinship_resnet.cpp for ResNet-50:
// one translation unit per backbone keeps each compile short.
#include <siamese/siamese.hpp>

#include <siamese/data/augment.hpp>
#include <siamese/data/kinship.hpp>
#include <siamese/data/prefetch.hpp>
#include <siamese/data/samplers.hpp>
#include <siamese/eval/metrics.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace kinship {

namespace fs = std::filesystem;
using namespace siamese;

struct Options {
  fs::path data, weights;
  std::string backbone = "vggface", loss = "bce";
  std::size_t size = 0, steps = 0, batch = 8, eval_pairs = 0;
  std::size_t mine_every = 10, mine_pool = 8;  // triplet loss: refresh the embeddings every N steps; candidates
  std::uint64_t seed = 1;
  bool augment = true;  // --no-augment turns it off
};

/// Face augmentation on decoded images (values 0..255, before the backbone's preprocessing): horizontal flips,
/// shifts by up to 1/16 of the side, brightness and contrast jitter, random erasing.
inline Augment face_augment(std::size_t size) {
  Augment a;
  a.flip = 0.5f;
  a.crop_padding = size / 16;
  a.brightness = 0.1f;
  a.contrast = 0.2f;
  a.erase = 0.25f;
  a.erase_value = 127.5f;
  a.value_range = 255;
  a.clip = true, a.clip_min = 0, a.clip_max = 255;
  return a;
}

/// Where a training loop's time goes: waiting for batches (what the prefetch thread did not hide) and training.
struct LoopTime {
  double data = 0, compute = 0;
  template <class F>
  void time_data(F&& f) { data += timed(f); }
  template <class F>
  void time_compute(F&& f) { compute += timed(f); }
  template <class F>
  static double timed(F&& f) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
};

inline double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

/// Decodes `files` at size x size, preprocessed for backbone Bk, and embeds them (n, D) with `model`.
template <class Bk, class M>
std::vector<float> embed_files(M& model, const std::vector<fs::path>& files, std::size_t size) {
  constexpr std::size_t D = M::embedding_width, chunk = 16;
  std::vector<float> emb(files.size() * D);
  for (std::size_t s = 0; s < files.size(); s += chunk) {
    const std::size_t n = std::min(chunk, files.size() - s);
    Tensor x({n, size, size, 3});
    for (std::size_t i = 0; i < n; ++i) load_image_into(x.data() + i * size * size * 3, files[s + i], size, size);
    Bk::preprocess(x);
    const Tensor e = model.embed(x);
    std::copy(e.begin(), e.end(), emb.begin() + long(s * D));
  }
  return emb;
}

/// Embeds every distinct image of `pairs` once; returns the two embeddings of each pair, (n, D) each.
template <class Bk, class M>
std::pair<Tensor, Tensor> pair_embeddings(M& model, const std::vector<KinshipPair>& pairs, std::size_t size) {
  constexpr std::size_t D = M::embedding_width;
  std::map<fs::path, std::size_t> row;
  for (const auto& p : pairs) row.emplace(p.a, 0), row.emplace(p.b, 0);
  std::vector<fs::path> files;
  for (auto& [f, r] : row) r = files.size(), files.push_back(f);
  const std::vector<float> emb = embed_files<Bk>(model, files, size);
  Tensor ea({pairs.size(), D}), eb({pairs.size(), D});
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    std::copy_n(emb.begin() + long(row[pairs[i].a] * D), D, ea.data() + i * D);
    std::copy_n(emb.begin() + long(row[pairs[i].b] * D), D, eb.data() + i * D);
  }
  return {std::move(ea), std::move(eb)};
}

/// Pair scores: the head's match probability (a Siamese model), or the embeddings' cosine similarity (a Triplet
/// model, trained with a cosine triplet loss).
template <class Bk, class M>
std::vector<float> score(M& model, const std::vector<KinshipPair>& pairs, std::size_t size) {
  const auto [ea, eb] = pair_embeddings<Bk>(model, pairs, size);
  if constexpr (requires { model.predict_embeddings(ea, eb); }) {
    const Tensor p = model.predict_embeddings(ea, eb);
    return {p.begin(), p.end()};
  } else {
    const std::size_t d = M::embedding_width;
    std::vector<float> s(pairs.size());
    for (std::size_t i = 0; i < pairs.size(); ++i) {
      double ab = 0, aa = 0, bb = 0;
      for (std::size_t k = 0; k < d; ++k) {
        const double x = ea.data()[i * d + k], y = eb.data()[i * d + k];
        ab += x * y, aa += x * x, bb += y * y;
      }
      s[i] = float(ab / std::sqrt(aa * bb + 1e-30));
    }
    return s;
  }
}

template <class M>
std::size_t trainable_count(const M& m) {
  std::size_t n = 0;
  for (const auto& p : m.parameter_info()) n += p.trainable ? p.size : 0;
  return n;
}

/// Every image of the training people, labelled by family: the triplet loss's classes.
struct FamilyImages {
  std::vector<fs::path> files;
  std::vector<int> family;
  explicit FamilyImages(const KinshipData& d) {
    std::map<std::string, int> id;
    for (std::size_t p = 0; p < d.people.size(); ++p) {
      const int f = id.emplace(d.family(p), int(id.size())).first->second;
      for (const auto& img : d.images[p]) files.push_back(img), family.push_back(f);
    }
  }
};

/// The training pairs of step `index`: drawn from a seed of (seed, index), decoded, augmented per (index, sample),
/// preprocessed. A pure function of the step, so that a Prefetch can make the next batches while the model trains.
template <class Bk, std::size_t Size>
struct PairSource {
  const KinshipData* data;
  std::size_t steps, n;
  std::uint64_t seed;
  bool augment;
  std::size_t size() const { return steps; }
  void batch(std::size_t epoch, std::size_t index, PairBatch& b) const {
    KinshipPairs pairs(*data, derive_seed(seed, epoch * 1000003 + index));
    b = load_pair_batch(pairs.next(n), Size, Size);
    if (augment) {
      augment_batch(b.a, face_augment(Size), derive_seed(seed, 0xa), epoch, index);
      augment_batch(b.b, face_augment(Size), derive_seed(seed, 0xb), epoch, index);
    }
    Bk::preprocess(b.a);
    Bk::preprocess(b.b);
  }
};

template <class Bk, std::size_t Size, class M>
void train_pairs(M& model, const KinshipSplit& split, const Options& o, double t0) {
  const PairSource<Bk, Size> source{&split.train, o.steps, o.batch, o.seed + 1, o.augment};
  const Prefetch<PairSource<Bk, Size>, PairBatch> ahead(source, 2);  // decodes the next batches during a step
  Adam adam;
  adam.learning_rate = o.weights.empty() ? 1e-4f : 1e-5f;
  double running = 0;
  LoopTime time;
  PairBatch b;
  for (std::size_t step = 1; step <= o.steps; ++step) {
    time.time_data([&] { ahead.batch(0, step - 1, b); });
    float loss = 0;
    time.time_compute([&] { loss = model.train_step(b, BinaryCrossEntropy{}, adam); });
    running = step == 1 ? loss : 0.9 * running + 0.1 * loss;
    if (step % std::max<std::size_t>(1, o.steps / 10) == 0 || step == o.steps)
      std::printf("step %zu/%zu: loss %.4f (smoothed %.4f), %.1f s (data %.1f s, compute %.1f s)\n", step, o.steps,
                  double(loss), running, now() - t0, time.data, time.compute);
  }
  std::printf("loading: %.1f s decoding%s on the prefetch thread; training waited %.1f s for data and computed "
              "%.1f s\n",
              ahead.produce_seconds(), o.augment ? " and augmenting" : "", time.data, time.compute);
}

/// The triplets of one mining window (drawn with the embeddings of its start), loaded, augmented per (step, sample)
/// and preprocessed: the window's batches do not depend on the training steps inside it, so a Prefetch makes them
/// ahead.
template <class Bk, std::size_t Size>
struct TripletWindow {
  const FamilyImages* imgs;
  std::vector<IndexTriplets> sets;
  std::size_t first_step;
  std::uint64_t seed;
  bool augment;
  std::size_t size() const { return sets.size(); }
  Tensor load(const std::vector<std::size_t>& idx, std::size_t step, std::uint64_t part) const {
    Tensor t({idx.size(), Size, Size, 3});
    for (std::size_t i = 0; i < idx.size(); ++i)
      load_image_into(t.data() + i * Size * Size * 3, imgs->files[idx[i]], Size, Size);
    if (augment) augment_batch(t, face_augment(Size), derive_seed(seed, part), 0, step);
    Bk::preprocess(t);
    return t;
  }
  void batch(std::size_t, std::size_t j, TripletBatch& b) const {
    const IndexTriplets& t = sets[j];
    b = TripletBatch{load(t.anchor, first_step + j, 0xa), load(t.positive, first_step + j, 0xb),
                     load(t.negative, first_step + j, 0xc)};
  }
};

/// Triplets of images: anchor and positive from one family, the negative from another family, chosen among
/// `mine_pool` random candidates as the one whose embedding is nearest the anchor's (offline hard-negative
/// mining: the embeddings of every training image are recomputed every `mine_every` steps).
template <class Bk, std::size_t Size, class M>
void train_triplets(M& model, const KinshipSplit& split, const Options& o, double t0) {
  const FamilyImages imgs(split.train);
  TripletSampler sampler(imgs.family, o.seed + 1);
  std::printf("triplets: %zu training images of %d families; hard negatives among %zu candidates, mined again every "
              "%zu steps\n",
              imgs.files.size(), imgs.family.empty() ? 0 : *std::max_element(imgs.family.begin(), imgs.family.end()) + 1,
              o.mine_pool, o.mine_every);
  Adam adam;
  adam.learning_rate = o.weights.empty() ? 1e-4f : 1e-5f;
  const TripletLoss loss{.margin = 0.2f, .distance = Distance::Cosine};
  const std::size_t every = std::max<std::size_t>(1, o.mine_every);
  double running = 0, produced = 0;
  LoopTime time;
  TripletBatch b;
  for (std::size_t first = 1; first <= o.steps; first += every) {
    std::vector<float> emb;
    time.time_compute([&] { emb = embed_files<Bk>(model, imgs.files, Size); });
    TripletWindow<Bk, Size> window{&imgs, {}, first - 1, o.seed + 2, o.augment};
    for (std::size_t step = first; step < first + every && step <= o.steps; ++step)
      window.sets.push_back(sampler.sample_hard(o.batch, emb, M::embedding_width, o.mine_pool));
    const Prefetch<TripletWindow<Bk, Size>, TripletBatch> ahead(window, 2);
    for (std::size_t j = 0; j < window.size(); ++j) {
      const std::size_t step = first + j;
      time.time_data([&] { ahead.batch(0, j, b); });
      float l = 0;
      time.time_compute([&] { l = model.train_step(b, loss, adam); });
      running = step == 1 ? l : 0.9 * running + 0.1 * l;
      if (step % std::max<std::size_t>(1, o.steps / 10) == 0 || step == o.steps)
        std::printf("step %zu/%zu: triplet loss %.4f (smoothed %.4f), %.1f s (data %.1f s, compute %.1f s)\n", step,
                    o.steps, double(l), running, now() - t0, time.data, time.compute);
    }
    produced += ahead.produce_seconds();
  }
  std::printf("loading: %.1f s decoding%s on the prefetch thread; training waited %.1f s for data and computed "
              "%.1f s (mining included)\n",
              produced, o.augment ? " and augmenting" : "", time.data, time.compute);
}

/// Loads the data, builds the model of backbone Bk at Size x Size (a Siamese model for "bce", a Triplet model for
/// "triplet"), trains it, calibrates a threshold on one draw of held-out pairs and reports the "test:" line on
/// another.
template <class Bk, std::size_t Size>
int run(const Options& o, const fs::path& dir) {
  const double t0 = now();
  const KinshipData all = load_kinship(dir / "train", dir / "train_relationships.csv");
  const KinshipSplit split = split_by_family(all, "F09");
  std::printf("data: %zu people, %zu relations (%zu rows skipped: person without images); "
              "training %zu people, held out (F09*) %zu people\n",
              all.people.size(), all.relations.size(), all.skipped_relations, split.train.people.size(),
              split.validation.people.size());
  auto evaluate = [&](auto& model) {
    const auto calib = KinshipPairs(split.validation, o.seed + 2).next(o.eval_pairs);
    const auto test = KinshipPairs(split.validation, o.seed + 3).next(o.eval_pairs);
    std::vector<float> calib_labels, test_labels;
    for (const auto& p : calib) calib_labels.push_back(p.label);
    for (const auto& p : test) test_labels.push_back(p.label);
    const auto calib_scores = score<Bk>(model, calib, Size), test_scores = score<Bk>(model, test, Size);
    const CalibratedThreshold cal = calibrate_threshold(calib_scores, calib_labels);
    const BinaryMetrics bm = binary_metrics(test_scores, test_labels, cal.threshold);
    std::printf("held-out families: %zu calibration and %zu test pairs; total %.1f s\n", calib.size(), test.size(),
                now() - t0);
    std::printf("test: roc_auc=%.4f accuracy=%.4f threshold=%.4f\n", roc_auc(test_scores, test_labels), bm.accuracy,
                double(cal.threshold));
  };
  auto setup = [&](auto& model, const char* kind) {
    using M = std::remove_reference_t<decltype(model)>;
    std::fputs(M::summary().c_str(), stdout);
    std::printf("model: %s %s at %zux%zux3, %s; %zu parameters, %zu trainable, embedding %zu\n", kind, Bk::name, Size,
                Size, Bk::frozen, M::param_count, trainable_count(model), M::embedding_width);
    if (!o.weights.empty()) std::printf("weights: %zu arrays from %s\n", Bk::load(model, o.weights), o.weights.c_str());
    else std::printf("weights: none given, the encoder starts from random values\n");
  };
  if (o.loss == "triplet") {
    auto model = std::make_unique<Triplet<typename Bk::template encoder<Size>>>(o.seed);
    setup(*model, "Triplet");
    train_triplets<Bk, Size>(*model, split, o, t0);
    evaluate(*model);
  } else {
    auto model = std::make_unique<Siamese<typename Bk::template encoder<Size>, typename Bk::head>>(o.seed);
    setup(*model, "Siamese");
    train_pairs<Bk, Size>(*model, split, o, t0);
    evaluate(*model);
  }
  return 0;
}

/// The image sizes the example instantiates: 224 (both backbones' input) and 64 (the quick synthetic demo).
template <class Bk>
int run_sized(const Options& o, const fs::path& dir) {
  if (o.size == 224) return run<Bk, 224>(o, dir);
  if (o.size == 64) return run<Bk, 64>(o, dir);
  throw std::invalid_argument("--size must be 224 (the backbones' input) or 64 (the quick demo size)");
}

int run_vggface(const Options& o, const fs::path& dir);   // kinship.cpp
int run_resnet50(const Options& o, const fs::path& dir);  // kinship_resnet.cpp

}  // namespace kinship
