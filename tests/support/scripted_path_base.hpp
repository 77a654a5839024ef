// The base of test window paths that script when (and on which thread) answers arrive:
// everything but commit() and read() is the in-process path's, and apply() / answer_read()
// do a commit's or a read's work now, for the derived path to deliver when it chooses.
#pragma once

#include "analyzer/storage/instance_window_path.hpp"
#include "analyzer/storage/memory_store.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

namespace analyzer::test {

class scripted_path_base : public storage::window_path {
 public:
  scripted_path_base()
      : inner_(analytics::detector_config{}, 8, std::make_unique<storage::memory_store>(64),
               storage::restore_options{}) {}

  std::string_view scope() const noexcept override { return "instance"; }
  const analytics::detector_config& config() const noexcept override { return inner_.config(); }
  api::storage_status status() const noexcept override { return inner_.status(); }
  void collect(telemetry::metric_writer& out) const override { inner_.collect(out); }
  storage::restore_outcome open(const std::function<bool()>& keep_trying) override {
    return inner_.open(keep_trying);
  }
  void stop(std::chrono::milliseconds budget) override { inner_.stop(budget); }

 protected:
  // Commits the request's samples now, in order; returns their results.
  std::vector<analytics::commit_result> apply(const storage::commit_request& req) {
    std::vector<analytics::commit_result> results;
    for (const auto& s : req.samples) {
      results.push_back(inner_.analyzer().commit(s.timestamp, s.cpu, s.rps));
    }
    return results;
  }

  // Reads the windows now and answers `to`.
  void answer_read(storage::window_receiver& to) {
    const analytics::snapshot snap = inner_.analyzer().read();
    storage::read_outcome out;
    out.snap = &snap;
    out.status = inner_.status();
    to.on_read(out);
  }

 private:
  storage::instance_window_path inner_;
};

}  // namespace analyzer::test
