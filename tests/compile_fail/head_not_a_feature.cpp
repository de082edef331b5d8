// A Head argument that is neither a pair feature type nor a Classifier: a type with the form of a
// feature (backend/pair_feature.hpp) is needed, not any struct.
// expect: static assertion failed: Head: each argument must be a pair feature
#include <siamese/siamese.hpp>
using namespace siamese;
struct Halfway : ElementwiseFeature {  // no name, no arithmetic
};
using Encoder = Sequential<Input<8>, Dense<4>>;
Siamese<Encoder, Head<SqDiff, Halfway>> model;
