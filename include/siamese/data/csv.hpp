#pragma once
// Streaming RFC 4180 CSV reader that knows the physical line where each record starts.

#include <cstddef>
#include <fstream>
#include <istream>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "../core/errors.hpp"

namespace siamese {

/// Options of CsvReader.
struct CsvOptions {
  char delimiter = ',';
  /// Skip malformed records and count them (CsvReader::skipped) instead of throwing CsvError.
  bool lenient = false;
  /// Number of fields every record must have; 0: the number in the first record.
  std::size_t fields = 0;
  /// Bytes read from the stream at a time (at least 4).
  std::size_t buffer_size = std::size_t{1} << 16;
  /// Largest record, in bytes of its fields (each field counting its string's size too): a longer one is
  /// malformed, so a file without line breaks cannot take unbounded memory.
  std::size_t max_record_bytes = std::size_t{1} << 26;
};

/// Reads records one at a time from a stream or file, following RFC 4180: fields separated by
/// the delimiter; quoted fields may hold delimiters, CR/LF and doubled quotes; records end with
/// CRLF, LF or a lone CR. Blank lines are skipped; a UTF-8 byte order mark at the start is ignored.
/// Malformed records: a quote inside an unquoted field, a character after a closing quote, an
/// unterminated quote at end of file, a wrong number of fields. In lenient mode the rest of the
/// physical line of a syntax error is discarded and reading resumes on the next line.
class CsvReader {
 public:
  explicit CsvReader(const std::string& path, CsvOptions options = {})
      : owned_(std::make_unique<std::ifstream>(path, std::ios::binary)), in_(owned_.get()), name_(path), opt_(options) {
    if (!*owned_) throw CsvError(path, 0, "cannot open file");
  }

  /// Reads from `in`, which must outlive the reader; `name` is used in error messages.
  CsvReader(std::istream& in, std::string name, CsvOptions options = {})
      : in_(&in), name_(std::move(name)), opt_(options) {}

  /// Reads the next well-formed record into `row` (reusing its strings); false at end of input.
  bool read_row(std::vector<std::string>& row) {
    while (true) {
      skip_blank_lines();
      if (peek() == eof) return false;
      record_line_ = line_;
      std::size_t n = 0;
      const Status st = parse_record(row, n);
      if (st == Status::syntax_error) {
        skip(error_);
        discard_line();
        continue;
      }
      if (st == Status::unterminated) {
        skip(error_);
        return false;
      }
      row.resize(n);
      if (expected_ == 0) expected_ = opt_.fields != 0 ? opt_.fields : n;
      if (n != expected_) {
        skip("expected " + std::to_string(expected_) + " fields, found " + std::to_string(n));
        continue;
      }
      ++rows_;
      return true;
    }
  }

  /// Physical line (1-based) where the record last returned by read_row starts.
  std::size_t line() const noexcept { return record_line_; }
  /// Malformed records skipped in lenient mode.
  std::size_t skipped() const noexcept { return skipped_; }
  /// Records returned so far.
  std::size_t rows() const noexcept { return rows_; }
  /// The first record skipped in lenient mode: its line (0 when none was) and why it was malformed.
  std::size_t first_skipped_line() const noexcept { return first_skipped_line_; }
  const std::string& first_skipped_reason() const noexcept { return first_skipped_reason_; }
  const std::string& name() const noexcept { return name_; }

 private:
  static constexpr int eof = -1;
  enum class Status { ok, syntax_error, unterminated };

  // A malformed record at record_line_: an error, or in lenient mode a count (and the first one's reason).
  void skip(const std::string& why) {
    if (!opt_.lenient) throw CsvError(name_, record_line_, why);
    if (skipped_++ == 0) first_skipped_line_ = record_line_, first_skipped_reason_ = why;
  }

  int peek() {
    if (pos_ == end_ && !refill()) return eof;
    return static_cast<unsigned char>(buf_[pos_]);
  }
  int get() {
    const int c = peek();
    if (c != eof) ++pos_;
    return c;
  }
  bool refill() {
    if (done_) return false;
    if (buf_.empty()) buf_.resize(opt_.buffer_size < 4 ? 4 : opt_.buffer_size);
    in_->read(buf_.data(), static_cast<std::streamsize>(buf_.size()));
    end_ = static_cast<std::size_t>(in_->gcount());
    pos_ = 0;
    if (first_block_) {
      first_block_ = false;
      if (end_ >= 3 && buf_[0] == '\xEF' && buf_[1] == '\xBB' && buf_[2] == '\xBF') pos_ = 3;
    }
    if (end_ == 0) done_ = true;
    return pos_ < end_ || (end_ != 0 && refill());
  }

