// An outside project using the installed library's xtensor part (siamese-xtensor): views a Tensor as an xtensor
// expression and back, and reads an ImageSet as xtensor (data/idx_xtensor.hpp).
#include <siamese/data/idx_xtensor.hpp>
#include <siamese/xtensor.hpp>

#include <cstdio>

int main() {
  siamese::Tensor t({2, 3});
  for (std::size_t i = 0; i < t.size(); ++i) t[i] = float(i);
  const siamese::Tensor twice = siamese::to_tensor(2.0f * siamese::as_xtensor(t));
  siamese::ImageSet set{.count = 1, .rows = 2, .cols = 3, .pixels = {0, 1, 2, 3, 4, 5}, .labels = {}};
  const bool ok = twice.shape() == t.shape() && twice[5] == 10.0f && siamese::as_xtensor(set)(0, 1, 2, 0) == 5.0f;
  std::printf("consumer xtensor: %s\n", ok ? "2 * t computed" : "WRONG");
  return ok ? 0 : 1;
}
