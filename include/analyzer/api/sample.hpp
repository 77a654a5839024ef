// One validated load sample as the ingest path receives it.
#pragma once

namespace analyzer::api {

struct sample {
  double timestamp = 0.0;  // Unix seconds (the server's receive time when absent)
  double cpu = 0.0;        // percent, 0..100
  double rps = 0.0;        // requests per second, >= 0
};

}  // namespace analyzer::api
