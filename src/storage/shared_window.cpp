// WINDOW_SCOPE=shared: the connection, script loading, calls and reply parsing.
#include "analyzer/storage/shared_window.hpp"

#include "analyzer/analytics/window_stats.hpp"
#include "redis_client.hpp"
#include "redis_connection.hpp"

#include <hiredis/hiredis.h>

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <charconv>
#include <cstdint>
#include <random>

namespace analyzer::storage {

namespace net = boost::asio;

namespace {

void append_double(std::string& out, double v) {
  char digits[32];
  const auto [end, ec] = std::to_chars(std::begin(digits), std::end(digits), v);
  (void)ec;  // 32 characters hold any double's shortest form
  out.append(std::begin(digits), end);
}

std::string format_double(double v) {
  std::string out;
  append_double(out, v);
  return out;
}

// Splits `text` at `sep`, skipping nothing (empty fields stay).
std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  while (true) {
    const auto at = text.find(sep);
    out.push_back(text.substr(0, at));
    if (at == std::string_view::npos) break;
    text.remove_prefix(at + 1);
  }
  return out;
}

bool parse_number(std::string_view text, double& out) {
  if (text.empty()) return false;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && ptr == text.data() + text.size();
}

std::uint64_t to_count(double v) { return v > 0 ? static_cast<std::uint64_t>(v) : 0; }

// FNV-1a (64 bits) of a request body: what tells a retried request (the same bytes) from
// another request under the same key. The body, not the decoded samples: a sample without
// a timestamp gets the receive time, which differs between a request and its retry. It
// guards against honest reuse of an id, not against a client forging collisions.
std::string fingerprint(std::string_view body) {
  std::uint64_t h = 14695981039346656037ULL;
  constexpr std::uint64_t kPrime = 1099511628211ULL;
  for (const char c : body) {
    h ^= static_cast<unsigned char>(c);
    h *= kPrime;
  }
  static constexpr std::string_view kHex = "0123456789abcdef";
  std::string out(16, '0');
  for (std::size_t i = 16; i-- > 0;) {
    out[i] = kHex[h & 0xfU];
    h >>= 4;
  }
  return out;
}

// "seq ts cpu cpu_z cpu_a rps rps_z rps_a cpu_total rps_total"
bool parse_result_line(std::string_view line, analytics::commit_result& r) {
  const auto f = split(line, ' ');
  if (f.size() != 10) return false;
  std::array<double, 10> v{};
  for (std::size_t i = 0; i < f.size(); ++i) {
    if (!parse_number(f[i], v[i])) return false;
  }
  r.seq = to_count(v[0]);
  r.timestamp = v[1];
  for (std::size_t m = 0; m < analytics::kMetricCount; ++m) {
    r.metrics[m] = {v[2 + 3 * m], v[3 + 3 * m], v[4 + 3 * m] != 0.0};
    r.anomalies_total[m] = to_count(v[8 + m]);
  }
  return true;
}

// One little-endian double (layout 2 packs the windows with struct '<d'), on any host.
double le_double(const char* p) {
  std::uint64_t bits = 0;
  for (int i = 7; i >= 0; --i) bits = (bits << 8U) | static_cast<unsigned char>(p[i]);
  return std::bit_cast<double>(bits);
}

std::string_view text_of(const redisReply* r) {
  if (r == nullptr || r->str == nullptr) return {};
  return {r->str, r->len};
}

bool is_text(const redisReply* r) {
  return r != nullptr && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

}  // namespace

shared_window_options shared_window_options::from(const config::config& cfg) {
  shared_window_options o;
  o.address = config::parse_redis_address(cfg.redis_addr).value_or(config::redis_address{});
  o.password = cfg.redis_password;
  o.db = cfg.redis_db;
  o.key_prefix = cfg.key_prefix;
  o.window_size = cfg.window_size;
  o.threshold = cfg.anomaly_threshold;
  o.warmup = cfg.warmup;
  o.connect_timeout = cfg.redis_connect_timeout;
  o.command_timeout = cfg.redis_command_timeout;
  o.max_in_flight = cfg.shared_max_in_flight;
  o.dedup_ttl = std::chrono::seconds(cfg.idempotency_ttl_s);
  o.request_deadline = cfg.shared_request_deadline;
  return o;
}

struct shared_window::impl : std::enable_shared_from_this<impl> {
  explicit impl(shared_window_options o)
      : options(std::move(o)),
        state_key(options.key_prefix + ":shared:v2:state"),
        window_key(options.key_prefix + ":shared:v2:window"),
        req_prefix(options.key_prefix + ":shared:req:"),
        v1_state_key(options.key_prefix + ":shared:state"),
        v1_cpu_key(options.key_prefix + ":shared:cpu"),
        v1_rps_key(options.key_prefix + ":shared:rps"),
        window_arg(std::to_string(options.window_size)),
        threshold_arg(format_double(options.threshold)),
        warmup_arg(std::to_string(options.warmup)),
        ttl_arg(std::to_string(options.dedup_ttl.count())),
        generated_ttl_arg(std::to_string(
            std::chrono::ceil<std::chrono::seconds>(options.request_deadline).count() + 1)),
        generated_key_base(make_generated_key_base()),
        client(client_options(options),
               {.on_ready = [this](const std::shared_ptr<redis_connection>& c) { on_ready(c); },
                .on_closed = [this](const std::string&) { scripts_loaded = false; },
                .on_stopping = [this] { give_up_waiting(); }}) {}

