// The reconciler helpers against the fake API server: finalizers and the finalizer() helper
// (finalizer.hpp), create_or_update / create_or_patch (create_or_update.hpp) and
// retry_on_conflict (retry.hpp). A "concurrent" writer is the fake's FakeCluster, written to
// directly (it is thread-safe) between the helper's read and its write.
#include "kcoro/create_or_update.hpp"
#include "kcoro/finalizer.hpp"
#include "kcoro/owner_reference.hpp"
#include "kcoro/retry.hpp"
#include "kcoro/testing/fake_apiserver.hpp"
#include "kcoro/testing/fake_cluster.hpp"

#include "support/co_test.hpp"
#include "support/fake.hpp"

#include <doctest/doctest.h>

#include <boost/json.hpp>

#include <stdexcept>
#include <string>
#include <vector>

namespace net = boost::asio;
namespace json = boost::json;
using kcoro::ApiError;
using kcoro::Client;
using kcoro::ObjectPtr;
using kcoro::OperationResult;
using kcoro::Result;
using kcoro::test::co_run;
using kcoro::test::config_for;
using kcoro::test::configmap_json;
using kcoro::testing::FakeApiServer;
namespace res = kcoro::resources;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view kFinalizer = "kcoro.io/cleanup";

/// A write to the fake that does not go through the client under test: another writer.
void concurrent_merge_patch(FakeApiServer& server, const std::string& path,
                            const std::string& patch) {
  kcoro::testing::FakeRequest req;
  req.method = "PATCH";
  req.target = path;
  req.content_type = "application/merge-patch+json";
  req.body = patch;
  auto r = server.cluster().handle(req);
  REQUIRE_MESSAGE(r.status == 200, r.body);
}

std::string cm_path(const std::string& name) {
  return "/api/v1/namespaces/default/configmaps/" + name;
}

std::vector<std::string> finalizers_of(const ObjectPtr& obj) {
  return {obj->meta().finalizers.begin(), obj->meta().finalizers.end()};
}

/// Awaits `a` and returns the ApiError it throws; fails the test when it throws none.
template <class T>
net::awaitable<ApiError> api_error_of(net::awaitable<T> a) {
  try {
    co_await std::move(a);
  } catch (const ApiError& e) {
    co_return e;
  }
  FAIL("no ApiError");
  co_return ApiError(0, "");
}

net::awaitable<bool> exists(Client& client, const std::string& name) {
  try {
    co_await client.get(res::configmaps, "default", name);
  } catch (const ApiError& e) {
    if (kcoro::is_not_found(e)) co_return false;
    throw;
  }
  co_return true;
}

ApiError conflict_error() {
  return ApiError(409, R"({"kind":"Status","status":"Failure","reason":"Conflict",
      "message":"the object has been modified","code":409})");
}

}  // namespace

TEST_CASE("finalizers: add to an object without any, add twice is a no-op, remove") {
  FakeApiServer server;
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    ObjectPtr obj = co_await client.create(res::configmaps, "default", configmap_json("f"));
    REQUIRE(obj->meta().finalizers.empty());

    ObjectPtr added = co_await kcoro::add_finalizer(client, res::configmaps, obj, kFinalizer);
    CHECK(finalizers_of(added) == std::vector<std::string>{"kcoro.io/cleanup"});
    CHECK(added->meta().resource_version != obj->meta().resource_version);
    ObjectPtr stored = co_await client.get(res::configmaps, "default", "f");
    CHECK(finalizers_of(stored) == std::vector<std::string>{"kcoro.io/cleanup"});

    // Present already: no request, the same object back.
    const auto requests = server.stats().requests;
    ObjectPtr again = co_await kcoro::add_finalizer(client, res::configmaps, added, kFinalizer);
    CHECK(again == added);
    CHECK(server.stats().requests == requests);

    // Appended to an existing array.
    ObjectPtr two = co_await kcoro::add_finalizer(client, res::configmaps, added, "other/f");
    CHECK(finalizers_of(two) == std::vector<std::string>{"kcoro.io/cleanup", "other/f"});

    ObjectPtr removed = co_await kcoro::remove_finalizer(client, res::configmaps, two, kFinalizer);
    CHECK(finalizers_of(removed) == std::vector<std::string>{"other/f"});
    // Absent: no request.
    const auto before_noop = server.stats().requests;
    ObjectPtr same = co_await kcoro::remove_finalizer(client, res::configmaps, removed, kFinalizer);
    CHECK(same == removed);
    CHECK(server.stats().requests == before_noop);
    stored = co_await client.get(res::configmaps, "default", "f");
    CHECK(finalizers_of(stored) == std::vector<std::string>{"other/f"});
  });
}

