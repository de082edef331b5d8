// The CUDA backend's kernels run on the host (backend::CudaEmulated) against backend::Reference: the
// kernels' index logic, tested on every machine, with or without a GPU.
#include <siamese/backend/cuda/emulated.cuh>

using B = siamese::backend::CudaEmulated;

#include "kernel_cases.cuh"
#include "sequence_cases.cuh"
#include "bert_cases.cuh"
#include "attention_cases.cuh"
