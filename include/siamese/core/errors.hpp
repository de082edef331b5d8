#pragma once
// The library's exception types: each message says what went wrong and where.
#include <stdexcept>
#include <string>

namespace siamese {

/// A tensor handed over at run time whose shape does not fit the model.
struct ShapeError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

/// A file that cannot be read, is corrupt, or belongs to another model.
struct FileError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// A non-finite loss or gradient during training.
struct NumericError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace siamese
