// Data-parallel fit() over MPI, run by meson as `mpirun -np 2` and `-np 3`: after k steps every rank's parameters
// equal one process's training on the global batches (Siamese with BCE and Contrastive, Triplet, Embedder with
// BatchHard mined over every rank's embeddings); a 2-rank checkpoint resumes bit-exactly on the ranks and correctly
// in one process; a step failing on one rank fails on all of them with nothing applied; ranks that disagree on the
// model or the data refuse to start and say so.
#include <siamese/data/samplers.hpp>
#include <siamese/layers/activation.hpp>
#include <siamese/layers/batchnorm.hpp>
#include <siamese/layers/dense.hpp>
#include <siamese/loss/multiple_negatives.hpp>
#include <siamese/loss/online.hpp>
#include <siamese/model/head.hpp>
#include <siamese/model/sequential.hpp>
#include <siamese/model/siamese.hpp>
#include <siamese/model/triplet.hpp>
#include <siamese/optim/optimizers.hpp>
#include <siamese/train/fit.hpp>
#include <siamese/train/mpi.hpp>

#include <doctest/doctest.h>
#include <tbb/global_control.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <unistd.h>

using namespace siamese;

namespace {
// One thread per rank: the ranks share the machine's cores.
tbb::global_control one_thread(tbb::global_control::max_allowed_parallelism, 1);

MpiCommunicator& world() {
  static MpiCommunicator c(60.0);
  return c;
}

constexpr std::size_t F = 10;  // input features
using Enc = Sequential<Input<F>, Dense<12, Tanh>, Dense<6>>;
using PairModel = Siamese<Enc, Head<SqDiff, DiffSq, Cosine, Classifier<Dense<8, ReLU>, Dense<1>>>>;
using TripModel = Triplet<Enc>;
using MineModel = Embedder<Enc>;

// Samples of `classes` classes: a class centre plus noise, a pure function of (seed, class, draw).
void sample(float* x, int cls, std::uint64_t key) {
  detail::Rng r(key);
  for (std::size_t k = 0; k < F; ++k) x[k] = std::sin(float(cls * 7 + int(k))) + 0.3f * (r.uniform() - 0.5f);
}

// Global batches of n, each a pure function of (epoch, index).
struct Pairs {
  std::size_t steps = 3, n = 10;
  std::size_t size() const { return steps; }
  void batch(std::size_t e, std::size_t i, PairBatch& b) const {
    detail::Rng r(1000 * e + i + 1);
    b.a = Tensor({n, F});
    b.b = Tensor({n, F});
    b.labels.resize(n);
    for (std::size_t s = 0; s < n; ++s) {
      const int ca = int(r.below(4)), cb = s % 2 ? ca : int((ca + 1 + r.below(3)) % 4);
      sample(b.a.data() + s * F, ca, r.next());
      sample(b.b.data() + s * F, cb, r.next());
      b.labels[s] = ca == cb;
    }
  }
};
struct Triplets {
  std::size_t steps = 3, n = 12;
  std::size_t size() const { return steps; }
  void batch(std::size_t e, std::size_t i, TripletBatch& b) const {
    detail::Rng r(7000 * e + i + 3);
    b.anchor = Tensor({n, F});
    b.positive = Tensor({n, F});
    b.negative = Tensor({n, F});
    for (std::size_t s = 0; s < n; ++s) {
      const int c = int(r.below(4)), o = int((c + 1 + r.below(3)) % 4);
      sample(b.anchor.data() + s * F, c, r.next());
      sample(b.positive.data() + s * F, c, r.next());
      sample(b.negative.data() + s * F, o, r.next());
    }
  }
};
std::vector<int> six_classes_of_four() {
  std::vector<int> labels;
  for (int c = 0; c < 6; ++c)
    for (int k = 0; k < 4; ++k) labels.push_back(c);
  return labels;
}
// P = 4 classes x K = 3 samples, class by class: the global batch of the P x K schedule, split over the ranks.
struct PK {
  std::size_t steps = 3;
  PKSchedule pk{six_classes_of_four(), 4, 3, 100};
  std::size_t size() const { return steps; }
  void batch(std::size_t e, std::size_t i, LabeledBatch& b) const {
    const PKBatch p = pk.batch(e, i);
    b.x = Tensor({p.indices.size(), F});
    b.labels.assign(p.labels.begin(), p.labels.end());
    for (std::size_t s = 0; s < p.indices.size(); ++s) sample(b.x.data() + s * F, p.labels[s], p.indices[s] * 31 + e);
  }
};

template <class M>
std::vector<float> params(const M& m) {
  return m.parameters().to_host();
}
double max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, double(std::abs(a[i] - b[i])));
  return d;
}
// Every rank holds the same bits.
bool same_on_all_ranks(const std::vector<float>& v) {
  const std::uint64_t mine = crc32_of(v.data(), v.size() * sizeof(float));
  std::vector<std::uint64_t> all(static_cast<std::size_t>(world().size()));
  world().allgather(&mine, all.data(), std::vector<std::size_t>(all.size(), sizeof mine), "test checksums");
  for (auto c : all)
    if (c != all[0]) return false;
  return true;
}

