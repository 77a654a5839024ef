# Every dependency comes from a Debian 12 package (see scripts/setup.sh).
set(THREADS_PREFER_PTHREAD_FLAG ON)
find_package(Threads REQUIRED)
find_package(Boost 1.81 REQUIRED CONFIG)
find_package(nlohmann_json 3.11 REQUIRED)
find_package(spdlog REQUIRED)
find_package(prometheus-cpp REQUIRED CONFIG)
find_package(PkgConfig REQUIRED)
# hiredis 0.14's CMake package has no imported target.
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)

add_library(analyzer_deps INTERFACE)
target_link_libraries(analyzer_deps INTERFACE Boost::headers nlohmann_json::nlohmann_json
  spdlog::spdlog prometheus-cpp::core PkgConfig::HIREDIS Threads::Threads)
# Asio and Beast are compiled once, in src/boost_impl.cpp, instead of in every
# translation unit that includes them.
target_compile_definitions(analyzer_deps INTERFACE BOOST_ASIO_SEPARATE_COMPILATION
  BOOST_BEAST_SEPARATE_COMPILATION BOOST_ASIO_NO_DEPRECATED)
