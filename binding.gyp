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
      "cflags": ["-fwrapv", "-ffp-contract=off", "-fno-math-errno", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "configurations": { "Release": { "cflags": ["-O3"] } },
      "defines": ["NAPI_VERSION=8", "SLALOM_SOURCES=sha256_<!(node native/digest.mjs)"]
    }
  ]
}
