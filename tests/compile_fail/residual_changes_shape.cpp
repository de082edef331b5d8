// Residual whose branch changes the width: x + f(x) cannot be added; the error names both shapes.
// expect: static assertion failed: Residual<Layers...>: y = x + f(x) needs f to keep the shape
// expect: residual_keeps_shape<siamese::Shape<16, 8>, siamese::Shape<16, 12> >
#include <siamese/siamese.hpp>
using namespace siamese;
using Encoder = Sequential<Input<16, 8>, Residual<Dense<32, GELU>, Dense<12>>, MaskedMeanPool>;
Siamese<Encoder> model;