  static redis_client_options client_options(const shared_window_options& o) {
    redis_client_options c;
    c.connection = {o.address, o.password, o.db, o.connect_timeout, o.command_timeout, {}};
    c.backoff_initial = o.backoff_initial;
    c.backoff_max = o.backoff_max;
    c.log_name = "shared window";
    return c;
  }

  // "auto:<random>:": this instance's generated request keys (a counter follows).
  static std::string make_generated_key_base() {
    std::random_device rd;
    const std::uint64_t r = (std::uint64_t{rd()} << 32U) ^ rd();
    return "auto:" + std::to_string(r) + ":";
  }

  shared_window_options options;
  const std::string state_key;
  const std::string window_key;
  const std::string req_prefix;
  const std::string v1_state_key;  // layout 1 (lists): migrated and fenced at connect
  const std::string v1_cpu_key;
  const std::string v1_rps_key;
  const std::string window_arg;
  const std::string threshold_arg;
  const std::string warmup_arg;
  const std::string ttl_arg;
  const std::string generated_ttl_arg;  // a generated key only serves retries in the deadline
  const std::string generated_key_base;
  std::atomic<std::uint64_t> generated_keys{0};

  // Any thread.
  std::atomic<bool> stopped{false};
  std::atomic<std::uint64_t> in_flight{0};
  std::atomic<std::uint64_t> commits{0};
  std::atomic<std::uint64_t> failures{0};

  // The io thread, the connection, reconnects with backoff; connected() once the layout
  // check passed. Declared before everything bound to its io_context (destroyed after it).
  redis_client client;
  net::io_context& ioc = client.ioc();

  // io thread only.
  // A commit between its arrival on the io thread and its answer.
  struct pending_commit {
    explicit pending_commit(net::io_context& ioc) : deadline(ioc) {}
    std::shared_ptr<std::vector<std::string>> args;
    commit_callback done;
    net::steady_timer deadline;
    bool sent = false;  // reached Redis at least once: it may have committed
    bool finished = false;
  };
  // Sent, unanswered, waiting for the reconnect to be sent again with the same key.
  std::vector<std::shared_ptr<pending_commit>> awaiting_retry;

  bool scripts_loaded = false;  // false from each close until the layout check passed
  std::string commit_sha;
  std::string read_sha;
  std::string last_layout_error;  // logged once per distinct reason

  void start() { client.start(); }

  // Calls waiting for a reconnect fail, the connection closes (calls in flight fail), and
  // the io thread is joined within `budget`. Idempotent.
  void stop(std::chrono::milliseconds budget) {
    if (stopped.exchange(true)) return;
    client.stop(std::chrono::steady_clock::now() + budget);
  }

