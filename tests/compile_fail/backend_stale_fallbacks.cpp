// A backend that replaces a kernel of Reference but still lists it among its reference_fallbacks.
// expect: static assertion failed: backend: reference_fallbacks must name exactly the kernels
#include <siamese/backend/backend.hpp>
#include <siamese/backend/contract.hpp>
using namespace siamese::backend;
struct Stale : Cpu {
  static void embedding_forward(const EmbeddingArgs&) {}
#ifdef SIAMESE_TWIN
  static constexpr std::array<std::string_view, 2> reference_fallbacks{"to_device", "to_host"};
#else
  static constexpr std::array<std::string_view, 3> reference_fallbacks{"to_device", "to_host", "embedding_forward"};
#endif
};
static_assert(detail::honours_contract<Stale>());
