#pragma once
// The recurrent layers: LSTM, GRU and Bidirectional (one header each).
#include "bidirectional.hpp"
#include "gru.hpp"
#include "lstm.hpp"