TEST_CASE("finalizers: a change between read and write fails, nothing overwritten") {
  FakeApiServer server;
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    ObjectPtr obj = co_await client.create(res::configmaps, "default", configmap_json("c"));
    ObjectPtr with = co_await kcoro::add_finalizer(client, res::configmaps, obj, kFinalizer);

    // Another writer changes the object after `with` was read: removal is refused.
    concurrent_merge_patch(server, cm_path("c"), R"({"metadata":{"labels":{"x":"1"}}})");
    ApiError e =
        co_await api_error_of(kcoro::remove_finalizer(client, res::configmaps, with, kFinalizer));
    CHECK(kcoro::is_write_conflict(e));
    CHECK(e.http_code() == 422);
    ObjectPtr stored = co_await client.get(res::configmaps, "default", "c");
    CHECK(finalizers_of(stored) == std::vector<std::string>{"kcoro.io/cleanup"});
    CHECK(stored->meta().labels.get("x") == "1");

    // Adding from a stale read is refused as well.
    ApiError add_e =
        co_await api_error_of(kcoro::add_finalizer(client, res::configmaps, with, "other/f"));
    CHECK(kcoro::is_write_conflict(add_e));
    stored = co_await client.get(res::configmaps, "default", "c");
    CHECK(finalizers_of(stored) == std::vector<std::string>{"kcoro.io/cleanup"});

    // From a fresh read it goes through.
    ObjectPtr none = co_await kcoro::remove_finalizer(client, res::configmaps, stored, kFinalizer);
    CHECK(none->meta().finalizers.empty());
  });
}

TEST_CASE("finalizer(): add, apply, cleanup then release, and the do-nothing case") {
  FakeApiServer server;
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    std::vector<std::string> steps;
    kcoro::FinalizerStep apply = [&](const ObjectPtr& o) -> net::awaitable<Result> {
      steps.push_back("apply " + std::string(o->meta().name));
      co_return Result::requeue_after(5s);
    };
    Result cleanup_answer = Result::done();
    kcoro::FinalizerStep cleanup = [&](const ObjectPtr& o) -> net::awaitable<Result> {
      steps.push_back("cleanup " + std::string(o->meta().name));
      co_return cleanup_answer;
    };
    ObjectPtr obj = co_await client.create(res::configmaps, "default", configmap_json("w"));

    // Live, no finalizer: the finalizer is added and apply waits for the update's event.
    Result r = co_await kcoro::finalizer(client, res::configmaps, obj, kFinalizer, apply, cleanup);
    CHECK(r.kind() == Result::Kind::done);
    CHECK(steps.empty());
    obj = co_await client.get(res::configmaps, "default", "w");
    CHECK(kcoro::has_finalizer(*obj, kFinalizer));

    // Live with the finalizer: apply, and its answer.
    r = co_await kcoro::finalizer(client, res::configmaps, obj, kFinalizer, apply, cleanup);
    CHECK(r.kind() == Result::Kind::requeue_after);
    CHECK(r.after() == 5s);
    CHECK(steps == std::vector<std::string>{"apply w"});

    // Deleted: the server keeps it for the finalizer.
    co_await client.remove(res::configmaps, "default", "w");
    obj = co_await client.get(res::configmaps, "default", "w");
    REQUIRE(obj->meta().being_deleted());

    // A cleanup that is not finished keeps the finalizer.
    cleanup_answer = Result::requeue_after(1s);
    r = co_await kcoro::finalizer(client, res::configmaps, obj, kFinalizer, apply, cleanup);
    CHECK(r.kind() == Result::Kind::requeue_after);
    CHECK(co_await exists(client, "w"));

    // A finished cleanup releases it, and the server deletes the object.
    cleanup_answer = Result::done();
    steps.clear();
    obj = co_await client.get(res::configmaps, "default", "w");
    r = co_await kcoro::finalizer(client, res::configmaps, obj, kFinalizer, apply, cleanup);
    CHECK(r.kind() == Result::Kind::done);
    CHECK(steps == std::vector<std::string>{"cleanup w"});
    CHECK_FALSE(co_await exists(client, "w"));

    // Deleted, and our finalizer not there (another one holds the object): nothing at all.
    ObjectPtr other = co_await client.create(res::configmaps, "default", configmap_json("o"));
    other = co_await kcoro::add_finalizer(client, res::configmaps, other, "other/f");
    co_await client.remove(res::configmaps, "default", "o");
    other = co_await client.get(res::configmaps, "default", "o");
    REQUIRE(other->meta().being_deleted());
    steps.clear();
    const auto requests = server.stats().requests;
    r = co_await kcoro::finalizer(client, res::configmaps, other, kFinalizer, apply, cleanup);
    CHECK(r.kind() == Result::Kind::done);
    CHECK(steps.empty());
    CHECK(server.stats().requests == requests);
  });
}

