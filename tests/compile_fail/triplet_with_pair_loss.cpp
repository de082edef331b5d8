// A Triplet model trained with a pair loss on logits.
// expect: static assertion failed: Triplet::train_step: the loss must be a triplet loss
#include <siamese/siamese.hpp>
using namespace siamese;
using Encoder = Sequential<Input<8>, Dense<4>>;
void train(Triplet<Encoder>& m, const TripletBatch& b) {
  SGD sgd;
#ifdef SIAMESE_TWIN
  m.train_step(b, TripletLoss{}, sgd);
#else
  m.train_step(b, BinaryCrossEntropy{}, sgd);
#endif
}
