// An Embedder without class weights trained with ArcFace, whose class weights the model must hold.
// expect: static assertion failed: Embedder::train_step: ArcFace and CosFace train class weights, which the model holds
#include <siamese/siamese.hpp>
using namespace siamese;
using Encoder = Sequential<Input<8>, Dense<4>>;
#ifdef SIAMESE_TWIN
void train(Embedder<Encoder, backend::Cpu, ClassWeights<3>>& m, const LabeledBatch& b) {
#else
void train(Embedder<Encoder>& m, const LabeledBatch& b) {
#endif
  SGD sgd;
  m.train_step(b, ArcFace{}, sgd);
}
