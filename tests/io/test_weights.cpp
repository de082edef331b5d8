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
