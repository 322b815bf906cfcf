// pod_watcher — client-go's workqueue example (k8s.io/client-go/examples/workqueue) with kcoro.
//
// A pod informer keeps a cache of the pods of one namespace. Its handlers do no work: they put
// the pod's "namespace/name" key on a rate-limited work queue (kcoro::Controller does that, and
// counts deletions, tombstones included). Workers take keys off the queue, look the pod up in the
// cache and print what they find. A failed sync is retried with backoff 5 times, then dropped.
//
//   pod_watcher --demo --run-for-seconds 5          # against an embedded fake API server
//   pod_watcher --kubeconfig ~/.kube/config         # against a cluster; Ctrl-C stops it
#include "../common.hpp"

#include "kcoro/controller.hpp"
#include "kcoro/informer.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <spdlog/spdlog.h>

#include <cstdio>
#include <stdexcept>

namespace net = boost::asio;
namespace res = kcoro::resources;
using namespace std::chrono_literals;

namespace {

constexpr int kMaxRetries = 5;  // client-go's example: 5 tries, then the key is dropped

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
  if (app.demo()) {
    // A few pods to start with; demo_pod_churn adds, changes and removes more while it runs.
    app.seed_demo_pods(5);
  }

  // 3. The informer: list + watch pods, cached in a Store.
  kcoro::InformerOptions io;
  io.resource = res::pods;
  io.ns = ns;
  kcoro::Informer informer(client, io, app.informer_executor(), app.executor());

  // 4. The sync handler: what a worker does with one key. It reads the cache, never the API.
  auto sync = [&](const kcoro::Request& req, kcoro::Context& ctx) -> net::awaitable<kcoro::Result> {
    const std::string key = req.str();
    try {
      // --fail-pod: pretend this pod cannot be synced, to show the retries and the drop.
      if (!fail_pod.empty() && req.name == fail_pod)
        throw std::runtime_error("cannot sync pod " + req.name + " (--fail-pod)");
      auto pod = informer.store()->get(key);
      if (!pod) {
        // Deleted (or never existed, like --warm-pod): the cache no longer has it.
        spdlog::info("Pod {} does not exist anymore", key);
      } else {
        // Note that you also have to check the uid if you have a local controlled resource,
        // which depends on the actual instance, to detect that a Pod was recreated.
        spdlog::info("Sync/Add/Update for Pod {}", pod->meta().name);
      }
    } catch (const std::exception& e) {
      // handleErr: retry with the queue's backoff while the key has failed < 5 times.
      if (ctx.retries() < kMaxRetries) {
        spdlog::info("Error syncing pod {}: {}", key, e.what());
      } else {
        spdlog::info("Dropping pod \"{}\" out of the queue: {}", key, e.what());
      }
      throw;  // the Controller requeues rate-limited, or forgets the key after 5 failures
    }
    co_return kcoro::Result::done();
  };

  // 5. The controller: informer events → keys on a rate-limited queue → `workers` workers.
  kcoro::ControllerOptions co;
  co.name = "pod-controller";
  co.workers = workers;
  co.max_retries = kMaxRetries;
  co.stop_timeout = 5s;
  co.metrics = nullptr;
  kcoro::Controller controller(client, app.worker_executor(), sync, co);
  controller.watches(informer);

  // 6. Warm the cache: a key for a pod that does not exist shows the "does not exist" path.
  if (!warm_pod.empty()) controller.enqueue(kcoro::Request{ns.empty() ? "default" : ns, warm_pod});

  // 7. SIGINT, SIGTERM or --run-for-seconds: stop the controller (its run() then returns) and
  //    the informer.
  app.on_stop([&] {
    controller.stop();
    informer.stop();
  });

  // 8. Run: start the informer, wait for its first list, run the workers until stopped.
  return app.run([&]() -> net::awaitable<void> {
    spdlog::info("Starting Pod controller");
    if (app.demo()) net::co_spawn(app.executor(), app.demo_pod_churn(), net::detached);
    co_await controller.run();
    spdlog::info("Stopping Pod controller");
  }());
}
