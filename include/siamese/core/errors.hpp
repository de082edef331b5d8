#pragma once
// The library's exception types, all in one place: each message says what went wrong and where.
//   ShapeError    (std::invalid_argument)  a run-time shape that does not fit
//   NumericError  (std::runtime_error)     a NaN or infinite value where a finite one is needed
//   FileError     (std::runtime_error)     a file that cannot be read or written, is corrupt or foreign
//     CsvError        malformed CSV, with the file and the line
//     DataError       a data file (IDX, images, a data set folder) that does not hold what it promises
//     TokenizerError  a tokenizer file that cannot be read or parsed
//     IndexFileError  an embedding index file that cannot be written or read back
//   DistributedError (std::runtime_error) distributed training that cannot go on: another rank failed, died or
//                   stopped answering, or the ranks disagree (model, data); names the operation and the ranks
// (backend::Cuda's CudaError, a failed CUDA call, is declared with the CUDA runtime it wraps.)
#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>

namespace siamese {

/// A tensor handed over at run time whose shape does not fit the model.
struct ShapeError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

/// A non-finite value: a loss or gradient during training, an embedding handed to a loss or miner.
struct NumericError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// A file that cannot be read or written, is corrupt, or belongs to another model; the message names it.
struct FileError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Malformed CSV (or CSV content a loader rejects), with the file name and the line.
class CsvError : public FileError {
 public:
  CsvError(std::string file, std::size_t line, const std::string& what)
      : FileError(file + ":" + std::to_string(line) + ": " + what), file_(std::move(file)), line_(line) {}
  const std::string& file() const noexcept { return file_; }
  /// 1-based physical line where the offending record starts (0: the file as a whole).
  std::size_t line() const noexcept { return line_; }

 private:
  std::string file_;
  std::size_t line_;
};

/// A data file that cannot be read or does not hold what its format promises; the message names the file.
struct DataError : FileError {
  using FileError::FileError;
};

/// A tokenizer file that cannot be read or parsed; the message names the file and line.
class TokenizerError : public FileError {
 public:
  using FileError::FileError;
};

/// An index file that cannot be written or read back as written; the message names the file.
struct IndexFileError : FileError {
  using FileError::FileError;
};

/// Distributed training that cannot go on: a rank failed, died or stopped answering within the timeout, or the
/// ranks disagree on what they train (model signature, number of batches); the message names what and which ranks.
struct DistributedError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace siamese
