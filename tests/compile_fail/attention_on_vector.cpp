// MultiHeadSelfAttention fed a flat vector: it needs a sequence (positions x features).
// expect: static assertion failed: MultiHeadSelfAttention expects a sequence (rank 2: positions x features)
// expect: siamese::Shape<12>, siamese::LayerIndex<2>
#include <siamese/layers/attention.hpp>
#include <siamese/siamese.hpp>
using namespace siamese;
using Encoder = Sequential<Input<30>, Dense<12>, MultiHeadSelfAttention<12, 3>, Flatten>;
Siamese<Encoder> model;
