// backend::Cuda named in a translation unit that g++ compiles.
// expect: static assertion failed: backend::Cuda can only be used in a translation unit compiled by nvcc (a .cu file)
#include <siamese/siamese.hpp>
using namespace siamese;
using Encoder = Sequential<Input<8>, Dense<4>>;
Siamese<Encoder, Head<SqDiff>, backend::Cuda> model;
