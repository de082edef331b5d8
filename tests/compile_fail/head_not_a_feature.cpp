// A Head argument that is neither a pair feature type nor a Classifier: a type with the form of a
// feature (backend/pair_feature.hpp) is needed, not any struct.
// expect: static assertion failed: Head: each argument must be a pair feature
#include <siamese/siamese.hpp>
using namespace siamese;
#ifdef SIAMESE_TWIN
struct Halfway : ElementwiseFeature {  // the whole form: a name and the arithmetic
  static constexpr const char* name = "Halfway";
  template <class V>
  static constexpr V forward(V p, V q) {
    return p - q;
  }
  template <class V>
  static constexpr PairGrad<V> backward(V, V, V g) {
    return {g, -g};
  }
};
#else
struct Halfway : ElementwiseFeature {  // no name, no arithmetic
};
#endif
using Encoder = Sequential<Input<8>, Dense<4>>;
Siamese<Encoder, Head<SqDiff, Halfway>> model;
