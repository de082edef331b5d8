// Kinship verification: are the people in two face images related?
// Siamese<encoder with its early layers frozen, head> trained on related / unrelated pairs in the layout of Kaggle's
// "Recognizing Faces in the Wild":
//   DIR/train/<family>/<person>/*.jpg  and  DIR/train_relationships.csv (p1,p2 = F0002/MID1,F0002/MID3)
// Families whose id starts with F09 are held out: the decision threshold is calibrated on one draw of
// their pairs and applied to another, which gives the final "test:" line.
//
//   kinship --data DIR [--backbone vggface|resnet50] [--loss bce|triplet] [--weights FILE.npz|FILE.h5]
//           [--size 224|64] [--steps N] [--batch N] [--pairs N] [--mine-every N] [--mine-pool N] [--seed S]
//           [--no-augment]
//
// Training images are augmented (flips, shifts, brightness and contrast, random erasing; per step and sample, so
// runs repeat exactly) and decoded ahead of the training step on a prefetch thread; the step lines show how long
// training waited for data beside how long it computed.
//
// Backbones: vggface (default): VGGFace (VGG16), conv1_1..conv4_3 frozen, Head<SqDiff, DiffSq, Cosine>;
// resnet50: the VGGFace2 ResNet-50 of keras-vggface, stage 5 trainable, Head<SqDiff, DiffSq, Product>.
// Losses: bce (default): binary cross-entropy on pairs through the head; triplet: the triplet loss (cosine
// distance, margin 0.2) on triplets of images, anchor and positive from one family, the negative the nearest to the
// anchor among --mine-pool random images of other families (offline hard-negative mining, embeddings recomputed
// every --mine-every steps); pairs are then scored by the cosine similarity of their embeddings.
// Weights: scripts/convert_vggface.py turns keras-vggface's .h5 (VGG16 or --model resnet50) or a PyTorch model
// into .npz; a Keras .h5 also loads directly (the library reads HDF5 itself). Without --data the example
// writes a small synthetic tree (cartoon faces whose colours and proportions run in families) and
// runs the whole pipeline on it at 64x64 with random weights, to show it end to end in about a minute.
#include <siamese/siamese.hpp>

#include <siamese/io/hdf5.hpp>
#include <siamese/io/npz.hpp>
#include <siamese/model/zoo/vggface.hpp>

#include "common/kinship_run.hpp"

#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using namespace siamese;
namespace fs = std::filesystem;

using kinship::Options;

namespace kinship {
/// VGGFace with conv1_1..conv4_3 frozen and the seed's head.
struct VGGFaceBackbone {
  template <std::size_t Size>
  using encoder = VGGFaceEncoderFrozenAt<Size>;
  using head = Head<SqDiff, DiffSq, Cosine>;
  static constexpr const char* name = "VGGFace";
  static constexpr const char* frozen = "conv1_1..conv4_3 frozen";
  static void preprocess(Tensor& t) { vggface_preprocess(t); }
  template <class M>
  static std::size_t load(M& model, const fs::path& weights) {
    const std::string ext = weights.extension().string();
    const ArrayFile f = ext == ".h5" || ext == ".hdf5" ? read_keras_h5(weights) : read_npz(weights);
    return import_arrays(model, f, vggface_weight_map(model.parameter_info()));
  }
};
int run_vggface(const Options& o, const fs::path& dir) { return run_sized<VGGFaceBackbone>(o, dir); }
}  // namespace kinship

namespace {

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

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    if (a == "--data") o.data = value();
    else if (a == "--backbone") o.backbone = value();
    else if (a == "--loss") o.loss = value();
    else if (a == "--mine-every") o.mine_every = std::stoul(value());
    else if (a == "--mine-pool") o.mine_pool = std::stoul(value());
    else if (a == "--weights") o.weights = value();
    else if (a == "--size") o.size = std::stoul(value());
    else if (a == "--steps") o.steps = std::stoul(value());
    else if (a == "--batch") o.batch = std::stoul(value());
    else if (a == "--pairs") o.eval_pairs = std::stoul(value());
    else if (a == "--seed") o.seed = std::stoull(value());
    else if (a == "--no-augment") o.augment = false;
    else throw std::invalid_argument("unknown option '" + a + "' (see the comment at the top of examples/kinship.cpp)");
  }
  return o;
}
}  // namespace

int main(int argc, char** argv) try {
  Options o = parse(argc, argv);
  fs::path dir = o.data;
  if (dir.empty()) {
    // One tree per configuration: the example tests run the backbones and losses in parallel.
    dir = fs::temp_directory_path() / ("siamese_kinship_demo_" + o.backbone + "_" + o.loss);
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
  if (o.loss != "bce" && o.loss != "triplet") throw std::invalid_argument("--loss must be bce or triplet");
  if (o.backbone == "vggface") return kinship::run_vggface(o, dir);
  if (o.backbone == "resnet50") return kinship::run_resnet50(o, dir);
  throw std::invalid_argument("--backbone must be vggface or resnet50");
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
