// Custom resources against a real kube-apiserver: the CRDs crd_of writes are accepted and served,
// the typed verbs behave as on the fake server, and a partial typed server-side apply by two
// managers leaves each other's fields alone. The checks are the integration tier's
// (support/widget_scenarios.hpp): the fake is held to what the real server does here.
#include "envtest/env.hpp"
#include "support/co_test.hpp"
#include "support/widget_scenarios.hpp"

#include <doctest/doctest.h>

namespace net = boost::asio;
using kcoro::Client;
using kcoro::test::co_run;
using kcoro::test::env;
using kcoro::test::fresh_namespace;
using namespace std::chrono_literals;

TEST_CASE("envtest custom resource: crd_of created through the client, then every typed verb") {
  auto& e = env();
  co_run(
      [&](net::any_io_executor ex) -> net::awaitable<void> {
        Client c(ex, e.admin_config());
        const auto ns = co_await fresh_namespace(c, "widgets");
        co_await kcoro::test::widget_verbs(c, ns);
      },
      60s);
}

TEST_CASE("envtest custom resource: a partial typed apply leaves other managers' fields alone") {
  auto& e = env();
  co_run(
      [&](net::any_io_executor ex) -> net::awaitable<void> {
        Client c(ex, e.admin_config());
        const auto ns = co_await fresh_namespace(c, "apply");
        co_await kcoro::test::widget_apply(c, ns);
      },
      60s);
}
