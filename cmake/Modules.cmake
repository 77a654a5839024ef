# One static library per module (src/<module>/, include/analyzer/<module>/), each linking
# exactly the modules it declares. A module can only name modules declared before it, so the
# graph has no cycles by construction; the include check below makes the declarations true:
# a module whose files include a header of a module it did not declare fails the build.

set(ANALYZER_MODULE_ROOT ${CMAKE_CURRENT_SOURCE_DIR})

# analyzer_module(<name> [DEPENDS <module>...] [BOOST_IMPL])
#   BOOST_IMPL: the module calls Asio or Beast, whose implementation (separate compilation)
#   is the analyzer_boost_impl library.
function(analyzer_module name)
  cmake_parse_arguments(M "BOOST_IMPL" "" "DEPENDS" ${ARGN})
  foreach(dep IN LISTS M_DEPENDS)
    if(NOT TARGET analyzer_${dep})
      message(FATAL_ERROR "module '${name}' depends on '${dep}', which is not declared before "
                          "it: declare modules in dependency order (no cycles)")
    endif()
  endforeach()
  file(GLOB sources CONFIGURE_DEPENDS ${ANALYZER_MODULE_ROOT}/src/${name}/*.cpp)
  add_library(analyzer_${name} STATIC ${sources})
  target_include_directories(analyzer_${name}
    PUBLIC ${ANALYZER_MODULE_ROOT}/include ${ANALYZER_GENERATED_INCLUDE_DIR})
  target_link_libraries(analyzer_${name} PUBLIC analyzer_deps)
  foreach(dep IN LISTS M_DEPENDS)
    target_link_libraries(analyzer_${name} PUBLIC analyzer_${dep})
  endforeach()
  if(M_BOOST_IMPL)
    target_link_libraries(analyzer_${name} PUBLIC analyzer_boost_impl)
  endif()
  analyzer_set_warnings(analyzer_${name})
  add_dependencies(analyzer_${name} analyzer_module_check)
  set_property(GLOBAL APPEND PROPERTY ANALYZER_MODULES ${name})
  set_property(GLOBAL PROPERTY ANALYZER_MODULE_DEPENDS_${name} "${M_DEPENDS}")
endfunction()

# Call after every analyzer_module(): writes the declared graph and adds the check that every
# build runs when a source or header changed.
function(analyzer_module_check_setup)
  get_property(modules GLOBAL PROPERTY ANALYZER_MODULES)
  set(graph "")
  set(inputs "")
  foreach(m IN LISTS modules)
    get_property(deps GLOBAL PROPERTY ANALYZER_MODULE_DEPENDS_${m})
    string(REPLACE ";" "," deps_text "${deps}")
    string(APPEND graph "${m}:${deps_text}\n")
    file(GLOB_RECURSE files CONFIGURE_DEPENDS ${ANALYZER_MODULE_ROOT}/src/${m}/*
      ${ANALYZER_MODULE_ROOT}/include/analyzer/${m}/*)
    list(APPEND inputs ${files})
  endforeach()
  file(WRITE ${CMAKE_BINARY_DIR}/module_graph.txt "${graph}")
  set(stamp ${CMAKE_BINARY_DIR}/module_check.stamp)
  add_custom_command(OUTPUT ${stamp}
    COMMAND ${CMAKE_COMMAND} -DROOT=${ANALYZER_MODULE_ROOT} -DGRAPH=${CMAKE_BINARY_DIR}/module_graph.txt
            -P ${ANALYZER_MODULE_ROOT}/cmake/CheckModuleIncludes.cmake
    COMMAND ${CMAKE_COMMAND} -E touch ${stamp}
    DEPENDS ${inputs} ${CMAKE_BINARY_DIR}/module_graph.txt
            ${ANALYZER_MODULE_ROOT}/cmake/CheckModuleIncludes.cmake
    COMMENT "Checking that modules include only the modules they depend on"
    VERBATIM)
  add_custom_target(analyzer_module_check DEPENDS ${stamp})
endfunction()
