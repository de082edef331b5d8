// Dense fed an image map: it applies to vectors and sequences; an image needs Flatten (or Conv2D<N, 1>).
// expect: static assertion failed: Dense expects a flat input (rank 1) or a sequence (rank 2, applied at each position); on an image map add Flatten or a global pooling layer before it
// expect: siamese::Shape<26, 26, 8>, siamese::LayerIndex<2>
#include <siamese/siamese.hpp>
using namespace siamese;
using Encoder = Sequential<Input<28, 28, 1>, Conv2D<8, 3>, Dense<16>>;
Siamese<Encoder> model;
