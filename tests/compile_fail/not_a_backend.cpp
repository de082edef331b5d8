// A model whose backend parameter is not a backend.
// expect: static assertion failed: the model's backend parameter is not a backend
#include <siamese/siamese.hpp>
using namespace siamese;
using Encoder = Sequential<Input<8>, Dense<4>>;
#ifdef SIAMESE_TWIN
Siamese<Encoder, Head<SqDiff>, backend::Reference> model;
#else
Siamese<Encoder, Head<SqDiff>, int> model;
#endif
