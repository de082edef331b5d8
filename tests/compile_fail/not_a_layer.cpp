// A Sequential whose element is not a layer.
// expect: static assertion failed: Sequential: this element is not a layer
#include <siamese/siamese.hpp>
using namespace siamese;
#ifdef SIAMESE_TWIN
using Encoder = Sequential<Input<8>, Dense<4>, ReLU>;
#else
using Encoder = Sequential<Input<8>, Dense<4>, int>;
#endif
Siamese<Encoder> model;
