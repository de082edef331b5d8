// Files claiming absurd sizes are refused before anything is allocated for them: each case runs in a child process
// whose address space is capped (RLIMIT_AS: what it has plus 256 MiB; not under AddressSanitizer, whose shadow
// memory needs terabytes of address space), must end with the loader's own error naming the problem, and fast.
#include <siamese/data/csv.hpp>
#include <siamese/data/idx.hpp>
#include <siamese/data/images.hpp>
#include <siamese/data/tokenizer.hpp>
#include <siamese/eval/index.hpp>
#include <siamese/io/file_format.hpp>

#include <doctest/doctest.h>

#include <zlib.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <istream>
#include <new>
#include <sstream>
#include <streambuf>
#include <string>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.hpp"

using namespace siamese;
using namespace hardening;

namespace {
#if defined(__SANITIZE_ADDRESS__)
constexpr bool capped = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool capped = false;
#else
constexpr bool capped = true;
#endif
#else
constexpr bool capped = true;
#endif

struct Outcome {
  char kind = '?';  // 'e': the library's error, 'r': returned, 'm': bad_alloc, 'x': another exception, '?': died
  std::string message;
  double seconds = 0;
};

// Runs f in a child with the address space capped at its current size plus `extra` bytes.
Outcome in_capped_child(const std::function<void()>& f, std::size_t extra = std::size_t{256} << 20) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    if (capped) {
      unsigned long pages = 0;
      if (std::FILE* s = std::fopen("/proc/self/statm", "r")) {
        if (std::fscanf(s, "%lu", &pages) != 1) pages = 0;
        std::fclose(s);
      }
      const rlim_t cap = rlim_t(pages) * rlim_t(::sysconf(_SC_PAGESIZE)) + extra;
      const rlimit r{cap, cap};
      if (pages == 0 || ::setrlimit(RLIMIT_AS, &r) != 0) ::_exit(90);
    }
    std::string out;
    try {
      f();
      out = "r";
    } catch (const std::bad_alloc&) {
      out = "m";
    } catch (const std::runtime_error& e) {
      out = std::string("e") + e.what();
    } catch (const std::invalid_argument& e) {
      out = std::string("e") + e.what();
    } catch (const std::exception& e) {
      out = std::string("x") + e.what();
    }
    if (::write(fds[1], out.data(), out.size()) != ssize_t(out.size())) ::_exit(91);
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string got;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) got.append(buf, std::size_t(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  Outcome o;
  o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!got.empty()) o.kind = got[0], o.message = got.substr(1);
  return o;
}

void refused(const std::function<void()>& f, const std::string& text) {
  const Outcome o = in_capped_child(f);
  INFO("outcome '", o.kind, "': ", o.message);
  CHECK(o.kind == 'e');
  CHECK(o.message.find(text) != std::string::npos);
  CHECK(o.seconds < 10.0);
}

std::string weight_file_with_tensor(std::uint32_t rank, const std::vector<std::uint64_t>& shape, std::uint64_t n) {
  std::string b = std::string("SIAMESEW", 8) + le<std::uint32_t>(1) + le<std::uint32_t>(7) + "weights" +
                  le<std::uint32_t>(0) + le<std::uint64_t>(1) + le<std::uint32_t>(1) + "t" + le(rank);
  for (auto d : shape) b += le(d);
  return with_crc(b + le(n) + std::string(64, '\0'));
}
}  // namespace

// Under AddressSanitizer the address space cannot be capped: reported as skipped, not passed.
TEST_CASE("the cap works: a child allocating 1 GiB gets bad_alloc" * doctest::skip(!capped)) {
  const Outcome o = in_capped_child([] {
    std::vector<char> big(std::size_t{1} << 30);
    big[12345] = 1;
  });
  CHECK(o.kind == 'm');
}

