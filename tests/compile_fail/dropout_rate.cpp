// A dropout rate outside [0, 1).
// expect: static assertion failed: Dropout: the rate must lie in [0, 1)
// expect: siamese::Dropout<1.5e+0f>
#include <siamese/siamese.hpp>
using namespace siamese;
#ifdef SIAMESE_TWIN
using Encoder = Sequential<Input<8>, Dense<4>, Dropout<0.5f>>;
#else
using Encoder = Sequential<Input<8>, Dense<4>, Dropout<1.5f>>;
#endif
Siamese<Encoder> model;
