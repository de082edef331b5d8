// The library's one way to write a file (atomically), its one CRC32 and its one byte order, and every writer of
// the library going through them: a failed write leaves the old file intact and no temporary behind.
#include <siamese/siamese.hpp>

#include <doctest/doctest.h>
#include <zlib.h>

#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

using namespace siamese;
namespace fs = std::filesystem;

namespace {
fs::path fresh_dir(const char* name) {
  const fs::path d = fs::temp_directory_path() / (std::string("siamese_binary_io_") + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}
std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}
void spit(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }
std::size_t files_in(const fs::path& d) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(d)) ++n;
  return n;
}

// Runs f with the largest file this process may write lowered to `limit` bytes: a write beyond it fails with
// EFBIG (SIGXFSZ ignored), as a full disk would fail it.
void with_file_size_limit(rlim_t limit, const std::function<void()>& f) {
  rlimit old{};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &old) == 0);
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit low = old;
  low.rlim_cur = limit;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &low) == 0);
  try {
    f();
  } catch (...) {
    ::setrlimit(RLIMIT_FSIZE, &old);
    std::signal(SIGXFSZ, old_handler);
    throw;
  }
  ::setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, old_handler);
}

using Encoder = Sequential<Input<6>, Dense<8>, ReLU, Dense<4>>;
using Model = Siamese<Encoder, Head<SqDiff>>;
}  // namespace