TEST_CASE("finalizer(): a failing cleanup or a conflicting removal keeps the finalizer") {
  FakeApiServer server;
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    int cleanups = 0;
    kcoro::FinalizerStep apply = [](const ObjectPtr&) -> net::awaitable<Result> {
      co_return Result::done();
    };
    kcoro::FinalizerStep throwing = [&](const ObjectPtr&) -> net::awaitable<Result> {
      ++cleanups;
      throw std::runtime_error("the external resource is still there");
      co_return Result::done();
    };
    kcoro::FinalizerStep failing = [&](const ObjectPtr&) -> net::awaitable<Result> {
      ++cleanups;
      co_return Result::error("not yet");
    };
    kcoro::FinalizerStep fine = [&](const ObjectPtr&) -> net::awaitable<Result> {
      ++cleanups;
      co_return Result::done();
    };
    ObjectPtr obj = co_await client.create(res::configmaps, "default", configmap_json("d"));
    obj = co_await kcoro::add_finalizer(client, res::configmaps, obj, kFinalizer);
    co_await client.remove(res::configmaps, "default", "d");
    obj = co_await client.get(res::configmaps, "default", "d");

    bool threw = false;
    try {
      co_await kcoro::finalizer(client, res::configmaps, obj, kFinalizer, apply, throwing);
    } catch (const std::runtime_error& e) {
      threw = std::string(e.what()) == "the external resource is still there";
    }
    CHECK(threw);
    obj = co_await client.get(res::configmaps, "default", "d");
    CHECK(kcoro::has_finalizer(*obj, kFinalizer));

    Result r = co_await kcoro::finalizer(client, res::configmaps, obj, kFinalizer, apply, failing);
    CHECK(r.kind() == Result::Kind::error);
    CHECK(r.message() == "not yet");
    obj = co_await client.get(res::configmaps, "default", "d");
    CHECK(kcoro::has_finalizer(*obj, kFinalizer));

    // The object changes between the read and the removal: the cleanup ran, the removal fails
    // with a write conflict, and the finalizer stays for the retry.
    concurrent_merge_patch(server, cm_path("d"), R"({"metadata":{"labels":{"x":"1"}}})");
    ApiError e = co_await api_error_of(
        kcoro::finalizer(client, res::configmaps, obj, kFinalizer, apply, fine));
    CHECK(kcoro::is_write_conflict(e));
    CHECK(cleanups == 3);
    obj = co_await client.get(res::configmaps, "default", "d");
    CHECK(kcoro::has_finalizer(*obj, kFinalizer));

    // The retry, from a fresh read, releases it.
    r = co_await kcoro::finalizer(client, res::configmaps, obj, kFinalizer, apply, fine);
    CHECK(r.kind() == Result::Kind::done);
    CHECK(cleanups == 4);
    CHECK_FALSE(co_await exists(client, "d"));
  });
}

