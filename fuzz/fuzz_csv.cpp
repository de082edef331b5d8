// CsvReader over a stream. The first input byte chooses the options; the same text is read with a 4-byte buffer
// and with the default one, which must agree record for record (buffer boundaries must not matter).
#include <siamese/data/csv.hpp>

#include <sstream>
#include <string>
#include <vector>

#include "common.hpp"

namespace {
struct Outcome {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::size_t> lines;
  std::string error;
  std::size_t skipped = 0;
};

Outcome read_all(const std::string& text, siamese::CsvOptions opt) {
  std::istringstream in(text);
  siamese::CsvReader reader(in, "fuzz.csv", opt);
  Outcome out;
  std::vector<std::string> row;
  try {
    while (reader.read_row(row)) {
      fuzz::require(opt.fields == 0 || row.size() == opt.fields, "a returned record has the required fields");
      fuzz::require(out.lines.empty() || reader.line() > out.lines.back(), "records start on increasing lines");
      out.rows.push_back(row);
      out.lines.push_back(reader.line());
    }
    fuzz::require(reader.rows() == out.rows.size(), "rows() counts the records returned");
  } catch (const siamese::CsvError& e) {
    fuzz::require(!opt.lenient, "lenient mode does not throw");
    out.error = e.what();
  }
  out.skipped = reader.skipped();
  return out;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const unsigned sel = data[0];
  siamese::CsvOptions opt;
  opt.delimiter = ",;\t|"[sel & 3];
  opt.lenient = (sel >> 2) & 1;
  opt.fields = (sel >> 3) & 3;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  opt.buffer_size = 4;
  const Outcome small = read_all(text, opt);
  opt.buffer_size = std::size_t{1} << 16;
  const Outcome large = read_all(text, opt);
  fuzz::require(small.rows == large.rows, "the same records with any buffer size");
  fuzz::require(small.lines == large.lines, "the same line numbers with any buffer size");
  fuzz::require(small.error == large.error, "the same error with any buffer size");
  fuzz::require(small.skipped == large.skipped, "the same skipped count with any buffer size");
  return 0;
}
