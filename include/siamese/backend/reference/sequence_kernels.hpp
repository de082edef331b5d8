#pragma once
// Reference kernels of the sequence layers (Embedding, LSTM, GRU): plain loops, the oracle.
namespace siamese::backend::detail_reference {

struct SequenceKernels {};

}  // namespace siamese::backend::detail_reference
