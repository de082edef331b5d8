// embed() given a std::vector<float>: not a Tensor, a TensorView, nor (with <siamese/xtensor.hpp>) an xtensor.
// expect: static assertion failed: the model takes a Tensor, a TensorView, or (with <siamese/xtensor.hpp>) an xtensor container or expression as an input
#include <siamese/siamese.hpp>
using namespace siamese;
using Encoder = Sequential<Input<8>, Dense<4>>;
Tensor embed(Siamese<Encoder>& m) {
#ifdef SIAMESE_TWIN
  const Tensor x({2, 8});
#else
  const std::vector<float> x(16);
#endif
  return m.embed(x);
}
