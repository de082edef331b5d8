// Saving and loading weights: round trip, another model's file, truncated and corrupted files.
#include <siamese/siamese.hpp>

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

using namespace siamese;
namespace fs = std::filesystem;

using Encoder = Sequential<Input<6, 6, 1>, Conv2D<2, 3>, BatchNorm, ReLU, Flatten, Dense<4>>;
using Model = Siamese<Encoder, Head<SqDiff, DiffSq, Cosine>>;

namespace {
fs::path temp(const char* name) { return fs::temp_directory_path() / (std::string("siamese_io_") + name); }
std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}
void spit(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }
}  // namespace

TEST_CASE("save then load restores parameters and states exactly") {
  Model a(1), b(2);
  a.states()[1] = 0.25f;  // a BatchNorm moving mean
  REQUIRE(a.parameters()[0] != b.parameters()[0]);
  const auto path = temp("roundtrip.bin");
  save_weights(a, path);
  load_weights(b, path);
  for (std::size_t i = 0; i < Model::param_count; ++i) REQUIRE(a.parameters()[i] == b.parameters()[i]);
  CHECK(b.states()[1] == 0.25f);
  CHECK_FALSE(fs::exists(path.string() + ".tmp"));
}

TEST_CASE("the same seed gives the same model, another seed another") {
  Model a(7), b(7), c(8);
  CHECK(std::equal(a.parameters().data(), a.parameters().data() + Model::param_count, b.parameters().data()));
  CHECK(a.parameters()[0] != c.parameters()[0]);
}

TEST_CASE("a file of another model is refused, naming both architectures") {
  using Other = Siamese<Sequential<Input<6, 6, 1>, Flatten, Dense<4>>, Head<SqDiff>>;
  Other o;
  const auto path = temp("other.bin");
  save_weights(o, path);
  Model m;
  const float w0 = m.parameters()[0];
  const std::string both = "the file is for another model.\n  file:  " + Other::signature() + "\n  model: " +
                           Model::signature();
  CHECK(Other::signature() != Model::signature());
  CHECK_THROWS_WITH_AS(load_weights(m, path), doctest::Contains(both.c_str()), FileError);
  CHECK(m.parameters()[0] == w0);
}

TEST_CASE("truncated, corrupted and foreign files are refused with the file and the problem named") {
  Model m;
  const auto path = temp("damaged.bin");
  save_weights(m, path);
  const std::string good = slurp(path);

  spit(path, good.substr(0, good.size() / 2));
  CHECK_THROWS_WITH_AS(load_weights(m, path), doctest::Contains("truncated file"), FileError);

  std::string bad = good;
  bad[bad.size() / 2] ^= 0x40;
  spit(path, bad);
  CHECK_THROWS_WITH_AS(load_weights(m, path), doctest::Contains("checksum mismatch"), FileError);

  spit(path, "P6\n3 3\n255\n");
  CHECK_THROWS_WITH_AS(load_weights(m, path), doctest::Contains("wrong magic number"), FileError);
  CHECK_THROWS_WITH_AS(load_weights(m, temp("missing.bin")), doctest::Contains("cannot open"), FileError);
  CHECK_THROWS_WITH_AS(load_weights(m, path), doctest::Contains(("'" + path.string() + "'").c_str()), FileError);
}

