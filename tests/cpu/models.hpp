#pragma once
// Models and batches shared by the whole-model parity test and the allocation test.
#include <siamese/siamese.hpp>

#include "../support/gradcheck.hpp"

namespace siamese::test {

/// The benchmark's pair model: two conv blocks, Dense 128; head SqDiff, DiffSq, Cosine.
using CnnEncoder = Sequential<Input<28, 28, 1>, Conv2D<32, 3, 1, Padding::Valid, ReLU>, MaxPool2D<2>,
                              Conv2D<64, 3, 1, Padding::Valid, ReLU>, MaxPool2D<2>, Flatten, Dense<128>>;
using CnnHead = Head<SqDiff, DiffSq, Cosine, Classifier<Dense<64, ReLU>, Dropout<0.2f>, Dense<1>>>;

/// Every other layer kind: stride 2 with Same padding, BatchNorm, Tanh, average pooling, Concat of
/// global poolings.
using MixedEncoder = Sequential<Input<12, 11, 3>, Conv2D<8, 3, 2, Padding::Same, ReLU>, BatchNorm,
                                Conv2D<7, 3, 1, Padding::Same, Tanh>, AvgPool2D<2>,
                                Concat<GlobalMaxPool2D, GlobalAvgPool2D>, Dense<16, Sigmoid>>;
using MixedHead = Head<AbsDiff, Product, Euclidean, AbsDiffSq, Classifier<Dense<9, Tanh>, Dropout<0.3f>, Dense<1>>>;

inline Tensor random_tensor(std::vector<std::size_t> shape, std::uint64_t seed) {
  Tensor t(std::move(shape));
  const auto v = random_vector(t.size(), seed, 0.0f, 1.0f);
  std::copy(v.begin(), v.end(), t.begin());
  return t;
}
template <class M>
std::vector<std::size_t> batch_shape(std::size_t n) {
  std::vector<std::size_t> s{n};
  for (auto d : M::input_shape::dims) s.push_back(d);
  return s;
}
template <class M>
PairBatch pair_batch(std::size_t n, std::uint64_t seed) {
  PairBatch b{random_tensor(batch_shape<M>(n), seed), random_tensor(batch_shape<M>(n), seed + 1), {}};
  for (std::size_t i = 0; i < n; ++i) b.labels.push_back(float((i * 7 + seed) % 2));
  return b;
}
template <class M>
TripletBatch triplet_batch(std::size_t n, std::uint64_t seed) {
  return {random_tensor(batch_shape<M>(n), seed), random_tensor(batch_shape<M>(n), seed + 1),
          random_tensor(batch_shape<M>(n), seed + 2)};
}

}  // namespace siamese::test
