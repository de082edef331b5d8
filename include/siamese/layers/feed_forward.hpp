#pragma once
// FeedForward<Hidden, Dim>: the position-wise feed-forward block of a transformer layer.
#include <cstddef>

#include "../model/sequential.hpp"
#include "activation.hpp"
#include "dense.hpp"

namespace siamese {

/// Dense<Hidden, GELU> then Dense<Dim> at every position of a sequence (T, Dim) -> (T, Dim): BERT's
/// intermediate and output projections (all-MiniLM-L6-v2: FeedForward<1536, 384>). Dense on a sequence applies
/// the same kernel at each position, so this is exactly the per-position computation, as one product each.
template <std::size_t Hidden, std::size_t Dim>
using FeedForward = Sequential<Dense<Hidden, GELU>, Dense<Dim>>;

}  // namespace siamese
