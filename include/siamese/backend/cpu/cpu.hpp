#pragma once
// backend::Cpu: the fast host backend. It derives from Reference and replaces kernels with vectorised
// (xsimd) and threaded (oneTBB) ones; every replacement is tested against Reference.
#include "../reference/reference.hpp"

namespace siamese::backend {

struct Cpu : Reference {
  static constexpr const char* name = "Cpu";
};

}  // namespace siamese::backend
