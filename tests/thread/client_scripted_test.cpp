// The Client and the Reflector over a scripted transport (tests/support/scripted_transport.hpp)
// that fails at step k, for every k: every connect, write and read. A GET, a list and a watch
// opening are retried until they succeed; a failure after the response's header is an error,
// never a short answer taken for a whole one; a write reaches the server once, whatever fails;
// the reflector resumes or relists and its consumer ends with the server's state.
#include "kcoro/client.hpp"
#include "kcoro/delta_channel.hpp"
#include "kcoro/reflector.hpp"

#include "support/co_test.hpp"
#include "support/scripted_transport.hpp"

#include <doctest/doctest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <spdlog/logger.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace net = boost::asio;
using namespace std::chrono_literals;
using kcoro::test::Fault;
using kcoro::test::ScriptedServer;

namespace {

std::string pod_json(const std::string& name, int rv) {
  return R"({"kind":"Pod","apiVersion":"v1","metadata":{"name":")" + name +
         R"(","namespace":"ns","uid":"u-)" + name + R"(","resourceVersion":")" +
         std::to_string(rv) + R"("},"spec":{"containers":[{"name":"c","image":"busybox"}]}})";
}

kcoro::ClientOptions scripted_options(ScriptedServer& server) {
  kcoro::ClientOptions o;
  o.retry.max_retries = 4;
  o.retry.base = 1ms;
  o.retry.cap = 4ms;
  o.metrics = nullptr;
  o.request_timeout = 10s;
  o.stream_idle_timeout = 10s;
  o.connect = server.connector();
  return o;
}

kcoro::ClusterConfig scripted_cluster() {
  return kcoro::ClusterConfig::from_url("http://scripted.test:8080");
}

std::string not_found() {
  return kcoro::test::http_response(
      404,
      R"({"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404})",
      "Not Found");
}

// What one run ended with: the names read, and the error that ended it, if any.
struct Outcome {
  std::vector<std::string> names;
  bool ended_cleanly = false;
  std::optional<std::error_code> error;
  long first_step = 0;  // the step the request under test began with
};

// Runs `request(client, out)`, a coroutine, with a Client over `server`: the outcome is whole
// when it returns, and a std::system_error it throws is the outcome's error.
template <class Request>
Outcome with_client(ScriptedServer& server, Request&& request) {
  Outcome out;
  kcoro::test::co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    kcoro::Client client(ex, scripted_cluster(), scripted_options(server));
    try {
      co_await request(client, out);
      out.ended_cleanly = true;
    } catch (const std::system_error& e) {
      out.error = e.code();
    }
  });
  return out;
}

// Calls check(server, k) with a server that fails at step k, for each way of failing and every
// step k below `steps`.
template <class Check>
void at_every_step(long steps, Check&& check) {
  for (Fault fault : {Fault::reset, Fault::cut}) {
    for (long k = 0; k < steps; ++k) {
      CAPTURE(static_cast<int>(fault));
      CAPTURE(k);
      ScriptedServer server;
      server.fail_at = k;
      server.fault = fault;
      check(server, k);
    }
  }
}

}  // namespace

