// A head whose classifier ends in two units instead of one logit.
// expect: static assertion failed: Head: the classifier must end in a single unit (the logit), e.g. Dense<1>
// expect: siamese::Classifier<siamese::Dense<2
#include <siamese/siamese.hpp>
using namespace siamese;
using Encoder = Sequential<Input<8>, Dense<4>>;
#ifdef SIAMESE_TWIN
Siamese<Encoder, Head<SqDiff, Classifier<Dense<2>, Dense<1>>>> model;
#else
Siamese<Encoder, Head<SqDiff, Classifier<Dense<2>>>> model;
#endif
