// Conv2D cannot fuse GELU: its backward needs the pre-activation.
// expect: static assertion failed: Conv2D cannot fuse GELU
#include <siamese/siamese.hpp>
using namespace siamese;
using Encoder = Sequential<Input<8, 8, 1>, Conv2D<4, 3, 1, Padding::Valid, GELU>, Flatten>;
Siamese<Encoder> model;
