/* N-API addon: single-precision GEMM (OpenBLAS when linked, else portable C), tanh, sum, transpose, concat, GELU, AdamW, LayerNorm
 * fused causal attention and target-token log-probabilities on tensors that live in the
 * tfjs wasm backend's heap, addressed by byte offsets into the wasm memory's ArrayBuffer, so no tensor data is copied. */
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "attention.h"
#include "elementwise.h"
#include "layer_norm.h"
#include "sgemm_portable.h"
#include "token_logprobs.h"
#include "transpose.h"

#ifdef RLHF_USE_OPENBLAS
/* Our own prototypes (ABI-identical to cblas.h) so the build does not depend on which cblas.h variant is installed. */
void cblas_sgemm(int order, int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc);
void openblas_set_num_threads(int n);
int openblas_get_num_threads(void);
#define CBLAS_ROW_MAJOR 101
#define CBLAS_NO_TRANS 111
#define CBLAS_TRANS 112
#define BLAS_NAME "openblas"
#else
#define BLAS_NAME "portable"
#endif

#define CHECK(call)                                       \
  do {                                                    \
    if ((call) != napi_ok) return throw_last(env, #call); \
  } while (0)

static napi_value throw_last(napi_env env, const char *what) {
  const napi_extended_error_info *info = NULL;
  napi_get_last_error_info(env, &info);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) {
    char msg[256];
    snprintf(msg, sizeof msg, "%s failed: %s", what, info && info->error_message ? info->error_message : "unknown");
    napi_throw_error(env, NULL, msg);
  }
  return NULL;
}

static napi_value throw_range(napi_env env, const char *msg) {
  napi_throw_range_error(env, NULL, msg);
  return NULL;
}

static void gemm(int portable, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc) {
#ifdef RLHF_USE_OPENBLAS
  if (!portable) {
    cblas_sgemm(CBLAS_ROW_MAJOR, ta ? CBLAS_TRANS : CBLAS_NO_TRANS, tb ? CBLAS_TRANS : CBLAS_NO_TRANS, m, n, k, alpha,
                a, lda, b, ldb, beta, c, ldc);
    return;
  }
#else
  (void)portable;
#endif
  sgemm_portable(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

static int get_int(napi_env env, napi_value v, int64_t *out) {
  return napi_get_value_int64(env, v, out) == napi_ok;
}

/* A boolean; an absent (NULL) or undefined argument reads as false. */
static int get_bool(napi_env env, napi_value v, bool *out) {
  napi_valuetype t;
  if (v == NULL) {
    *out = false;
    return 1;
  }
  if (napi_typeof(env, v, &t) != napi_ok) return 0;
  if (t == napi_undefined) {
    *out = false;
    return 1;
  }
  return napi_get_value_bool(env, v, out) == napi_ok;
}

/* A typed array's data and length, or 0 if v is not a typed array of the wanted element type. */
static int get_typed(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *len) {
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) return 0;
  napi_typedarray_type type;
  void *p = NULL;
  if (napi_get_typedarray_info(env, v, &type, len, &p, NULL, NULL) != napi_ok || type != want) return 0;
  *data = p;
  return 1;
}

/* A Float32Array's data and length, or 0 if v is not one. */
static int get_f32(napi_env env, napi_value v, float **data, size_t *len) {
  void *p = NULL;
  if (!get_typed(env, v, napi_float32_array, &p, len)) return 0;
  *data = p;
  return 1;
}

/* sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, portable?): row-major, on Float32Arrays. */
static napi_value js_sgemm(napi_env env, napi_callback_info info) {
  size_t argc = 14;
  napi_value argv[14];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 13) return throw_range(env, "sgemm expects 13 or 14 arguments");
  bool ta, tb, portable;
  int64_t m, n, k, lda, ldb, ldc;
  double alpha, beta;
  float *a, *b, *c;
  size_t la, lb, lc;
  if (!get_bool(env, argv[0], &ta) || !get_bool(env, argv[1], &tb) || !get_int(env, argv[2], &m) ||
      !get_int(env, argv[3], &n) || !get_int(env, argv[4], &k) || napi_get_value_double(env, argv[5], &alpha) != napi_ok ||
      !get_f32(env, argv[6], &a, &la) || !get_int(env, argv[7], &lda) || !get_f32(env, argv[8], &b, &lb) ||
      !get_int(env, argv[9], &ldb) || napi_get_value_double(env, argv[10], &beta) != napi_ok ||
      !get_f32(env, argv[11], &c, &lc) || !get_int(env, argv[12], &ldc) ||
      !get_bool(env, argc > 13 ? argv[13] : NULL, &portable)) {
    napi_throw_type_error(env, NULL,
                          "sgemm(transA: boolean, transB: boolean, m, n, k, alpha, a: Float32Array, lda, "
                          "b: Float32Array, ldb, beta, c: Float32Array, ldc, portable?: boolean)");
    return NULL;
  }
  if (m < 0 || n < 0 || k < 0 || m > INT32_MAX || n > INT32_MAX || k > INT32_MAX) return throw_range(env, "sgemm: bad m, n or k");
  int64_t ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
  if (lda < (ac > 1 ? ac : 1) || ldb < (bc > 1 ? bc : 1) || ldc < (n > 1 ? n : 1))
    return throw_range(env, "sgemm: a leading dimension is smaller than its row");
  if ((ar > 0 && (uint64_t)((ar - 1) * lda + ac) > la) || (br > 0 && (uint64_t)((br - 1) * ldb + bc) > lb) ||
      (m > 0 && (uint64_t)((m - 1) * ldc + n) > lc))
    return throw_range(env, "sgemm: a matrix extends past the end of its array");
  gemm(portable, ta, tb, (int)m, (int)n, (int)k, (float)alpha, a, (int)lda, b, (int)ldb, (float)beta, c, (int)ldc);
  return NULL;
}

