// An encoder that ends in a feature map instead of an embedding vector.
// expect: static assertion failed: the encoder must end in a flat embedding (rank 1); add Flatten, Dense or global pooling
// expect: require_flat_embedding<siamese::Shape<26, 26, 8> >
#include <siamese/siamese.hpp>
using namespace siamese;
#ifdef SIAMESE_TWIN
using Encoder = Sequential<Input<28, 28, 1>, Conv2D<8, 3>, GlobalAvgPool2D>;
#else
using Encoder = Sequential<Input<28, 28, 1>, Conv2D<8, 3>>;
#endif
static_assert(Siamese<Encoder>::embedding_width > 0);
