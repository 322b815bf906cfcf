// examples/common.cpp — see common.hpp.
#include "common.hpp"

#include "kcoro/kubeconfig.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace net = boost::asio;

namespace kcoro::examples {

bool Args::flag(const std::string& name) {
  auto it = std::find(args_.begin(), args_.end(), name);
  if (it == args_.end()) return false;
  args_.erase(it);
  return true;
}

std::optional<std::string> Args::value(const std::string& name) {
  auto it = std::find(args_.begin(), args_.end(), name);
  if (it == args_.end()) return std::nullopt;
  if (it + 1 == args_.end()) throw std::invalid_argument(name + " needs a value");
  std::string v = *(it + 1);
  args_.erase(it, it + 2);
  return v;
}

void Args::expect_empty() const {
  if (!args_.empty()) throw std::invalid_argument("unknown argument: " + args_.front());
}

App::App(std::string name, std::string usage, RuntimeOptions runtime_options)
    : name_(std::move(name)), usage_(std::move(usage)), runtime_(std::move(runtime_options)) {}

App::~App() = default;

Args App::parse(int argc, char** argv) {
  auto usage = [&](int code) {
    std::fprintf(code == 0 ? stdout : stderr,
                 "usage: %s [--kubeconfig PATH] [--master URL] [--context NAME] [--demo]\n"
                 "       [--run-for-seconds N]%s\n",
                 name_.c_str(), usage_.c_str());
    std::exit(code);
  };
  std::vector<std::string> rest;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    // Each common flag takes the next argument as its value.
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s: %s needs a value\n", name_.c_str(), a.c_str());
        usage(2);
      }
      return argv[++i];
    };
    if (a == "--help" || a == "-h") usage(0);
    if (a == "--kubeconfig") {
      kubeconfig_ = next();
    } else if (a == "--master") {
      master_ = next();
    } else if (a == "--context") {
      context_ = next();
    } else if (a == "--demo") {
      demo_ = true;
    } else if (a == "--run-for-seconds") {
      const std::string v = next();
      char* end = nullptr;
      const double seconds = std::strtod(v.c_str(), &end);
      if (end == v.c_str() || *end != '\0' || seconds < 0) usage(2);
      run_for_ = std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
    } else {
      rest.push_back(a);
    }
  }
  return Args(std::move(rest));
}

ClusterConfig App::cluster_config(testing::FakeApiServerOptions demo_options) {
  if (demo_) {
    // --demo: an in-process API server on 127.0.0.1 with its own thread; plain HTTP, no auth.
    fake_ = std::make_unique<testing::FakeApiServer>(std::move(demo_options));
    spdlog::info("Demo mode: embedded fake API server at {}", fake_->url());
    return ClusterConfig::from_url(fake_->url());
  }
  // As client-go: --kubeconfig, $KUBECONFIG, in-cluster (inside a pod), ~/.kube/config.
  LoadOptions lo;
  lo.kubeconfig = kubeconfig_;
  lo.context = context_;
  lo.master = master_;
  ClusterConfig config;
  try {
    config = load_cluster_config(lo);
  } catch (const std::exception& e) {
    std::fprintf(stderr,
                 "%s: no cluster configuration: %s\n"
                 "Run it against a cluster with --kubeconfig PATH (or $KUBECONFIG, or from "
                 "inside a pod),\nor try it without one: %s --demo\n",
                 name_.c_str(), e.what(), name_.c_str());
    std::exit(2);
  }
  spdlog::info("Using {} ({})", config.server,
               config.in_cluster ? std::string("in-cluster") : config.source_file);
  return config;
}

Client& App::connect(testing::FakeApiServerOptions demo_options) {
  client_ =
      std::make_unique<Client>(runtime_.io_executor(), cluster_config(std::move(demo_options)));
  return *client_;
}

ManagerOptions App::manager_options(testing::FakeApiServerOptions demo_options) {
  ManagerOptions o;
  o.config = cluster_config(std::move(demo_options));
  return o;
}

void App::bound(Manager& mgr) const {
  if (run_for_) mgr.runtime().stop_after(*run_for_);
}

namespace {
// A pod as the demo writes it into the fake API server.
std::string demo_pod(const std::string& name, const std::string& generation) {
  return R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")" + name +
         R"(","namespace":"default","labels":{"app":"demo","generation":")" + generation +
         R"("}},"spec":{"containers":[{"name":"app","image":"nginx:latest"}]}})";
}
}  // namespace

void App::seed_demo_pods(int n) {
  for (int i = 0; i < n; ++i)
    fake_->cluster().apply_object(demo_pod("pod-" + std::to_string(i), "1"));
}

net::awaitable<void> App::demo_pod_churn() {
  net::steady_timer timer(co_await net::this_coro::executor);
  auto& cluster = fake_->cluster();
  for (int step = 0; !stopping(); ++step) {
    timer.expires_after(std::chrono::milliseconds(400));
    boost::system::error_code ec;
    co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
    if (ec || stopping()) break;
    const std::string name = "churn-" + std::to_string(step / 3);
    switch (step % 3) {
      case 0:  // a new pod
        cluster.apply_object(demo_pod(name, "1"));
        break;
      case 1:  // the same pod, changed
        cluster.apply_object(demo_pod(name, "2"));
        break;
      default:  // and gone
        cluster.delete_object("v1", "Pod", "default", name);
        break;
    }
  }
}

int App::run(net::awaitable<void> main) {
  if (run_for_) runtime_.stop_after(*run_for_);
  const int code = runtime_.run(std::move(main));
  if (code != 0) spdlog::error("{} failed", name_);
  return code;
}

}  // namespace kcoro::examples
