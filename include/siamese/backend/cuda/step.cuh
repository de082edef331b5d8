#pragma once
// A training step without host waits (backend::Cuda): the loss stays in device memory, one reduction
// over every trainable gradient sets a non-finite count, one fused kernel clips and updates all
// trainable segments unless that count is non-zero, and the host reads loss and count once, at the
// step's end (model/device_step.hpp drives it). The status block, three floats in device memory:
//   [0] the loss, [1] non-finite values among the loss and the gradients, [2] the clip-by-norm factor.
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include "../../optim/optimizers.hpp"
#include "common.cuh"
#include "elementwise.cuh"

namespace siamese::backend::detail_cuda {

/// The trainable segments of a parameter buffer, by value: a kernel argument (about 1.3 KB).
struct StepSegments {
  static constexpr std::size_t capacity = 32;
  std::size_t count = 0, elements = 0, items = 0;
  std::size_t offset[capacity], size[capacity], row[capacity], first_elem[capacity], first_item[capacity];

  /// rows: row-sparse segments update whole rows (one item per row); otherwise one item per element.
  StepSegments(const std::vector<Segment>& segs, bool rows) {
    if (segs.size() > capacity)
      throw std::length_error("backend::Cuda: a device training step takes at most " + std::to_string(capacity) +
                              " trainable segments, this model has " + std::to_string(segs.size()));
    for (const Segment& s : segs) {
      offset[count] = s.offset;
      size[count] = s.size;
      row[count] = rows && s.row ? s.row : 0;
      first_elem[count] = elements;
      first_item[count] = items;
      elements += s.size;
      items += row[count] ? s.size / row[count] : s.size;
      ++count;
    }
  }
  /// The buffer offset of the e-th trainable element.
  __host__ __device__ std::size_t element(std::size_t e) const {
    std::size_t k = 0;
    while (k + 1 < count && first_elem[k + 1] <= e) ++k;
    return offset[k] + (e - first_elem[k]);
  }
  __host__ __device__ std::size_t segment_of_item(std::size_t t) const {
    std::size_t k = 0;
    while (k + 1 < count && first_item[k + 1] <= t) ++k;
    return k;
  }
};

template <class X>
struct StepOps {
  static constexpr std::size_t step_segment_capacity = StepSegments::capacity;

  /// While alive, the next loss kernel writes its mean to `loss` (device memory) and returns 0.
  struct ScalarSink {
    explicit ScalarSink(float* loss) { X::set_scalar_sink(loss); }
    ~ScalarSink() { X::set_scalar_sink(nullptr); }
    ScalarSink(const ScalarSink&) = delete;
    ScalarSink& operator=(const ScalarSink&) = delete;
  };

  /// status[1] = the number of non-finite values among the loss (status[0]) and the trainable gradients;
  /// status[2] = the factor clip-by-norm scales them by (1 when clip_norm is 0 or the norm is within it).
  static void step_check(const float* g, const std::vector<Segment>& segments, float* status, float clip_norm) {
    const StepSegments s(segments, false);
    reduce_sum_into<X>("step_check (non-finite gradients)", s.elements,
                       [=] __host__ __device__(std::size_t e) { return finite(g[s.element(e)]) ? 0.0 : 1.0; },
                       [=] __host__ __device__(double bad) {
                         status[1] = float(bad) + (finite(status[0]) ? 0.0f : 1.0f);
                         status[2] = 1.0f;
                       });
    if (clip_norm > 0)
      reduce_sum_into<X>("step_check (gradient norm)", s.elements,
                         [=] __host__ __device__(std::size_t e) {
                           const double v = g[s.element(e)];
                           return v * v;
                         },
                         [=] __host__ __device__(double ss) {
                           const double norm = ::sqrt(ss);
                           status[2] = norm > clip_norm ? float(clip_norm / norm) : 1.0f;
                         });
  }

  /// SGD over every trainable segment in one kernel, skipped when status[1] is not 0. As Clipping::apply,
  /// it clips the gradient buffer a.g in place (the model's own, writable).
  static void step_sgd(const SgdArgs& a, const std::vector<Segment>& segments, const float* status, float clip_value) {
    const typename ElementwiseOps<X>::SgdUpdate u{a.lr, a.momentum, a.weight_decay, a.nesterov};
    float* v = a.v;
    update_all("step_sgd", a.w, const_cast<float*>(a.g), segments, true, status, clip_value,
               [=] __host__ __device__(float* w, const float* g, std::size_t i) { u(w, g, v, i); });
  }
  /// Adam (AdamW) over every trainable segment in one kernel, skipped when status[1] is not 0; rows: row-sparse
  /// segments update only their touched rows (Adam::sparse_rows).
  static void step_adam(const AdamArgs& a, const std::vector<Segment>& segments, bool rows, const float* status,
                        float clip_value) {
    const typename ElementwiseOps<X>::AdamUpdate u(a.lr, a.beta1, a.beta2, a.eps, a.step, a.weight_decay,
                                                   a.decoupled);
    float *m = a.m, *v = a.v;
    update_all("step_adam", a.w, const_cast<float*>(a.g), segments, rows, status, clip_value,
               [=] __host__ __device__(float* w, const float* g, std::size_t i) { u(w, g, m, v, i); });
  }

  /// states = before where status[1] is not 0: a failed step leaves the moving statistics as they were.
  static void step_restore(const float* status, float* states, const float* before, std::size_t n) {
    X::launch("step_restore", n, [=] __host__ __device__(std::size_t i) {
      if (status[1] != 0.0f) states[i] = before[i];
    });
  }

  /// The status block on the host: the step's one wait for the stream.
  static void step_status(const float* status, float* host3) {
    float* pinned = static_cast<float*>(X::staging(3 * sizeof(float)));
    X::download_async(pinned, status, 3 * sizeof(float));
    X::synchronize();
    for (int k = 0; k < 3; ++k) host3[k] = pinned[k];
  }

  /// Host waits so far (copies to the host, synchronize, growth of scratch memory): tests count them.
  static std::size_t host_waits() { return X::host_waits(); }

  /// One item per element (or per row of a row-sparse segment): g scaled by status[2] and clipped to
  /// clip_value (0: off) in place, as Clipping::apply does, then up(w, g, i).
  template <class U>
  static void update_all(const char* what, float* w, float* g, const std::vector<Segment>& segments, bool rows,
                         const float* status, float clip_value, const U& up) {
    const StepSegments s(segments, rows);
    const float lim = clip_value;
    X::launch(what, s.items, [=] __host__ __device__(std::size_t t) {
      if (status[1] != 0.0f) return;
      const float f = status[2];
      const auto clipped = [&](std::size_t i) {
        float v = f == 1.0f ? g[i] : g[i] * f;
        if (lim > 0) v = v < -lim ? -lim : lim < v ? lim : v;
        g[i] = v;
      };
      const std::size_t k = s.segment_of_item(t);
      const std::size_t width = s.row[k];
      if (width == 0) {
        const std::size_t i = s.offset[k] + (t - s.first_item[k]);
        clipped(i);
        up(w, g, i);
        return;
      }
      const std::size_t o = s.offset[k] + (t - s.first_item[k]) * width;
      bool touched = false;
      for (std::size_t i = o; i < o + width; ++i) {
        clipped(i);
        touched = touched || g[i] != 0.0f;
      }
      if (touched)
        for (std::size_t i = o; i < o + width; ++i) up(w, g, i);
    });
  }
};

}  // namespace siamese::backend::detail_cuda
