// Repeat over a block that changes its input's shape: a copy's output could not feed the next copy.
// expect: static assertion failed: Repeat<N, Layers...>: the block must keep its input shape
// expect: require_shape_kept<siamese::Shape<16>, siamese::Shape<8> >
#include <siamese/layers/repeat.hpp>
#include <siamese/siamese.hpp>
using namespace siamese;
using Encoder = Sequential<Input<16>, Repeat<3, Dense<8, ReLU>>>;
Siamese<Encoder> model;
