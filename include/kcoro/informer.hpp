// kcoro/informer.hpp — a cache of one resource kept fresh by a reflector, and its event handlers.
//
// Contract
// - Threads: the reflector runs on the I/O executor (the one the client's sockets live on); the
//   informer's consumer loop runs on the informer executor and is the Store's only writer; each
//   handler runs on its own executor (default: the informer executor), serialised per handler.
//   One executor for everything is a valid configuration.
// - Order: deltas keep the server's order. Each handler receives its notifications in that order.
//   A relist is applied atomically: the store goes from the old state to the list's state in one
//   step, and handlers then receive adds, updates (old, new) and deletes for what changed; keys
//   that vanished are deleted with their last known object and tombstone=true. Objects whose
//   resourceVersion did not change keep their existing shared_ptr and produce no notification.
// - Handlers never stall the informer: each has an unbounded buffer drained on its executor. A
//   handler added after start first receives an add for every object cached, then live changes,
//   with nothing missed or doubled. A handler's resync period redelivers on_update(obj, obj) for
//   every cached object.
// - has_synced() turns true once the first list (or streaming list) is in the store;
//   wait_for_sync() completes then, or throws the list's ApiError when retrying cannot help
//   (401, 403, 404, 422...); transient failures (connection, 5xx, 429) keep it waiting while the
//   reflector retries.
// - stop() (any thread) cancels the reflector, closes the channel and ends every coroutine the
//   informer started; handlers already queued are dropped. The destructor stops. The informer
//   keeps its own handle to the Client, so coroutines still winding down never use a destroyed
//   one.
#pragma once

#include "kcoro/detail/asio_config.hpp"

#include "kcoro/client.hpp"
#include "kcoro/metrics.hpp"
#include "kcoro/reflector_policy.hpp"
#include "kcoro/store.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace spdlog {
class logger;
}

namespace kcoro {

struct InformerOptions {
  Resource resource;
  std::string ns;  ///< empty: all namespaces
  std::string label_selector;
  std::string field_selector;
  /// Cache PartialObjectMetadata (apiVersion, kind "PartialObjectMetadata", metadata) instead
  /// of whole objects: for controllers that need only names, labels, owners or finalizers of a
  /// resource, at a fraction of the memory and bandwidth (client-go's metadata informer).
  bool metadata_only = false;
  /// Edits each object's JSON before it is cached, after the managedFields cut (client-go's
  /// SetTransform): drop what the controller never reads to save memory. See transform.hpp.
  Transform transform;
  std::size_t channel_capacity = 1024;  ///< deltas between the reflector and the informer
  ReflectorPolicyOptions policy;        ///< page size, watch timeouts, streaming list, backoff
  uint64_t seed = 0;                    ///< jitter seed; 0: random
  /// Where the informer and its reflector log; default: spdlog's default logger.
  std::shared_ptr<spdlog::logger> logger{};
  /// Where the reflector's kcoro_reflector_* series go (kcoro/reflector.hpp); nullptr: nowhere.
  std::shared_ptr<MetricsRegistry> metrics = MetricsRegistry::global();
};

struct EventHandler {
  std::function<void(const ObjectPtr& obj)> on_add;
  std::function<void(const ObjectPtr& old_obj, const ObjectPtr& new_obj)> on_update;
  /// `tombstone`: the object vanished while the informer was not watching (found by a relist);
  /// `obj` is then the last state the informer knew.
  std::function<void(const ObjectPtr& obj, bool tombstone)> on_delete;
};

struct HandlerOptions {
  std::chrono::milliseconds resync_period{0};  ///< 0: no resync
  /// Where the handler runs; default: the informer executor.
  boost::asio::any_io_executor executor;
};

class Informer {
 public:
  Informer(Client& client, InformerOptions opts, boost::asio::any_io_executor informer_executor,
           boost::asio::any_io_executor io_executor = {});
  ~Informer();
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  /// Starts the reflector and the consumer loop. Idempotent.
  void start();
  /// Stops everything started; see the contract. Idempotent, any thread.
  void stop();

  /// Adds a handler; safe before or after start, from any thread.
  void add_handler(EventHandler handler, HandlerOptions opts = {});

  /// Adds an index to the store (before or after objects exist).
  void add_index(std::string name, IndexFunc func);
  /// Warms the cache before start(), as client-go's `indexer.Add` does: `obj` is in the store
  /// at once, notifying no handler; the first list then reports it as updated, or, when the
  /// server no longer has it, as deleted with tombstone=true. Throws std::logic_error once
  /// started.
  void prime(ObjectPtr obj);

  /// The cache, for readers on any thread.
  std::shared_ptr<const Store> store() const;

  bool has_synced() const noexcept;
  awaitable<void> wait_for_sync();

  /// The resourceVersion of the last delta applied.
  std::string last_resource_version() const;
  const InformerOptions& options() const noexcept;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

/// One informer per (resource, namespace, selectors, metadata-only or not), shared by everyone
/// who asks.
class SharedInformerFactory {
 public:
  SharedInformerFactory(Client& client, boost::asio::any_io_executor informer_executor,
                        boost::asio::any_io_executor io_executor = {});
  ~SharedInformerFactory();

  /// The informer for these parameters, created on first request (and started if the factory
  /// already was).
  std::shared_ptr<Informer> informer(const Resource& r, std::string ns = {},
                                     std::string label_selector = {},
                                     std::string field_selector = {});
  /// A metadata-only informer (InformerOptions::metadata_only); distinct from the informer of
  /// whole objects with the same parameters.
  std::shared_ptr<Informer> metadata_informer(const Resource& r, std::string ns = {},
                                              std::string label_selector = {},
                                              std::string field_selector = {});
  /// As above with every option; the key is (resource, namespace, selectors, metadata_only).
  std::shared_ptr<Informer> informer(InformerOptions opts);

  void start();
  void stop();
  /// Waits until every informer created so far has synced; throws the first fatal list error.
  awaitable<void> wait_for_sync();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kcoro
