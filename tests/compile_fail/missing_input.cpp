// An encoder without Input: no shape to start from.
// expect: static assertion failed: Sequential used as a model must start with Input<...> (the per-sample shape)
#include <siamese/siamese.hpp>
using namespace siamese;
#ifdef SIAMESE_TWIN
using Encoder = Sequential<Input<5, 5, 1>, Conv2D<8, 3>, Flatten, Dense<8>>;
#else
using Encoder = Sequential<Conv2D<8, 3>, Flatten, Dense<8>>;
#endif
Siamese<Encoder> model;
