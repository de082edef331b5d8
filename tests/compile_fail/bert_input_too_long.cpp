// BertEmbeddings fed more positions than it has position embeddings.
// expect: static assertion failed: BertEmbeddings: the input has more positions than the table has position embeddings (MaxLen)
// expect: siamese::Shape<600>
#include <siamese/siamese.hpp>
using namespace siamese;
using Encoder = Sequential<Input<600>, BertEmbeddings<1000, 8, 512>, MaskedMeanPool>;
Siamese<Encoder> model;
