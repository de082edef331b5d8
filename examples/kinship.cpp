// Kinship verification with VGGFace: are the people in two face images related?
// Siamese<VGGFace encoder with all but its last block frozen, Head<SqDiff, DiffSq, Cosine>> trained
// on related / unrelated pairs in the layout of Kaggle's "Recognizing Faces in the Wild":
//   DIR/train/<family>/<person>/*.jpg  and  DIR/train_relationships.csv (p1,p2 = F0002/MID1,F0002/MID3)
// Families whose id starts with F09 are held out: the decision threshold is calibrated on one draw of
// their pairs and applied to another, which gives the final "test:" line.
//
//   kinship --data DIR [--weights vggface.npz|vggface.h5] [--size 224|64] [--steps N] [--batch N] [--seed S]
//
// Weights: scripts/convert_vggface.py turns keras-vggface's .h5 or a PyTorch VGGFace into .npz; a
// Keras .h5 also loads directly (the library reads HDF5 itself). Without --data the example
// writes a small synthetic tree (cartoon faces whose colours and proportions run in families) and
// runs the whole pipeline on it at 64x64 with random weights, to show it end to end in about a minute.
#include <siamese/siamese.hpp>

#include <siamese/data/kinship.hpp>
#include <siamese/eval/metrics.hpp>
#include <siamese/io/hdf5.hpp>
#include <siamese/io/npz.hpp>
#include <siamese/model/zoo/vggface.hpp>

#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

using namespace siamese;
namespace fs = std::filesystem;

template <std::size_t Size>
using Model = Siamese<VGGFaceEncoderFrozenAt<Size>, Head<SqDiff, DiffSq, Cosine>>;

struct Options {
  fs::path data, weights;
  std::size_t size = 0, steps = 0, batch = 8, eval_pairs = 0;
  std::uint64_t seed = 1;
};

