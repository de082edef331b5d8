// A 4x4 pooling window on a 3x3 map.
// expect: static assertion failed: MaxPool2D/AvgPool2D: the pooling window is larger than the input map
// expect: Pool2DImpl<true, 4, 4, siamese::Padding::Valid, siamese::Shape<3, 3, 16>, siamese::LayerIndex<2> >
#include <siamese/siamese.hpp>
using namespace siamese;
#ifdef SIAMESE_TWIN
using Encoder = Sequential<Input<5, 5, 1>, Conv2D<16, 3>, MaxPool2D<3>, Flatten, Dense<8>>;
#else
using Encoder = Sequential<Input<5, 5, 1>, Conv2D<16, 3>, MaxPool2D<4>, Flatten, Dense<8>>;
#endif
Siamese<Encoder> model;
