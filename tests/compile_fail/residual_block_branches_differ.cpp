// ResidualBlock whose shortcut does not project to the main branch's shape; the error names both shapes.
// expect: static assertion failed: ResidualBlock: the main branch's output (first shape below) and the shortcut's output (second shape below) differ
// expect: residual_branches_match<siamese::Shape<4, 4, 16>, siamese::Shape<8, 8, 16> >
#include <siamese/siamese.hpp>
using namespace siamese;
using Encoder = Sequential<Input<8, 8, 3>,
                           ResidualBlock<Main<Conv2D<16, 3, 2, Padding::Same, ReLU>, Conv2D<16, 3, 1, Padding::Same>>,
                                         Shortcut<Conv2D<16, 1>>, ReLU>,
                           GlobalAvgPool2D>;
Siamese<Encoder> model;
