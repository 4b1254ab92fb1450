# Builds rlhf_native.node; links OpenBLAS when detect_blas.mjs can link a probe against it, else uses portable C.
{
  "variables": {
    "use_openblas%": "<!(node detect_blas.mjs)"
  },
  "targets": [
    {
      "target_name": "rlhf_native",
      "sources": ["src/addon.c", "src/attention.c", "src/elementwise.c", "src/layer_norm.c", "src/sgemm_portable.c", "src/token_logprobs.c", "src/transpose.c"],
      "cflags": ["-O3", "-std=gnu11", "-fno-math-errno", "-fno-trapping-math"],
      "cflags!": ["-O2"],
      "libraries": ["-lpthread"],
      "conditions": [
        ["use_openblas==1", {
          "defines": ["RLHF_USE_OPENBLAS"],
          "libraries": ["-lopenblas"]
        }]
      ]
    }
  ]
}
