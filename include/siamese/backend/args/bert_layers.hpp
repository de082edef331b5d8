#pragma once
// Argument structs of the kernels behind the text-encoder layers (GELU, LayerNorm, L2Normalize,
// MaskedMeanPool, BertEmbeddings): one struct per kernel, shared by Reference, Cpu and Cuda. Pointers
// are in the backend's memory space; matrices are row-major, `rows` rows of `cols` floats.
#include <cstddef>

namespace siamese::backend {

/// y[r, c] = gelu(x[r, c] + bias[c]), gelu(v) = v * Phi(v) = 0.5 v (1 + erf(v / sqrt 2)) (the exact form BERT
/// uses). bias null: nothing added. pre not null: receives x + bias (GELU's backward needs its input). y may
/// alias x.
struct GeluArgs {
  const float* x;
  float* y;
  float* pre;
  const float* bias;
  std::size_t rows, cols;
};

/// dx = dy * gelu'(pre), gelu'(v) = Phi(v) + v phi(v); dx may alias dy or pre.
struct GeluBackwardArgs {
  const float* pre;
  const float* dy;
  float* dx;
  std::size_t n;
};

/// Normalises each row over its `cols` values: y = gamma * (x - mean) * rstd + beta, rstd = 1 / sqrt(var + eps)
/// (biased variance, as Keras and PyTorch); mean[r] and rstd[r] are kept for backward. y may alias x.
struct LayerNormArgs {
  const float* x;
  float* y;
  const float* gamma;
  const float* beta;
  float* mean;
  float* rstd;
  std::size_t rows, cols;
  float eps;
};

/// With xhat = (x - mean) * rstd and g = dy * gamma: dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) per row;
/// dgamma = sum over rows of dy * xhat, dbeta = sum of dy (overwritten). dx, dgamma, dbeta may each be null
/// (dgamma and dbeta together). dx may alias x or dy.
struct LayerNormBackwardArgs {
  const float* x;
  const float* dy;
  const float* gamma;
  const float* mean;
  const float* rstd;
  float* dx;
  float* dgamma;
  float* dbeta;
  std::size_t rows, cols;
};

/// y = x / max(|x|, eps) per row (torch.nn.functional.normalize); norm[r] = |x_r| is kept for backward.
struct L2NormalizeArgs {
  const float* x;
  float* y;
  float* norm;
  std::size_t rows, cols;
  float eps;
};

/// dx = (dy - y (y . dy)) / |x| where |x| > eps, else dy / eps (the clamp is constant there). dx may alias dy.
struct L2NormalizeBackwardArgs {
  const float* y;
  const float* dy;
  const float* norm;
  float* dx;
  std::size_t rows, cols;
  float eps;
};

/// y[b, :] = mean of x[b, t, :] over the positions t < steps whose token id tokens[b * tokens_stride + t] is not
/// 0 (padding); tokens null: over every position. A sample with no such position gives zeros.
struct MaskedMeanPoolArgs {
  const float* x;
  float* y;
  const float* tokens;
  std::size_t tokens_stride;
  std::size_t n, steps, dim;
};

/// dx[b, t, :] = dy[b, :] / count_b at the positions that entered the mean, else 0.
struct MaskedMeanPoolBackwardArgs {
  const float* dy;
  float* dx;
  const float* tokens;
  std::size_t tokens_stride;
  std::size_t n, steps, dim;
};

/// sum[i, :] = word[ids[i], :] + position[i % steps, :] + token_type[:] (row 0 of the token-type table: a
/// single segment) for `rows` ids, `steps` per sample. Host backends throw ShapeError on an id that is not an
/// integer in [0, vocab) (naming the sample and the position); a device backend writes a NaN row instead.
struct BertEmbeddingsArgs {
  const float* ids;
  const float* word;
  const float* position;
  const float* token_type;
  float* sum;
  std::size_t rows, steps, vocab, dim;
};

/// The table gradients from dsum (the gradient of the sum above), overwritten: dword[v] = sum of dsum over the
/// ids v != 0 (id 0, [PAD], gets none, as PyTorch's padding_idx), zero for absent ids; dposition[t] = sum over
/// samples of dsum at position t (zero for t >= steps, up to max_len); dtoken_type row 0 = sum of every row
/// of dsum, the other type_vocab - 1 rows zero.
struct BertEmbeddingsBackwardArgs {
  const float* ids;
  const float* dsum;
  float* dword;
  float* dposition;
  float* dtoken_type;
  std::size_t rows, steps, vocab, dim, max_len, type_vocab;
};

}  // namespace siamese::backend
