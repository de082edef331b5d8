// Layers and whole models on backend::CudaEmulated (the CUDA backend's kernels run on the host)
// against backend::Reference and backend::Cpu: runs on every machine, with or without a GPU.
#include <siamese/backend/cuda/emulated.cuh>

using B = siamese::backend::CudaEmulated;

#include "layer_cases.cuh"
#include "model_cases.cuh"