  void on_ready(const std::shared_ptr<redis_connection>& c) {
    // SCRIPT LOAD both scripts, then the layout check (migrate()); the connection counts
    // as up once both SHAs are known and the layout is current.
    auto loaded = std::make_shared<int>(0);
    auto on_load = [this, c, loaded](std::string* sha) {
      return [this, c, loaded, sha](const redisReply* reply) {
        if (reply == nullptr || c != client.connection()) return;
        if (!is_text(reply)) {
          c->close("SCRIPT LOAD failed: " + std::string(text_of(reply)));
          return;
        }
        *sha = std::string(text_of(reply));
        if (++*loaded == 2) check_layout(c);
      };
    };
    c->command({"SCRIPT", "LOAD", shared_commit_script()}, on_load(&commit_sha));
    c->command({"SCRIPT", "LOAD", shared_read_script()}, on_load(&read_sha));
  }

  // The startup check of the key layout (shared_window.hpp): layout 1 is migrated once,
  // atomically, and fenced. A failure closes the connection: the next attempt retries,
  // and until then every call is refused as unavailable (nothing is committed).
  void check_layout(const std::shared_ptr<redis_connection>& c) {
    const std::vector<std::string_view> argv{
        "EVAL",    shared_migrate_script(), "5", state_key, window_key, v1_state_key, v1_cpu_key,
        v1_rps_key};
    c->command(argv, [this, c](const redisReply* reply) {
      if (reply == nullptr || c != client.connection()) return;
      const bool ok =
          reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1 && is_text(reply->element[0]);
      if (!ok) {
        const std::string why =
            reply->type == REDIS_REPLY_ERROR ? std::string(text_of(reply)) : "unexpected reply";
        if (why != last_layout_error) {
          spdlog::error(
              "shared window: the keys {}:shared:* cannot be used: {} (the list layout of an "
              "older release could not be migrated; nothing is committed until it can)",
              options.key_prefix, why);
          last_layout_error = why;
        }
        c->close("shared window layout check failed: " + why);
        return;
      }
      auto field = [&](std::size_t i) -> std::string {
        if (i >= reply->elements) return "?";
        const redisReply* e = reply->element[i];
        if (is_text(e)) return std::string(text_of(e));
        if (e != nullptr && e->type == REDIS_REPLY_INTEGER) return std::to_string(e->integer);
        return "?";
      };
      const std::string status = field(0);
      if (status == "migrated") {
        spdlog::warn(
            "shared window: migrated the list layout of an older release ({}, {}, {}: seq {}, "
            "{} samples in the window) to {} and {}; older releases now fail on {} (503) "
            "until they are replaced",
            v1_state_key, v1_cpu_key, v1_rps_key, field(1), field(2), state_key, window_key,
            v1_state_key);
      } else if (status == "orphaned") {
        spdlog::error(
            "shared window: an older release committed to the list layout ({}, seq {}) next "
            "to {}: its keys were renamed to <key>:orphaned (not part of the shared stream) "
            "and fenced again",
            v1_state_key, field(1), state_key);
      }
      scripts_loaded = true;
      last_layout_error.clear();
      client.command_succeeded();
      client.mark_connected(fmt::format(" (keys {}:shared:v2:*)", options.key_prefix));
      retry_waiting();
    });
  }

  bool admit() {
    if (stopped.load(std::memory_order_acquire)) return false;
    std::uint64_t current = in_flight.load(std::memory_order_relaxed);
    do {
      if (current >= options.max_in_flight) return false;
    } while (!in_flight.compare_exchange_weak(current, current + 1, std::memory_order_acq_rel));
    return true;
  }

  // Sends EVALSHA `sha` with `args` (after the script and key count); on NOSCRIPT (Redis
  // restarted or SCRIPT FLUSH) sends the same call once more as EVAL with the script text,
  // which also caches it again. False when nothing was sent (not connected); otherwise
  // `done` gets the reply, or null (sent, and the connection went before the reply).
  bool evaluate(const std::string& sha, std::string_view script,
                const std::shared_ptr<std::vector<std::string>>& args,
                const std::function<void(const redisReply*)>& done) {
    auto c = client.connection();
    if (!c || !scripts_loaded) return false;
    std::vector<std::string_view> argv;
    argv.reserve(args->size() + 2);
    argv.emplace_back("EVALSHA");
    argv.emplace_back(sha);
    for (const auto& a : *args) argv.emplace_back(a);
    const bool sent = c->command(argv, [this, c, args, script, done](const redisReply* reply) {
      if (reply != nullptr && reply->type == REDIS_REPLY_ERROR &&
          text_of(reply).starts_with("NOSCRIPT")) {
        std::vector<std::string_view> again;
        again.reserve(args->size() + 2);
        again.emplace_back("EVAL");
        again.emplace_back(script);
        for (const auto& a : *args) again.emplace_back(a);
        if (c == client.connection() && c->command(again, done)) return;
        done(nullptr);
        return;
      }
      done(reply);
    });
    return sent;
  }