// The bucket sizes every equivalence is checked with: one sum after backward, a bucket per tensor (started layer by
// layer during backward), the default (one bucket for these small models).
constexpr std::size_t bucket_sizes[] = {0, 16, default_bucket_bytes};

// Trains the model type on `data` for 2 epochs on every rank and in one process; both must agree.
template <class M, class Loss, class Data>
void check_equivalence(const Loss& loss, const Data& data, double tol) {
  M single(7);
  const auto start = params(single);
  // SGD with momentum: Adam divides by the root of its second moment, which turns rounding noise in gradients near
  // zero into visible steps (it agrees on BCE, below, and in the resume test).
  SGD a1;
  a1.learning_rate = 0.1f;
  a1.momentum = 0.9f;
  FitOptions o;
  o.epochs = 2;
  o.progress = false;
  const History hs = fit(single, loss, a1, data, o);
  for (std::size_t bytes : bucket_sizes) {
    M dist(7);
    SGD a2 = SGD{};
    a2.learning_rate = 0.1f;
    a2.momentum = 0.9f;
    o.communicator = &world();
    o.bucket_bytes = bytes;
    const History hd = fit(dist, loss, a2, data, o);
    CHECK(dist.step() == single.step());
    const double moved = max_diff(params(single), start), err = max_diff(params(dist), params(single));
    INFO("rank " << world().rank() << " of " << world().size() << ", buckets of " << bytes
                 << " bytes: parameters moved by " << moved << ", distributed vs one process " << err);
    CHECK(moved > 100 * tol);  // the comparison means something: training changed the parameters
    CHECK(err < tol);
    if (bytes == 0) MESSAGE("largest difference " << err << " after parameters moved by up to " << moved);
    CHECK(same_on_all_ranks(params(dist)));
    REQUIRE(hd.loss.size() == hs.loss.size());
    for (std::size_t e = 0; e < hs.loss.size(); ++e) CHECK(std::abs(hd.loss[e] - hs.loss[e]) < 1e-5 * (1 + hs.loss[e]));
  }
}

// What fit() asks of the communicator, in order: s (a bucket's sum started), p (progress between layers), w (the wait
// before the optimizer step).
struct Recording final : CommunicatorWrapper {
  std::string log;
  using CommunicatorWrapper::CommunicatorWrapper;
  void start_sum(float* d, std::size_t n, const char* w) override {
    log += 's';
    inner.start_sum(d, n, w);
  }
  void progress() override {
    log += 'p';
    inner.progress();
  }
  void wait_sums(const char* w) override {
    log += 'w';
    inner.wait_sums(w);
  }
};

std::filesystem::path shared_temp(const char* name) {
  long pid = long(::getpid());
  world().broadcast(&pid, sizeof pid, 0, "the test's file name");
  return std::filesystem::temp_directory_path() /
         ("siamese_mpi_" + std::to_string(pid) + "_" + std::to_string(world().size()) + "_" + name);
}
}  // namespace