TEST_CASE("scripted transport: a GET failing at any step is retried; a cut body is an error") {
  auto run = [](ScriptedServer& server) {
    server.respond = [](std::string_view req) {
      if (req.starts_with("GET /api/v1/namespaces/ns/pods/p1 ")) {
        return kcoro::test::http_response(200, pod_json("p1", 7));
      }
      return not_found();
    };
    return with_client(server, [](kcoro::Client& client, Outcome& out) -> net::awaitable<void> {
      kcoro::ObjectPtr pod = co_await client.get(kcoro::resources::pods, "ns", "p1");
      out.names.emplace_back(pod->meta().name);
    });
  };
  ScriptedServer clean;
  const Outcome ok = run(clean);
  REQUIRE(ok.names == std::vector<std::string>{"p1"});
  REQUIRE(clean.steps >= 4);  // connect, write, the header and the body in 23-byte reads
  REQUIRE(clean.header_step > 1);
  at_every_step(clean.steps, [&](ScriptedServer& server, long k) {
    const Outcome o = run(server);
    CHECK(server.steps > k);  // the fault happened
    if (k <= clean.header_step) {
      // Before the answer's header was whole: retried on a new connection, and answered.
      CHECK(o.names == std::vector<std::string>{"p1"});
      CHECK(server.connects == (k == 0 ? 1 : 2));
    } else {
      // In the body: the answer is cut, and says so.
      CHECK(o.names.empty());
      REQUIRE(o.error.has_value());
      CHECK(*o.error == kcoro::errc::connection_closed);
    }
  });
}

TEST_CASE("scripted transport: a write reaches the server once, whatever step fails") {
  // A GET first, so the POST goes out on a pooled keep-alive connection: a failure before the
  // POST was written may be the server having closed it while idle, and is retried at once on a
  // new one; any failure after it was written is the answer, as the POST may have been carried
  // out.
  // Fails the POST at its step `post_fail_at` (counted from its first), never the GET.
  auto run = [](ScriptedServer& server, long post_fail_at) {
    server.fail_at = -1;
    server.respond = [](std::string_view req) {
      if (req.starts_with("GET /api/v1/namespaces/ns/pods/p1 ")) {
        return kcoro::test::http_response(200, pod_json("p1", 7));
      }
      if (req.starts_with("POST /api/v1/namespaces/ns/pods ")) {
        return kcoro::test::http_response(201, pod_json("p2", 8), "Created");
      }
      return not_found();
    };
    return with_client(server, [&](kcoro::Client& client, Outcome& out) -> net::awaitable<void> {
      co_await client.get(kcoro::resources::pods, "ns", "p1");
      out.first_step = server.steps;
      if (post_fail_at >= 0) server.fail_at = server.steps + post_fail_at;
      kcoro::ObjectPtr pod =
          co_await client.create(kcoro::resources::pods, "ns", pod_json("p2", 0));
      out.names.emplace_back(pod->meta().name);
    });
  };
  auto posts = [](const ScriptedServer& s) {
    long n = 0;
    for (const std::string& r : s.requests)
      n += r.starts_with("POST ") ? 1 : 0;
    return n;
  };
  ScriptedServer clean;
  const Outcome ok = run(clean, -1);
  REQUIRE(ok.names == std::vector<std::string>{"p2"});
  REQUIRE(clean.connects == 1);  // the POST went out on the GET's connection
  const long post_steps = clean.steps - ok.first_step;
  REQUIRE(post_steps >= 3);  // write, the header and the body
  at_every_step(post_steps, [&](ScriptedServer& server, long k) {
    const Outcome o = run(server, k);
    CHECK(posts(server) == 1);  // never twice, never lost when it was retried
    if (k == 0) {
      CHECK(o.names == std::vector<std::string>{"p2"});  // retried at once on a new connection
      CHECK(server.connects == 2);
    } else {
      CHECK(o.names.empty());
      REQUIRE(o.error.has_value());
      CHECK(*o.error == kcoro::errc::connection_closed);
    }
  });
}