TEST_CASE("weight file: a tensor claiming 2^40 or 2^33 elements") {
  const auto huge = write("huge.bin", weight_file_with_tensor(2, {std::uint64_t{1} << 20, std::uint64_t{1} << 20},
                                                              std::uint64_t{1} << 40));
  refused([&] { read_weight_file(huge); }, "claims an absurd size");
  // Under the format's cap, but the file holds 64 bytes of values: refused as truncated, nothing allocated.
  const auto big = write("big.bin", weight_file_with_tensor(1, {std::uint64_t{1} << 33}, std::uint64_t{1} << 33));
  refused([&] { read_weight_file(big); }, "truncated file");
  const auto count = write("count.bin", with_crc(std::string("SIAMESEW", 8) + le<std::uint32_t>(1) +
                                                 le<std::uint32_t>(0) + le<std::uint32_t>(0) + le<std::uint64_t>(~0ull)));
  refused([&] { read_weight_file(count); }, "more than the file can hold");
  for (const auto& p : {huge, big, count}) std::filesystem::remove(p);
}

TEST_CASE("IDX: a billion images, and 2^31 bytes claimed by a 16-byte file, plain and gzip") {
  const auto billion = write("billion.idx3", be32(0x803) + be32(1000000000) + be32(28) + be32(28));
  refused([&] { load_idx_images(billion); }, "claims more than 2^31 elements");
  // 2739000 x 28 x 28 = 2147376000 bytes: under the format's cap; read in chunks, refused at the end of the data.
  const std::string header = be32(0x803) + be32(2739000) + be32(28) + be32(28);
  const auto claim = write("claim.idx3", header + "abc");
  refused([&] { load_idx_images(claim); }, "is truncated: expected 2147376000 bytes");
  const auto gz = temp("claim.idx3.gz");
  gzFile g = gzopen(gz.c_str(), "wb");
  gzwrite(g, header.data(), unsigned(header.size()));
  gzclose(g);
  refused([&] { load_idx_images(gz); }, "is truncated");
  const auto labels = write("claim.idx1", be32(0x801) + be32(0x7FFFFFFF) + "xyz");
  refused([&] { load_idx_labels(labels); }, "is truncated: expected 2147483647 bytes of labels");
  for (const auto& p : {billion, claim, gz, labels}) std::filesystem::remove(p);
}

TEST_CASE("embedding index: huge dimensions or counts") {
  const auto header = [](std::uint64_t n, std::uint64_t dim) {
    return std::string("SIAMIDX\0", 8) + le<std::uint32_t>(1) + le<std::uint32_t>(0) + le(n) + le(dim);
  };
  const auto wide = write("wide.idx", with_crc(header(1, std::uint64_t{1} << 39) + std::string(64, '\0')));
  refused([&] { EmbeddingIndex::load(wide); }, "is truncated");
  const auto many = write("many.idx", with_crc(header(std::uint64_t{1} << 40, 1)));
  refused([&] { EmbeddingIndex::load(many); }, "declares an absurd size");
  const auto overflow = write("overflow.idx", with_crc(header(~0ull, ~0ull)));
  refused([&] { EmbeddingIndex::load(overflow); }, "declares an absurd size");
  for (const auto& p : {wide, many, overflow}) std::filesystem::remove(p);
}

namespace {
// A stream of `n` bytes of 'a' followed by `tail`, generated as it is read: no memory of its own.
class Endless : public std::streambuf {
 public:
  Endless(std::size_t n, std::string tail) : left_(n), tail_(std::move(tail)), chunk_(1 << 16, 'a') {}

 protected:
  int_type underflow() override {
    if (left_ > 0) {
      const std::size_t k = std::min(left_, chunk_.size());
      left_ -= k;
      setg(chunk_.data(), chunk_.data(), chunk_.data() + k);
    } else if (!tail_done_) {
      tail_done_ = true;
      setg(tail_.data(), tail_.data(), tail_.data() + tail_.size());
      if (tail_.empty()) return traits_type::eof();
    } else {
      return traits_type::eof();
    }
    return traits_type::to_int_type(*gptr());
  }

 private:
  std::size_t left_;
  std::string tail_;
  std::string chunk_;
  bool tail_done_ = false;
};
}  // namespace