TEST_CASE("distributed fit equals one process on the global batch: Siamese with BCE (uneven shards)") {
  check_equivalence<PairModel>(BinaryCrossEntropy{}, Pairs{}, 1e-6);
}

TEST_CASE("distributed fit equals one process on the global batch: Siamese with Contrastive") {
  check_equivalence<PairModel>(Contrastive{1.0f}, Pairs{}, 1e-6);
}

TEST_CASE("distributed fit equals one process on the global batch: Triplet") {
  check_equivalence<TripModel>(TripletLoss{0.5f}, Triplets{}, 1e-6);
}

TEST_CASE("distributed fit equals one process on the global batch: Embedder with BatchHard over every rank") {
  check_equivalence<MineModel>(BatchHard{0.5f}, PK{}, 1e-6);
  // Mining inside each rank's shard alone would see other triplets: the global batch is what the ranks mine.
  check_equivalence<MineModel>(BatchAll{0.5f}, PK{}, 1e-6);
}

TEST_CASE("distributed fit equals one process on the global batch: ArcFace, its class weights broadcast and averaged") {
  // The class weights are model parameters: broadcast at the start, their gradients averaged with the encoder's.
  check_equivalence<Embedder<Enc, backend::Cpu, ClassWeights<6>>>(ArcFace{8.0f, 0.3f}, PK{}, 1e-6);
}

TEST_CASE("distributed fit equals one process on the global batch: MultipleNegativesRanking over every rank's pairs") {
  check_equivalence<PairModel>(MultipleNegativesRanking{}, Pairs{}, 1e-6);
}

TEST_CASE("the gradient buckets tile the trainable span from the top down, in whole tensors") {
  PairModel m(1);
  const auto& info = m.parameter_info();
  std::size_t top = 0;
  for (const auto& t : info) top = std::max(top, t.offset + t.size);
  for (std::size_t bytes :
       {std::size_t{0}, std::size_t{16}, std::size_t{200}, std::size_t{400}, default_bucket_bytes}) {
    const auto b = plan_buckets(info, bytes);
    INFO("buckets of " << bytes << " bytes");
    REQUIRE(!b.empty());
    CHECK(b.front().hi == top);
    CHECK(b.back().lo == 0);
    for (std::size_t i = 0; i < b.size(); ++i) {
      CHECK(b[i].lo < b[i].hi);
      if (i) CHECK(b[i].hi == b[i - 1].lo);  // contiguous, descending
      bool starts = false, one_tensor = false;
      for (const auto& t : info) {
        starts = starts || t.offset == b[i].lo;
        one_tensor = one_tensor || (t.offset == b[i].lo && t.offset + t.size == b[i].hi);
        CHECK_FALSE((t.offset < b[i].hi && t.offset + t.size > b[i].hi));  // no tensor straddles a boundary
      }
      CHECK(starts);
      if (bytes) CHECK(((b[i].hi - b[i].lo) * sizeof(float) <= bytes || one_tensor));
    }
    if (bytes == 0 || bytes == default_bucket_bytes) CHECK(b.size() == 1);
    if (bytes == 16) CHECK(b.size() == info.size());  // every tensor is larger than 16 bytes
    if (bytes == 400) CHECK(b.size() < plan_buckets(info, 200).size());
  }
}

TEST_CASE("buckets start while backward still runs, and every rank sums the same buckets") {
  Recording rec(world());
  PairModel m(3);
  SGD sgd;
  FitOptions o;
  o.progress = false;
  o.communicator = &rec;
  o.bucket_bytes = 16;
  Pairs data;
  data.steps = 2;
  fit(m, BinaryCrossEntropy{}, sgd, data, o);
  const std::size_t buckets = plan_buckets(m.parameter_info(), 16).size();
  INFO(rec.log);
  CHECK(std::size_t(std::count(rec.log.begin(), rec.log.end(), 's')) == 2 * buckets);
  CHECK(std::count(rec.log.begin(), rec.log.end(), 'w') == 2);
  // Each step: the head's and the top layer's buckets start, progress runs, the lowest layer's bucket starts after
  // it (overlap), then the wait.
  const std::size_t w1 = rec.log.find('w');
  const std::string step1 = rec.log.substr(0, w1);
  CHECK(step1.find('s') < step1.find('p'));
  CHECK(step1.find('p') < step1.rfind('s'));
  CHECK(same_on_all_ranks(params(m)));
}

