// A Siamese model's train_step given a TripletBatch.
// expect: static assertion failed: Siamese::train_step: the batch must be a PairBatch, a PairBatchOf<...>, or a type with members a and b
#include <siamese/siamese.hpp>
using namespace siamese;
using Encoder = Sequential<Input<8>, Dense<4>>;
float train(Siamese<Encoder>& m, const TripletBatch& t, const PairBatchOf<TensorView>& p) {
  Adam adam;
#ifdef SIAMESE_TWIN
  (void)t;
  return m.train_step(p, BinaryCrossEntropy{}, adam);
#else
  (void)p;
  return m.train_step(t, BinaryCrossEntropy{}, adam);
#endif
}
