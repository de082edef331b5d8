#pragma once
// The model whose checkpoints fuzz_checkpoint loads and make_seeds writes: small, with a parameter, a state
// (BatchNorm) and, once trained, optimizer slots. A Triplet model, since clang 14 cannot compile head.hpp (a
// float template argument, Dropout<0.1f>) and so no Siamese model.
#include <siamese/backend/reference/reference.hpp>
#include <siamese/layers/batchnorm.hpp>
#include <siamese/layers/dense.hpp>
#include <siamese/layers/reshape.hpp>
#include <siamese/model/sequential.hpp>
#include <siamese/model/triplet.hpp>

namespace fuzz {
using Model = siamese::Triplet<siamese::Sequential<siamese::Input<3>, siamese::Dense<2>, siamese::BatchNorm>,
                               siamese::backend::Reference>;
}  // namespace fuzz