  void commit(const std::shared_ptr<std::vector<std::string>>& args, commit_callback done) {
    auto pc = std::make_shared<pending_commit>(ioc);
    pc->args = args;
    pc->done = std::move(done);
    pc->deadline.expires_after(options.request_deadline);
    pc->deadline.async_wait([this, pc](boost::system::error_code ec) {
      if (ec || pc->finished) return;
      give_up(*pc, "no answer from Redis within SHARED_REQUEST_DEADLINE_MS (" +
                       std::to_string(options.request_deadline.count()) + " ms)");
    });
    attempt(pc);
  }

  void attempt(const std::shared_ptr<pending_commit>& pc) {
    if (pc->finished) return;
    const bool sent =
        !client.stopping() &&
        evaluate(commit_sha, shared_commit_script(), pc->args, [this, pc](const redisReply* reply) {
          if (pc->finished) return;
          if (reply != nullptr) {
            finish(*pc, parse_commit(reply));
            return;
          }
          // Sent and unanswered: it may have committed. The
          // same key goes again after the reconnect (a commit
          // that did happen answers as a duplicate).
          if (client.stopping()) {
            give_up(*pc, "the service is shutting down");
          } else {
            awaiting_retry.push_back(pc);
          }
        });
    if (sent) {
      pc->sent = true;  // handed to the connection: from here on it may commit
      return;
    }
    if (pc->sent) {
      awaiting_retry.push_back(pc);  // connection lost again: wait for the next one
    } else {
      const std::string& last_failure = client.last_failure();
      give_up(*pc, client.stopping()
                       ? std::string("the service is shutting down")
                       : "Redis is unreachable" +
                             (last_failure.empty() ? std::string() : ": " + last_failure));
    }
  }

  void retry_waiting() {
    auto waiting = std::move(awaiting_retry);
    awaiting_retry.clear();
    for (const auto& pc : waiting) attempt(pc);
  }

  void give_up_waiting() {
    auto waiting = std::move(awaiting_retry);
    awaiting_retry.clear();
    for (const auto& pc : waiting) give_up(*pc, "the service is shutting down");
  }

  // Ends a commit without an answer from Redis: unavailable when it surely did not commit
  // (never sent), outcome_unknown when it was sent.
  void give_up(pending_commit& pc, std::string detail) {
    shared_commit_outcome out;
    out.failure = pc.sent ? shared_failure::outcome_unknown : shared_failure::unavailable;
    out.detail = std::move(detail);
    failures.fetch_add(1, std::memory_order_relaxed);
    finish(pc, std::move(out));
  }

  void finish(pending_commit& pc, shared_commit_outcome out) {
    if (pc.finished) return;
    pc.finished = true;
    pc.deadline.cancel();
    in_flight.fetch_sub(1, std::memory_order_acq_rel);
    pc.done(std::move(out));
  }

