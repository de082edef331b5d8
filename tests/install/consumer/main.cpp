// An outside project using the installed library: a tiny Siamese model trains a few steps.
#include <siamese/siamese.hpp>

#include <cstdio>

using namespace siamese;
using Model = Siamese<Sequential<Input<6, 6, 1>, Conv2D<2, 3>, Flatten, Dense<4>>, Head<SqDiff, DiffSq, Cosine>>;

int main() {
  Model m(1);
  PairBatch b{Tensor({2, 6, 6, 1}), Tensor({2, 6, 6, 1}), {1, 0}};
  for (std::size_t i = 0; i < b.a.size(); ++i) b.a[i] = b.b[i] = float(i % 7) / 7.0f;
  b.b[5] = 3.0f;
  Adam opt;
  const float first = m.train_step(b, BinaryCrossEntropy{}, opt);
  float last = first;
  for (int i = 0; i < 50; ++i) last = m.train_step(b, BinaryCrossEntropy{}, opt);
  std::printf("consumer: %zu parameters, loss %.4f -> %.4f\n", Model::param_count, first, last);
  return last < first ? 0 : 1;
}