TEST_CASE("create_or_update: created, unchanged without a write, updated, no rename") {
  FakeApiServer server;
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    ObjectPtr owner = co_await client.create(res::configmaps, "default", configmap_json("owner"));
    std::string value = "1";
    kcoro::MutateFn mutate = [&](json::object& o) {
      o["data"] = json::object{{"k", value}};
      kcoro::set_controller_reference(*owner, o);
    };
    auto r = co_await kcoro::create_or_update(client, res::configmaps, "default", "cu", mutate);
    CHECK(r.operation == OperationResult::created);
    CHECK(r.object->meta().name == "cu");
    CHECK(r.object->meta().ns == "default");
    CHECK(r.object->get<std::string_view>("/data/k") == "1");
    REQUIRE(r.object->meta().controller_ref());
    CHECK(r.object->meta().controller_ref()->uid == owner->meta().uid);
    const std::string rv(r.object->meta().resource_version);

    // Nothing to change: one GET, no write, the resourceVersion as it was.
    const auto requests = server.stats().requests;
    r = co_await kcoro::create_or_update(client, res::configmaps, "default", "cu", mutate);
    CHECK(r.operation == OperationResult::unchanged);
    CHECK(r.object->meta().resource_version == rv);
    CHECK(server.stats().requests == requests + 1);
    CHECK((co_await client.get(res::configmaps, "default", "cu"))->meta().resource_version == rv);

    value = "2";
    r = co_await kcoro::create_or_update(client, res::configmaps, "default", "cu", mutate);
    CHECK(r.operation == OperationResult::updated);
    CHECK(r.object->meta().resource_version != rv);
    CHECK(r.object->get<std::string_view>("/data/k") == "2");

    // A mutate that renames writes nothing.
    const auto before_rename = server.stats().requests;
    kcoro::MutateFn rename = [](json::object& o) { o["metadata"].as_object()["name"] = "x"; };
    bool refused = false;
    try {
      co_await kcoro::create_or_update(client, res::configmaps, "default", "cu", rename);
    } catch (const std::invalid_argument&) {
      refused = true;
    }
    CHECK(refused);
    CHECK(server.stats().requests == before_rename + 1);  // the GET only
    refused = false;
    kcoro::MutateFn move_ns = [](json::object& o) {
      o["metadata"].as_object()["namespace"] = "kube-system";
    };
    try {
      co_await kcoro::create_or_update(client, res::configmaps, "default", "new", move_ns);
    } catch (const std::invalid_argument&) {
      refused = true;
    }
    CHECK(refused);
    CHECK_FALSE(co_await exists(client, "new"));
  });
}

TEST_CASE("create_or_update: a concurrent change is a 409, and retry_on_conflict gets past it") {
  FakeApiServer server;
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    co_await client.create(res::configmaps, "default", configmap_json("rc"));
    int mutations = 0;
    int writes = 0;
    // The first mutate races with another writer: its update carries a stale resourceVersion.
    kcoro::MutateFn mutate = [&](json::object& o) {
      if (++mutations == 1) {
        concurrent_merge_patch(
            server, cm_path("rc"),
            R"({"data":{"other":"writer-)" + std::to_string(++writes) + R"("}})");
      }
      o["data"].as_object()["k"] = "mine";
    };
    ApiError e = co_await api_error_of(
        kcoro::create_or_update(client, res::configmaps, "default", "rc", mutate));
    CHECK(kcoro::is_conflict(e));
    ObjectPtr stored = co_await client.get(res::configmaps, "default", "rc");
    CHECK(stored->get<std::string_view>("/data/k") == "v");  // not overwritten
    CHECK(stored->get<std::string_view>("/data/other") == "writer-1");

    mutations = 0;
    kcoro::RetryBackoff backoff;
    int attempts = 0;
    auto r = co_await kcoro::retry_on_conflict(backoff, [&]() {
      ++attempts;
      return kcoro::create_or_update(client, res::configmaps, "default", "rc", mutate);
    });
    CHECK(attempts == 2);
    CHECK(r.operation == OperationResult::updated);
    CHECK(r.object->get<std::string_view>("/data/k") == "mine");
    CHECK(r.object->get<std::string_view>("/data/other") == "writer-2");
  });
}

