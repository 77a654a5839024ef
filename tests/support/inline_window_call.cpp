// A window_receiver on the stack: valid only for calls that answer before they return.
#include "support/inline_window_call.hpp"

#include "analyzer/http/router.hpp"

#include <optional>
#include <stdexcept>
#include <utility>

namespace analyzer::test {
namespace {

class inline_receiver final : public storage::window_receiver {
 public:
  explicit inline_receiver(std::function<http::response(const storage::commit_outcome&)> on_commit,
                           std::function<http::response(const storage::read_outcome&)> on_read)
      : commit_(std::move(on_commit)), read_(std::move(on_read)) {}

  void on_commit(const storage::commit_outcome& out) override { answer = commit_(out); }
  void on_read(const storage::read_outcome& out) override { answer = read_(out); }
  std::shared_ptr<storage::window_receiver> retain() override {
    throw std::logic_error("inline window call: the call did not complete inline");
  }

  std::optional<http::response> answer;

 private:
  std::function<http::response(const storage::commit_outcome&)> commit_;
  std::function<http::response(const storage::read_outcome&)> read_;
};

}  // namespace

http::response dispatch_inline(http::service_context& ctx, const http::request& req) {
  http::window_call call;
  inline_receiver to(
      [&](const storage::commit_outcome& out) { return http::answer(ctx, call, out); },
      [&](const storage::read_outcome& out) { return http::answer(ctx, call, out); });
  if (auto res = http::dispatch(ctx, req, call, to)) return std::move(*res);
  if (!to.answer) throw std::logic_error("dispatch_inline: the window call did not answer inline");
  return std::move(*to.answer);
}

std::string scrape_inline(const http::service_metrics& metrics, storage::window_path& windows) {
  std::string text;
  inline_receiver to(
      [](const storage::commit_outcome&) -> http::response {
        throw std::logic_error("scrape_inline: a read answered as a commit");
      },
      [&](const storage::read_outcome& out) {
        metrics.write_text(text, out);
        return http::response{};
      });
  windows.read(to);
  if (!to.answer) throw std::logic_error("scrape_inline: the read did not answer inline");
  return text;
}

}  // namespace analyzer::test