  shared_commit_outcome parse_commit(const redisReply* reply) {
    shared_commit_outcome out;
    if (reply == nullptr) {
      out.failure = shared_failure::unavailable;
      out.detail = "Redis is unreachable or did not answer in time";
    } else if (reply->type == REDIS_REPLY_ERROR) {
      out.failure = shared_failure::error;
      out.detail = "Redis refused the commit: " + std::string(text_of(reply));
    } else if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
               !is_text(reply->element[0]) || !is_text(reply->element[1])) {
      out.failure = shared_failure::error;
      out.detail = "unexpected reply to the commit script";
    } else if (text_of(reply->element[0]) == "conflict") {
      out.conflict = true;
      out.detail = "the request id was used before with other samples (fingerprint " +
                   std::string(text_of(reply->element[1])) + ")";
      return out;
    } else {
      out.duplicate = text_of(reply->element[0]) == "dup";
      const std::string_view body = text_of(reply->element[1]);
      if (!body.empty()) {
        for (auto line : split(body, '\n')) {
          analytics::commit_result r;
          if (!parse_result_line(line, r)) {
            out.failure = shared_failure::error;
            out.detail = "unreadable commit result";
            out.results.clear();
            break;
          }
          out.results.push_back(r);
        }
      }
    }
    if (out.failure) {
      failures.fetch_add(1, std::memory_order_relaxed);
      if (*out.failure == shared_failure::error) spdlog::error("shared window: {}", out.detail);
    } else if (!out.duplicate) {
      commits.fetch_add(out.results.size(), std::memory_order_relaxed);
    }
    return out;
  }

  void read(read_callback done) {
    auto args = std::make_shared<std::vector<std::string>>(
        std::vector<std::string>{"2", state_key, window_key, window_arg});
    auto shared_done = std::make_shared<read_callback>(std::move(done));
    const bool sent = evaluate(read_sha, shared_read_script(), args,
                               [this, shared_done](const redisReply* reply) {
                                 in_flight.fetch_sub(1, std::memory_order_acq_rel);
                                 (*shared_done)(parse_read(reply));
                               });
    if (!sent) {
      in_flight.fetch_sub(1, std::memory_order_acq_rel);
      (*shared_done)(parse_read(nullptr));
    }
  }

  shared_read_outcome parse_read(const redisReply* reply) {
    shared_read_outcome out;
    auto fail = [&](shared_failure f, std::string detail) {
      out.failure = f;
      out.detail = std::move(detail);
      failures.fetch_add(1, std::memory_order_relaxed);
      return out;
    };
    if (reply == nullptr) {
      return fail(shared_failure::unavailable, "Redis is unreachable or did not answer in time");
    }
    if (reply->type == REDIS_REPLY_ERROR) {
      return fail(shared_failure::error, "Redis refused the read: " + std::string(text_of(reply)));
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_ARRAY || reply->element[0]->elements != 8 ||
        reply->element[1]->type != REDIS_REPLY_ARRAY) {
      return fail(shared_failure::error, "unexpected reply to the read script");
    }
    // The window: (cpu, rps) pairs of little-endian doubles, oldest first, in parts.
    std::array<std::vector<double>, analytics::kMetricCount> values;
    const redisReply* parts = reply->element[1];
    std::size_t samples = 0;
    for (std::size_t i = 0; i < parts->elements; ++i) samples += parts->element[i]->len / 16;
    for (auto& v : values) v.reserve(samples);
    for (std::size_t i = 0; i < parts->elements; ++i) {
      const redisReply* part = parts->element[i];
      if (part->type != REDIS_REPLY_STRING || part->len % 16 != 0) {
        return fail(shared_failure::error, "unreadable shared window");
      }
      for (std::size_t at = 0; at < part->len; at += 16) {
        values[0].push_back(le_double(part->str + at));
        values[1].push_back(le_double(part->str + at + 8));
      }
    }
    const redisReply* st = reply->element[0];
    auto field = [&](std::size_t i) -> std::string_view {
      return is_text(st->element[i]) ? text_of(st->element[i]) : std::string_view{};
    };
    double number = 0;
    analytics::snapshot& snap = out.snap;
    if (parse_number(field(0), number)) snap.seq = to_count(number);
    if (parse_number(field(1), number)) snap.last_timestamp = number;
    bool ok = true;
    for (std::size_t m = 0; m < analytics::kMetricCount; ++m) {
      auto& ms = snap.metrics[m];
      if (parse_number(field(2 + m), number)) ms.anomalies_total = to_count(number);
      if (auto last = field(4 + m); !last.empty()) {
        const auto f = split(last, ' ');
        std::array<double, 3> v{};
        ok = ok && f.size() == 3 && parse_number(f[0], v[0]) && parse_number(f[1], v[1]) &&
             parse_number(f[2], v[2]);
        if (ok) ms.last = analytics::metric_result{v[0], v[1], v[2] != 0.0};
      }
      if (auto anomaly = field(6 + m); !anomaly.empty()) {
        const auto f = split(anomaly, ' ');
        std::array<double, 3> v{};
        ok = ok && f.size() == 3 && parse_number(f[0], v[0]) && parse_number(f[1], v[1]) &&
             parse_number(f[2], v[2]);
        if (ok) ms.last_anomaly = analytics::anomaly_record{v[0], v[1], v[2]};
      }
      ms.window = analytics::compute_window_stats(values[m]);
    }
    if (!ok) return fail(shared_failure::error, "unreadable shared state");
    return out;
  }
};

