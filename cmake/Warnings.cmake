# Strict warnings for project code only; third-party headers come in as SYSTEM.
function(analyzer_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
    -Wno-sign-conversion -Wnon-virtual-dtor -Wold-style-cast -Woverloaded-virtual
    -Wformat=2 -Wimplicit-fallthrough)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # g++ 12 reports false -Wrestrict positives inside libstdc++'s string operator+ at -O3.
    target_compile_options(${target} PRIVATE -Wno-restrict)
    if(NOT ANALYZER_SANITIZER STREQUAL "")
      # Sanitizer instrumentation makes g++ 12 report false -Wmaybe-uninitialized inside
      # libstdc++ and Boost after inlining; the release build keeps the warning.
      target_compile_options(${target} PRIVATE -Wno-maybe-uninitialized)
    endif()
  endif()
  if(ANALYZER_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