TEST_CASE("scripted transport: a chunked list is whole or an error, never short") {
  const std::vector<std::string> items{"a", "b", "c"};
  auto run = [&](ScriptedServer& server) {
    server.respond = [&](std::string_view req) {
      if (!req.starts_with("GET /api/v1/namespaces/ns/pods ")) return not_found();
      std::vector<std::string> chunks{
          R"({"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"20"},"items":[)"};
      for (std::size_t i = 0; i < items.size(); ++i)
        chunks.push_back((i ? "," : "") + pod_json(items[i], 10 + static_cast<int>(i)));
      chunks.emplace_back("]}");
      return kcoro::test::chunked_response(chunks);
    };
    return with_client(server, [](kcoro::Client& client, Outcome& out) -> net::awaitable<void> {
      kcoro::ListPage page = co_await client.list(kcoro::resources::pods, "ns");
      for (const auto& o : page.items)
        out.names.emplace_back(o->meta().name);
    });
  };
  ScriptedServer clean;
  REQUIRE(run(clean).names == items);
  at_every_step(clean.steps, [&](ScriptedServer& server, long k) {
    const Outcome o = run(server);
    if (k <= clean.header_step) {
      CHECK(o.names == items);
    } else {
      CHECK(o.names.empty());
      REQUIRE(o.error.has_value());
      CHECK(*o.error == kcoro::errc::connection_closed);
    }
  });
}

TEST_CASE("scripted transport: a watch cut at any step ends in an error after a prefix") {
  const std::vector<std::string> names{"w1", "w2", "w3", "w4"};
  auto run = [&](ScriptedServer& server) {
    server.respond = [&](std::string_view req) {
      if (!req.starts_with("GET /api/v1/namespaces/ns/pods?")) return not_found();
      std::vector<std::string> chunks;
      for (std::size_t i = 0; i < names.size(); ++i) {
        chunks.push_back(R"({"type":"ADDED","object":)" +
                         pod_json(names[i], 30 + static_cast<int>(i)) + "}\n");
      }
      return kcoro::test::chunked_response(chunks);
    };
    return with_client(server, [](kcoro::Client& client, Outcome& out) -> net::awaitable<void> {
      kcoro::ListOptions lo;
      lo.resource_version = "20";
      kcoro::WatchStream w = co_await client.watch(kcoro::resources::pods, "ns", lo);
      for (;;) {
        std::optional<kcoro::WatchEvent> ev = co_await w.next();
        if (!ev) break;
        out.names.emplace_back(ev->object->meta().name);
      }
    });
  };
  ScriptedServer clean;
  const Outcome ok = run(clean);
  REQUIRE(ok.names == names);
  REQUIRE(ok.ended_cleanly);
  at_every_step(clean.steps, [&](ScriptedServer& server, long k) {
    const Outcome o = run(server);
    // What arrived is a prefix of what was sent, in order.
    REQUIRE(o.names.size() <= names.size());
    CHECK(std::equal(o.names.begin(), o.names.end(), names.begin()));
    if (k <= clean.header_step) {
      CHECK(o.names == names);  // the opening was retried
      CHECK(o.ended_cleanly);
    } else {
      // A cut watch is never a clean end: the caller knows to resume.
      CHECK_FALSE(o.ended_cleanly);
      REQUIRE(o.error.has_value());
      CHECK(*o.error == kcoro::errc::connection_closed);
    }
  });
}