/* Batch index source: an Int32Array with one entry per output batch, or a number (0: always batch 0; 1: batch i). */
typedef struct {
  const int32_t *idx;
  int step;
} batch_map;

static int get_batch_map(napi_env env, napi_value v, int64_t batch, batch_map *out) {
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok) return 0;
  if (is_ta) {
    size_t len;
    void *p;
    if (!get_typed(env, v, napi_int32_array, &p, &len) || (int64_t)len < batch) return 0;
    out->idx = p;
    out->step = 0;
    return 1;
  }
  int64_t step;
  if (!get_int(env, v, &step) || (step != 0 && step != 1)) return 0;
  out->idx = NULL;
  out->step = (int)step;
  return 1;
}

static inline int64_t batch_at(const batch_map *map, int64_t i) { return map->idx ? map->idx[i] : i * map->step; }

/* Checks that `batch` matrices of `elems` floats, at map-chosen indices from byte offset `off`, lie inside the heap. */
static int in_heap(const batch_map *map, int64_t batch, int64_t off, int64_t elems, size_t heap_bytes) {
  if (off < 0 || off % 4 != 0) return 0;
  for (int64_t i = 0; i < batch; i++) {
    int64_t j = batch_at(map, i);
    if (j < 0 || (uint64_t)(off + (j + 1) * elems * 4) > heap_bytes) return 0;
  }
  return 1;
}

/* batchMatMul(heap, aOff, bOff, cOff, batch, m, n, k, transA, transB, aMap, bMap, portable?):
 * C[i] = op(A[aMap(i)]) * op(B[bMap(i)]) for i < batch, each matrix dense row-major; offsets are bytes into heap. */
static napi_value js_batch_mat_mul(napi_env env, napi_callback_info info) {
  size_t argc = 13;
  napi_value argv[13];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 12) return throw_range(env, "batchMatMul expects 12 or 13 arguments");
  void *heap = NULL;
  size_t heap_bytes = 0;
  bool is_ab = false;
  if (napi_is_arraybuffer(env, argv[0], &is_ab) != napi_ok || !is_ab ||
      napi_get_arraybuffer_info(env, argv[0], &heap, &heap_bytes) != napi_ok) {
    napi_throw_type_error(env, NULL, "batchMatMul: heap must be an ArrayBuffer (the wasm memory buffer)");
    return NULL;
  }
  int64_t a_off, b_off, c_off, batch, m, n, k;
  bool ta, tb, portable;
  batch_map amap, bmap;
  if (!get_int(env, argv[1], &a_off) || !get_int(env, argv[2], &b_off) || !get_int(env, argv[3], &c_off) ||
      !get_int(env, argv[4], &batch) || !get_int(env, argv[5], &m) || !get_int(env, argv[6], &n) ||
      !get_int(env, argv[7], &k) || !get_bool(env, argv[8], &ta) || !get_bool(env, argv[9], &tb) ||
      batch < 0 || !get_batch_map(env, argv[10], batch, &amap) || !get_batch_map(env, argv[11], batch, &bmap) ||
      !get_bool(env, argc > 12 ? argv[12] : NULL, &portable)) {
    napi_throw_type_error(env, NULL,
                          "batchMatMul(heap: ArrayBuffer, aOff, bOff, cOff, batch, m, n, k, transA, transB, "
                          "aMap: Int32Array | 0 | 1, bMap: Int32Array | 0 | 1, portable?: boolean)");
    return NULL;
  }
  if (m < 0 || n < 0 || k < 0 || m > INT32_MAX || n > INT32_MAX || k > INT32_MAX)
    return throw_range(env, "batchMatMul: bad m, n or k");
  batch_map cmap = {NULL, 1};
  if (!in_heap(&amap, batch, a_off, m * k, heap_bytes) || !in_heap(&bmap, batch, b_off, k * n, heap_bytes) ||
      !in_heap(&cmap, batch, c_off, m * n, heap_bytes))
    return throw_range(env, "batchMatMul: an operand lies outside the heap or is not 4-byte aligned");
  char *base = heap;
  for (int64_t i = 0; i < batch; i++) {
    const float *a = (const float *)(base + a_off) + batch_at(&amap, i) * m * k;
    const float *b = (const float *)(base + b_off) + batch_at(&bmap, i) * k * n;
    float *c = (float *)(base + c_off) + i * m * n;
    int lda = (int)(ta ? m : k), ldb = (int)(tb ? k : n);
    gemm(portable, ta, tb, (int)m, (int)n, (int)k, 1.0f, a, lda > 0 ? lda : 1, b, ldb > 0 ? ldb : 1, 0.0f, c,
         n > 0 ? (int)n : 1);
  }
  return NULL;
}

