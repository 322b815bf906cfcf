// informer_printer — a SharedInformerFactory whose pod informer prints every change it sees.
//
// The informer lists and watches pods and keeps them in a Store; the handler is told about each
// add, update and delete after the Store has it. With a resync period the handler also gets an
// update (old == new) for every cached pod each period, as client-go's resync does.
//
//   informer_printer --demo --resync 2 --run-for-seconds 5
//   informer_printer --kubeconfig ~/.kube/config --namespace kube-system
#include "../common.hpp"

#include "kcoro/informer.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>

namespace net = boost::asio;
namespace res = kcoro::resources;

int main(int argc, char** argv) {
  // 1. Flags: the common ones, then --namespace (default: every namespace) and --resync.
  kcoro::examples::App app("informer_printer", " [--namespace NS] [--resync SECONDS]");
  auto args = app.parse(argc, argv);
  std::string ns;  // empty: all namespaces
  std::chrono::milliseconds resync = std::chrono::minutes(1);
  try {
    if (auto v = args.value("--namespace")) ns = *v;
    if (auto v = args.value("--resync"))
      resync = std::chrono::milliseconds(static_cast<int64_t>(std::stod(*v) * 1000));
    args.expect_empty();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "informer_printer: %s (see --help)\n", e.what());
    return 2;
  }

  // 2. The cluster, or (--demo) an embedded fake API server with a few pods.
  kcoro::Client& client = app.connect();
  if (app.demo()) app.seed_demo_pods(3);

  // 3. The factory hands out one informer per resource and namespace, shared by all who ask.
  kcoro::SharedInformerFactory factory(client, app.informer_executor(), app.executor());
  auto pods = factory.informer(res::pods, ns);

  // 4. The handler: it runs after the Store was updated, one notification at a time.
  kcoro::EventHandler handler;
  handler.on_add = [](const kcoro::ObjectPtr& pod) {
    spdlog::info("New Pod Added to Store: {}", pod->meta().name);
  };
  handler.on_update = [](const kcoro::ObjectPtr& old_pod, const kcoro::ObjectPtr& new_pod) {
    spdlog::info("{} Pod Updated to {}", old_pod->meta().name, new_pod->meta().name);
  };
  handler.on_delete = [](const kcoro::ObjectPtr& pod, bool tombstone) {
    // A tombstone: the pod vanished while the watch was down; `pod` is its last known state.
    spdlog::info("Pod Deleted from Store: {}{}", pod->meta().name,
                 tombstone ? " (deleted while not watching)" : "");
  };
  kcoro::HandlerOptions ho;
  ho.resync_period = resync;  // every period: on_update(pod, pod) for each cached pod
  pods->add_handler(handler, ho);

  // 5. SIGINT, SIGTERM or --run-for-seconds: stop every informer of the factory.
  app.on_stop([&] { factory.stop(); });

  // 6. Run: start the informers, wait for their first list, then print until stopped.
  return app.run([&]() -> net::awaitable<void> {
    factory.start();
    co_await factory.wait_for_sync();
    spdlog::info("Informer synced: {} pods in the cache", pods->store()->size());
    if (app.demo()) net::co_spawn(app.executor(), app.demo_pod_churn(), net::detached);
    co_await app.runtime().wait_for_stop();
    spdlog::info("Informer stopped");
  }());
}
