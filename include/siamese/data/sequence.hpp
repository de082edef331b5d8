#pragma once
// pad_sequences with the semantics of Keras' tf.keras.preprocessing.sequence.pad_sequences.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace siamese {

/// Which end of a sequence is padded or cut off.
enum class PadSide { pre, post };

/// Parses Keras' spelling, "pre" or "post".
inline PadSide pad_side(std::string_view s) {
  if (s == "pre") return PadSide::pre;
  if (s == "post") return PadSide::post;
  throw std::invalid_argument("pad side must be \"pre\" or \"post\", got \"" + std::string(s) + "\"");
}

/// Options of pad_sequences, named and defaulted as in Keras.
struct PadOptions {
  /// Row length; by default the length of the longest sequence.
  std::optional<std::size_t> maxlen;
  /// Where padding values go for sequences shorter than maxlen.
  PadSide padding = PadSide::pre;
  /// Which end is dropped from sequences longer than maxlen.
  PadSide truncating = PadSide::pre;
  /// Fill value, converted to the output type as numpy's np.full does (truncation for integers).
  double value = 0.0;
};

/// A batch of padded sequences: `rows` x `cols` values, row-major.
template <class T>
struct Padded {
  std::vector<T> values;
  std::size_t rows = 0;
  std::size_t cols = 0;

  T operator()(std::size_t r, std::size_t c) const { return values[r * cols + c]; }
};

/// Pads or truncates every sequence to the same length. `Sequences` is a range of ranges
/// with size() (e.g. std::vector<std::vector<int>>); values are converted to T.
template <class T = std::int32_t, class Sequences>
Padded<T> pad_sequences(const Sequences& sequences, const PadOptions& options = {}) {
  std::size_t n = 0, longest = 0;
  for (const auto& s : sequences) {
    ++n;
    longest = std::max<std::size_t>(longest, s.size());
  }
  Padded<T> out;
  out.rows = n;
  out.cols = options.maxlen.value_or(longest);
  out.values.assign(out.rows * out.cols, static_cast<T>(options.value));
  std::size_t r = 0;
  for (const auto& s : sequences) {
    const std::size_t len = s.size();
    const std::size_t keep = std::min(len, out.cols);
    // truncating 'pre' keeps the last maxlen values, 'post' the first maxlen.
    const std::size_t first = options.truncating == PadSide::pre ? len - keep : 0;
    // padding 'pre' right-aligns the kept values in the row, 'post' left-aligns them.
    const std::size_t at = options.padding == PadSide::pre ? out.cols - keep : 0;
    auto it = std::begin(s);
    std::advance(it, static_cast<std::ptrdiff_t>(first));
    T* row = out.values.data() + r * out.cols + at;
    for (std::size_t k = 0; k < keep; ++k, ++it) row[k] = static_cast<T>(*it);
    ++r;
  }
  return out;
}

}  // namespace siamese