/* The heap's data and size when v is an ArrayBuffer, else throws and returns 0. */
static int get_heap(napi_env env, napi_value v, const char *fn, char **data, size_t *bytes) {
  bool is_ab = false;
  void *p = NULL;
  if (napi_is_arraybuffer(env, v, &is_ab) != napi_ok || !is_ab || napi_get_arraybuffer_info(env, v, &p, bytes) != napi_ok) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s: heap must be an ArrayBuffer (the wasm memory buffer)", fn);
    napi_throw_type_error(env, NULL, msg);
    return 0;
  }
  *data = p;
  return 1;
}

/* Whether `count` floats from byte offset `off` lie inside a heap of `bytes` bytes, 4-byte aligned. */
static int span_ok(int64_t off, int64_t count, size_t bytes) {
  return off >= 0 && count >= 0 && off % 4 == 0 && (uint64_t)off + (uint64_t)count * 4 <= bytes;
}

/* tanh(heap, xOff, yOff, n): y = tanh(x) elementwise over n floats. */
static napi_value js_tanh(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char *heap;
  size_t bytes;
  if (argc < 4) return throw_range(env, "tanh expects 4 arguments");
  if (!get_heap(env, argv[0], "tanh", &heap, &bytes)) return NULL;
  int64_t x_off, y_off, n;
  if (!get_int(env, argv[1], &x_off) || !get_int(env, argv[2], &y_off) || !get_int(env, argv[3], &n)) {
    napi_throw_type_error(env, NULL, "tanh(heap: ArrayBuffer, xOff: number, yOff: number, n: number)");
    return NULL;
  }
  if (!span_ok(x_off, n, bytes) || !span_ok(y_off, n, bytes))
    return throw_range(env, "tanh: an operand lies outside the heap or is not 4-byte aligned");
  tanh_f32((const float *)(heap + x_off), (float *)(heap + y_off), (size_t)n);
  return NULL;
}

/* sum(heap, xOff, outOff, outer, reduced, inner): out[p, q] = sum_r x[p, r, q]. */
static napi_value js_sum(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char *heap;
  size_t bytes;
  if (argc < 6) return throw_range(env, "sum expects 6 arguments");
  if (!get_heap(env, argv[0], "sum", &heap, &bytes)) return NULL;
  int64_t x_off, out_off, outer, reduced, inner;
  if (!get_int(env, argv[1], &x_off) || !get_int(env, argv[2], &out_off) || !get_int(env, argv[3], &outer) ||
      !get_int(env, argv[4], &reduced) || !get_int(env, argv[5], &inner)) {
    napi_throw_type_error(env, NULL, "sum(heap: ArrayBuffer, xOff, outOff, outer, reduced, inner)");
    return NULL;
  }
  if (outer < 0 || reduced < 0 || inner < 0 || (reduced > 0 && outer > INT64_MAX / 4 / reduced) ||
      (inner > 0 && outer * reduced > INT64_MAX / 4 / inner))
    return throw_range(env, "sum: bad dimensions");
  if (!span_ok(x_off, outer * reduced * inner, bytes) || !span_ok(out_off, outer * inner, bytes))
    return throw_range(env, "sum: an operand lies outside the heap or is not 4-byte aligned");
  sum_f32((const float *)(heap + x_off), (float *)(heap + out_off), (size_t)outer, (size_t)reduced, (size_t)inner);
  return NULL;
}

