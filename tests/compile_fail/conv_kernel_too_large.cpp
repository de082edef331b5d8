// A 5x5 convolution on a 3x3 map.
// expect: static assertion failed: Conv2D: the kernel is larger than the input map
// expect: siamese::Shape<3, 3, 1>, siamese::LayerIndex<1>
#include <siamese/siamese.hpp>
using namespace siamese;
#ifdef SIAMESE_TWIN
using Encoder = Sequential<Input<3, 3, 1>, Conv2D<4, 3>, Flatten, Dense<8>>;
#else
using Encoder = Sequential<Input<3, 3, 1>, Conv2D<4, 5>, Flatten, Dense<8>>;
#endif
Siamese<Encoder, Head<SqDiff>> model;
