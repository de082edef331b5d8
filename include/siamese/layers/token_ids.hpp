#pragma once
// Validation of token ids on the host: used by models whose encoder starts with an Embedding, and by users.
#include <cstddef>
#include <string>

#include "../core/errors.hpp"

namespace siamese {

/// Whether `ids` is a token id: an integer in [0, vocab).
inline bool is_token_id(float id, std::size_t vocab) {
  return id >= 0.0f && id < float(vocab) && id == float(static_cast<long long>(id));
}
/// Whether every value of the host buffer `ids` is a token id; it allocates nothing, unlike building the
/// name that check_token_ids reports.
inline bool all_token_ids(const float* ids, std::size_t count, std::size_t vocab) {
  for (std::size_t i = 0; i < count; ++i)
    if (!is_token_id(ids[i], vocab)) return false;
  return true;
}

/// Throws ShapeError unless every value of the host buffer `ids` (count values, `steps` per sample) is
/// an integer in [0, vocab); the message names `where`, the sample and the position.
inline void check_token_ids(const float* ids, std::size_t count, std::size_t steps, std::size_t vocab,
                            const std::string& where) {
  for (std::size_t i = 0; i < count; ++i)
    if (!is_token_id(ids[i], vocab))
      throw ShapeError(where + ": token id " + std::to_string(ids[i]) + " at sample " + std::to_string(i / steps) +
                       ", position " + std::to_string(i % steps) + " is not an integer in [0, " +
                       std::to_string(vocab) + ")");
}

}  // namespace siamese
