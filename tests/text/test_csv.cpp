// CsvReader: RFC 4180 cases by hand, a random round trip against a writer, malformed input.
#include <doctest/doctest.h>

#include <siamese/data/csv.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

using siamese::CsvError;
using siamese::CsvOptions;
using siamese::CsvReader;
using Row = std::vector<std::string>;

namespace {

struct Parsed {
  std::vector<Row> rows;
  std::vector<std::size_t> lines;
  std::size_t skipped = 0;
};

Parsed parse(const std::string& text, CsvOptions o = {}) {
  std::istringstream in(text);
  CsvReader reader(in, "mem.csv", o);
  Parsed p;
  Row row;
  while (reader.read_row(row)) {
    p.rows.push_back(row);
    p.lines.push_back(reader.line());
  }
  p.skipped = reader.skipped();
  CHECK(reader.rows() == p.rows.size());
  return p;
}

// The error a strict parse raises: "<line>|<message>", or "" when none.
std::string parse_error(const std::string& text, CsvOptions o = {}) {
  try {
    (void)parse(text, o);
  } catch (const CsvError& e) {
    CHECK(e.file() == "mem.csv");
    return std::to_string(e.line()) + "|" + e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("plain records, LF and CRLF line endings, no final newline") {
  // RFC 4180 2.1/2.2: records end with a line break; the last one may have none.
  const auto p = parse("a,b,c\n1,2,3\r\nx,y,z");
  REQUIRE(p.rows.size() == 3);
  CHECK(p.rows[0] == Row{"a", "b", "c"});
  CHECK(p.rows[1] == Row{"1", "2", "3"});
  CHECK(p.rows[2] == Row{"x", "y", "z"});
  CHECK(p.lines == std::vector<std::size_t>{1, 2, 3});
}

TEST_CASE("empty fields") {
  // RFC 4180 2.4 grammar: a field may be empty, quoted or not; a trailing comma adds an empty field.
  const auto p = parse(",,\n\"\",x,\n\"\",\"\",\"\"\n");
  REQUIRE(p.rows.size() == 3);
  CHECK(p.rows[0] == Row{"", "", ""});
  CHECK(p.rows[1] == Row{"", "x", ""});
  CHECK(p.rows[2] == Row{"", "", ""});
}

TEST_CASE("quoted fields hold commas, doubled quotes and line breaks") {
  // RFC 4180 2.6/2.7: quoted fields may contain delimiters, CRLF and "" for one quote.
  const std::string text = "id,text\n1,\"a, b\"\n2,\"say \"\"hi\"\"\"\n3,\"line1\r\nline2\nline3\"\n4,\"\"\"\"\n5,end\n";
  const auto p = parse(text);
  REQUIRE(p.rows.size() == 6);
  CHECK(p.rows[1] == Row{"1", "a, b"});
  CHECK(p.rows[2] == Row{"2", "say \"hi\""});
  CHECK(p.rows[3] == Row{"3", "line1\r\nline2\nline3"});
  CHECK(p.rows[4] == Row{"4", "\""});
  CHECK(p.rows[5] == Row{"5", "end"});
  // Physical start lines: record 3 spans lines 4-6, so the next ones start on 7 and 8.
  CHECK(p.lines == std::vector<std::size_t>{1, 2, 3, 4, 7, 8});
}

TEST_CASE("blank lines are skipped, a byte order mark is ignored, lone CR ends a record") {
  const auto p = parse("\xEF\xBB\xBF" "a,b\n\n\r\n1,2\r3,4\n\n");
  REQUIRE(p.rows.size() == 3);
  CHECK(p.rows[0] == Row{"a", "b"});
  CHECK(p.rows[1] == Row{"1", "2"});
  CHECK(p.rows[2] == Row{"3", "4"});
  CHECK(p.lines == std::vector<std::size_t>{1, 4, 5});
  CHECK(parse("").rows.empty());
  CHECK(parse("\n\r\n").rows.empty());
}

TEST_CASE("custom delimiter") {
  CsvOptions o;
  o.delimiter = ';';
  const auto p = parse("a;\"b;c\";d,e\n", o);
  REQUIRE(p.rows.size() == 1);
  CHECK(p.rows[0] == Row{"a", "b;c", "d,e"});
}

namespace {

// Writer per RFC 4180: quote a field when it holds a delimiter, quote, CR or LF (or randomly).
std::string encode(const std::string& f, std::mt19937& rng) {
  const bool special = f.find_first_of(",\"\r\n") != std::string::npos;
  if (!special && rng() % 4 != 0) return f;
  std::string out = "\"";
  for (char c : f) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::size_t line_breaks(const std::string& s) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size(); ++i)
    if (s[i] == '\n' || (s[i] == '\r' && (i + 1 == s.size() || s[i + 1] != '\n'))) ++n;
  return n;
}

}  // namespace

TEST_CASE("random records survive a write/read round trip at every buffer size") {
  std::mt19937 rng(11);
  const std::string alphabet = "ab ,\"\r\n\xC3\xA9";
  for (int trial = 0; trial < 40; ++trial) {
    const std::size_t nfields = 1 + rng() % 4;
    std::vector<Row> rows;
    std::vector<std::size_t> lines;
    std::string text = trial % 3 == 0 ? "\xEF\xBB\xBF" : "";
    std::size_t line = 1;
    const std::size_t nrows = 1 + rng() % 12;
    for (std::size_t r = 0; r < nrows; ++r) {
      Row row(nfields);
      std::string rec;
      for (std::size_t k = 0; k < nfields; ++k) {
        const std::size_t len = rng() % 7;
        for (std::size_t c = 0; c < len; ++c) row[k] += alphabet[rng() % alphabet.size()];
        // A one-field empty record would be a blank line: write it quoted.
        std::string e = encode(row[k], rng);
        if (nfields == 1 && e.empty()) e = "\"\"";
        rec += (k ? "," : "") + e;
      }
      rows.push_back(row);
      lines.push_back(line);
      const std::string end = rng() % 2 ? "\r\n" : "\n";
      line += line_breaks(rec) + 1;
      text += rec + (r + 1 < nrows || rng() % 2 ? end : "");
    }
    for (std::size_t buffer : {4, 5, 7, 16, 65536}) {
      CsvOptions o;
      o.buffer_size = buffer;
      const auto p = parse(text, o);
      CHECK(p.rows == rows);
      CHECK(p.lines == lines);
    }
  }
}

TEST_CASE("malformed input raises CsvError with the file and the record's line") {
  // A quote inside an unquoted field.
  auto e = parse_error("a,b\n1,2\nx,y\"z\n");
  CHECK(e.rfind("3|mem.csv:3: quote inside unquoted field 2", 0) == 0);
  // A character after a closing quote.
  e = parse_error("a,b\n\"ok\"x,2\n");
  CHECK(e.rfind("2|mem.csv:2: unexpected character after closing quote", 0) == 0);
  // An unterminated quote at end of file: the record starts on line 2, the quote on line 3.
  e = parse_error("a,b\n1,\"x\n\"\"y,z\n");
  CHECK(e.rfind("2|mem.csv:2: unterminated quoted field", 0) == 0);
  CHECK(contains(e, "opened on line 2"));
  e = parse_error("a,b\n1,\n\"never closed");
  CHECK(e.rfind("3|mem.csv:3: unterminated quoted field (opened on line 3)", 0) == 0);
  // A wrong number of fields (more and fewer than the first record).
  e = parse_error("a,b\n1,2\n\"multi\nline\",2,3\n");
  CHECK(e.rfind("3|mem.csv:3: expected 2 fields, found 3", 0) == 0);
  e = parse_error("a,b\n1\n");
  CHECK(e.rfind("2|mem.csv:2: expected 2 fields, found 1", 0) == 0);
  // The expected count can be given; the first record is then checked too.
  CsvOptions o;
  o.fields = 3;
  CHECK(parse_error("a,b\n", o).rfind("1|mem.csv:1: expected 3 fields, found 2", 0) == 0);
}

TEST_CASE("lenient mode skips and counts malformed rows") {
  CsvOptions o;
  o.lenient = true;
  // Row 3 has a stray quote (rest of its line dropped), row 5 a wrong count, row 6 text after a
  // closing quote; the good rows around them are kept.
  const auto p = parse("a,b\n1,2\nx,y\"z,q\n3,4\n5\n\"6\"x,7\n8,9\n", o);
  CHECK(p.rows == std::vector<Row>{{"a", "b"}, {"1", "2"}, {"3", "4"}, {"8", "9"}});
  CHECK(p.lines == std::vector<std::size_t>{1, 2, 4, 7});
  CHECK(p.skipped == 3);
  // An unterminated quote swallows the rest of the file: one skipped row.
  const auto q = parse("a,b\n1,2\n3,\"open\n4,5\n", o);
  CHECK(q.rows == std::vector<Row>{{"a", "b"}, {"1", "2"}});
  CHECK(q.skipped == 1);
}

TEST_CASE("lenient mode keeps the first skipped record's line and reason") {
  CsvOptions o;
  o.lenient = true;
  std::istringstream in("a,b\n1,2\n5\nx,y\"z\n");
  CsvReader reader(in, "mem.csv", o);
  Row row;
  CHECK(reader.first_skipped_line() == 0);
  CHECK(reader.first_skipped_reason().empty());
  while (reader.read_row(row)) {
  }
  CHECK(reader.skipped() == 2);
  CHECK(reader.first_skipped_line() == 3);
  CHECK(reader.first_skipped_reason() == "expected 2 fields, found 1");
}

TEST_CASE("reading a file by path") {
  const auto path = std::filesystem::temp_directory_path() /
                    ("siamese_text_csv_" + std::to_string(std::random_device{}()) + ".csv");
  {
    std::ofstream out(path, std::ios::binary);
    out << "h1,h2\r\n\"multi\r\nline\",2\r\nx,\"y\"\"\"\r\n";
  }
  CsvReader reader(path.string());
  Row row;
  REQUIRE(reader.read_row(row));
  CHECK(row == Row{"h1", "h2"});
  REQUIRE(reader.read_row(row));
  CHECK(row == Row{"multi\r\nline", "2"});
  CHECK(reader.line() == 2);
  REQUIRE(reader.read_row(row));
  CHECK(row == Row{"x", "y\""});
  CHECK(reader.line() == 4);
  CHECK_FALSE(reader.read_row(row));
  CHECK(reader.name() == path.string());
  std::filesystem::remove(path);
  try {
    CsvReader missing("/nonexistent/dir/train.csv");
    FAIL("no exception");
  } catch (const CsvError& e) {
    CHECK(contains(e.what(), "/nonexistent/dir/train.csv"));
  }
}
