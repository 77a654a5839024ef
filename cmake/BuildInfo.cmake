# Version and git revision baked into the binary (analyzer_build_info, /health).
find_package(Git QUIET)
set(ANALYZER_REVISION "unknown")
if(GIT_FOUND AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/.git)
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
