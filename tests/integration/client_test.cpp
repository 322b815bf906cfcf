// kcoro::Client against the fake API server: the verbs, errors, paging, metadata-only reads and
// watches (order, resumption, cuts, timeouts, garbage).
#include "client_common.hpp"

TEST_CASE("client: every verb against the fake, plain and TLS") {
  for (bool tls : {false, true}) {
    CAPTURE(tls);
    FakeApiServerOptions o;
    o.tls = tls;
    FakeApiServer server(o);
    co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
      Client client(ex, config_for(server));
      ObjectPtr created = co_await client.create(res::pods, "default", pod_json("web-1"));
      CHECK(created->meta().name == "web-1");
      CHECK_FALSE(created->meta().uid.empty());
      CHECK_FALSE(created->meta().resource_version.empty());
      CHECK(created->json().find("managedFields") == std::string_view::npos);

      ObjectPtr got = co_await client.get(res::pods, "default", "web-1");
      CHECK(got->meta().uid == created->meta().uid);
      CHECK(got->get<std::string_view>("/spec/containers/0/image") == "nginx:1.25");

      // replace with the current resourceVersion
      auto v = boost::json::parse(got->json());
      v.at("metadata").as_object()["labels"].as_object()["tier"] = "front";
      ObjectPtr replaced = co_await client.replace(res::pods, "default", "web-1", v);
      CHECK(replaced->meta().labels.get("tier") == "front");
      CHECK(replaced->meta().resource_version != got->meta().resource_version);

      // status subresource
      auto st = boost::json::parse(replaced->json());
      st.as_object()["status"] = boost::json::object{{"phase", "Running"}};
      ObjectPtr with_status = co_await client.update_status(res::pods, "default", "web-1", st);
      CHECK(with_status->get<std::string_view>("/status/phase") == "Running");

      // the four patch types
      ObjectPtr merged =
          co_await client.patch(res::pods, "default", "web-1", kcoro::PatchType::merge,
                                R"({"metadata":{"labels":{"merged":"yes"}}})");
      CHECK(merged->meta().labels.get("merged") == "yes");
      ObjectPtr jsonp = co_await client.patch(
          res::pods, "default", "web-1", kcoro::PatchType::json,
          R"([{"op":"replace","path":"/metadata/labels/merged","value":"again"}])");
      CHECK(jsonp->meta().labels.get("merged") == "again");
      ObjectPtr smp =
          co_await client.patch(res::pods, "default", "web-1", kcoro::PatchType::strategic_merge,
                                R"({"spec":{"containers":[{"name":"c","image":"nginx:1.26"}]}})");
      CHECK(smp->get<std::string_view>("/spec/containers/0/image") == "nginx:1.26");
      kcoro::PatchOptions apply_opts;
      apply_opts.field_manager = "kcoro-test";
      apply_opts.force = true;
      ObjectPtr applied = co_await client.patch(
          res::configmaps, "default", "cfg", kcoro::PatchType::apply,
          R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg","namespace":"default"},"data":{"a":"1"}})",
          apply_opts);
      CHECK(applied->get<std::string_view>("/data/a") == "1");

      // list one page, then delete
      kcoro::ListPage page = co_await client.list(res::pods, "default");
      CHECK(page.kind == "PodList");
      REQUIRE(page.items.size() == 1);
      CHECK(page.items[0]->meta().kind == "Pod");
      CHECK_FALSE(page.meta.resource_version.empty());

      kcoro::DeleteOptions del;
      del.precondition_uid = std::string(created->meta().uid);
      co_await client.remove(res::pods, "default", "web-1", del);
      bool gone = false;
      try {
        co_await client.get(res::pods, "default", "web-1");
      } catch (const ApiError& e) {
        gone = kcoro::is_not_found(e);
      }
      CHECK(gone);

      auto version = co_await client.request("GET", "/version");
      CHECK(version.status == 200);
      CHECK(version.body.find("gitVersion") != std::string::npos);
    });
  }
}