TEST_CASE("a P x K schedule's shards, drawn by each rank alone, gather into the global P x K batch") {
  const std::size_t w = std::size_t(world().size()), me = std::size_t(world().rank());
  for (std::size_t p : {std::size_t{4}, std::size_t{5}}) {  // 4: whole classes on 2 ranks; 5: a class split
    const PKSchedule pk(six_classes_of_four(), p, 3, 42);
    for (std::size_t e = 0; e < 2; ++e)
      for (std::size_t i = 0; i < 3; ++i) {
        const PKBatch mine = pk.shard(e, i, me, w);
        const Shard sh = shard_rows(p * 3, me, w);
        REQUIRE(mine.indices.size() == sh.count);
        REQUIRE(mine.labels.size() == sh.count);
        // Gathered in rank order, as fit gathers an in-batch loss's rows.
        std::vector<std::size_t> counts(w);
        for (std::size_t r = 0; r < w; ++r) counts[r] = shard_rows(p * 3, r, w).count;
        std::vector<std::uint64_t> idx(p * 3), mine64(mine.indices.begin(), mine.indices.end());
        std::vector<int> lab(p * 3);
        auto bytes = counts;
        for (auto& c : bytes) c *= sizeof(std::uint64_t);
        world().allgather(mine64.data(), idx.data(), bytes, "test shards");
        for (auto& c : bytes) c = c / sizeof(std::uint64_t) * sizeof(int);
        world().allgather(mine.labels.data(), lab.data(), bytes, "test labels");
        const PKBatch global = pk.batch(e, i);
        CHECK(std::vector<std::size_t>(idx.begin(), idx.end()) == global.indices);
        CHECK(lab == global.labels);
        // P distinct classes x K samples, class by class, each sample of its class.
        const auto labels = six_classes_of_four();
        std::vector<int> seen;
        for (std::size_t c = 0; c < p; ++c) {
          for (std::size_t k = 0; k < 3; ++k) {
            CHECK(lab[c * 3 + k] == lab[c * 3]);
            CHECK(labels[idx[c * 3 + k]] == lab[c * 3]);
          }
          CHECK(std::find(seen.begin(), seen.end(), lab[c * 3]) == seen.end());
          seen.push_back(lab[c * 3]);
        }
        if (p % w == 0) {  // whole classes: this rank's rows start a class and hold P / world of them
          CHECK(sh.first % 3 == 0);
          CHECK(sh.count == p / w * 3);
        }
        // The same batch on every rank, and another for another (epoch, index).
        CHECK(same_on_all_ranks(std::vector<float>(lab.begin(), lab.end())));
        CHECK(pk.batch(e, i + 1).indices != global.indices);
      }
  }
  CHECK_THROWS_AS(PKSchedule(six_classes_of_four(), 4, 3, 1).shard(0, 0, w, w), std::invalid_argument);
}

TEST_CASE("BatchNorm's moving statistics are rank 0's on every rank after each step") {
  using Norm = Siamese<Sequential<Input<F>, Dense<12>, BatchNorm, Tanh, Dense<6>>, Head<SqDiff, Classifier<Dense<1>>>>;
  Norm m(4);
  const auto before = m.states().to_host();
  SGD sgd;
  FitOptions o;
  o.progress = false;
  o.communicator = &world();
  fit(m, BinaryCrossEntropy{}, sgd, Pairs{}, o);
  const auto after = m.states().to_host();
  CHECK(max_diff(before, after) > 1e-3);  // the statistics moved
  CHECK(same_on_all_ranks(after));
  CHECK(same_on_all_ranks(params(m)));
}