namespace {
double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

/// A cartoon face: family f fixes skin and hair colours, eye spacing and face width; person p shifts
/// them a little; image i moves the face and adds noise.
void draw_face(std::vector<unsigned char>& px, int side, int f, int p, int i, Rng& rng) {
  Rng fam(1000 + std::uint64_t(f));
  const float skin[3] = {fam.uniform(120, 250), fam.uniform(70, 200), fam.uniform(40, 170)};
  const float hair[3] = {fam.uniform(0, 120), fam.uniform(0, 90), fam.uniform(0, 60)};
  const float eye_gap = fam.uniform(0.12f, 0.24f) + 0.015f * float(p), width = fam.uniform(0.26f, 0.40f);
  const float cx = 0.5f + rng.uniform(-0.05f, 0.05f), cy = 0.55f + rng.uniform(-0.05f, 0.05f);
  const float bg = 60.0f + 40.0f * float((i + p) % 3);
  for (int y = 0; y < side; ++y)
    for (int x = 0; x < side; ++x) {
      const float u = (float(x) + 0.5f) / float(side), v = (float(y) + 0.5f) / float(side);
      const float dx = (u - cx) / width, dy = (v - cy) / 0.42f;
      float c[3] = {bg, bg, bg};
      if (dx * dx + dy * dy < 1) {
        const bool hair_zone = dy < -0.55f;
        const float ex = std::abs(std::abs(u - cx) - eye_gap), ey = v - (cy - 0.08f);
        const bool eye = ex * ex + ey * ey < 0.0016f;
        const bool mouth = std::abs(v - (cy + 0.2f)) < 0.02f && std::abs(u - cx) < 0.12f;
        for (int k = 0; k < 3; ++k) c[k] = eye ? 20.0f : mouth ? 150.0f : hair_zone ? hair[k] : skin[k];
      }
      for (int k = 0; k < 3; ++k)
        px[std::size_t((y * side + x) * 3 + k)] = (unsigned char)std::clamp(c[k] + rng.uniform(-12, 12), 0.0f, 255.0f);
    }
}

/// DIR/train/F00xx/MIDy/*.png and DIR/train_relationships.csv: 10 training and 4 held-out (F09xx)
/// families of 3 people with 3 images each; everyone in a family is related.
void write_demo_tree(const fs::path& dir, int side, std::uint64_t seed) {
  fs::remove_all(dir);
  fs::create_directories(dir / "train");
  std::ofstream rel(dir / "train_relationships.csv");
  rel << "p1,p2\n";
  Rng rng(seed);
  std::vector<unsigned char> px(std::size_t(side * side * 3));
  for (int f = 0; f < 14; ++f) {
    char fam[8];
    std::snprintf(fam, sizeof fam, f < 10 ? "F%04d" : "F09%02d", f < 10 ? f + 1 : f - 9);
    for (int p = 0; p < 3; ++p) {
      const fs::path person = dir / "train" / fam / ("MID" + std::to_string(p + 1));
      fs::create_directories(person);
      for (int i = 0; i < 3; ++i) {
        draw_face(px, side, f, p, i, rng);
        const std::string file = (person / ("P" + std::to_string(i) + ".png")).string();
        if (!stbi_write_png(file.c_str(), side, side, 3, px.data(), side * 3))
          throw FileError("'" + file + "': cannot write the demo image");
      }
      for (int q = p + 1; q < 3; ++q) rel << fam << "/MID" << p + 1 << "," << fam << "/MID" << q + 1 << "\n";
    }
  }
}

/// Embeds every distinct image of `pairs` once, then scores the pairs with the head alone.
template <class M>
std::vector<float> score(M& model, const std::vector<KinshipPair>& pairs, std::size_t size) {
  std::map<fs::path, std::size_t> row;
  for (const auto& p : pairs) row.emplace(p.a, 0), row.emplace(p.b, 0);
  constexpr std::size_t D = M::embedding_width, chunk = 16;
  std::vector<fs::path> files;
  for (auto& [f, r] : row) r = files.size(), files.push_back(f);
  std::vector<float> emb(files.size() * D);
  for (std::size_t s = 0; s < files.size(); s += chunk) {
    const std::size_t n = std::min(chunk, files.size() - s);
    Tensor x({n, size, size, 3});
    for (std::size_t i = 0; i < n; ++i) load_image_into(x.data() + i * size * size * 3, files[s + i], size, size);
    vggface_preprocess(x);
    const Tensor e = model.embed(x);
    std::copy(e.begin(), e.end(), emb.begin() + long(s * D));
  }
  Tensor ea({pairs.size(), D}), eb({pairs.size(), D});
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    std::copy_n(emb.begin() + long(row[pairs[i].a] * D), D, ea.data() + i * D);
    std::copy_n(emb.begin() + long(row[pairs[i].b] * D), D, eb.data() + i * D);
  }
  const Tensor p = model.predict_embeddings(ea, eb);
  return {p.begin(), p.end()};
}

