// The routes and methods the service tells apart, as request metrics label them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace analyzer::http {

enum class route : std::uint8_t { health, ready, metrics, analyze, other };
enum class method : std::uint8_t { get, head, post, other };
inline constexpr std::size_t kRouteCount = 5;
inline constexpr std::size_t kMethodCount = 4;

[[nodiscard]] std::string_view to_string(route r) noexcept;
[[nodiscard]] std::string_view to_string(method m) noexcept;

}  // namespace analyzer::http