TEST_CASE("validation loss is reduced over the ranks") {
  PairModel dist(3), single(3);
  SGD s1, s2;
  FitOptions o;
  o.epochs = 1;
  o.progress = false;
  Pairs val{2, 9};
  const History hs = fit(single, BinaryCrossEntropy{}, s1, Pairs{}, val, o);
  o.communicator = &world();
  const History hd = fit(dist, BinaryCrossEntropy{}, s2, Pairs{}, val, o);
  REQUIRE(hd.val_loss.size() == 1);
  CHECK(std::abs(hd.val_loss[0] - hs.val_loss[0]) < 1e-5);
}

TEST_CASE("a checkpoint written by the ranks resumes bit-exactly on them and correctly in one process") {
  const auto path = shared_temp("resume.ckpt");
  const auto copy = path.string() + ".epoch1";
  Adam a;
  a.learning_rate = 0.01f;
  FitOptions o;
  o.progress = false;
  o.communicator = &world();
  o.bucket_bytes = 64;  // several buckets, started during backward
  o.epochs = 3;
  PairModel whole(5);
  Adam aw = a;
  fit(whole, BinaryCrossEntropy{}, aw, Pairs{}, o);

  o.checkpoint = path;
  o.epochs = 1;
  PairModel first(5);
  Adam af = a;
  fit(first, BinaryCrossEntropy{}, af, Pairs{}, o);
  if (world().rank() == 0) std::filesystem::copy_file(path, copy);
  // Another seed: what the ranks resume from must come from rank 0's checkpoint alone.
  PairModel resumed(11 + std::uint64_t(world().rank()));
  Adam ar = a;
  o.epochs = 3;
  const History h = fit(resumed, BinaryCrossEntropy{}, ar, Pairs{}, o);
  CHECK(h.resumed_at == 1);
  CHECK(h.loss.size() == 3);
  CHECK(resumed.step() == whole.step());
  CHECK(max_diff(params(resumed), params(whole)) == 0.0);
  CHECK(same_on_all_ranks(params(resumed)));

  if (world().rank() == 0) {  // one process resumes the ranks' checkpoint of epoch 1
    PairModel alone(99);
    Adam al = a;
    FitOptions one = o;
    one.communicator = nullptr;
    one.checkpoint = copy;
    const History h1 = fit(alone, BinaryCrossEntropy{}, al, Pairs{}, one);
    CHECK(h1.resumed_at == 1);
    CHECK(alone.step() == whole.step());
    CHECK(max_diff(params(alone), params(whole)) < 2e-5);
    std::filesystem::remove(path);
    std::filesystem::remove(copy);
  }
}

namespace {
struct FailsOnLastRank : Pairs {
  void batch(std::size_t e, std::size_t i, PairBatch& b) const {
    if (e == 0 && i == 2 && world().rank() == world().size() - 1) throw std::runtime_error("this rank's data failed");
    Pairs::batch(e, i, b);
  }
};
}  // namespace

namespace {
void check_failed_step(std::size_t bytes) {
  PairModel m(2);
  SGD sgd;
  FitOptions o;
  o.progress = false;
  o.communicator = &world();
  o.bucket_bytes = bytes;
  // Two steps succeed, the third fails on the last rank only.
  FitOptions two = o;
  Pairs data;
  data.steps = 2;
  PairModel ref(2);
  SGD sref;
  fit(ref, BinaryCrossEntropy{}, sref, data, two);
  const bool last = world().rank() == world().size() - 1;
  try {
    fit(m, BinaryCrossEntropy{}, sgd, FailsOnLastRank{}, o);
    FAIL("fit went on after a rank's batch failed");
  } catch (const DistributedError& e) {
    CHECK(!last);
    CHECK(std::string(e.what()).find("rank(s) " + std::to_string(world().size() - 1)) != std::string::npos);
  } catch (const std::runtime_error& e) {
    CHECK(last);
    CHECK(std::string(e.what()) == "this rank's data failed");
  }
  CHECK(m.step() == 2);
  CHECK(max_diff(params(m), params(ref)) == 0.0);
  // The ranks go on together afterwards.
  fit(m, BinaryCrossEntropy{}, sgd, data, o);
  CHECK(same_on_all_ranks(params(m)));
}

// Contrastive, whose gradient on the last rank's third step is NaN: the bucket of the encoder's top layer fails its
// check during backward, after the head's buckets have started.
struct NanGradientOnLastRank {
  Contrastive inner{1.0f};
  mutable int calls = 0;
  static constexpr std::size_t arity = 2;
  template <class B>
  float operator()(const float* emb, const float* labels, float* demb, std::size_t n, std::size_t d) const {
    const float l = inner.operator()<B>(emb, labels, demb, n, d);
    if (demb && ++calls == 3 && world().rank() == world().size() - 1) demb[0] = std::nanf("");
    return l;
  }
};
}  // namespace

