// Default logger setup and the JSON line formatter.
#include "analyzer/app/logging.hpp"

#include "analyzer/api/json_writer.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>
#include <string>

namespace analyzer::app {

void json_log_formatter::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
  using namespace std::chrono;
  const auto since_epoch = msg.time.time_since_epoch();
  const std::time_t seconds = duration_cast<std::chrono::seconds>(since_epoch).count();
  const auto micros = duration_cast<microseconds>(since_epoch).count() % 1000000;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char stamp[40];
  const auto n = std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ",
                               tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                               tm.tm_sec, static_cast<long long>(micros));
  std::string line;
  line.reserve(96 + msg.payload.size());
  line += "{\"time\":\"";
  line.append(stamp, static_cast<std::size_t>(n));
  line += "\",\"level\":\"";
  const auto level = spdlog::level::to_string_view(msg.level);
  line.append(level.data(), level.size());
  line += "\",\"thread\":";
  line += std::to_string(msg.thread_id);
  line += ",\"logger\":\"";
  api::json_writer::escape({msg.logger_name.data(), msg.logger_name.size()}, line);
  line += "\",\"message\":\"";
  api::json_writer::escape({msg.payload.data(), msg.payload.size()}, line);
  line += "\"}\n";
  dest.append(line.data(), line.data() + line.size());
}

std::unique_ptr<spdlog::formatter> json_log_formatter::clone() const {
  return std::make_unique<json_log_formatter>();
}

void setup_logging(std::string_view level, config::log_format format) {
  auto logger = std::make_shared<spdlog::logger>("metrics-analyzer",
                                                 std::make_shared<spdlog::sinks::stderr_sink_mt>());
  if (format == config::log_format::json) {
    logger->set_formatter(std::make_unique<json_log_formatter>());
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %^%l%$ [%t] %v", spdlog::pattern_time_type::utc);
  }
  logger->set_level(spdlog::level::from_str(std::string(level)));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace analyzer::app
