// Chooses the window path from the configuration: WINDOW_SCOPE=shared → the windows in
// Redis; otherwise the in-process analyzer with the store make_store chooses.
#pragma once

#include "analyzer/config/config.hpp"
#include "analyzer/storage/window_path.hpp"

#include <memory>

namespace analyzer::storage {

// Throws std::invalid_argument for an invalid detector configuration.
[[nodiscard]] std::unique_ptr<window_path> make_window_path(const config::config& cfg);

}  // namespace analyzer::storage