TEST_CASE("client: every error maps to ApiError with its Status") {
  FakeApiServerOptions o;
  o.tokens = {{"alice-token", "alice"}};
  o.require_auth = true;
  FakeApiServer server(o);
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    ClusterConfig cfg = config_for(server);
    cfg.token = "alice-token";
    Client client(ex, cfg);
    ObjectPtr first = co_await client.create(res::pods, "default", pod_json("a"));
    co_await client.patch(res::pods, "default", "a", kcoro::PatchType::merge,
                          R"({"metadata":{"labels":{"bump":"1"}}})");
    const std::string stale(first->meta().resource_version);

    auto expect = [&](auto op, int code, auto pred) -> net::awaitable<void> {
      try {
        co_await op();
        FAIL("expected ApiError " << code);
      } catch (const ApiError& e) {
        CHECK(e.http_code() == code);
        CHECK(pred(e));
        CHECK_FALSE(e.status().message.empty());
      }
    };
    co_await expect([&] { return client.get(res::pods, "default", "nope"); }, 404,
                    [](auto& e) { return kcoro::is_not_found(e) && e.reason() == "NotFound"; });
    co_await expect([&] { return client.create(res::pods, "default", pod_json("a")); }, 409,
                    [](auto& e) { return kcoro::is_already_exists(e); });
    co_await expect(
        [&] {
          return client.replace(
              res::pods, "default", "a",
              R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","namespace":"default","resourceVersion":")" +
                  stale + R"("},"spec":{"containers":[{"name":"c","image":"x"}]}})");
        },
        409, [](auto& e) { return kcoro::is_conflict(e); });
    co_await expect(
        [&] { return client.create(res::pods, "default", pod_json("Bad_Name")); }, 422,
        [](auto& e) { return kcoro::is_invalid(e) && !e.status().details.causes.empty(); });
    co_await expect([&] { return client.create(res::pods, "default", "{not json"); }, 400,
                    [](auto& e) { return kcoro::is_bad_request(e); });
    kcoro::Resource foos{"samplecontroller.k8s.io", "v1alpha1", "Foo", "foos", true};
    co_await expect([&] { return client.get(foos, "default", "x"); }, 404,
                    [](auto& e) {
                      return kcoro::is_not_found(e) && e.status().message == "404 page not found";
                    });
    server.cluster().forbid("alice", "secrets");
    co_await expect([&] { return client.list(res::secrets, "default"); }, 403,
                    [](auto& e) { return kcoro::is_forbidden(e); });

    ClusterConfig bad = config_for(server);
    bad.token = "wrong";
    Client stranger(ex, bad);
    co_await expect([&] { return stranger.get(res::pods, "default", "a"); }, 401,
                    [](auto& e) { return kcoro::is_unauthorized(e); });
  });
}

TEST_CASE("client: list_all pages through limit/continue") {
  FakeApiServer server;
  for (int i = 0; i < 7; ++i)
    server.cluster().apply_object(pod_json("p" + std::to_string(i)));
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    ListOptions opts;
    opts.limit = 2;
    kcoro::ListPage first = co_await client.list(res::pods, "default", opts);
    CHECK(first.items.size() == 2);
    CHECK_FALSE(first.meta.continue_token.empty());
    CHECK(first.meta.remaining_item_count == 5);

    auto stream = client.list_all(res::pods, "default", opts);
    std::vector<std::string> names;
    while (ObjectPtr o = co_await stream.next())
      names.emplace_back(o->meta().name);
    CHECK(names == std::vector<std::string>{"p0", "p1", "p2", "p3", "p4", "p5", "p6"});
    CHECK_FALSE(stream.meta().resource_version.empty());
    CHECK(stream.meta().continue_token.empty());
  });
  CHECK(server.stats().requests >= 5);  // one page plus four pages of list_all
}

