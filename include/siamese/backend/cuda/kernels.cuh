#pragma once
// Kernels<X>: the whole kernel interface of a backend (the one backend::Reference defines), each
// kernel written once over an executor X. backend::Cuda is Kernels<DeviceExec>; the host emulation
// backend::CudaEmulated (emulated.cuh) is Kernels<HostExec>.
#include "attention.cuh"
#include "batchnorm.cuh"
#include "bert.cuh"
#include "conv.cuh"
#include "dense.cuh"
#include "elementwise.cuh"
#include "features.cuh"
#include "losses.cuh"
#include "pool.cuh"
#include "sequence.cuh"
#include "step.cuh"

namespace siamese::backend::detail_cuda {

template <class X>
struct Kernels : ElementwiseOps<X>,
                 DenseOps<X>,
                 ConvOps<X>,
                 PoolOps<X>,
                 BatchNormOps<X>,
                 FeatureOps<X>,
                 LossOps<X>,
                 SequenceOps<X>,
                 BertOps<X>,
                 AttentionOps<X>,
                 StepOps<X> {
  using exec = X;
  /// Waits until every queued kernel has finished (timing; errors of earlier kernels surface here).
  static void synchronize() { X::synchronize(); }
};

}  // namespace siamese::backend::detail_cuda
