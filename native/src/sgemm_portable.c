/* Blocked, packed row-major SGEMM (the Goto/BLIS scheme): op(A) and op(B) are packed into contiguous panels,
 * so transposed operands cost only a strided copy per block, and a 6x16 register-blocked micro-kernel does
 * the arithmetic. */
#include "sgemm_portable.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MR 6
#define NR 16
#define KC 256
#define MC 72
#define NC 3072

typedef float v8 __attribute__((vector_size(32)));

/* Packing buffers are reused per thread: worker threads may call concurrently, and a malloc per call
 * would dominate small problems. A pthread key frees them when a worker thread exits. */
typedef struct {
  float *a;
  float *b;
  size_t b_cap;
} pack_buffers;

static pthread_key_t buffers_key;
static pthread_once_t buffers_once = PTHREAD_ONCE_INIT;

static void free_buffers(void *p) {
  pack_buffers *bufs = p;
  free(bufs->a);
  free(bufs->b);
  free(bufs);
}

static void make_buffers_key(void) { pthread_key_create(&buffers_key, free_buffers); }

static inline int min_int(int x, int y) { return x < y ? x : y; }

/* Packs op(A)[i0:i0+mc, p0:p0+kc] * alpha into row panels of MR rows, each stored k-major, zero-padded. */
static void pack_a(int mc, int kc, const float *a, int lda, int trans_a, int i0, int p0, float alpha, float *buf) {
  for (int ir = 0; ir < mc; ir += MR) {
    int mr = min_int(MR, mc - ir);
    for (int p = 0; p < kc; p++) {
      for (int i = 0; i < MR; i++) {
        float v = 0.0f;
        if (i < mr) {
          int row = i0 + ir + i, col = p0 + p;
          v = alpha * (trans_a ? a[(size_t)col * lda + row] : a[(size_t)row * lda + col]);
        }
        *buf++ = v;
      }
    }
  }
}

/* Packs op(B)[p0:p0+kc, j0:j0+nc] into column panels of NR columns, each stored k-major, zero-padded. */
static void pack_b(int kc, int nc, const float *b, int ldb, int trans_b, int p0, int j0, float *buf) {
  for (int jr = 0; jr < nc; jr += NR) {
    int nr = min_int(NR, nc - jr);
    for (int p = 0; p < kc; p++) {
      int row = p0 + p;
      if (!trans_b && nr == NR) {
        memcpy(buf, b + (size_t)row * ldb + j0 + jr, NR * sizeof(float));
        buf += NR;
        continue;
      }
      for (int j = 0; j < NR; j++) {
        int col = j0 + jr + j;
        *buf++ = j < nr ? (trans_b ? b[(size_t)col * ldb + row] : b[(size_t)row * ldb + col]) : 0.0f;
      }
    }
  }
}

/* C[mr, nr] += Apanel[MR, kc] * Bpanel[kc, NR]; the accumulators stay in 12 vector registers. */
static inline __attribute__((always_inline)) void micro_kernel(int kc, const float *restrict a, const float *restrict b,
                                                               float *c, int ldc, int mr, int nr) {
  v8 acc[MR][2];
  for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = (v8){0};
  for (int p = 0; p < kc; p++) {
    v8 b0, b1;
    memcpy(&b0, b + p * NR, sizeof b0);
    memcpy(&b1, b + p * NR + 8, sizeof b1);
    for (int i = 0; i < MR; i++) {
      float ai = a[p * MR + i];
      acc[i][0] += ai * b0;
      acc[i][1] += ai * b1;
    }
  }
  if (mr == MR && nr == NR) {
    for (int i = 0; i < MR; i++) {
      v8 c0, c1;
      memcpy(&c0, c + (size_t)i * ldc, sizeof c0);
      memcpy(&c1, c + (size_t)i * ldc + 8, sizeof c1);
      c0 += acc[i][0];
      c1 += acc[i][1];
      memcpy(c + (size_t)i * ldc, &c0, sizeof c0);
      memcpy(c + (size_t)i * ldc + 8, &c1, sizeof c1);
    }
    return;
  }
  float tmp[MR][NR];
  memcpy(tmp, acc, sizeof tmp);
  for (int i = 0; i < mr; i++)
    for (int j = 0; j < nr; j++) c[(size_t)i * ldc + j] += tmp[i][j];
}

/* Multiplies one packed A block [mc, kc] by one packed B block [kc, nc] into C. Defined twice: once compiled for
 * AVX2+FMA (picked at run time when the CPU has them) and once for the baseline instruction set. */
