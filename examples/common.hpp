// examples/common.hpp — what every example needs before its first informer: flags, a cluster
// configuration (or an embedded fake API server for --demo), and a kcoro::Runtime that runs the
// threads and stops cleanly on SIGINT, SIGTERM or --run-for-seconds.
//
// Common flags (client-go's names):
//   --kubeconfig PATH   a kubeconfig file (else $KUBECONFIG, in-cluster, ~/.kube/config)
//   --master URL        overrides the kubeconfig's server
//   --context NAME      a context other than current-context
//   --demo              run against an embedded FakeApiServer instead of a cluster
//   --run-for-seconds N stop by itself after N seconds (smoke tests)
#pragma once

#include "kcoro/client.hpp"
#include "kcoro/manager.hpp"
#include "kcoro/runtime.hpp"
#include "kcoro/testing/fake_apiserver.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace kcoro::examples {

/// The example's own flags, after the common ones were taken out: "--flag value" pairs and
/// lone "--switch"es, in order.
class Args {
 public:
  Args(std::vector<std::string> args) : args_(std::move(args)) {}  // NOLINT
  /// True (and consumed) if `name` is present.
  bool flag(const std::string& name);
  /// The value following `name` (consumed), if present.
  std::optional<std::string> value(const std::string& name);
  /// Throws std::invalid_argument naming whatever was not consumed.
  void expect_empty() const;

 private:
  std::vector<std::string> args_;
};

/// What every example shares: flags, a Client for a cluster or the embedded fake, and a
/// kcoro::Runtime (I/O, informer and worker threads; SIGINT and SIGTERM).
class App {
 public:
  /// `name` prefixes the usage text; `usage` lists the example's own flags.
  App(std::string name, std::string usage, RuntimeOptions runtime_options = {});
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  /// Takes the common flags out of argv; returns the rest. Prints usage and exits 2 on --help or
  /// a malformed common flag.
  Args parse(int argc, char** argv);

  bool demo() const noexcept { return demo_; }

  /// Builds the Client: --demo starts the embedded FakeApiServer with `demo_options`; otherwise
  /// the configuration is loaded as client-go does (in-cluster inside a pod). When no
  /// configuration is found, prints how to use --demo or --kubeconfig and exits 2.
  Client& connect(testing::FakeApiServerOptions demo_options = {});
  /// For an example on a kcoro::Manager: options whose `config` is the cluster, found as
  /// connect() finds it (--demo starts the embedded server).
  ManagerOptions manager_options(testing::FakeApiServerOptions demo_options = {});
  /// --run-for-seconds: stops `mgr` after that long.
  void bound(Manager& mgr) const;

  Runtime& runtime() noexcept { return runtime_; }
  /// The I/O executor: the client, demo coroutines, main.
  boost::asio::any_io_executor executor() { return runtime_.io_executor(); }
  boost::asio::any_io_executor informer_executor() { return runtime_.informer_executor(); }
  boost::asio::any_io_executor worker_executor() { return runtime_.worker_executor(); }
  Client& client() { return *client_; }
  /// The embedded server (--demo only; nullptr otherwise).
  testing::FakeApiServer* fake() noexcept { return fake_.get(); }

  /// --demo: writes pods pod-0 ... pod-(n-1) into namespace "default" of the fake.
  void seed_demo_pods(int n);
  /// --demo: pods churn-0, churn-1, ... come, change and go in "default", one step every
  /// 400 ms, until the runtime stops.
  boost::asio::awaitable<void> demo_pod_churn();

  /// Called once when the example must stop (signal or --run-for-seconds).
  void on_stop(std::function<void()> fn) { runtime_.on_stop(std::move(fn)); }
  bool stopping() const noexcept { return runtime_.stopping(); }

  /// Runs `main` on the runtime until it returns; returns the process exit code (0, or 1 if
  /// `main` threw).
  int run(boost::asio::awaitable<void> main);

 private:
  std::string name_;
  std::string usage_;
  std::string kubeconfig_;
  std::string master_;
  std::string context_;
  bool demo_ = false;
  std::optional<std::chrono::milliseconds> run_for_;

  ClusterConfig cluster_config(testing::FakeApiServerOptions demo_options);

  Runtime runtime_;
  std::unique_ptr<testing::FakeApiServer> fake_;
  std::unique_ptr<Client> client_;
};

}  // namespace kcoro::examples
