// A dropout rate outside [0, 1).
// expect: static assertion failed: Dropout: the rate must lie in [0, 1)
// expect: siamese::Dropout<1.5e+0f>
#include <siamese/siamese.hpp>
using namespace siamese;
using Encoder = Sequential<Input<8>, Dense<4>, Dropout<1.5f>>;
Siamese<Encoder> model;
