// kcoro/event_recorder.hpp — core/v1 Events about objects, written in the background.
//
// Contract
// - record(obj, type, reason, message) never blocks and never throws on the caller's behalf: it
//   takes a short lock, applies the spam filter, and queues the event. A background coroutine,
//   run(), writes queued events one at a time, in order, with the Client. Write failures are
//   logged and counted (stats().failed); they never reach the caller of record().
// - Shape: the Event of the recorded object (involvedObject: kind, namespace, name, uid,
//   apiVersion, resourceVersion; for a typed object — a generated kind or a custom resource —
//   kind and apiVersion come from T::resource(), the rest from its metadata), in the object's
//   namespace ("default" for a cluster-scoped object), named "<object name>.<unix nanoseconds in
//   hex>" as client-go names it, with source.component (and source.host when set),
//   reportingComponent, reportingInstance, firstTimestamp, lastTimestamp, count and type Normal or
//   Warning.
// - Aggregation (client-go's eventLogger): a repeat of an event already written — same involved
//   object, type, reason and message — is not a new Event: the existing one is PATCHed (merge)
//   with count + 1 and a new lastTimestamp. If that Event is gone (404), it is created again with
//   the running count. The recorder remembers the last `cache_size` distinct events (LRU).
// - Spam filter (client-go's EventSourceObjectSpamFilter): a token bucket per involved object
//   (and source), `burst` tokens (25), one more every `refill_interval` (5 min); an event that
//   finds its bucket empty is dropped (stats().rate_limited). At most `max_pending` events wait
//   for the writer; more are dropped (stats().overflowed).
// - Threads: record() and stats() from any thread. run() on any executor; it returns after
//   stop() (any thread, idempotent), which cancels a write in flight and drops what is queued.
//   Events recorded before run() are written once it starts.
// - Lifetimes: the Client must outlive run(); the recorder must outlive run() and every record().
#pragma once

#include "kcoro/detail/asio_config.hpp"

#include "kcoro/client.hpp"
#include "kcoro/object.hpp"

#include <boost/asio/awaitable.hpp>

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace kcoro {

enum class EventType { normal, warning };

/// "Normal" or "Warning".
std::string_view to_string(EventType t) noexcept;

struct EventRecorderOptions {
  std::string component;           ///< source.component and reportingComponent (required)
  std::string host;                ///< source.host; empty: not sent
  std::string reporting_instance;  ///< reportingInstance
  int burst = 25;                  ///< spam filter: events per object at once
  std::chrono::nanoseconds refill_interval = std::chrono::minutes(5);  ///< one token per
  std::size_t max_pending = 1024;  ///< events waiting for the writer
  std::size_t cache_size = 4096;   ///< distinct events remembered for aggregation and spam
  /// Time for the spam filter; default std::chrono::steady_clock.
  std::function<std::chrono::steady_clock::time_point()> clock;
  /// Time for the Event's timestamps; default std::chrono::system_clock.
  std::function<std::chrono::system_clock::time_point()> wall_clock;
  std::shared_ptr<spdlog::logger> logger;  ///< default: spdlog's default logger
};

struct EventRecorderStats {
  uint64_t recorded = 0;      ///< calls to record()
  uint64_t created = 0;       ///< Events created (POST)
  uint64_t patched = 0;       ///< repeats aggregated into an existing Event (PATCH)
  uint64_t rate_limited = 0;  ///< dropped by the spam filter
  uint64_t overflowed = 0;    ///< dropped because max_pending events were waiting
  uint64_t failed = 0;        ///< writes that failed (logged)
};

/// The object an Event is about (its involvedObject).
struct EventSubject {
  std::string_view kind;
  std::string_view api_version;
  std::string_view ns{};
  std::string_view name{};
  std::string_view uid{};
  std::string_view resource_version{};
};

class EventRecorder {
 public:
  EventRecorder(Client& client, EventRecorderOptions options);
  ~EventRecorder();
  EventRecorder(const EventRecorder&) = delete;
  EventRecorder& operator=(const EventRecorder&) = delete;

  /// Queues an Event about `obj`; see the contract.
  void record(const Object& obj, EventType type, std::string_view reason, std::string_view message);
  /// The same about the object `who` names.
  void record(const EventSubject& who, EventType type, std::string_view reason,
              std::string_view message);
  /// The same about a typed object (a generated kind or a custom resource).
  template <class T>
  requires requires(const T& t) {
    T::resource();
    t.metadata;
  }
  void record(const T& obj, EventType type, std::string_view reason, std::string_view message) {
    const Resource& r = T::resource();
    const std::string api_version = r.api_version();
    EventSubject who{r.kind, api_version};
    if (const auto& m = obj.metadata) {
      if (m->namespace_) who.ns = *m->namespace_;
      if (m->name) who.name = *m->name;
      if (m->uid) who.uid = *m->uid;
      if (m->resourceVersion) who.resource_version = *m->resourceVersion;
    }
    record(who, type, reason, message);
  }

  /// Writes queued events until stop().
  boost::asio::awaitable<void> run();
  void stop();

  EventRecorderStats stats() const;

  struct State;

 private:
  std::shared_ptr<State> st_;
};

}  // namespace kcoro
