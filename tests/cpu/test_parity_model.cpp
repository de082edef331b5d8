// Whole models on backend::Cpu and backend::Reference from the same seed: the same losses, gradients
// and parameters over several training steps, within float tolerance.
#include <algorithm>

#include "models.hpp"
#include "parity.hpp"

using namespace siamese;
using namespace siamese::test;

namespace {
template <class View>
std::vector<float> copy_of(const View& b) { return b.to_host(); }

double max_abs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, double(std::fabs(x)));
  return m;
}

/// Trains both models `steps` steps on `batch`; after each, compares the loss, every gradient
/// tensor (against the scale of that tensor, or a thousandth of the largest gradient when the tensor's
/// exact gradient is 0, as a last bias's under a translation-invariant loss) and the parameters.
template <class MC, class MR, class Batch, class Loss, class Opt>
void expect_same_training(MC& cpu, MR& ref, const Batch& batch, const Loss& loss, const Opt& opt, int steps,
                          double grad_tol, double param_tol) {
  for (int s = 0; s < steps; ++s) {
    CAPTURE(s);
    const float lc = cpu.train_step(batch, loss, opt), lr = ref.train_step(batch, loss, opt);
    CHECK(lc == doctest::Approx(lr).epsilon(1e-4));
    const auto gc = copy_of(cpu.gradients()), gr = copy_of(ref.gradients());
    const double floor = 1e-3 * max_abs(gr);
    for (const auto& t : ref.parameter_info()) {
      const std::vector<float> a(gc.begin() + t.offset, gc.begin() + t.offset + t.size),
          b(gr.begin() + t.offset, gr.begin() + t.offset + t.size);
      expect_close("gradient of " + t.name, a, b, grad_tol, grad_tol * std::max(floor, max_abs(b)));
    }
    expect_close("parameters", copy_of(cpu.parameters()), copy_of(ref.parameters()), param_tol, param_tol);
    expect_close("states", copy_of(cpu.states()), copy_of(ref.states()), 1e-4, 1e-5);
  }
}
}  // namespace

TEST_CASE("the benchmark's pair model: same losses and gradients for five SGD steps and three Adam steps") {
  using Cpu_ = Siamese<CnnEncoder, CnnHead, backend::Cpu>;
  using Ref_ = Siamese<CnnEncoder, CnnHead, backend::Reference>;
  const auto batch = pair_batch<Cpu_>(9, 3);
  {
    Cpu_ cpu(7);
    Ref_ ref(7);
    SGD sgd;
    sgd.learning_rate = 0.05f;
    sgd.momentum = 0.9f;
    expect_same_training(cpu, ref, batch, BinaryCrossEntropy{}, sgd, 5, 2e-3, 1e-5);
    const auto p = cpu.predict(batch.a, batch.b), q = ref.predict(batch.a, batch.b);
    expect_close("predict", p.data(), q.data(), p.size(), 1e-4, 1e-6);
  }
  {
    Cpu_ cpu(8);
    Ref_ ref(8);
    // Adam moves every weight by about lr on its first steps whatever the gradient's size, so the
    // parameters are compared at the scale of lr.
    expect_same_training(cpu, ref, batch, BinaryCrossEntropy{}, Adam{}, 3, 2e-3, 2e-5);
  }
}

TEST_CASE("the benchmark's encoder as a triplet model") {
  Triplet<CnnEncoder, backend::Cpu> cpu(5);
  Triplet<CnnEncoder, backend::Reference> ref(5);
  const auto batch = triplet_batch<decltype(cpu)>(7, 11);
  SGD sgd;
  sgd.learning_rate = 0.02f;
  expect_same_training(cpu, ref, batch, TripletLoss{1.0f, Distance::SquaredEuclidean}, sgd, 4, 2e-3, 1e-5);
  const auto e = cpu.embed(batch.anchor), f = ref.embed(batch.anchor);
  expect_close("embed", e.data(), f.data(), e.size(), 1e-4, 1e-5);
}

TEST_CASE("every other layer kind: BatchNorm, Same padding, stride 2, Concat, average pooling; three losses") {
  using Cpu_ = Siamese<MixedEncoder, MixedHead, backend::Cpu>;
  using Ref_ = Siamese<MixedEncoder, MixedHead, backend::Reference>;
  const auto batch = pair_batch<Cpu_>(13, 5);
  SGD sgd;
  sgd.learning_rate = 0.1f;
  sgd.momentum = 0.5f;
  sgd.clip_norm = 0.5f;
  {
    Cpu_ cpu(2);
    Ref_ ref(2);
    expect_same_training(cpu, ref, batch, BinaryCrossEntropy{}, sgd, 4, 2e-3, 1e-5);
  }
  {
    Cpu_ cpu(3);
    Ref_ ref(3);
    expect_same_training(cpu, ref, batch, Contrastive{1.5f}, sgd, 4, 2e-3, 1e-5);
  }
  Triplet<MixedEncoder, backend::Cpu> cpu(4);
  Triplet<MixedEncoder, backend::Reference> ref(4);
  const auto triplets = triplet_batch<decltype(cpu)>(6, 9);
  expect_same_training(cpu, ref, triplets, TripletLoss{0.5f, Distance::Cosine}, sgd, 4, 2e-3, 1e-5);
}