/* Reads `count` int64 arguments from argv into out; 0 (with a TypeError thrown) when one is not a number. */
static int get_ints(napi_env env, napi_value *argv, int count, int64_t *out, const char *usage) {
  for (int i = 0; i < count; i++) {
    if (!get_int(env, argv[i], &out[i])) {
      napi_throw_type_error(env, NULL, usage);
      return 0;
    }
  }
  return 1;
}

/* gelu(heap, xOff, yOff, n): y = gelu(x), the tanh form of GPT-2. */
static napi_value js_gelu(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char *heap;
  size_t bytes;
  int64_t a[3];
  if (argc < 4) return throw_range(env, "gelu expects 4 arguments");
  if (!get_heap(env, argv[0], "gelu", &heap, &bytes)) return NULL;
  if (!get_ints(env, argv + 1, 3, a, "gelu(heap: ArrayBuffer, xOff, yOff, n)")) return NULL;
  if (!span_ok(a[0], a[2], bytes) || !span_ok(a[1], a[2], bytes))
    return throw_range(env, "gelu: an operand lies outside the heap or is not 4-byte aligned");
  gelu_f32((const float *)(heap + a[0]), (float *)(heap + a[1]), (size_t)a[2]);
  return NULL;
}

/* geluGrad(heap, xOff, dyOff, dxOff, n): dx = dy * gelu'(x). */
static napi_value js_gelu_grad(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char *heap;
  size_t bytes;
  int64_t a[4];
  if (argc < 5) return throw_range(env, "geluGrad expects 5 arguments");
  if (!get_heap(env, argv[0], "geluGrad", &heap, &bytes)) return NULL;
  if (!get_ints(env, argv + 1, 4, a, "geluGrad(heap: ArrayBuffer, xOff, dyOff, dxOff, n)")) return NULL;
  if (!span_ok(a[0], a[3], bytes) || !span_ok(a[1], a[3], bytes) || !span_ok(a[2], a[3], bytes))
    return throw_range(env, "geluGrad: an operand lies outside the heap or is not 4-byte aligned");
  gelu_grad_f32((const float *)(heap + a[0]), (const float *)(heap + a[1]), (float *)(heap + a[2]), (size_t)a[3]);
  return NULL;
}

/* adamw(heap, pOff, gOff, mOff, vOff, pOutOff, mOutOff, vOutOff, n, beta1, beta2, stepSize, epsHat, decay).
 * The three outputs must not overlap each other or the inputs (they are fresh tensors). */
static napi_value js_adamw(napi_env env, napi_callback_info info) {
  size_t argc = 14;
  napi_value argv[14];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char *heap;
  size_t bytes;
  int64_t a[8];
  double h[5];
  const char *usage = "adamw(heap: ArrayBuffer, pOff, gOff, mOff, vOff, pOutOff, mOutOff, vOutOff, n, beta1, beta2, "
                      "stepSize, epsHat, decay)";
  if (argc < 14) return throw_range(env, "adamw expects 14 arguments");
  if (!get_heap(env, argv[0], "adamw", &heap, &bytes)) return NULL;
  if (!get_ints(env, argv + 1, 8, a, usage)) return NULL;
  for (int i = 0; i < 5; i++) {
    if (napi_get_value_double(env, argv[9 + i], &h[i]) != napi_ok) {
      napi_throw_type_error(env, NULL, usage);
      return NULL;
    }
  }
  int64_t n = a[7];
  for (int i = 0; i < 7; i++)
    if (!span_ok(a[i], n, bytes)) return throw_range(env, "adamw: an operand lies outside the heap or is not 4-byte aligned");
  for (int o = 4; o < 7; o++)
    for (int i = 0; i < 7; i++)
      if (i != o && a[i] < a[o] + n * 4 && a[o] < a[i] + n * 4 && n > 0)
        return throw_range(env, "adamw: an output overlaps another operand");
  adamw_params hp = {(float)h[0], (float)h[1], (float)h[2], (float)h[3], (float)h[4]};
  float *f = (float *)heap;
  adamw_f32(f + a[0] / 4, f + a[1] / 4, f + a[2] / 4, f + a[3] / 4, f + a[4] / 4, f + a[5] / 4, f + a[6] / 4, (size_t)n, hp);
  return NULL;
}

