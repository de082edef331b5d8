#pragma once
// The Backend concept: what a type must provide for layers, losses and optimizers to run on it. A backend is a
// struct of static kernels over raw pointers in its own memory space (host for Reference and Cpu, the device's
// for Cuda), with a Buffer type that owns such memory, and every kernel of the interface that
// backend/contract.hpp lists. The concept is defined there, beside the kernel table and the rules it checks.
#include "contract.hpp"
