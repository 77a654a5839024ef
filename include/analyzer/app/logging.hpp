// Process-wide logging on spdlog: plain text lines, or one JSON object per line
// (LOG_FORMAT=json) for log collectors.
#pragma once

#include "analyzer/config/config.hpp"

#include <spdlog/formatter.h>

#include <memory>
#include <string_view>

namespace analyzer::app {

// Installs the default logger (stderr) with the given level and format.
void setup_logging(std::string_view level, config::log_format format);

// A formatter writing {"time": ..., "level": ..., "thread": ..., "message": ...}.
class json_log_formatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
  [[nodiscard]] std::unique_ptr<spdlog::formatter> clone() const override;
};

}  // namespace analyzer::app