  // Consumes one line break (CRLF, LF or CR) if present; counts it.
  bool eat_line_break() {
    const int c = peek();
    if (c == '\n') {
      get();
    } else if (c == '\r') {
      get();
      if (peek() == '\n') get();
    } else {
      return false;
    }
    ++line_;
    return true;
  }

  void skip_blank_lines() {
    while (eat_line_break()) {
    }
  }

  void discard_line() {
    while (true) {
      const int c = peek();
      if (c == eof || eat_line_break()) return;
      get();
    }
  }

  std::string& field(std::vector<std::string>& row, std::size_t n) {
    if (row.size() <= n) row.emplace_back();
    row[n].clear();
    return row[n];
  }

  // Counts k more bytes of the current record; false (with error_ set) once it exceeds max_record_bytes.
  bool grow(std::size_t k) {
    record_bytes_ += k;
    if (record_bytes_ <= opt_.max_record_bytes) return true;
    error_ = "record longer than " + std::to_string(opt_.max_record_bytes) + " bytes (CsvOptions::max_record_bytes)";
    return false;
  }

  Status parse_record(std::vector<std::string>& row, std::size_t& n) {
    const int delim = static_cast<unsigned char>(opt_.delimiter);
    record_bytes_ = 0;
    while (true) {
      std::string& f = field(row, n++);
      if (!grow(sizeof(std::string))) return Status::syntax_error;
      if (peek() == '"') {
        get();
        const std::size_t opened = line_;
        while (true) {
          // Copy the run of ordinary characters in one go.
          std::size_t i = pos_;
          while (i < end_ && buf_[i] != '"' && buf_[i] != '\n' && buf_[i] != '\r') ++i;
          if (!grow(i - pos_ + 1)) return Status::syntax_error;  // + 1: the quote or line break after the run
          f.append(buf_.data() + pos_, i - pos_);
          pos_ = i;
          if (pos_ == end_) {
            if (peek() != eof) continue;
            error_ = "unterminated quoted field (opened on line " + std::to_string(opened) + ")";
            return Status::unterminated;
          }
          const int c = get();
          if (c == '"') {
            if (peek() != '"') break;
            get();
            f += '"';
          } else if (c == '\n') {
            f += '\n';
            ++line_;
          } else if (c == '\r') {
            f += '\r';
            if (peek() != '\n') ++line_;
          }
        }
        const int c = peek();
        if (c == delim) {
          get();
          continue;
        }
        if (c == eof || eat_line_break()) return Status::ok;
        error_ = "unexpected character after closing quote in field " + std::to_string(n) + " (line " +
                 std::to_string(line_) + ")";
        return Status::syntax_error;
      }
      while (true) {
        std::size_t i = pos_;
        while (i < end_ && buf_[i] != opt_.delimiter && buf_[i] != '"' && buf_[i] != '\n' && buf_[i] != '\r') ++i;
        if (!grow(i - pos_)) return Status::syntax_error;
        f.append(buf_.data() + pos_, i - pos_);
        pos_ = i;
        const int c = peek();
        if (c == delim) {
          get();
          break;
        }
        if (c == eof || eat_line_break()) return Status::ok;
        if (c == '"') {
          error_ = "quote inside unquoted field " + std::to_string(n);
          return Status::syntax_error;
        }
      }
    }
  }

  std::unique_ptr<std::istream> owned_;
  std::istream* in_;
  std::string name_;
  CsvOptions opt_;
  std::vector<char> buf_;
  std::size_t pos_ = 0, end_ = 0;
  bool done_ = false, first_block_ = true;
  std::size_t line_ = 1, record_line_ = 0, expected_ = 0, skipped_ = 0, rows_ = 0, record_bytes_ = 0;
  std::size_t first_skipped_line_ = 0;
  std::string error_, first_skipped_reason_;
};

}  // namespace siamese
