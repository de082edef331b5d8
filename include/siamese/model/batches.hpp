#pragma once
// The batch types moved to core/batches.hpp, where data loaders and models both reach them; this path stays
// for code that includes it.
#include "../core/batches.hpp"