TEST_CASE("scripted transport: the reflector recovers from a failure at any step and converges") {
  // The server: a list of a, b, c at resourceVersion 20; then three events; a watch from a
  // resourceVersion sends what followed it and stays open.
  struct Event {
    const char* type;
    const char* name;
    int rv;
  };
  const std::vector<Event> events{{"ADDED", "d", 21}, {"MODIFIED", "a", 22}, {"DELETED", "b", 23}};
  auto respond = [&](std::string_view req) {
    if (!req.starts_with("GET /api/v1/namespaces/ns/pods?")) return not_found();
    const std::string_view line = req.substr(0, req.find('\r'));
    if (line.find("watch=true") == std::string_view::npos) {
      return kcoro::test::chunked_response(
          {R"({"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"20"},"items":[)",
           pod_json("a", 10), "," + pod_json("b", 11), "," + pod_json("c", 12), "]}"});
    }
    const std::size_t at = line.find("resourceVersion=");
    REQUIRE(at != std::string_view::npos);
    const int from = std::stoi(std::string(line.substr(at + 16)));
    std::vector<std::string> chunks;
    for (const Event& e : events) {
      if (e.rv <= from) continue;
      chunks.push_back(std::string(R"({"type":")") + e.type + R"(","object":)" +
                       pod_json(e.name, e.rv) + "}\n");
    }
    return kcoro::test::chunked_response(chunks, /*open=*/true);
  };
  const std::map<std::string, std::string> expected{{"a", "22"}, {"c", "12"}, {"d", "21"}};

  struct Run {
    std::map<std::string, std::string> state;
    std::string last_rv;
    int errors = 0;
    bool converged = false;
  };
  auto run = [&](ScriptedServer& server) {
    server.respond = respond;
    Run out;
    net::io_context io;
    kcoro::ClientOptions co = scripted_options(server);
    auto client = std::make_unique<kcoro::Client>(io.get_executor(), scripted_cluster(), co);
    auto channel = std::make_shared<kcoro::DeltaChannel>(64);
    kcoro::ReflectorOptions ro;
    ro.resource = kcoro::resources::pods;
    ro.ns = "ns";
    ro.seed = 1;
    ro.metrics = nullptr;
    ro.logger = std::make_shared<spdlog::logger>("quiet");  // no sinks
    ro.policy.backoff_initial = 1ms;
    ro.policy.backoff_max = 4ms;
    ro.policy.short_watch = 0ms;
    auto reflector = std::make_unique<kcoro::Reflector>(*client, channel, ro);
    reflector->on_error = [&](std::exception_ptr) { ++out.errors; };
    net::cancellation_signal stop;
    bool reflector_ended = false;
    net::co_spawn(io, reflector->run(),
                  net::bind_cancellation_slot(stop.slot(),
                                              [&](std::exception_ptr) { reflector_ended = true; }));
    // The informer's side, reduced: apply the deltas; a relist replaces the state whole.
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
          std::optional<std::map<std::string, std::string>> replacing;
          while (!out.converged) {
            std::optional<kcoro::Delta> d = co_await channel->receive();
            if (!d) co_return;
            const std::string name = d->object ? std::string(d->object->meta().name) : "";
            const std::string rv =
                d->object ? std::string(d->object->meta().resource_version) : d->resource_version;
            switch (d->type) {
              case kcoro::DeltaType::replace_begin:
                replacing.emplace();
                break;
              case kcoro::DeltaType::replace_item:
                REQUIRE(replacing.has_value());
                (*replacing)[name] = rv;
                break;
              case kcoro::DeltaType::replace_end:
                REQUIRE(replacing.has_value());
                out.state = std::move(*replacing);
                replacing.reset();
                break;
              case kcoro::DeltaType::added:
              case kcoro::DeltaType::updated:
                out.state[name] = rv;
                break;
              case kcoro::DeltaType::deleted:
                out.state.erase(name);
                break;
              case kcoro::DeltaType::bookmark:
                break;
            }
            out.converged = !replacing && out.state == expected;
          }
          out.last_rv = reflector->last_resource_version();
          stop.emit(net::cancellation_type::terminal);
        },
        net::detached);
    io.run_for(20s);
    CHECK(reflector_ended);  // stopped by its cancellation, not left hanging
    reflector.reset();
    client.reset();
    return out;
  };

  ScriptedServer clean;
  const Run ok = run(clean);
  REQUIRE(ok.converged);
  CHECK(ok.last_rv == "23");
  CHECK(ok.errors == 0);
  REQUIRE(clean.steps > 10);
  at_every_step(clean.steps, [&](ScriptedServer& server, long k) {
    const Run r = run(server);
    CHECK(server.steps > k);  // the fault happened
    CHECK(r.converged);
    CHECK(r.state == expected);
    CHECK(r.last_rv == "23");
    // A failure after a response's header is a failed list or watch, reported to on_error;
    // before it, the client retried it and nothing failed.
    CHECK(r.errors <= 1);
  });
}
