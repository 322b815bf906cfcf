// What the client tests share: kcoro::Client against the fake API server, over plain HTTP and TLS.
#pragma once

#include "kcoro/client.hpp"
#include "kcoro/testing/fake_apiserver.hpp"

#include "support/co_test.hpp"
#include "support/fake.hpp"
#include "support/metric_value.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <filesystem>
#include <string>

namespace net = boost::asio;
using kcoro::ApiError;
using kcoro::Client;
using kcoro::ClusterConfig;
using kcoro::ListOptions;
using kcoro::ObjectPtr;
using kcoro::WatchEventType;
using kcoro::test::co_run;
using kcoro::test::config_for;
using kcoro::test::configmap_json;
using kcoro::test::pod_json;
using kcoro::test::TempDir;
using kcoro::testing::FakeApiServer;
using kcoro::testing::FakeApiServerOptions;
using kcoro::testing::Fault;
using kcoro::testing::FaultKind;
namespace res = kcoro::resources;
using namespace std::chrono_literals;
