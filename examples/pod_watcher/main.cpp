// pod_watcher — client-go's workqueue example (k8s.io/client-go/examples/workqueue) with kcoro.
//
// A pod informer keeps a cache (the indexer) of the pods of one namespace. Its handlers do no
// work: they put the pod's "namespace/name" key on a rate-limited WorkQueue. Workers take keys
// off the queue (processNextItem), look the pod up in the cache and print what they find
// (syncToStdout); a failed sync is retried with backoff while it failed fewer than 5 times, then
// dropped (handleErr). This example shows the raw pieces; kcoro::Manager and its controller
// builder wire them for you (examples/sample_controller).
//
//   pod_watcher --demo --run-for-seconds 5          # against an embedded fake API server
//   pod_watcher --kubeconfig ~/.kube/config         # against a cluster; Ctrl-C stops it
#include "../common.hpp"

#include "kcoro/error.hpp"
#include "kcoro/informer.hpp"
#include "kcoro/workqueue.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <spdlog/spdlog.h>

#include <cstdio>
#include <stdexcept>

namespace net = boost::asio;
namespace res = kcoro::resources;

namespace {

constexpr int kMaxRetries = 5;  // client-go's example: 5 tries, then the key is dropped

// The example's Controller: a queue of keys, the informer's cache, and what a worker does.
struct Controller {
  kcoro::WorkQueue<std::string>& queue;
  std::shared_ptr<const kcoro::Store> indexer;
  std::string fail_pod;  // --fail-pod: a pod that cannot be synced, to show retries and the drop

  // syncToStdout: the business logic. It reads the cache, never the API.
  void sync_to_stdout(const std::string& key) const {
    auto parsed = kcoro::ObjectKey::parse(key);
    if (parsed && !fail_pod.empty() && parsed->name == fail_pod)
      throw std::runtime_error("cannot sync pod " + fail_pod + " (--fail-pod)");
    auto pod = indexer->get(key);
    if (!pod) {
      spdlog::info("Pod {} does not exist anymore", key);
    } else {
      // Note that you also have to check the uid if you have a local controlled resource, which
      // depends on the actual instance, to detect that a Pod was recreated with the same name.
      spdlog::info("Sync/Add/Update for Pod {}", pod->meta().name);
    }
  }

  // handleErr: forget a key that synced; retry one that failed fewer than 5 times; else drop it.
  void handle_err(std::exception_ptr err, const std::string& key) {
    if (!err) {
      queue.forget(key);  // its rate-limit history goes
      return;
    }
    const std::string message = kcoro::exception_message(err);
    if (queue.num_requeues(key) < kMaxRetries) {
      spdlog::info("Error syncing pod {}: {}", key, message);
      queue.add_rate_limited(key);  // back later, after the limiter's delay
      return;
    }
    queue.forget(key);
    spdlog::info("Dropping pod \"{}\" out of the queue: {}", key, message);
  }

  // processNextItem: one key off the queue; false once the queue is shut down.
  net::awaitable<bool> process_next_item() {
    std::optional<std::string> key = co_await queue.get();
    if (!key) co_return false;
    std::exception_ptr err;
    try {
      sync_to_stdout(*key);
    } catch (...) {
      err = std::current_exception();
    }
    handle_err(err, *key);
    queue.done(*key);  // the key may be handed out again (to any worker)
    co_return true;
  }

  // runWorker. (The co_await stays out of the loop's condition: GCC 12 miscompiles a co_await of
  // a bool in a condition.)
  net::awaitable<void> run_worker() {
    for (;;) {
      const bool more = co_await process_next_item();
      if (!more) break;
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  // 1. Flags: the common ones (--kubeconfig, --master, --context, --demo, --run-for-seconds),
  //    then this example's own.
  kcoro::examples::App app("pod_watcher",
                           "\n       [--namespace NS | --all-namespaces] [--workers N]"
                           "\n       [--warm-pod NAME] [--fail-pod NAME]");
  auto args = app.parse(argc, argv);
  std::string ns = "default";
  int workers = 1;
  std::string warm_pod;
  std::string fail_pod;
  try {
    if (auto v = args.value("--namespace")) ns = *v;
    if (args.flag("--all-namespaces")) ns.clear();  // empty: every namespace
    if (auto v = args.value("--workers")) workers = std::stoi(*v);
    if (auto v = args.value("--warm-pod")) warm_pod = *v;
    if (auto v = args.value("--fail-pod")) fail_pod = *v;
    args.expect_empty();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pod_watcher: %s (see --help)\n", e.what());
    return 2;
  }

  // 2. The cluster: a real one, or (--demo) an embedded fake API server.
  kcoro::Client& client = app.connect();
  if (app.demo()) app.seed_demo_pods(5);  // demo_pod_churn adds, changes and removes more

  // 3. The queue, and the informer whose handlers only add keys to it. A deletion hands over the
  //    last known pod (tombstones too), whose key is the pod's.
  kcoro::WorkQueue<std::string> queue(app.worker_executor());
  kcoro::InformerOptions io;
  io.resource = res::pods;
  io.ns = ns;
  kcoro::Informer informer(client, io, app.informer_executor(), app.executor());
  informer.add_handler({
      .on_add = [&](const kcoro::ObjectPtr& obj) { queue.add(obj->key()); },
      .on_update = [&](const kcoro::ObjectPtr&,
                       const kcoro::ObjectPtr& obj) { queue.add(obj->key()); },
      .on_delete = [&](const kcoro::ObjectPtr& obj, bool) { queue.add(obj->key()); },
  });
  Controller controller{queue, informer.store(), fail_pod};

  // 4. Warm up the cache: suppose we knew about a pod on our last run. If it is not there
  //    anymore, the first list turns it into a delete, and its key comes through the queue.
  if (!warm_pod.empty()) {
    informer.prime(kcoro::Object::parse(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")" +
                                        warm_pod + R"(","namespace":")" +
                                        (ns.empty() ? "default" : ns) + R"("}})"));
  }

  // 5. SIGINT, SIGTERM or --run-for-seconds: no more keys for the workers, no more events.
  app.on_stop([&] {
    queue.shutdown();
    informer.stop();
  });

  // 6. Run: start the informer, wait for its cache to sync, start the workers, wait for the stop.
  return app.run([&]() -> net::awaitable<void> {
    spdlog::info("Starting Pod controller");
    if (app.demo()) net::co_spawn(app.executor(), app.demo_pod_churn(), net::detached);
    informer.start();
    co_await informer.wait_for_sync();  // throws if the cache cannot sync (403, 404...)
    for (int i = 0; i < workers; ++i)
      net::co_spawn(app.worker_executor(), controller.run_worker(), net::detached);
    co_await app.runtime().wait_for_stop();
    spdlog::info("Stopping Pod controller");
  }());
}
