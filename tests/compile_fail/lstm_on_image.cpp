// An LSTM fed an image: it needs a sequence of time steps and features.
// expect: static assertion failed: LSTM expects a sequence input (rank 2: time steps, features), e.g. after Embedding
// expect: siamese::Shape<26, 26, 8>, siamese::LayerIndex<2>
#include <siamese/layers/recurrent.hpp>
#include <siamese/siamese.hpp>
using namespace siamese;
#ifdef SIAMESE_TWIN
using Encoder = Sequential<Input<28, 28>, LSTM<16>>;
#else
using Encoder = Sequential<Input<28, 28, 1>, Conv2D<8, 3>, LSTM<16>>;
#endif
Siamese<Encoder> model;