TEST_CASE("freezing renames nothing: files move between a network and its partly frozen forms") {
  using Full = Siamese<Encoder, Head<SqDiff, DiffSq, Cosine>>;  // Encoder: Input, Conv2D, BatchNorm, ReLU, ...
  using Group = Siamese<Sequential<Input<6, 6, 1>, Frozen<Conv2D<2, 3>, BatchNorm>, ReLU, Flatten, Dense<4>>,
                        Head<SqDiff, DiffSq, Cosine>>;
  using Nested = Siamese<Sequential<Input<6, 6, 1>, Frozen<Conv2D<2, 3>, Frozen<BatchNorm, ReLU>>, Flatten, Dense<4>>,
                         Head<SqDiff, DiffSq, Cosine>>;
  using Last = Siamese<TrainLast<2, Encoder>, Head<SqDiff, DiffSq, Cosine>>;
  CHECK(Group::signature() == Full::signature());
  CHECK(Nested::signature() == Full::signature());
  CHECK(Last::signature() == Full::signature());
  Full full(3);
  Group group(4);
  Nested nested(5);
  Last last(6);
  REQUIRE(full.parameter_info().size() == group.parameter_info().size());
  for (std::size_t i = 0; i < full.parameter_info().size(); ++i) {
    CHECK(group.parameter_info()[i].name == full.parameter_info()[i].name);
    CHECK(nested.parameter_info()[i].name == full.parameter_info()[i].name);
    CHECK(last.parameter_info()[i].name == full.parameter_info()[i].name);
  }
  CHECK(group.parameter_info()[0].name == "encoder/1_conv2d/kernel");
  CHECK_FALSE(group.parameter_info()[0].trainable);
  CHECK(full.parameter_info()[0].trainable);
  for (std::size_t i = 0; i < full.state_info().size(); ++i)
    CHECK(group.state_info()[i].name == full.state_info()[i].name);

  // A checkpoint of the partly frozen network, trained a step, loads into the unfrozen one, and back.
  const auto path = temp("frozen.ckpt");
  Adam adam;
  PairBatch b{Tensor({2, 6, 6, 1}), Tensor({2, 6, 6, 1}), {1, 0}};
  for (std::size_t i = 0; i < b.a.size(); ++i) b.a[i] = float(i % 7) / 7, b.b[i] = float(i % 5) / 5;
  group.train_step(b, BinaryCrossEntropy{}, adam);
  TrainingState s;
  s.epochs_done = 1;
  save_checkpoint(group, s, path);
  CHECK(load_checkpoint(full, path).epochs_done == 1);
  for (std::size_t i = 0; i < Full::param_count; ++i) REQUIRE(full.parameters()[i] == group.parameters()[i]);
  for (std::size_t i = 0; i < full.states().size(); ++i) REQUIRE(full.states()[i] == group.states()[i]);
  CHECK(full.step() == 1);
  save_weights(full, path);
  load_weights(last, path);
  for (std::size_t i = 0; i < Full::param_count; ++i) REQUIRE(last.parameters()[i] == full.parameters()[i]);
  fs::remove(path);
}

TEST_CASE("a checkpoint that names its optimizer slots 'optimizer:slot_kind' (the entry's earlier name) loads") {
  Model m(1), back(2);
  Adam adam;
  PairBatch b{Tensor({2, 6, 6, 1}), Tensor({2, 6, 6, 1}), {1, 0}};
  for (std::size_t i = 0; i < b.a.size(); ++i) b.a[i] = float(i % 3), b.b[i] = float(i % 4);
  m.train_step(b, BinaryCrossEntropy{}, adam);
  REQUIRE(m.optimizer_slots_per_parameter() == 2);
  const auto path = temp("old_names.ckpt");
  save_checkpoint(m, TrainingState{}, path);
  WeightFile f = read_weight_file(path);
  REQUIRE(f.find("optimizer:slots_per_param"));
  for (auto& t : f.tensors)
    if (t.name == "optimizer:slots_per_param") t.name = "optimizer:slot_kind";
  write_weight_file(path, f);
  load_checkpoint(back, path);
  CHECK(back.optimizer_slots_per_parameter() == 2);
  CHECK(back.optimizer_slots().size() == 2 * Model::param_count);
  // With neither name the checkpoint is refused, naming the entry it lacks.
  std::erase_if(f.tensors, [](const NamedTensor& t) { return t.name == "optimizer:slot_kind"; });
  write_weight_file(path, f);
  CHECK_THROWS_WITH_AS(load_checkpoint(back, path), doctest::Contains("lacks 'optimizer:slots_per_param'"), FileError);
  fs::remove(path);
}
