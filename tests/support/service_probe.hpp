// Probes of a running service used by the Redis integration tests.
#pragma once

#include "support/http_client.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <optional>
#include <sstream>
#include <string>

namespace analyzer::test {

// GET /analyze, parsed.
inline nlohmann::json analyze(http_client& client) {
  const auto r = client.get("/analyze");
  EXPECT_EQ(r.status, 200U) << r.body;
  return nlohmann::json::parse(r.body);
}

// The value of `name{backend="redis"}` in a /metrics scrape.
inline std::optional<double> metric_value(http_client& client, const std::string& name) {
  const auto r = client.get("/metrics");
  EXPECT_EQ(r.status, 200U);
  std::istringstream in(r.body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + "{", 0) != 0 || line.find("backend=\"redis\"") == std::string::npos) {
      continue;
    }
    return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return std::nullopt;
}

}  // namespace analyzer::test
