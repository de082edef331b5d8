// Layers and whole models on backend::Cuda against backend::Reference and backend::Cpu (exit 77
// without a GPU).
#include <siamese/backend/cuda/cuda.cuh>

using B = siamese::backend::Cuda;

#include "layer_cases.cuh"
#include "model_cases.cuh"
