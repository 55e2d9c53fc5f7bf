{
  "targets": [
    {
      "target_name": "slalom_boundary",
      "sources": [
        "native/addon.c",
        "native/dispatch.c",
        "native/boundary_portable.c",
        "native/boundary_avx2.c",
        "native/boundary_avx512.c"
      ],
      "cflags!": ["-O2", "-O3", "-fno-exceptions"],
      "cflags": ["-O3", "-fwrapv", "-ffp-contract=off", "-fno-math-errno", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
