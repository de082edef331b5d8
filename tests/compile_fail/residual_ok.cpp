// The twin of residual_changes_shape and residual_block_branches_differ: shape-keeping branches compile.
// must-compile
#include <siamese/siamese.hpp>
using namespace siamese;
using Text = Sequential<Input<16, 8>, Residual<Dense<32, GELU>, Dense<8>>, LayerNorm<>, MaskedMeanPool>;
using Image = Sequential<Input<8, 8, 3>,
                         ResidualBlock<Main<Conv2D<16, 3, 2, Padding::Same, ReLU>, Conv2D<16, 3, 1, Padding::Same>>,
                                       Shortcut<Conv2D<16, 1, 2>>, ReLU>,
                         GlobalAvgPool2D>;
Siamese<Text> text_model;
Siamese<Image> image_model;