shared_window::shared_window(shared_window_options options)
    : impl_(std::make_shared<impl>(std::move(options))) {
  impl_->start();
}

shared_window::~shared_window() { stop(); }

void shared_window::stop() { stop(redis_client::kDefaultStopBudget); }

void shared_window::stop(std::chrono::milliseconds budget) { impl_->stop(budget); }

const shared_window_options& shared_window::options() const noexcept { return impl_->options; }

shared_window_status shared_window::status() const noexcept {
  shared_window_status s;
  s.connected = impl_->client.connected();
  s.in_flight = impl_->in_flight.load(std::memory_order_relaxed);
  s.commits = impl_->commits.load(std::memory_order_relaxed);
  s.failures = impl_->failures.load(std::memory_order_relaxed);
  s.reconnects = impl_->client.reconnects();
  return s;
}

void shared_window::commit(std::span<const api::sample> samples, std::string_view request_id,
                           std::string_view request_body, commit_callback done) {
  impl& self = *impl_;
  if (!self.admit()) {
    self.failures.fetch_add(1, std::memory_order_relaxed);
    shared_commit_outcome out;
    out.failure = self.stopped.load() ? shared_failure::unavailable : shared_failure::overloaded;
    out.detail = out.failure == shared_failure::overloaded
                     ? "too many shared-scope calls in flight (SHARED_MAX_IN_FLIGHT)"
                     : "the service is shutting down";
    done(std::move(out));
    return;
  }
  // Formatted here, on the caller's thread: the storage thread only sends.
  auto args = std::make_shared<std::vector<std::string>>();
  args->reserve(13 + 3 * samples.size());
  args->emplace_back("6");
  args->push_back(self.state_key);
  args->push_back(self.window_key);
  // Every commit has a key, so that the service's own retries commit once: the client's
  // X-Request-Id, else one generated here.
  args->push_back(self.req_prefix +
                  (request_id.empty()
                       ? self.generated_key_base + std::to_string(self.generated_keys.fetch_add(
                                                       1, std::memory_order_relaxed))
                       : std::string(request_id)));
  args->push_back(self.v1_state_key);  // migrate() when there is no layout-2 state
  args->push_back(self.v1_cpu_key);
  args->push_back(self.v1_rps_key);
  args->push_back(self.window_arg);
  args->push_back(self.threshold_arg);
  args->push_back(self.warmup_arg);
  args->push_back(request_id.empty() ? self.generated_ttl_arg : self.ttl_arg);
  args->push_back(std::to_string(samples.size()));
  for (const auto& s : samples) {
    args->push_back(format_double(s.timestamp));
    args->push_back(format_double(s.cpu));
    args->push_back(format_double(s.rps));
  }
  args->push_back(fingerprint(request_body));
  net::post(self.ioc, [keep = impl_, args = std::move(args), done = std::move(done)]() mutable {
    keep->commit(args, std::move(done));
  });
}

void shared_window::read(read_callback done) {
  impl& self = *impl_;
  if (!self.admit()) {
    self.failures.fetch_add(1, std::memory_order_relaxed);
    shared_read_outcome out;
    out.failure = self.stopped.load() ? shared_failure::unavailable : shared_failure::overloaded;
    out.detail = "too many shared-scope calls in flight (SHARED_MAX_IN_FLIGHT)";
    done(std::move(out));
    return;
  }
  net::post(self.ioc,
            [keep = impl_, done = std::move(done)]() mutable { keep->read(std::move(done)); });
}

}  // namespace analyzer::storage
