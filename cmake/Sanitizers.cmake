# ANALYZER_SANITIZER=address builds everything with ASan+UBSan, =thread with TSan.
# Applied globally so that tests and the library agree on the instrumented ABI.
if(ANALYZER_SANITIZER STREQUAL "address")
  # vptr is left out: it reports Boost.System's constant-initialized error categories as
  # objects with an invalid vptr when an accept() fails with EMFILE (a false positive in
  # the library's static categories, not in our code).
  add_compile_options(-fsanitize=address,undefined -fno-sanitize=vptr
                      -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined -fno-sanitize=vptr)
elseif(ANALYZER_SANITIZER STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # Asio's headers use std::atomic_thread_fence, which g++ 12 warns about under TSan
    # (-Wtsan). Our own code uses none (see analytics/analyzer.cpp, storage/memory_store.cpp).
    add_compile_options(-Wno-tsan)
  endif()
  add_link_options(-fsanitize=thread)
elseif(NOT ANALYZER_SANITIZER STREQUAL "")
  message(FATAL_ERROR "ANALYZER_SANITIZER must be empty, 'address' or 'thread' (got '${ANALYZER_SANITIZER}')")
endif()
