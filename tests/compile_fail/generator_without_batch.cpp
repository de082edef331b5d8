// fit() given training data that has size() but no batch(epoch, index, batch&).
// expect: static assertion failed: fit: the training data is not a batch generator
#include <siamese/siamese.hpp>
using namespace siamese;
using Encoder = Sequential<Input<8>, Dense<4>>;
struct Pairs {
  std::size_t size() const { return 1; }
#ifdef SIAMESE_TWIN
  void batch(std::size_t, std::size_t, PairBatch&) const {}
#endif
};
void train(Siamese<Encoder>& m) {
  Adam adam;
  fit(m, BinaryCrossEntropy{}, adam, Pairs{}, 2);
}
