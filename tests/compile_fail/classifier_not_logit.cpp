// A head whose classifier ends in two units instead of one logit.
// expect: static assertion failed: Head: the classifier must end in a single unit (the logit), e.g. Dense<1>
// expect: siamese::Classifier<siamese::Dense<2
#include <siamese/siamese.hpp>
using namespace siamese;
using Encoder = Sequential<Input<8>, Dense<4>>;
Siamese<Encoder, Head<SqDiff, Classifier<Dense<2>>>> model;