/* transpose(heap, xOff, yOff, shape: Int32Array, perm: Int32Array): y = x with axes permuted, 4-byte elements. */
static napi_value js_transpose(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  const char *usage = "transpose(heap: ArrayBuffer, xOff, yOff, shape: Int32Array, perm: Int32Array)";
  char *heap;
  size_t bytes;
  if (argc < 5) return throw_range(env, "transpose expects 5 arguments");
  if (!get_heap(env, argv[0], "transpose", &heap, &bytes)) return NULL;
  int64_t offs[2];
  if (!get_ints(env, argv + 1, 2, offs, usage)) return NULL;
  int32_t *arr[2];
  size_t len[2];
  for (int i = 0; i < 2; i++) {
    void *p;
    if (!get_typed(env, argv[3 + i], napi_int32_array, &p, &len[i])) {
      napi_throw_type_error(env, NULL, usage);
      return NULL;
    }
    arr[i] = p;
  }
  if (len[0] != len[1] || len[0] > TRANSPOSE_MAX_RANK) return throw_range(env, "transpose: shape and perm differ in length or rank > 8");
  int rank = (int)len[0];
  int64_t shape[TRANSPOSE_MAX_RANK];
  int seen[TRANSPOSE_MAX_RANK] = {0};
  int64_t total = 1;
  for (int d = 0; d < rank; d++) {
    if (arr[0][d] < 0 || arr[1][d] < 0 || arr[1][d] >= rank || seen[arr[1][d]]++)
      return throw_range(env, "transpose: perm is not a permutation of 0..rank-1, or a dim is negative");
    shape[d] = arr[0][d];
    total *= shape[d];
  }
  if (!span_ok(offs[0], total, bytes) || !span_ok(offs[1], total, bytes))
    return throw_range(env, "transpose: an operand lies outside the heap or is not 4-byte aligned");
  if (total > 0 && offs[0] < offs[1] + total * 4 && offs[1] < offs[0] + total * 4)
    return throw_range(env, "transpose: input and output overlap");
  transpose_u32((const uint32_t *)(heap + offs[0]), (uint32_t *)(heap + offs[1]), rank, shape, arr[1]);
  return NULL;
}

/* concat(heap, yOff, outer, offs: Float64Array, inners: Float64Array): along one axis, input i viewed as
 * [outer, inners[i]] at byte offset offs[i]; the output [outer, sum of inners] at yOff. 4-byte elements. */
#define CONCAT_MAX_INPUTS 64
static napi_value js_concat(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  const char *usage = "concat(heap: ArrayBuffer, yOff, outer, offs: Float64Array, inners: Float64Array)";
  char *heap;
  size_t bytes;
  if (argc < 5) return throw_range(env, "concat expects 5 arguments");
  if (!get_heap(env, argv[0], "concat", &heap, &bytes)) return NULL;
  int64_t a[2];
  if (!get_ints(env, argv + 1, 2, a, usage)) return NULL;
  double *arr[2];
  size_t len[2];
  for (int i = 0; i < 2; i++) {
    void *p;
    if (!get_typed(env, argv[3 + i], napi_float64_array, &p, &len[i])) {
      napi_throw_type_error(env, NULL, usage);
      return NULL;
    }
    arr[i] = p;
  }
  int64_t outer = a[1];
  if (len[0] != len[1] || len[0] < 1 || len[0] > CONCAT_MAX_INPUTS || outer < 0)
    return throw_range(env, "concat: offs and inners must have the same length in [1, 64], outer >= 0");
  int count = (int)len[0];
  const uint32_t *xs[CONCAT_MAX_INPUTS];
  int64_t inner[CONCAT_MAX_INPUTS];
  int64_t row = 0;
  for (int i = 0; i < count; i++) {
    double off = arr[0][i], in = arr[1][i];
    if (!(off >= 0 && off <= (double)bytes && in >= 0 && in <= (double)bytes) || off != (double)(int64_t)off || in != (double)(int64_t)in)
      return throw_range(env, "concat: an offset or inner size is not a non-negative integer inside the heap");
    inner[i] = (int64_t)in;
    if (outer > 0 && inner[i] > 0 && !span_ok((int64_t)off, outer * inner[i], bytes))
      return throw_range(env, "concat: an input lies outside the heap or is not 4-byte aligned");
    xs[i] = (const uint32_t *)(heap + (int64_t)off);
    row += inner[i];
  }
  if (!span_ok(a[0], outer * row, bytes)) return throw_range(env, "concat: the output lies outside the heap or is not 4-byte aligned");
  for (int i = 0; i < count; i++) {
    int64_t off = (const char *)xs[i] - heap;
    if (outer * inner[i] > 0 && off < a[0] + outer * row * 4 && a[0] < off + outer * inner[i] * 4)
      return throw_range(env, "concat: an input overlaps the output");
  }
  concat_rows_u32(xs, inner, count, outer, (uint32_t *)(heap + a[0]));
  return NULL;
}

