// A model on a type that means to be a backend (it derives from Cpu) but breaks a rule of the kernel
// contract: it replaces a kernel with the old positional signature. The model says that its backend
// parameter is not a backend, and the contract says which rule is broken.
// expect: static assertion failed: the model's backend parameter is not a backend
// expect: backend: a kernel's signature differs from backend::Reference's
#include <siamese/siamese.hpp>
using namespace siamese;
struct Positional : backend::Cpu {
#ifdef SIAMESE_TWIN
  static void add_bias(const backend::BiasArgs&) {}
#else
  static void add_bias(float*, const float*, std::size_t, std::size_t) {}
#endif
};
using Encoder = Sequential<Input<8>, Dense<4>>;
Siamese<Encoder, Head<SqDiff>, Positional> model;