TEST_CASE("client: metadata_only lists and watches PartialObjectMetadata") {
  FakeApiServer server;
  for (int i = 0; i < 3; ++i)
    server.cluster().apply_object(pod_json("p" + std::to_string(i)));
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    ListOptions opts;
    opts.metadata_only = true;
    kcoro::ListPage page = co_await client.list(res::pods, "default", opts);
    CHECK(page.kind == "PartialObjectMetadataList");
    REQUIRE(page.items.size() == 3);
    CHECK(page.items[0]->meta().kind == "PartialObjectMetadata");
    CHECK(page.items[0]->get<std::string_view>("/metadata/labels/app") == "web");
    CHECK_FALSE(page.items[0]->get<std::string_view>("/spec/containers/0/image").has_value());

    opts.limit = 2;  // every page of list_all asks for metadata
    auto stream = client.list_all(res::pods, "default", opts);
    int n = 0;
    while (ObjectPtr o = co_await stream.next()) {
      CHECK(o->meta().kind == "PartialObjectMetadata");
      ++n;
    }
    CHECK(n == 3);

    ListOptions wopts;
    wopts.metadata_only = true;
    wopts.resource_version = page.meta.resource_version;
    auto watch = co_await client.watch(res::pods, "default", wopts);
    server.cluster().apply_object(pod_json("p9"));
    auto ev = co_await watch.next();
    REQUIRE(ev);
    CHECK(ev->type == WatchEventType::added);
    CHECK(ev->object->meta().name == "p9");
    CHECK(ev->object->meta().kind == "PartialObjectMetadata");
    CHECK_FALSE(ev->object->get<std::string_view>("/spec/containers/0/image").has_value());

    // Without the option, whole objects.
    kcoro::ListPage whole = co_await client.list(res::pods, "default");
    CHECK(whole.kind == "PodList");
    CHECK(whole.items[0]->get<std::string_view>("/spec/containers/0/image") == "nginx:1.25");
  });
}

TEST_CASE("client: an expired continue token is a 410 with a fresh token") {
  FakeApiServer server;
  for (int i = 0; i < 5; ++i)
    server.cluster().apply_object(pod_json("p" + std::to_string(i)));
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    ListOptions opts;
    opts.limit = 2;
    auto stream = client.list_all(res::pods, "default", opts);
    CHECK(co_await stream.next());
    CHECK(co_await stream.next());
    server.cluster().expire_continue_tokens();
    try {
      co_await stream.next();
      FAIL("expected 410");
    } catch (const ApiError& e) {
      CHECK(kcoro::is_gone(e));
      CHECK_FALSE(e.status().continue_token.empty());
    }
  });
}

TEST_CASE("client: watch delivers changes in order and resumes from a resourceVersion") {
  FakeApiServer server;
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    kcoro::ListPage page = co_await client.list(res::configmaps, "default");
    ListOptions opts;
    opts.resource_version = page.meta.resource_version;
    auto watch = co_await client.watch(res::configmaps, "default", opts);
    server.cluster().apply_object(configmap_json("a", "1"));
    server.cluster().apply_object(configmap_json("a", "2"));
    server.cluster().delete_object("v1", "ConfigMap", "default", "a");
    std::vector<std::string> seen;
    std::string last_rv;
    for (int i = 0; i < 3; ++i) {
      auto ev = co_await watch.next();
      REQUIRE(ev);
      seen.push_back(std::string(kcoro::to_string(ev->type)) + " " +
                     std::string(ev->object->get<std::string_view>("/data/k").value_or("")));
      last_rv = std::string(ev->resource_version());
    }
    CHECK(seen == std::vector<std::string>{"ADDED 1", "MODIFIED 2", "DELETED 2"});
    watch.close();

    // Resume from the second event: only what came after it.
    server.cluster().apply_object(configmap_json("b", "3"));
    opts.resource_version = last_rv;
    auto resumed = co_await client.watch(res::configmaps, "default", opts);
    auto ev = co_await resumed.next();
    REQUIRE(ev);
    CHECK(ev->type == WatchEventType::added);
    CHECK(ev->object->meta().name == "b");
  });
}

TEST_CASE("client: a watch ends at timeoutSeconds, and a too-old resourceVersion is 410") {
  FakeApiServer server;
  server.cluster().apply_object(configmap_json("a", "1"));
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    ListOptions opts;
    opts.timeout_seconds = 1;
    opts.resource_version = std::to_string(server.cluster().resource_version());
    auto watch = co_await client.watch(res::configmaps, "default", opts);
    CHECK_FALSE(co_await watch.next());  // the server ended it cleanly

    const std::string before = std::to_string(server.cluster().resource_version());
    server.cluster().apply_object(configmap_json("b", "2"));
    server.cluster().compact();  // revisions before b's are gone
    opts.resource_version = before;
    opts.timeout_seconds.reset();
    auto old = co_await client.watch(res::configmaps, "default", opts);
    auto ev = co_await old.next();
    REQUIRE(ev);
    CHECK(ev->type == WatchEventType::error);
    CHECK(ev->error == kcoro::errc::resource_expired);
  });
}