/* Reads `count` byte offsets, checks each spans `elems[i]` floats inside the heap, and returns float pointers. */
static int get_spans(napi_env env, napi_value *argv, int count, const int64_t *elems, char *heap, size_t bytes,
                     float **out, const char *usage, const char *fn) {
  int64_t off[8];
  if (!get_ints(env, argv, count, off, usage)) return 0;
  for (int i = 0; i < count; i++) {
    if (!span_ok(off[i], elems[i], bytes)) {
      char msg[128];
      snprintf(msg, sizeof msg, "%s: operand %d lies outside the heap or is not 4-byte aligned", fn, i);
      throw_range(env, msg);
      return 0;
    }
    out[i] = (float *)(heap + off[i]);
  }
  return 1;
}

/* layerNorm(heap, xOff, wOff, bOff, yOff, meanOff, rstdOff, n, d, eps). */
static napi_value js_layer_norm(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value argv[10];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  const char *usage = "layerNorm(heap: ArrayBuffer, xOff, wOff, bOff, yOff, meanOff, rstdOff, n, d, eps)";
  char *heap;
  size_t bytes;
  int64_t nd[2];
  double eps;
  if (argc < 10) return throw_range(env, "layerNorm expects 10 arguments");
  if (!get_heap(env, argv[0], "layerNorm", &heap, &bytes)) return NULL;
  if (!get_ints(env, argv + 7, 2, nd, usage) || napi_get_value_double(env, argv[9], &eps) != napi_ok) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  int64_t n = nd[0], d = nd[1];
  if (n < 0 || d < 1 || (n > 0 && d > INT64_MAX / 4 / n)) return throw_range(env, "layerNorm: bad n or d");
  const int64_t elems[6] = {n * d, d, d, n * d, n, n};
  float *p[6];
  if (!get_spans(env, argv + 1, 6, elems, heap, bytes, p, usage, "layerNorm")) return NULL;
  layer_norm_f32(p[0], p[1], p[2], p[3], p[4], p[5], (size_t)n, (size_t)d, (float)eps);
  return NULL;
}

/* layerNormGrad(heap, dyOff, xOff, wOff, meanOff, rstdOff, dxOff, dwOff, dbOff, n, d). */
static napi_value js_layer_norm_grad(napi_env env, napi_callback_info info) {
  size_t argc = 11;
  napi_value argv[11];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  const char *usage = "layerNormGrad(heap: ArrayBuffer, dyOff, xOff, wOff, meanOff, rstdOff, dxOff, dwOff, dbOff, n, d)";
  char *heap;
  size_t bytes;
  int64_t nd[2];
  if (argc < 11) return throw_range(env, "layerNormGrad expects 11 arguments");
  if (!get_heap(env, argv[0], "layerNormGrad", &heap, &bytes)) return NULL;
  if (!get_ints(env, argv + 9, 2, nd, usage)) return NULL;
  int64_t n = nd[0], d = nd[1];
  if (n < 0 || d < 1 || (n > 0 && d > INT64_MAX / 4 / n)) return throw_range(env, "layerNormGrad: bad n or d");
  const int64_t elems[8] = {n * d, n * d, d, n, n, n * d, d, d};
  float *p[8];
  if (!get_spans(env, argv + 1, 8, elems, heap, bytes, p, usage, "layerNormGrad")) return NULL;
  layer_norm_grad_f32(p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], (size_t)n, (size_t)d);
  return NULL;
}

/* Reads attention's shape arguments (b, t, heads, hd, scale, portable) from argv; 0 with an error thrown when bad. */
static int get_attention_shape(napi_env env, napi_value *argv, const char *usage, const char *fn, int64_t *shape,
                               double *scale, bool *portable) {
  if (!get_ints(env, argv, 4, shape, usage)) return 0;
  if (napi_get_value_double(env, argv[4], scale) != napi_ok || !get_bool(env, argv[5], portable)) {
    napi_throw_type_error(env, NULL, usage);
    return 0;
  }
  for (int i = 0; i < 4; i++) {
    if (shape[i] < 1 || shape[i] > (1 << 24)) {
      char msg[160];
      snprintf(msg, sizeof msg, "%s: b, t, heads and hd must be integers in [1, 2^24]; got %lld, %lld, %lld, %lld", fn,
               (long long)shape[0], (long long)shape[1], (long long)shape[2], (long long)shape[3]);
      throw_range(env, msg);
      return 0;
    }
  }
  /* The largest operand (probs, b*heads*t*t, or qkv) must be addressable in floats without overflow. */
  if ((double)shape[0] * shape[2] * shape[1] * shape[1] > (double)(INT64_MAX / 8) ||
      (double)shape[0] * shape[1] * 3 * shape[2] * shape[3] > (double)(INT64_MAX / 8)) {
    throw_range(env, "attention: the operands are too large");
    return 0;
  }
  return 1;
}

