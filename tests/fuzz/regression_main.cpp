// The regression runner of a fuzz target: the same LLVMFuzzerTestOneInput, linked with this
// main instead of libFuzzer, runs every file of the given directories (or files) once. The
// seed corpus and every input that once crashed become ordinary tests of every build
// (CTest: fuzz.<target>.corpus); an invariant violation or a sanitizer report fails them.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

std::vector<std::filesystem::path> inputs_of(const std::filesystem::path& where) {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  if (std::filesystem::is_regular_file(where, ec)) {
    out.push_back(where);
  } else if (std::filesystem::is_directory(where, ec)) {
    for (const auto& entry : std::filesystem::recursive_directory_iterator(where, ec)) {
      if (entry.is_regular_file() && entry.path().filename().string().front() != '.') {
        out.push_back(entry.path());
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t ran = 0;
  for (int i = 1; i < argc; ++i) {
    for (const auto& path : inputs_of(argv[i])) {
      std::ifstream in(path, std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
      std::fprintf(stderr, "running %s (%zu bytes)\n", path.c_str(), bytes.size());
      LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
      ++ran;
    }
  }
  std::printf("%zu inputs ran without a failure\n", ran);
  return ran > 0 ? 0 : 1;
}