TEST_CASE("crc32_of: the standard check value, and the same CRC whatever the piece size") {
  const std::string check = "123456789";
  CHECK(crc32_of(check.data(), check.size()) == 0xCBF43926u);
  CHECK(crc32_of(nullptr, 0) == 0u);

  std::vector<unsigned char> buf(100'003);
  std::mt19937 rng(7);
  for (auto& b : buf) b = static_cast<unsigned char>(rng());
  const auto whole = static_cast<std::uint32_t>(crc32_z(0, buf.data(), buf.size()));
  for (std::size_t piece : {std::size_t{1}, std::size_t{7}, std::size_t{4096}, std::size_t{65536}, buf.size(),
                            crc32_max_piece})
    CHECK_MESSAGE(crc32_of(buf.data(), buf.size(), 0, piece) == whole, "piece ", piece);
  // Continuing from a CRC is the same as one pass.
  CHECK(crc32_of(buf.data() + 1000, buf.size() - 1000, crc32_of(buf.data(), 1000)) == whole);
}

TEST_CASE("le: numbers are stored least significant byte first, whatever the host") {
  unsigned char b[8];
  detail::le::store<std::uint32_t>(b, 0x01020304u);
  CHECK(std::vector<int>(b, b + 4) == std::vector<int>{4, 3, 2, 1});
  CHECK(detail::le::load<std::uint32_t>(b) == 0x01020304u);
  detail::le::store<std::uint16_t>(b, 0xBEEF);
  CHECK(std::vector<int>(b, b + 2) == std::vector<int>{0xEF, 0xBE});
  detail::le::store<float>(b, 1.0f);  // IEEE 754 0x3F800000
  CHECK(std::vector<int>(b, b + 4) == std::vector<int>{0, 0, 0x80, 0x3F});
  detail::le::store<double>(b, -2.0);  // 0xC000000000000000
  CHECK(std::vector<int>(b, b + 8) == std::vector<int>{0, 0, 0, 0, 0, 0, 0, 0xC0});
  CHECK(detail::le::load<double>(b) == -2.0);
  detail::le::store<std::int32_t>(b, -2);
  CHECK(std::vector<int>(b, b + 4) == std::vector<int>{0xFE, 0xFF, 0xFF, 0xFF});
  CHECK(detail::le::load<std::int32_t>(b) == -2);
  detail::le::store<std::uint64_t>(b, 0x0102030405060708ull);
  CHECK(std::vector<int>(b, b + 8) == std::vector<int>{8, 7, 6, 5, 4, 3, 2, 1});
  CHECK(detail::le::load<std::uint64_t>(b) == 0x0102030405060708ull);

  std::string s;
  const std::vector<float> v{1.0f, -0.5f, 3.25f};
  detail::le::append_floats(s, v.data(), v.size());
  detail::le::append<std::uint16_t>(s, 7);
  REQUIRE(s.size() == 14);
  for (std::size_t i = 0; i < v.size(); ++i) CHECK(detail::le::load<float>(s.data() + 4 * i) == v[i]);
  std::vector<float> back(3);
  detail::le::load_floats(s.data(), 3, back.data());
  CHECK(back == v);
  CHECK(detail::le::load<std::uint16_t>(s.data() + 12) == 7);
}

TEST_CASE("a weight file is little-endian: its version and values read back byte by byte") {
  const auto dir = fresh_dir("le_weights");
  WeightFile f{"weights", "sig", {{"t", {2}, {1.0f, -2.0f}}}};
  write_weight_file(dir / "w.bin", f);
  const std::string b = slurp(dir / "w.bin");
  CHECK(b.compare(0, 8, "SIAMESEW") == 0);
  CHECK(detail::le::load<std::uint32_t>(b.data() + 8) == 1u);
  // magic, version, kind, signature, count, name, rank, extent, size: then the values
  const std::size_t values = 8 + 4 + (4 + 7) + (4 + 3) + 8 + (4 + 1) + 4 + 8 + 8;
  CHECK(detail::le::load<float>(b.data() + values) == 1.0f);
  CHECK(detail::le::load<float>(b.data() + values + 4) == -2.0f);
  CHECK(detail::le::load<std::uint32_t>(b.data() + b.size() - 4) == crc32_of(b.data(), b.size() - 4));
  fs::remove_all(dir);
}

TEST_CASE("write_file_atomically: writes, replaces, and leaves nothing behind") {
  const auto dir = fresh_dir("atomic");
  const auto path = dir / "f.bin";
  write_file_atomically(path, "first");
  CHECK(slurp(path) == "first");
  write_file_atomically(path, "second, longer");
  CHECK(slurp(path) == "second, longer");
  write_file_atomically(path, "");
  CHECK(fs::file_size(path) == 0);
  CHECK(files_in(dir) == 1);
  // A stale temporary of a killed write is replaced by the next one.
  spit(atomic_temporary(path), "stale");
  write_file_atomically(path, "third");
  CHECK(slurp(path) == "third");
  CHECK(files_in(dir) == 1);
  fs::remove_all(dir);
}

TEST_CASE("write_file_atomically: a failed write names the file, keeps the old one, leaves no temporary") {
  const auto dir = fresh_dir("atomic_fail");
  SUBCASE("the folder is missing") {
    const auto path = dir / "missing" / "f.bin";
    CHECK_THROWS_WITH_AS(write_file_atomically(path, "x"), doctest::Contains("missing/f.bin': cannot create"),
                         FileError);
    CHECK_FALSE(fs::exists(dir / "missing"));
  }
  SUBCASE("the target is a folder: the rename fails") {
    fs::create_directories(dir / "d" / "inside");
    CHECK_THROWS_WITH_AS(write_file_atomically(dir / "d", "x"), doctest::Contains("renaming"), FileError);
    CHECK(fs::is_directory(dir / "d" / "inside"));
    CHECK(files_in(dir) == 1);
  }
  SUBCASE("the disk fills up mid-write") {
    const auto path = dir / "f.bin";
    spit(path, "old contents");
    with_file_size_limit(1000, [&] {
      CHECK_THROWS_WITH_AS(write_file_atomically<IndexFileError>(path, std::string(5000, 'n')),
                           doctest::Contains("f.bin': writing failed after 1000 of 5000 bytes"), IndexFileError);
    });
    CHECK(slurp(path) == "old contents");
    CHECK(files_in(dir) == 1);
  }
  SUBCASE("the folder is not writable") {
    if (::geteuid() == 0) {
      MESSAGE("running as root, who may write anywhere: the unwritable folder is not tested");
    } else {
      const auto path = dir / "f.bin";
      spit(path, "old contents");
      fs::permissions(dir, fs::perms::owner_read | fs::perms::owner_exec);
      CHECK_THROWS_AS(write_file_atomically(path, "new"), FileError);
      fs::permissions(dir, fs::perms::owner_all);
      CHECK(slurp(path) == "old contents");
      CHECK(files_in(dir) == 1);
    }
  }
  fs::remove_all(dir);
}

TEST_CASE("every writer of the library goes through the atomic write: a failed one keeps the old file") {
  const auto dir = fresh_dir("writers");
  Model m(1);
  EmbeddingIndex idx(2);
  idx.add(std::vector<float>(2000, 0.5f));
  Tokenizer tok;
  std::vector<std::string> texts;
  for (int i = 0; i < 300; ++i) texts.push_back("word" + std::to_string(i) + " another" + std::to_string(i));
  tok.fit_on_texts(texts);
  std::vector<double> xs(300), ys(300);
  for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = double(i), ys[i] = std::sin(double(i));
  const std::vector<PlotSeries> series{{"s", xs, ys}};

  const std::vector<std::pair<const char*, std::function<void(const fs::path&)>>> writers{
      {"save_weights", [&](const fs::path& p) { save_weights(m, p); }},
      {"save_checkpoint", [&](const fs::path& p) { save_checkpoint(m, TrainingState{}, p); }},
      {"EmbeddingIndex::save", [&](const fs::path& p) { idx.save(p); }},
      {"Tokenizer::save", [&](const fs::path& p) { tok.save(p.string()); }},
      {"write_line_plot", [&](const fs::path& p) { write_line_plot(p, "t", "x", "y", series); }},
  };
  for (const auto& [who, write] : writers) {
    INFO(who);
    const auto path = dir / "out";
    spit(path, "old contents");
    with_file_size_limit(512, [&] { CHECK_THROWS_WITH_AS(write(path), doctest::Contains("out'"), FileError); });
    CHECK(slurp(path) == "old contents");
    CHECK(files_in(dir) == 1);
    write(path);  // and without the limit it succeeds
    CHECK(slurp(path).size() > 512);
    CHECK(files_in(dir) == 1);
    fs::remove(path);
  }
  fs::remove_all(dir);
}