/* attention(heap, qkvOff, yOff, probsOff, b, t, heads, hd, scale, portable): causal self-attention on the packed qkv. */
static napi_value js_attention(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value argv[10];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  const char *usage = "attention(heap: ArrayBuffer, qkvOff, yOff, probsOff, b, t, heads, hd, scale, portable: boolean)";
  char *heap;
  size_t bytes;
  int64_t s[4];
  double scale;
  bool portable;
  if (argc < 10) return throw_range(env, "attention expects 10 arguments");
  if (!get_heap(env, argv[0], "attention", &heap, &bytes)) return NULL;
  if (!get_attention_shape(env, argv + 4, usage, "attention", s, &scale, &portable)) return NULL;
  int64_t rows = s[0] * s[1], d = s[2] * s[3];
  const int64_t elems[3] = {rows * 3 * d, rows * d, s[0] * s[2] * s[1] * s[1]};
  float *p[3];
  if (!get_spans(env, argv + 1, 3, elems, heap, bytes, p, usage, "attention")) return NULL;
  attention_forward_f32(gemm, portable, p[0], p[1], p[2], (size_t)s[0], (size_t)s[1], (size_t)s[2], (size_t)s[3], (float)scale);
  return NULL;
}

/* attentionGrad(heap, dyOff, qkvOff, probsOff, dqkvOff, b, t, heads, hd, scale, portable): dqkv from dy. */
static napi_value js_attention_grad(napi_env env, napi_callback_info info) {
  size_t argc = 11;
  napi_value argv[11];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  const char *usage =
      "attentionGrad(heap: ArrayBuffer, dyOff, qkvOff, probsOff, dqkvOff, b, t, heads, hd, scale, portable: boolean)";
  char *heap;
  size_t bytes;
  int64_t s[4];
  double scale;
  bool portable;
  if (argc < 11) return throw_range(env, "attentionGrad expects 11 arguments");
  if (!get_heap(env, argv[0], "attentionGrad", &heap, &bytes)) return NULL;
  if (!get_attention_shape(env, argv + 5, usage, "attentionGrad", s, &scale, &portable)) return NULL;
  int64_t rows = s[0] * s[1], d = s[2] * s[3];
  const int64_t elems[4] = {rows * d, rows * 3 * d, s[0] * s[2] * s[1] * s[1], rows * 3 * d};
  float *p[4];
  if (!get_spans(env, argv + 1, 4, elems, heap, bytes, p, usage, "attentionGrad")) return NULL;
  attention_backward_f32(gemm, portable, p[0], p[1], p[2], p[3], (size_t)s[0], (size_t)s[1], (size_t)s[2], (size_t)s[3],
                         (float)scale);
  return NULL;
}

/* Throws a RangeError naming the row and target that lie outside the vocabulary. */
static napi_value throw_bad_target(napi_env env, const char *fn, int64_t row, int32_t target, int64_t v) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: target %d at row %lld is not a token id in [0, %lld]", fn, target, (long long)row,
           (long long)(v - 1));
  return throw_range(env, msg);
}

/* tokenLogProbs(heap, xOff, targetsOff, logpOff, lseOff, n, v): logp = log softmax(x)[target] and lse per row. */
static napi_value js_token_logprobs(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  const char *usage = "tokenLogProbs(heap: ArrayBuffer, xOff, targetsOff, logpOff, lseOff, n, v)";
  char *heap;
  size_t bytes;
  int64_t nv[2];
  if (argc < 7) return throw_range(env, "tokenLogProbs expects 7 arguments");
  if (!get_heap(env, argv[0], "tokenLogProbs", &heap, &bytes)) return NULL;
  if (!get_ints(env, argv + 5, 2, nv, usage)) return NULL;
  int64_t n = nv[0], v = nv[1];
  if (n < 0 || v < 1 || (n > 0 && v > INT64_MAX / 4 / n)) return throw_range(env, "tokenLogProbs: bad n or v");
  const int64_t elems[4] = {n * v, n, n, n};
  float *p[4];
  if (!get_spans(env, argv + 1, 4, elems, heap, bytes, p, usage, "tokenLogProbs")) return NULL;
  const int32_t *targets = (const int32_t *)p[1];
  int64_t bad = token_logprobs_f32(p[0], targets, p[2], p[3], (size_t)n, (size_t)v);
  if (bad >= 0) return throw_bad_target(env, "tokenLogProbs", bad, targets[bad], v);
  return NULL;
}

