#include <siamese/data/idx.hpp>

#include <doctest/doctest.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <unistd.h>

namespace fs = std::filesystem;
using siamese::DataError;

namespace {

// A fresh directory per test case, removed afterwards.
struct TempDir {
  fs::path path;
  TempDir() {
    static int counter = 0;
    path = fs::temp_directory_path() /
           ("siamese_test_idx_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::vector<unsigned char> idx_bytes(std::uint32_t magic, const std::vector<std::uint32_t>& dims,
                                     const std::vector<std::uint8_t>& payload) {
  std::vector<unsigned char> out;
  auto put = [&](std::uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<unsigned char>(v >> s));
  };
  put(magic);
  for (auto d : dims) put(d);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

void write_file(const fs::path& p, const std::vector<unsigned char>& bytes, bool gz) {
  if (gz) {
    gzFile f = gzopen(p.c_str(), "wb");
    REQUIRE(f != nullptr);
    if (!bytes.empty()) REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) > 0);
    REQUIRE(gzclose(f) == Z_OK);
  } else {
    std::ofstream f(p, std::ios::binary);
    f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    REQUIRE(f.good());
  }
}

std::vector<std::uint8_t> random_bytes(std::size_t n, unsigned seed, int modulo = 256) {
  std::mt19937 rng(seed);
  std::vector<std::uint8_t> v(n);
  for (auto& b : v) b = static_cast<std::uint8_t>(rng() % static_cast<unsigned>(modulo));
  return v;
}

std::string message_of(auto&& f) {
  try {
    f();
  } catch (const DataError& e) {
    return e.what();
  }
  FAIL("expected a siamese::DataError");
  return {};
}

}  // namespace

TEST_CASE("IDX images and labels round-trip, gzipped and plain") {
  TempDir dir;
  const std::uint32_t n = 5, rows = 3, cols = 4;
  const auto px = random_bytes(n * rows * cols, 1);
  const auto lb = random_bytes(n, 2, 10);
  for (bool gz : {true, false}) {
    CAPTURE(gz);
    const fs::path ip = dir.path / (gz ? "img.gz" : "img"), lp = dir.path / (gz ? "lab.gz" : "lab");
    write_file(ip, idx_bytes(0x803, {n, rows, cols}, px), gz);
    write_file(lp, idx_bytes(0x801, {n}, lb), gz);
    const auto set = siamese::load_idx_images(ip);
    CHECK(set.count == n);
    CHECK(set.rows == rows);
    CHECK(set.cols == cols);
    REQUIRE(set.pixels.size() == px.size());
    for (std::size_t i = 0; i < px.size(); ++i) CHECK(set.pixels[i] == doctest::Approx(px[i] / 255.0));
    CHECK(*std::max_element(set.pixels.begin(), set.pixels.end()) <= 1.0f);
    CHECK(set.labels.empty());
    CHECK(siamese::load_idx_labels(lp) == lb);
  }
}

TEST_CASE("load_mnist finds gzipped, plain and dotted file names") {
  const std::uint32_t n = 4, rows = 2, cols = 2;
  const auto px = random_bytes(n * rows * cols, 3);
  const auto lb = random_bytes(n, 4, 10);
  struct Naming {
    const char *images, *labels;
    bool gz;
  };
  for (const Naming& nm : {Naming{"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", true},
                           Naming{"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", false},
                           Naming{"t10k-images.idx3-ubyte", "t10k-labels.idx1-ubyte", false}}) {
    CAPTURE(nm.images);
    TempDir dir;
    write_file(dir.path / nm.images, idx_bytes(0x803, {n, rows, cols}, px), nm.gz);
    write_file(dir.path / nm.labels, idx_bytes(0x801, {n}, lb), nm.gz);
    for (const char* split : {"t10k", "test"}) {
      const auto set = siamese::load_mnist(dir.path, split);
      CHECK(set.count == n);
      CHECK(set.labels == lb);
      CHECK(set.pixels[5] == doctest::Approx(px[5] / 255.0));
    }
  }
  TempDir dir;
  CHECK_THROWS_AS(siamese::load_mnist(dir.path, "validation"), std::invalid_argument);
}

