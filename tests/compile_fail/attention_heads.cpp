// MultiHeadSelfAttention whose width does not split evenly over its heads.
// expect: static assertion failed: MultiHeadSelfAttention<Dim, Heads>: Dim must be a multiple of Heads
// expect: siamese::MultiHeadSelfAttention<384, 7>
#include <siamese/layers/attention.hpp>
#include <siamese/siamese.hpp>
using namespace siamese;
using Encoder = Sequential<Input<16>, Embedding<100, 384>, MultiHeadSelfAttention<384, 7>, GlobalAvgPool1D>;
Siamese<Encoder> model;
