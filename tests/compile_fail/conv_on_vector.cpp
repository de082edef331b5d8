// Conv2D fed a flat vector.
// expect: static assertion failed: Conv2D expects an input of rank 3 (height, width, channels)
// expect: siamese::Shape<784>, siamese::LayerIndex<2>
#include <siamese/siamese.hpp>
using namespace siamese;
#ifdef SIAMESE_TWIN
using Encoder = Sequential<Input<28, 28, 1>, Conv2D<8, 3>, GlobalMaxPool2D>;
#else
using Encoder = Sequential<Input<28, 28, 1>, Flatten, Conv2D<8, 3>, GlobalMaxPool2D>;
#endif
Siamese<Encoder> model;