TEST_CASE("a step failing on one rank fails on every rank and changes nothing") {
  // The failing rank joins the buckets the others sum (one, or one per tensor) before it reports.
  check_failed_step(default_bucket_bytes);
  check_failed_step(16);
}

TEST_CASE("a gradient that is not finite on one rank, found during backward, fails the step on every rank") {
  for (std::size_t bytes : {std::size_t{16}, std::size_t{0}}) {
    PairModel m(2), ref(2);
    SGD sgd, sref;
    FitOptions o;
    o.progress = false;
    o.communicator = &world();
    o.bucket_bytes = bytes;
    Pairs two;
    two.steps = 2;
    fit(ref, Contrastive{1.0f}, sref, two, o);
    const bool last = world().rank() == world().size() - 1;
    std::string what;
    try {
      fit(m, NanGradientOnLastRank{}, sgd, Pairs{}, o);
    } catch (const std::exception& e) {
      what = e.what();
      CHECK(last == (dynamic_cast<const NumericError*>(&e) != nullptr));
    }
    INFO(what);
    if (last) CHECK(what.find("the gradient of 'encoder/") != std::string::npos);
    if (last) CHECK(what.find("is not finite on rank " + std::to_string(world().rank())) != std::string::npos);
    else CHECK(what.find("rank(s) " + std::to_string(world().size() - 1)) != std::string::npos);
    CHECK(m.step() == 2);
    CHECK(max_diff(params(m), params(ref)) == 0.0);
    fit(m, Contrastive{1.0f}, sgd, two, o);  // the ranks go on together
    CHECK(same_on_all_ranks(params(m)));
  }
}

TEST_CASE("ranks that train different models refuse to start, naming both signatures") {
  using Other = Siamese<Sequential<Input<F>, Dense<5>>, Head<SqDiff, Classifier<Dense<1>>>>;
  FitOptions o;
  o.progress = false;
  o.communicator = &world();
  SGD sgd;
  std::string what;
  try {
    if (world().rank() == 1) {
      Other m(1);
      fit(m, BinaryCrossEntropy{}, sgd, Pairs{}, o);
    } else {
      PairModel m(1);
      fit(m, BinaryCrossEntropy{}, sgd, Pairs{}, o);
    }
  } catch (const DistributedError& e) {
    what = e.what();
  }
  INFO(what);
  CHECK(what.find("the ranks train different models") != std::string::npos);
  CHECK(what.find("rank 0: " + PairModel::signature()) != std::string::npos);
  CHECK(what.find("rank 1: " + Other::signature()) != std::string::npos);
}

TEST_CASE("ranks that disagree on the number of batches refuse to start") {
  FitOptions o;
  o.progress = false;
  o.communicator = &world();
  SGD sgd;
  PairModel m(1);
  Pairs data;
  data.steps = 3 + std::size_t(world().rank() == 1);
  std::string what;
  try {
    fit(m, BinaryCrossEntropy{}, sgd, data, o);
  } catch (const DistributedError& e) {
    what = e.what();
  }
  CHECK(what == "distributed training: the ranks disagree on the number of training batches per epoch: rank 0 has 3, "
                "rank 1 has 4");
  CHECK(m.step() == 0);
}