#define DEFINE_MACRO_KERNEL(name, attrs)                                                                           \
  attrs static void name(int mc, int nc, int kc, const float *pa, const float *pb, float *c, int ldc) {              \
    for (int jr = 0; jr < nc; jr += NR) {                                                                          \
      int nr = min_int(NR, nc - jr);                                                                               \
      for (int ir = 0; ir < mc; ir += MR) {                                                                        \
        int mr = min_int(MR, mc - ir);                                                                             \
        micro_kernel(kc, pa + (size_t)ir * kc, pb + (size_t)jr * kc, c + (size_t)ir * ldc + jr, ldc, mr, nr);      \
      }                                                                                                            \
    }                                                                                                              \
  }

DEFINE_MACRO_KERNEL(macro_kernel_generic, )

typedef void (*macro_kernel_fn)(int, int, int, const float *, const float *, float *, int);

#if defined(__x86_64__) || defined(__i386__)
DEFINE_MACRO_KERNEL(macro_kernel_avx2, __attribute__((target("avx2,fma"))))

static macro_kernel_fn pick_macro_kernel(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? macro_kernel_avx2 : macro_kernel_generic;
}
#else
static macro_kernel_fn pick_macro_kernel(void) { return macro_kernel_generic; }
#endif

/* The calling thread's packing buffers, grown to hold a [kc, nc] block of B; NULL when out of memory. */
static pack_buffers *thread_buffers(int kc, int nc) {
  pthread_once(&buffers_once, make_buffers_key);
  pack_buffers *bufs = pthread_getspecific(buffers_key);
  if (bufs == NULL) {
    bufs = calloc(1, sizeof *bufs);
    if (bufs == NULL) return NULL;
    bufs->a = aligned_alloc(64, (size_t)(MC + MR) * KC * sizeof(float));
    if (bufs->a == NULL || pthread_setspecific(buffers_key, bufs) != 0) {
      free(bufs->a);
      free(bufs);
      return NULL;
    }
  }
  size_t need = (size_t)kc * (size_t)(nc + NR);
  if (need > bufs->b_cap) {
    free(bufs->b);
    size_t bytes = ((need * sizeof(float) + 63) / 64) * 64;
    bufs->b = aligned_alloc(64, bytes);
    bufs->b_cap = bufs->b ? need : 0;
    if (bufs->b == NULL) return NULL;
  }
  return bufs;
}

static void sgemm_serial(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                         const float *b, int ldb, float beta, float *c, int ldc) {
  if (m <= 0 || n <= 0) return;
  /* beta == 0 must overwrite, not scale: the output may hold uninitialised memory (NaN * 0 is NaN). */
  for (int i = 0; i < m; i++) {
    float *row = c + (size_t)i * ldc;
    if (beta == 0.0f) memset(row, 0, (size_t)n * sizeof(float));
    else if (beta != 1.0f)
      for (int j = 0; j < n; j++) row[j] *= beta;
  }
  if (k <= 0 || alpha == 0.0f) return;
  int nc_max = min_int(NC, ((n + NR - 1) / NR) * NR);
  macro_kernel_fn macro_kernel = pick_macro_kernel();
  pack_buffers *bufs = thread_buffers(min_int(KC, k), nc_max);
  if (bufs == NULL) {
    /* Out of memory for packing: a plain triple loop is slow but still correct. */
    for (int i = 0; i < m; i++)
      for (int j = 0; j < n; j++) {
        float s = 0.0f;
        for (int p = 0; p < k; p++)
          s += (trans_a ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p]) *
               (trans_b ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j]);
        c[(size_t)i * ldc + j] += alpha * s;
      }
    return;
  }
  for (int j0 = 0; j0 < n; j0 += NC) {
    int nc = min_int(NC, n - j0);
    for (int p0 = 0; p0 < k; p0 += KC) {
      int kc = min_int(KC, k - p0);
      pack_b(kc, nc, b, ldb, trans_b, p0, j0, bufs->b);
      for (int i0 = 0; i0 < m; i0 += MC) {
        int mc = min_int(MC, m - i0);
        pack_a(mc, kc, a, lda, trans_a, i0, p0, alpha, bufs->a);
        macro_kernel(mc, nc, kc, bufs->a, bufs->b, c + (size_t)i0 * ldc + j0, ldc);
      }
    }
  }
}

