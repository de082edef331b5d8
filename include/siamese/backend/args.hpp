#pragma once
// The arguments of the backend kernels, declared once and used by every backend (Reference, Cpu,
// Cuda): a kernel is `static void name(const NameArgs& a)`, called with designated initialisers,
// B::batchnorm_forward({.x = x, .y = y, ...}), so that no call depends on the order of a dozen pointers.
//
// The rule: only the flat kernels over one range of n floats with at most four parameters keep plain
// parameters: to_device, to_host, copy, fill, add, mul, scale, clip, sum_squares, all_finite. Every
// other kernel (a shape, a geometry, a kind, more than four parameters, or half of a forward/backward
// pair) takes its struct from args/<family>.hpp. Sizes are in floats; pointers are in the backend's memory.
#include "args/attention.hpp"
#include "args/bert_layers.hpp"
#include "args/conv.hpp"
#include "args/dense.hpp"
#include "args/elementwise.hpp"
#include "args/features.hpp"
#include "args/losses.hpp"
#include "args/normalization.hpp"
#include "args/optim.hpp"
#include "args/pool.hpp"
#include "args/sequence.hpp"
