# Version and git revision baked into the binary (analyzer_build_info, /health).
# A tree without .git (a container build context) is given the revision with
# -DANALYZER_REVISION=<sha>; otherwise git says, and "unknown" when it cannot.
set(ANALYZER_REVISION "" CACHE STRING "git revision baked into the binary (default: git rev-parse)")
find_package(Git QUIET)
if(ANALYZER_REVISION STREQUAL "")
  set(ANALYZER_REVISION "unknown")
endif()
if(ANALYZER_REVISION STREQUAL "unknown" AND GIT_FOUND AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/.git)
  execute_process(COMMAND ${GIT_EXECUTABLE} rev-parse --short=12 HEAD
    WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}
    OUTPUT_VARIABLE _rev OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE _rc)
  if(_rc EQUAL 0 AND _rev)
    set(ANALYZER_REVISION ${_rev})
  endif()
endif()
set(ANALYZER_GENERATED_INCLUDE_DIR ${CMAKE_CURRENT_BINARY_DIR}/generated)
configure_file(${CMAKE_CURRENT_SOURCE_DIR}/cmake/build_info.hpp.in
  ${ANALYZER_GENERATED_INCLUDE_DIR}/analyzer/build_info.hpp @ONLY)
