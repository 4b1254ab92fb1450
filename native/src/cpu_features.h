/* Whether this CPU runs the AVX2 + FMA copies of the kernels, asked once per process. */
#ifndef RLHF_CPU_FEATURES_H
#define RLHF_CPU_FEATURES_H

#if defined(__x86_64__) || defined(__i386__)
static inline int has_avx2(void) {
  static int known = -1; /* a benign race: every thread computes the same value */
  if (known < 0) {
    __builtin_cpu_init();
    known = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }
  return known;
}
#else
static inline int has_avx2(void) { return 0; }
#endif

#endif
