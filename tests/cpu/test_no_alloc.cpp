// After the first training step at a batch size, further steps on backend::Cpu allocate no heap
// memory. Every form of global operator new and the C library's malloc family are replaced by
// counting versions (glibc's __libc_* entry points do the work), so the count covers our code,
// sgemm's workspaces, the standard library and every thread, oneTBB's workers included. oneTBB's
// own task objects come from its scalable allocator (libtbbmalloc), which is not counted by these
// hooks; mmap is counted instead to show that it asks the system for no new memory.
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <new>

#include "models.hpp"

extern "C" {
void* __libc_malloc(std::size_t);
void __libc_free(void*);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
}

namespace {
std::atomic<bool> counting{false};
std::atomic<long> news{0}, mallocs{0}, mmaps{0};

void* counted_new(std::size_t n, std::size_t align) {
  if (counting.load(std::memory_order_relaxed)) news.fetch_add(1, std::memory_order_relaxed);
  void* p = align > alignof(std::max_align_t) ? __libc_memalign(align, n ? n : 1) : __libc_malloc(n ? n : 1);
  if (!p) throw std::bad_alloc();
  return p;
}
void count_malloc() {
  if (counting.load(std::memory_order_relaxed)) mallocs.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

void* operator new(std::size_t n) { return counted_new(n, 0); }
void* operator new[](std::size_t n) { return counted_new(n, 0); }
void* operator new(std::size_t n, std::align_val_t a) { return counted_new(n, std::size_t(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return counted_new(n, std::size_t(a)); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return counted_new(n, 0);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void operator delete(void* p) noexcept { __libc_free(p); }
void operator delete[](void* p) noexcept { __libc_free(p); }
void operator delete(void* p, std::size_t) noexcept { __libc_free(p); }
void operator delete[](void* p, std::size_t) noexcept { __libc_free(p); }
void operator delete(void* p, std::align_val_t) noexcept { __libc_free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { __libc_free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { __libc_free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { __libc_free(p); }

extern "C" {
void* malloc(std::size_t n) noexcept {
  count_malloc();
  return __libc_malloc(n);
}
void free(void* p) noexcept { __libc_free(p); }
void* calloc(std::size_t a, std::size_t b) noexcept {
  count_malloc();
  return __libc_calloc(a, b);
}
void* realloc(void* p, std::size_t n) noexcept {
  count_malloc();
  return __libc_realloc(p, n);
}
void* memalign(std::size_t a, std::size_t n) noexcept {
  count_malloc();
  return __libc_memalign(a, n);
}
void* aligned_alloc(std::size_t a, std::size_t n) noexcept {
  count_malloc();
  return __libc_memalign(a, n);
}
int posix_memalign(void** p, std::size_t a, std::size_t n) noexcept {
  count_malloc();
  *p = __libc_memalign(a, n);
  return *p ? 0 : ENOMEM;
}
void* mmap(void* addr, std::size_t len, int prot, int flags, int fd, off_t off) noexcept {
  if (counting.load(std::memory_order_relaxed)) mmaps.fetch_add(1, std::memory_order_relaxed);
  return reinterpret_cast<void*>(syscall(SYS_mmap, addr, len, prot, flags, fd, off));
}
}

using namespace siamese;
using namespace siamese::test;

namespace {
struct Counts {
  long news, mallocs, mmaps;
};
/// Runs step() once uncounted, then `steps` more times counted.
template <class Step>
Counts count_steps(Step step, int steps = 4) {
  step();
  news = mallocs = mmaps = 0;
  counting = true;
  for (int i = 0; i < steps; ++i) step();
  counting = false;
  return {news.load(), mallocs.load(), mmaps.load()};
}
void expect_none(const Counts& c) {
  INFO("operator new: " << c.news << ", malloc family: " << c.mallocs << ", mmap: " << c.mmaps);
  CHECK(c.news == 0);
  CHECK(c.mallocs == 0);
  CHECK(c.mmaps == 0);
}
}  // namespace

TEST_CASE("the hooks count: a vector allocates, a warmed-up one does not") {
  const Counts c = count_steps([] { std::vector<float> v(1000); }, 3);
  CHECK(c.news == 3);
  std::vector<float> keep;
  const Counts d = count_steps([&] { keep.assign(1000, 1.0f); }, 3);
  CHECK(d.news == 0);
  counting = true;
  void* p = std::malloc(10);
  counting = false;
  std::free(p);
  CHECK(mallocs.load() == 1);
}

TEST_CASE("steps 2 to 5 of the benchmark's pair model (Adam, BCE) allocate nothing") {
  Siamese<CnnEncoder, CnnHead, backend::Cpu> m(1);
  const auto batch = pair_batch<decltype(m)>(64, 2);
  Adam opt;
  float loss = 0;
  expect_none(count_steps([&] { loss = m.train_step(batch, BinaryCrossEntropy{}, opt); }));
  CHECK(std::isfinite(loss));
  Adam clipped;
  clipped.clip_norm = 1.0f;
  expect_none(count_steps([&] { loss = m.evaluate(batch, BinaryCrossEntropy{}); }));
  expect_none(count_steps([&] { loss = m.train_step(batch, BinaryCrossEntropy{}, clipped); }));
}

TEST_CASE("steps 2 to 5 of a triplet model allocate nothing") {
  Triplet<CnnEncoder, backend::Cpu> m(3);
  const auto batch = triplet_batch<decltype(m)>(64, 4);
  Adam opt;
  expect_none(count_steps([&] { m.train_step(batch, TripletLoss{}, opt); }));
}

TEST_CASE("steps 2 to 5 of an Embedder with NTXent, SupCon and MultiSimilarity allocate nothing") {
  Embedder<CnnEncoder, backend::Cpu> m(3);
  LabeledBatch batch;
  const auto pairs = pair_batch<Siamese<CnnEncoder, CnnHead, backend::Cpu>>(96, 4);
  batch.x = pairs.a;
  for (std::size_t i = 0; i < 96; ++i) batch.labels.push_back(float(i % 12));
  Adam opt;
  expect_none(count_steps([&] { m.train_step(batch, NTXent{}, opt); }));
  expect_none(count_steps([&] { m.train_step(batch, SupCon{}, opt); }));
  expect_none(count_steps([&] { m.train_step(batch, MultiSimilarity{}, opt); }));
}

TEST_CASE("steps 2 to 5 of an Embedder with ArcFace and CosFace (class weights in the model) allocate nothing") {
  Embedder<CnnEncoder, backend::Cpu, ClassWeights<12>> m(3);
  LabeledBatch batch;
  const auto pairs = pair_batch<Siamese<CnnEncoder, CnnHead, backend::Cpu>>(96, 4);
  batch.x = pairs.a;
  for (std::size_t i = 0; i < 96; ++i) batch.labels.push_back(float(i % 12));
  Adam opt;
  expect_none(count_steps([&] { m.train_step(batch, ArcFace{}, opt); }));
  expect_none(count_steps([&] { m.train_step(batch, CosFace{}, opt); }));
}

TEST_CASE("steps 2 to 5 of a model with BatchNorm, Concat and Same padding allocate nothing") {
  Siamese<MixedEncoder, MixedHead, backend::Cpu> m(5);
  const auto batch = pair_batch<decltype(m)>(300, 6);
  SGD sgd;
  sgd.momentum = 0.9f;
  expect_none(count_steps([&] { m.train_step(batch, Contrastive{}, sgd); }));
  expect_none(count_steps([&] { m.train_step(batch, BinaryCrossEntropy{}, sgd); }));
}

TEST_CASE("steps 2 to 5 of a text encoder (BertEmbeddings, residual feed-forward, LayerNorm, pooling) allocate nothing") {
  using Text = Sequential<Input<32>, BertEmbeddings<500, 64, 64>, Residual<FeedForward<128, 64>>, LayerNorm<1e-12f>,
                          ResidualBlock<Main<Dense<64, GELU>>, Shortcut<>, GELU>, MaskedMeanPool, L2Normalize<>>;
  Siamese<Text, Head<Cosine>, backend::Cpu> m(7);
  auto batch = pair_batch<decltype(m)>(48, 8);
  for (Tensor* t : {&batch.a, &batch.b})  // token ids, with padding after a length that varies by row
    for (std::size_t i = 0; i < t->size(); ++i) (*t).data()[i] = i % 32 < 8 + i / 32 % 20 ? float(1 + (i * 37) % 499) : 0.0f;
  Adam opt;
  float loss = 0;
  expect_none(count_steps([&] { loss = m.train_step(batch, BinaryCrossEntropy{}, opt); }));
  CHECK(std::isfinite(loss));
  expect_none(count_steps([&] { loss = m.evaluate(batch, BinaryCrossEntropy{}); }));
}

TEST_CASE("steps 2 to 5 of a text model with attention over padded token ids allocate nothing") {
  using Enc = Sequential<Input<24>, Embedding<300, 32>, Repeat<2, MultiHeadSelfAttention<32, 4>>, GlobalAvgPool1D>;
  Siamese<Enc, Head<SqDiff, Cosine>, backend::Cpu> m(7);
  PairBatch batch{Tensor(std::vector<std::size_t>{64, 24}), Tensor(std::vector<std::size_t>{64, 24}), {}};
  for (std::size_t i = 0; i < 64; ++i) {
    for (std::size_t t = 0; t < 24; ++t) {
      const bool valid = i % 3 == 2 ? (t * 7 + i) % 4 != 0 : t < 3 + i % 21;  // holes, or padding at the end
      batch.a.data()[i * 24 + t] = valid ? float(1 + (i * 31 + t * 7) % 299) : 0.0f;
      batch.b.data()[i * 24 + t] = t < 2 + i % 22 ? float(1 + (i * 17 + t * 5) % 299) : 0.0f;
    }
    batch.labels.push_back(float(i % 2));
  }
  Adam opt;
  float loss = 0;
  expect_none(count_steps([&] { loss = m.train_step(batch, BinaryCrossEntropy{}, opt); }));
  CHECK(std::isfinite(loss));
  expect_none(count_steps([&] { loss = m.evaluate(batch, BinaryCrossEntropy{}); }));
}
