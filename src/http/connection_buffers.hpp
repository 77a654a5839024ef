// The memory a connection needs while it serves a request, and the per-thread pool it is
// lent from. An idle keep-alive connection holds none of it: its next request's first
// bytes land in a 512-byte buffer of the session, and it takes a set from the pool only
// then, so 10 000 idle connections cost their sockets and session objects, not 10 000
// read and write buffers. A warm pool also makes a request's buffers free of allocation.
// Private to the http module.
#pragma once

#include "request_parser.hpp"

#include <boost/beast/core/flat_buffer.hpp>

#include <cstddef>
#include <memory>
#include <string>

namespace analyzer::http {

struct connection_buffers {
  boost::beast::flat_buffer read;  // bytes read and not yet parsed
  request_storage request;         // the parsed target, kept fields and body
  std::string request_id;          // the client's X-Request-Id or ours (at most 128 characters)
  std::string out;                 // the response head being written
};

// Sets of buffers kept per io thread for reuse, and what one set may keep of a large
// request or response when it goes back (larger ones are released first).
inline constexpr std::size_t kPooledBuffersPerThread = 64;
inline constexpr std::size_t kPooledBufferCapacity = std::size_t{4} * 1024;

// A set from this thread's pool, or a new one; `read_limit` caps its read buffer.
[[nodiscard]] std::unique_ptr<connection_buffers> take_buffers(std::size_t read_limit);

// Returns a set to this thread's pool (releasing what is over kPooledBufferCapacity), or
// frees it when the pool is full.
void give_back(std::unique_ptr<connection_buffers> buffers);

// Sets pooled on the calling thread (for tests).
[[nodiscard]] std::size_t pooled_buffers() noexcept;

// Response bodies, pooled the same way: a handler starts its body with take_body() (empty,
// with the capacity of an earlier body written on this thread), and the session hands
// each body it has written back with give_back_body(). So an ordinary answer costs no
// allocation, and an idle connection keeps no body.
[[nodiscard]] std::string take_body();
void give_back_body(std::string&& body);

}  // namespace analyzer::http