/* A small persistent thread pool: the caller runs part 0 of a product and pool thread i runs part i. One product uses
 * the pool at a time; a caller that finds it busy (another worker thread of the process is multiplying) runs alone. */
#define MAX_THREADS 64
/* Multiply-adds below which one more thread costs more (wake-up, a second packing of the shared operand) than it saves. */
#define MIN_WORK_PER_THREAD (1 << 21)

typedef struct {
  int trans_a, trans_b, m, n, k;
  float alpha;
  const float *a;
  int lda;
  const float *b;
  int ldb;
  float beta;
  float *c;
  int ldc;
} gemm_part;

static pthread_mutex_t pool_owner = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_work = PTHREAD_COND_INITIALIZER;
static pthread_cond_t pool_done = PTHREAD_COND_INITIALIZER;
static gemm_part parts[MAX_THREADS];
static int pool_started = 0, pool_parts = 0, pool_pending = 0;
static unsigned pool_generation = 0;
static int wanted_threads = 1;

static void run_part(const gemm_part *p) {
  sgemm_serial(p->trans_a, p->trans_b, p->m, p->n, p->k, p->alpha, p->a, p->lda, p->b, p->ldb, p->beta, p->c, p->ldc);
}

static void *pool_thread(void *arg) {
  int id = (int)(intptr_t)arg;
  unsigned seen = 0;
  pthread_mutex_lock(&pool_mu);
  for (;;) {
    while (pool_generation == seen) pthread_cond_wait(&pool_work, &pool_mu);
    seen = pool_generation;
    if (id >= pool_parts) continue;
    pthread_mutex_unlock(&pool_mu);
    run_part(&parts[id]);
    pthread_mutex_lock(&pool_mu);
    if (--pool_pending == 0) pthread_cond_signal(&pool_done);
  }
  return NULL;
}

int sgemm_portable_set_threads(int n) {
  if (n < 1) n = 1;
  if (n > MAX_THREADS) n = MAX_THREADS;
  __atomic_store_n(&wanted_threads, n, __ATOMIC_RELAXED);
  return n;
}

int sgemm_portable_get_threads(void) { return __atomic_load_n(&wanted_threads, __ATOMIC_RELAXED); }

/* Starts pool threads up to want - 1 (the caller is the other one); returns the parts that can run. */
static int grow_pool(int want) {
  while (pool_started < want - 1) {
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int ok = pthread_create(&t, &attr, pool_thread, (void *)(intptr_t)(pool_started + 1)) == 0;
    pthread_attr_destroy(&attr);
    if (!ok) break;
    pool_started++;
  }
  return pool_started + 1 < want ? pool_started + 1 : want;
}

void sgemm_portable(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                    const float *b, int ldb, float beta, float *c, int ldc) {
  double work = (double)m * (double)n * (double)(k > 0 ? k : 1);
  int t = sgemm_portable_get_threads();
  if (work / MIN_WORK_PER_THREAD < t) t = (int)(work / MIN_WORK_PER_THREAD);
  /* Split the longer side of C, in whole micro-tiles; each part packs its own panels. */
  int split_m = m >= n;
  int side = split_m ? m : n, tile = split_m ? MR : NR;
  if (side / tile < t) t = side / tile;
  if (t < 2 || pthread_mutex_trylock(&pool_owner) != 0) {
    sgemm_serial(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  pthread_mutex_lock(&pool_mu);
  t = grow_pool(t);
  int chunk = ((side + t - 1) / t + tile - 1) / tile * tile;
  int used = 0;
  for (int i = 0; i < t; i++) {
    int from = i * chunk, len = min_int(chunk, side - from);
    if (len <= 0) break;
    gemm_part p = {trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc};
    if (split_m) {
      p.m = len;
      p.a = trans_a ? a + from : a + (size_t)from * lda;
      p.c = c + (size_t)from * ldc;
    } else {
      p.n = len;
      p.b = trans_b ? b + (size_t)from * ldb : b + from;
      p.c = c + from;
    }
    parts[used++] = p;
  }
  pool_parts = used;
  pool_pending = used - 1;
  pool_generation++;
  pthread_cond_broadcast(&pool_work);
  pthread_mutex_unlock(&pool_mu);
  run_part(&parts[0]);
  pthread_mutex_lock(&pool_mu);
  while (pool_pending > 0) pthread_cond_wait(&pool_done, &pool_mu);
  pthread_mutex_unlock(&pool_mu);
  pthread_mutex_unlock(&pool_owner);
}