template <std::size_t Size>
int run(const Options& o, const fs::path& dir) {
  const double t0 = now();
  const KinshipData all = load_kinship(dir / "train", dir / "train_relationships.csv");
  const KinshipSplit split = split_by_family(all, "F09");
  std::printf("data: %zu people, %zu relations (%zu rows skipped: person without images); "
              "training %zu people, held out (F09*) %zu people\n",
              all.people.size(), all.relations.size(), all.skipped_relations, split.train.people.size(),
              split.validation.people.size());

  auto model = std::make_unique<Model<Size>>(o.seed);
  std::printf("model: VGGFace at %zux%zux3, conv1_1..conv4_3 frozen; %zu parameters, %zu trainable, embedding %zu\n",
              Size, Size, Model<Size>::param_count,
              [&] {
                std::size_t n = 0;
                for (const auto& p : model->parameter_info()) n += p.trainable ? p.size : 0;
                return n;
              }(),
              Model<Size>::embedding_width);
  if (!o.weights.empty()) {
    const std::string ext = o.weights.extension().string();
    const ArrayFile f = ext == ".h5" || ext == ".hdf5" ? read_keras_h5(o.weights) : read_npz(o.weights);
    const std::size_t n = import_arrays(*model, f, vggface_weight_map(model->parameter_info()));
    std::printf("weights: %zu arrays from %s\n", n, o.weights.c_str());
  } else {
    std::printf("weights: none given, the encoder starts from random values\n");
  }

  KinshipPairs train(split.train, o.seed + 1);
  Adam adam;
  adam.learning_rate = o.weights.empty() ? 1e-4f : 1e-5f;
  double running = 0;
  for (std::size_t step = 1; step <= o.steps; ++step) {
    PairBatch b = load_pair_batch(train.next(o.batch), Size, Size);
    vggface_preprocess(b.a);
    vggface_preprocess(b.b);
    const float loss = model->train_step(b, BinaryCrossEntropy{}, adam);
    running = step == 1 ? loss : 0.9 * running + 0.1 * loss;
    if (step % std::max<std::size_t>(1, o.steps / 10) == 0 || step == o.steps)
      std::printf("step %zu/%zu: loss %.4f (smoothed %.4f), %.1f s\n", step, o.steps, double(loss), running, now() - t0);
  }

  const auto calib = KinshipPairs(split.validation, o.seed + 2).next(o.eval_pairs);
  const auto test = KinshipPairs(split.validation, o.seed + 3).next(o.eval_pairs);
  std::vector<float> calib_labels, test_labels;
  for (const auto& p : calib) calib_labels.push_back(p.label);
  for (const auto& p : test) test_labels.push_back(p.label);
  const auto calib_scores = score(*model, calib, Size), test_scores = score(*model, test, Size);
  const CalibratedThreshold cal = calibrate_threshold(calib_scores, calib_labels);
  const BinaryMetrics bm = binary_metrics(test_scores, test_labels, cal.threshold);
  std::printf("held-out families: %zu calibration and %zu test pairs; total %.1f s\n", calib.size(), test.size(),
              now() - t0);
  std::printf("test: roc_auc=%.4f accuracy=%.4f threshold=%.4f\n", roc_auc(test_scores, test_labels), bm.accuracy,
              double(cal.threshold));
  return 0;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    if (a == "--data") o.data = value();
    else if (a == "--weights") o.weights = value();
    else if (a == "--size") o.size = std::stoul(value());
    else if (a == "--steps") o.steps = std::stoul(value());
    else if (a == "--batch") o.batch = std::stoul(value());
    else if (a == "--pairs") o.eval_pairs = std::stoul(value());
    else if (a == "--seed") o.seed = std::stoull(value());
    else throw std::invalid_argument("unknown option '" + a + "' (see the comment at the top of examples/kinship.cpp)");
  }
  return o;
}
}  // namespace

int main(int argc, char** argv) try {
  Options o = parse(argc, argv);
  fs::path dir = o.data;
  if (dir.empty()) {
    dir = fs::temp_directory_path() / "siamese_kinship_demo";
    if (o.size == 0) o.size = 64;
    write_demo_tree(dir, int(o.size), o.seed);
    std::printf("no --data given: wrote a synthetic kinship tree to %s (14 families of 3 people, 3 images each; "
                "cartoon faces) and runs on it at %zux%zu\n",
                dir.c_str(), o.size, o.size);
    if (o.steps == 0) o.steps = 30;
    if (o.eval_pairs == 0) o.eval_pairs = 64;
  }
  if (o.size == 0) o.size = 224;
  if (o.steps == 0) o.steps = 200;
  if (o.eval_pairs == 0) o.eval_pairs = 200;
  if (o.size == 224) return run<224>(o, dir);
  if (o.size == 64) return run<64>(o, dir);
  throw std::invalid_argument("--size must be 224 (VGGFace's input) or 64 (the quick demo size)");
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