TEST_CASE("client: a watch cut at any byte resumes with no loss and no duplicate") {
  FakeApiServer server;
  const uint64_t start_rv = server.cluster().resource_version();
  for (int i = 0; i < 3; ++i)
    server.cluster().apply_object(configmap_json("c" + std::to_string(i), "v"));
  // The whole stream from start_rv, to learn its length.
  std::size_t total = 0;
  std::vector<std::string> expected;
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    ListOptions opts;
    opts.resource_version = std::to_string(start_rv);
    opts.timeout_seconds = 1;
    auto w = co_await client.watch(res::configmaps, "default", opts);
    while (auto ev = co_await w.next())
      expected.emplace_back(ev->object->meta().name);
  });
  REQUIRE(expected == std::vector<std::string>{"c0", "c1", "c2"});
  total = server.stats().bytes_sent;  // an upper bound of the body: enough cut points
  REQUIRE(total > 0);

  const std::size_t step = 7;  // every 7th byte keeps the test quick; offsets cover every event
  for (std::size_t cut = 1; cut < 1200; cut += step) {
    CAPTURE(cut);
    Fault f;
    f.kind = FaultKind::cut;
    f.watch_only = true;
    f.bytes = cut;
    f.path_prefix = "/api/v1/namespaces/default/configmaps";
    const int id = server.add_fault(f);
    std::vector<std::string> seen;
    co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
      Client client(ex, config_for(server));
      std::string rv = std::to_string(start_rv);
      for (int attempt = 0; attempt < 3 && seen.size() < 3; ++attempt) {
        ListOptions opts;
        opts.resource_version = rv;
        opts.timeout_seconds = 1;
        auto w = co_await client.watch(res::configmaps, "default", opts);
        try {
          while (auto ev = co_await w.next()) {
            seen.emplace_back(ev->object->meta().name);
            rv = std::string(ev->resource_version());
            if (seen.size() == expected.size()) break;  // no need to wait for timeoutSeconds
          }
        } catch (const std::system_error& e) {
          CHECK((e.code() == kcoro::errc::connection_closed ||
                 e.code() == kcoro::errc::truncated_input ||
                 e.code() == kcoro::errc::http_protocol));
        }
      }
    });
    server.remove_fault(id);
    CHECK(seen == expected);
  }
}

TEST_CASE("client: garbage and idle watches fail clearly") {
  FakeApiServer server;
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    kcoro::ClientOptions copts;
    copts.retry.max_retries = 0;
    copts.stream_idle_timeout = 300ms;
    Client client(ex, config_for(server), copts);
    Fault g;
    g.kind = FaultKind::garbage;
    g.method = "GET";
    server.add_fault(g);
    try {
      co_await client.get(res::pods, "default", "a");
      FAIL("expected a protocol error");
    } catch (const std::system_error& e) {
      CHECK(e.code() == kcoro::errc::http_protocol);
    }

    Fault stall;
    stall.kind = FaultKind::stall;
    stall.watch_only = true;
    server.add_fault(stall);
    auto w = co_await client.watch(res::pods, "default");
    try {
      co_await w.next();
      FAIL("expected an idle timeout");
    } catch (const std::system_error& e) {
      CHECK(e.code() == kcoro::errc::timeout);
    }
  });
}

TEST_CASE("client: a cancelled watch closes its connection") {
  using namespace boost::asio::experimental::awaitable_operators;
  FakeApiServer server;
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    auto w = co_await client.watch(res::pods, "default");
    CHECK(server.wait_for([](auto& s) { return s.watches_open == 1; }, 5s));
    net::steady_timer timer(ex, 100ms);
    auto result = co_await (w.next() || timer.async_wait(net::use_awaitable));
    CHECK(result.index() == 1);  // the timer won; the read was cancelled
    w.close();
  });
  CHECK(server.wait_for([](auto& s) { return s.watches_open == 0; }, 5s));
}