TEST_CASE("CSV: a 1 GiB line without a line break takes bounded memory") {
  refused(
      [] {
        Endless src(std::size_t{1} << 30, "");
        std::istream in(&src);
        CsvReader r(in, "endless.csv");
        std::vector<std::string> row;
        while (r.read_row(row)) {
        }
      },
      "endless.csv:1: record longer than 67108864 bytes");
  // Lenient: the long record is skipped (to its line break) and counted; reading goes on after it.
  const Outcome o = in_capped_child([] {
    Endless src(std::size_t{200} << 20, "\n1,2\n");
    std::istream in(&src);
    CsvOptions opt;
    opt.lenient = true;
    CsvReader r(in, "long.csv", opt);
    std::vector<std::string> row;
    if (!r.read_row(row) || row != std::vector<std::string>{"1", "2"} || r.skipped() != 1 || r.line() != 2)
      throw std::runtime_error("wrong lenient outcome");
    throw std::runtime_error("ok");
  });
  CHECK(o.message == "ok");
  // A quoted field and a record of many empty fields count too.
  CsvOptions small;
  small.max_record_bytes = 1000;
  std::istringstream quoted("\"" + std::string(2000, 'q') + "\"\n"), commas(std::string(2000, ',') + "\n");
  std::vector<std::string> row;
  CsvReader rq(quoted, "q.csv", small), rc(commas, "c.csv", small);
  CHECK_THROWS_WITH_AS(rq.read_row(row), doctest::Contains("record longer than 1000 bytes"), CsvError);
  CHECK_THROWS_WITH_AS(rc.read_row(row), doctest::Contains("record longer than 1000 bytes"), CsvError);
}

TEST_CASE("tokenizer: a vocabulary claiming 10^19 - 1 words, and counts beyond 64 bits") {
  const std::string head = "siamese-tokenizer 1\nnum_words=0\nlower=1\nchar_level=0\nsplit=\\x20\nfilters=\n"
                           "has_oov_token=0\noov_token=\ndocument_count=1\n";
  refused(
      [&] {
        std::istringstream in(head + "words=9999999999999999999\n1 1 a\n");
        Tokenizer::load(in, "huge.tok");
      },
      "line 12: unexpected end of file");
  refused(
      [&] {
        std::istringstream in(head + "words=99999999999999999999\n");
        Tokenizer::load(in, "wide.tok");
      },
      "invalid word count");
}

TEST_CASE("images: PNG and JPEG headers claiming 12000 x 12000 and 60000 x 60000 pixels in a small file") {
  // Refused after the header, before the 432 MB (10.8 GB) of RGB are allocated. libpng checks the IHDR's CRC.
  const auto chunk = [](const std::string& type, const std::string& body) {
    const std::string tb = type + body;
    const auto crc = static_cast<std::uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(tb.data()), uInt(tb.size())));
    return be32(std::uint32_t(body.size())) + tb + be32(crc);
  };
  std::string png = std::string("\x89PNG\r\n\x1a\n", 8) +
                    chunk("IHDR", be32(12000) + be32(12000) + std::string("\x08\x02\x00\x00\x00", 5)) +
                    chunk("IDAT", std::string("\x78\x9c\x63\x60\x00\x00\x00\x02\x00\x01", 10)) + chunk("IEND", "");
  const auto p = write("huge.png", png);
  refused([&] { read_image(p); }, "the image claims 12000 x 12000 pixels");
  // SOI, SOF0 of 60000 x 60000 (libjpeg's own limit is 65500), SOS, EOI: the header is complete at SOS.
  const std::string jpeg = std::string("\xFF\xD8\xFF\xC0\x00\x11\x08\xEA\x60\xEA\x60\x03", 12) +
                           std::string("\x01\x11\x00\x02\x11\x00\x03\x11\x00", 9) +
                           std::string("\xFF\xDA\x00\x0C\x03\x01\x00\x02\x11\x03\x11\x00\x3F\x00", 14) +
                           std::string("\xFF\xD9", 2);
  const auto j = write("huge.jpg", jpeg);
  refused([&] { read_image(j); }, "the image claims 60000 x 60000 pixels");
  std::filesystem::remove(p);
  std::filesystem::remove(j);
}