TEST_CASE("create_or_patch: created, unchanged without a write, patched, status separately") {
  FakeApiServer server;
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    std::string image = "nginx:1.25";
    std::string label = "a";
    std::string phase;
    // Sets the fields it owns and leaves the server's defaults (imagePullPolicy, ...) alone, as
    // a mutate function must for "unchanged" to be reachable.
    kcoro::MutateFn mutate = [&](json::object& o) {
      o["metadata"].as_object()["labels"] = json::object{{"app", label}};
      json::value& spec = o["spec"];
      if (!spec.is_object()) spec = json::object();
      json::value& containers = spec.as_object()["containers"];
      if (!containers.is_array()) containers = json::array{json::object{{"name", "c"}}};
      containers.as_array()[0].as_object()["image"] = image;
      if (phase.empty()) return;
      json::value& status = o["status"];
      if (!status.is_object()) status = json::object();
      status.as_object()["phase"] = phase;
    };
    auto r = co_await kcoro::create_or_patch(client, res::pods, "default", "p", mutate);
    CHECK(r.operation == OperationResult::created);
    CHECK(r.object->meta().kind == "Pod");
    CHECK(r.object->get<std::string_view>("/spec/containers/0/image") == "nginx:1.25");
    std::string rv(r.object->meta().resource_version);

    const auto requests = server.stats().requests;
    r = co_await kcoro::create_or_patch(client, res::pods, "default", "p", mutate);
    CHECK(r.operation == OperationResult::unchanged);
    CHECK(r.object->meta().resource_version == rv);
    CHECK(server.stats().requests == requests + 1);

    // A merge patch of the difference, without resourceVersion: another writer's change to
    // other fields, made between the read and the patch, survives and is no conflict.
    int mutations = 0;
    label = "b";
    kcoro::MutateFn racing = [&](json::object& o) {
      if (++mutations == 1) {
        concurrent_merge_patch(server, "/api/v1/namespaces/default/pods/p",
                               R"({"metadata":{"annotations":{"by":"other"}}})");
      }
      mutate(o);
    };
    r = co_await kcoro::create_or_patch(client, res::pods, "default", "p", racing);
    CHECK(r.operation == OperationResult::updated);
    CHECK(r.object->meta().labels.get("app") == "b");
    CHECK(r.object->meta().annotations.get("by") == "other");

    phase = "Running";
    r = co_await kcoro::create_or_patch(client, res::pods, "default", "p", mutate);
    CHECK(r.operation == OperationResult::updated_status_only);
    CHECK(r.object->get<std::string_view>("/status/phase") == "Running");

    label = "c";
    phase = "Succeeded";
    r = co_await kcoro::create_or_patch(client, res::pods, "default", "p", mutate);
    CHECK(r.operation == OperationResult::updated_status);
    CHECK(r.object->meta().labels.get("app") == "c");
    CHECK(r.object->get<std::string_view>("/status/phase") == "Succeeded");
  });
}

TEST_CASE("retry_on_conflict: retries a conflict, gives up after steps, not other errors") {
  co_run([&](net::any_io_executor) -> net::awaitable<void> {
    kcoro::RetryBackoff backoff;  // client-go's DefaultRetry: 5 steps of ~10 ms
    int attempts = 0;
    int v = co_await kcoro::retry_on_conflict(backoff, [&]() -> net::awaitable<int> {
      if (++attempts < 3) throw conflict_error();
      co_return 42;
    });
    CHECK(v == 42);
    CHECK(attempts == 3);

    // Always a conflict: `steps` attempts, then the last conflict.
    attempts = 0;
    ApiError e =
        co_await api_error_of(kcoro::retry_on_conflict(backoff, [&]() -> net::awaitable<void> {
          ++attempts;
          throw conflict_error();
          co_return;
        }));
    CHECK(kcoro::is_conflict(e));
    CHECK(attempts == 5);

    // AlreadyExists is a 409 but not a conflict; a 404 neither: no retry.
    attempts = 0;
    e = co_await api_error_of(kcoro::retry_on_conflict(backoff, [&]() -> net::awaitable<void> {
      ++attempts;
      throw ApiError(409, R"({"kind":"Status","reason":"AlreadyExists","message":"x","code":409})");
      co_return;
    }));
    CHECK(kcoro::is_already_exists(e));
    CHECK(attempts == 1);
    attempts = 0;
    bool other = false;
    try {
      co_await kcoro::retry_on_conflict(backoff, [&]() -> net::awaitable<void> {
        ++attempts;
        throw std::logic_error("boom");
        co_return;
      });
    } catch (const std::logic_error&) {
      other = true;
    }
    CHECK(other);
    CHECK(attempts == 1);

    // One step: a single attempt.
    backoff.steps = 1;
    attempts = 0;
    e = co_await api_error_of(kcoro::retry_on_conflict(backoff, [&]() -> net::awaitable<void> {
      ++attempts;
      throw conflict_error();
      co_return;
    }));
    CHECK(attempts == 1);
  });
}