TEST_CASE("IDX errors name the file and the problem") {
  TempDir dir;
  SUBCASE("missing file") {
    const auto msg = message_of([&] { siamese::load_mnist(dir.path, "train"); });
    CHECK(msg.find("train-images-idx3-ubyte.gz") != std::string::npos);
    CHECK(msg.find("does not exist") != std::string::npos);
  }
  SUBCASE("wrong magic number") {
    const auto p = dir.path / "labels-as-images.gz";
    write_file(p, idx_bytes(0x801, {3}, {1, 2, 3}), true);
    const auto msg = message_of([&] { siamese::load_idx_images(p); });
    CHECK(msg.find("labels-as-images.gz") != std::string::npos);
    CHECK(msg.find("magic number 0x00000801") != std::string::npos);
    CHECK(msg.find("expected 0x00000803") != std::string::npos);
  }
  SUBCASE("truncated payload, plain and gzipped") {
    for (bool gz : {false, true}) {
      const auto p = dir.path / (gz ? "short.gz" : "short");
      auto px = random_bytes(3 * 4 * 4 - 10, 5);
      write_file(p, idx_bytes(0x803, {3, 4, 4}, px), gz);
      const auto msg = message_of([&] { siamese::load_idx_images(p); });
      CHECK(msg.find(p.filename().string()) != std::string::npos);
      CHECK(msg.find("truncated") != std::string::npos);
      CHECK(msg.find("expected 48 bytes") != std::string::npos);
      CHECK(msg.find("read 38") != std::string::npos);
    }
  }
  SUBCASE("a file of no images or no labels is an error, not an empty set") {
    const auto images = dir.path / "none-images", labels = dir.path / "none-labels";
    write_file(images, idx_bytes(0x803, {0, 28, 28}, {}), false);
    write_file(labels, idx_bytes(0x801, {0}, {}), true);
    CHECK(message_of([&] { siamese::load_idx_images(images); }) ==
          "siamese: IDX file '" + images.string() + "' holds no images (its header says 0)");
    CHECK(message_of([&] { siamese::load_idx_labels(labels); }) ==
          "siamese: IDX file '" + labels.string() + "' holds no labels (its header says 0)");
  }
  SUBCASE("truncated header") {
    const auto p = dir.path / "header";
    write_file(p, {0, 0, 8, 3, 0, 0}, false);
    const auto msg = message_of([&] { siamese::load_idx_images(p); });
    CHECK(msg.find("expected 4 bytes of header") != std::string::npos);
    CHECK(msg.find("read 2") != std::string::npos);
  }
  SUBCASE("gzip stream cut in the middle") {
    const auto full = dir.path / "full.gz", cut = dir.path / "cut.gz";
    write_file(full, idx_bytes(0x803, {50, 10, 10}, random_bytes(5000, 6)), true);
    std::ifstream in(full, std::ios::binary);
    std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), {});
    bytes.resize(bytes.size() / 2);
    write_file(cut, bytes, false);
    const auto msg = message_of([&] { siamese::load_idx_images(cut); });
    CHECK(msg.find("cut.gz") != std::string::npos);
  }
  SUBCASE("absurd sizes are refused before allocating") {
    const auto p = dir.path / "huge";
    write_file(p, idx_bytes(0x803, {4000000000u, 60000, 60000}, {}), false);
    const auto msg = message_of([&] { siamese::load_idx_images(p); });
    CHECK(msg.find("2^31") != std::string::npos);
    CHECK(msg.find("huge") != std::string::npos);
  }
  SUBCASE("trailing data") {
    const auto p = dir.path / "long";
    write_file(p, idx_bytes(0x801, {3}, {1, 2, 3, 4}), false);
    const auto msg = message_of([&] { siamese::load_idx_labels(p); });
    CHECK(msg.find("trailing") != std::string::npos);
  }
  SUBCASE("image and label counts disagree") {
    write_file(dir.path / "train-images-idx3-ubyte.gz", idx_bytes(0x803, {3, 2, 2}, random_bytes(12, 7)), true);
    write_file(dir.path / "train-labels-idx1-ubyte.gz", idx_bytes(0x801, {4}, {1, 2, 3, 4}), true);
    const auto msg = message_of([&] { siamese::load_mnist(dir.path, "train"); });
    CHECK(msg.find("3 images") != std::string::npos);
    CHECK(msg.find("4 labels") != std::string::npos);
    CHECK(msg.find("train-labels-idx1-ubyte.gz") != std::string::npos);
  }
}

TEST_CASE("train_validation_split partitions the set reproducibly") {
  siamese::ImageSet set;
  set.count = 101;
  set.rows = 1;
  set.cols = 2;
  for (std::size_t i = 0; i < set.count; ++i) {
    set.pixels.push_back(static_cast<float>(i));  // pixel 0 identifies the image
    set.pixels.push_back(static_cast<float>(i) + 0.5f);
    set.labels.push_back(static_cast<std::uint8_t>(i % 7));
  }
  const auto a = siamese::train_validation_split(set, 0.2, 42);
  CHECK(a.validation.count == 20);  // round(20.2)
  CHECK(a.train.count == 81);
  std::set<std::size_t> seen;
  for (const auto* part : {&a.train, &a.validation}) {
    REQUIRE(part->pixels.size() == part->count * 2);
    REQUIRE(part->labels.size() == part->count);
    for (std::size_t k = 0; k < part->count; ++k) {
      const auto id = static_cast<std::size_t>(part->pixels[2 * k]);
      CHECK(part->pixels[2 * k + 1] == static_cast<float>(id) + 0.5f);
      CHECK(part->labels[k] == id % 7);
      if (k > 0) CHECK(part->pixels[2 * k] > part->pixels[2 * k - 2]);  // original order kept
      seen.insert(id);
    }
  }
  CHECK(seen.size() == 101);
  const auto b = siamese::train_validation_split(set, 0.2, 42);
  CHECK(b.validation.pixels == a.validation.pixels);
  const auto c = siamese::train_validation_split(set, 0.2, 43);
  CHECK(c.validation.pixels != a.validation.pixels);
  CHECK(siamese::train_validation_split(set, 0.0, 1).validation.count == 0);
  CHECK(siamese::train_validation_split(set, 1.0, 1).train.count == 0);
  CHECK_THROWS_AS(siamese::train_validation_split(set, 1.5, 1), std::invalid_argument);
}

// scripts/setup installs the dataset; without it the case is reported as skipped.
TEST_CASE("Fashion-MNIST from the system dataset, when installed" *
          doctest::skip(!fs::exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"))) {
  const fs::path dir = "/usr/share/datasets/fashion-mnist";
  const auto test = siamese::load_mnist(dir, "t10k");
  CHECK(test.count == 10000);
  CHECK(test.rows == 28);
  CHECK(test.cols == 28);
  std::array<int, 10> per_class{};
  for (auto l : test.labels) {
    REQUIRE(l < 10);
    ++per_class[l];
  }
  for (int c : per_class) CHECK(c == 1000);
  const auto [lo, hi] = std::minmax_element(test.pixels.begin(), test.pixels.end());
  CHECK(*lo == 0.0f);
  CHECK(*hi == 1.0f);
}
