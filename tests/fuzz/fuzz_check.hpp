// Invariant checks for the fuzz targets: active in every build type (release builds define
// NDEBUG, so assert() would vanish from the regression runners), and fatal, so that
// libFuzzer records the input as a crash and the regression runner fails.
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition, what)                                                         \
  do {                                                                                      \
    if (!(condition)) {                                                                     \
      std::fprintf(stderr, "%s:%d: fuzz invariant violated: %s (%s)\n", __FILE__, __LINE__, \
                   (what), #condition);                                                     \
      std::abort();                                                                         \
    }                                                                                       \
  } while (false)