/* tokenLogProbsGrad(heap, xOff, targetsOff, lseOff, dyOff, dxOff, n, v): dx = dy * (onehot(target) - softmax(x)). */
static napi_value js_token_logprobs_grad(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  const char *usage = "tokenLogProbsGrad(heap: ArrayBuffer, xOff, targetsOff, lseOff, dyOff, dxOff, n, v)";
  char *heap;
  size_t bytes;
  int64_t nv[2];
  if (argc < 8) return throw_range(env, "tokenLogProbsGrad expects 8 arguments");
  if (!get_heap(env, argv[0], "tokenLogProbsGrad", &heap, &bytes)) return NULL;
  if (!get_ints(env, argv + 6, 2, nv, usage)) return NULL;
  int64_t n = nv[0], v = nv[1];
  if (n < 0 || v < 1 || (n > 0 && v > INT64_MAX / 4 / n)) return throw_range(env, "tokenLogProbsGrad: bad n or v");
  const int64_t elems[5] = {n * v, n, n, n, n * v};
  float *p[5];
  if (!get_spans(env, argv + 1, 5, elems, heap, bytes, p, usage, "tokenLogProbsGrad")) return NULL;
  const int32_t *targets = (const int32_t *)p[1];
  int64_t bad = token_logprobs_grad_f32(p[0], targets, p[2], p[3], p[4], (size_t)n, (size_t)v);
  if (bad >= 0) return throw_bad_target(env, "tokenLogProbsGrad", bad, targets[bad], v);
  return NULL;
}

/* setThreads(n): the GEMM thread count, OpenBLAS's and the portable GEMM's (process-wide); returns the count in force. */
static napi_value js_set_threads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int64_t n = 0;
  if (argc < 1 || !get_int(env, argv[0], &n) || n < 1 || n > 1024)
    return throw_range(env, "setThreads(n) expects an integer n in [1, 1024]");
  int now = sgemm_portable_set_threads((int)n);
#ifdef RLHF_USE_OPENBLAS
  openblas_set_num_threads((int)n);
  now = openblas_get_num_threads();
#endif
  napi_value out;
  CHECK(napi_create_int32(env, now, &out));
  return out;
}

static napi_value js_get_threads(napi_env env, napi_callback_info info) {
  (void)info;
  int now = sgemm_portable_get_threads();
#ifdef RLHF_USE_OPENBLAS
  now = openblas_get_num_threads();
#endif
  napi_value out;
  CHECK(napi_create_int32(env, now, &out));
  return out;
}

/* NAPI_MODULE_INIT keeps no per-process JS state, so each worker thread gets its own instance of the exports. */
NAPI_MODULE_INIT() {
  enum { NFN = 17 };
  napi_property_descriptor props[NFN + 1];
  memset(props, 0, sizeof props);
  const char *names[NFN] = {"sgemm", "batchMatMul", "setThreads", "getThreads", "tanh",
                            "sum",   "gelu",        "geluGrad",   "adamw",      "transpose", "concat",
                            "layerNorm", "layerNormGrad", "attention", "attentionGrad",
                            "tokenLogProbs", "tokenLogProbsGrad"};
  napi_callback fns[NFN] = {js_sgemm, js_batch_mat_mul, js_set_threads, js_get_threads, js_tanh,
                            js_sum,   js_gelu,          js_gelu_grad,   js_adamw,       js_transpose, js_concat,
                            js_layer_norm, js_layer_norm_grad, js_attention, js_attention_grad,
                            js_token_logprobs, js_token_logprobs_grad};
  for (int i = 0; i < NFN; i++) {
    props[i].utf8name = names[i];
    props[i].method = fns[i];
    props[i].attributes = napi_enumerable;
  }
  napi_value blas;
  if (napi_create_string_utf8(env, BLAS_NAME, NAPI_AUTO_LENGTH, &blas) != napi_ok) return NULL;
  props[NFN].utf8name = "blas";
  props[NFN].value = blas;
  props[NFN].attributes = napi_enumerable;
  if (napi_define_properties(env, exports, NFN + 1, props) != napi_ok) return NULL;
  return exports;
}
