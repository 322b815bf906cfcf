// Scenarios on the custom resources of support/widget.hpp that the integration tier runs against
// the fake API server and the envtest tier against a real kube-apiserver, with the same checks:
// where the two differ, the fake is wrong.
#pragma once

#include "kcoro/api/apiextensions/v1.hpp"
#include "kcoro/client.hpp"
#include "kcoro/crd.hpp"
#include "kcoro/typed_client.hpp"

#include "support/widget.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <doctest/doctest.h>

#include <chrono>
#include <string>

namespace kcoro::test {

/// Creates crd_of<T>() through the typed client (409: already there) and waits until the server
/// says it is Established and serves T (a list answers): a real server takes a moment.
template <class T>
boost::asio::awaitable<void> install_crd_of(Client& client) {
  using Crd = api::apiextensions::v1::CustomResourceDefinition;
  Api<Crd> crds(client);
  const Crd crd = crd_of<T>();
  try {
    const Crd created = co_await crds.create(crd);
    CHECK(created.metadata->name == crd.metadata->name);
  } catch (const ApiError& e) {
    if (!is_already_exists(e)) throw;
  }
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (;;) {
    const Crd got = co_await crds.get(*crd.metadata->name);
    bool established = false;
    if (got.status) {
      for (const auto& c : got.status->conditions) {
        if (c.type == "Established" && c.status == "True") established = true;
      }
    }
    bool served = false;
    if (established) {
      try {
        co_await Api<T>(client).list();
        served = true;
      } catch (const ApiError& e) {
        if (!is_not_found(e)) throw;
      }
    }
    if (served) break;
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline,
                    "the CRD " << *crd.metadata->name << " was not served in time");
    timer.expires_after(std::chrono::milliseconds(50));
    co_await timer.async_wait(boost::asio::use_awaitable);
  }
}

inline Widget make_widget(const std::string& name) {
  Widget w;
  w.metadata.emplace().name = name;
  auto& s = w.spec.emplace();
  s.image = "nginx";
  s.replicas = 1;
  s.ports = {{"http", 80}};
  s.memory = api::Quantity::parse("1Gi");
  s.maxUnavailable = api::IntOrString("25%");
  s.until = api::Time::parse("2024-01-02T03:04:05Z");
  s.extra = api::RawJson{R"({"k":[1]})"};
  s.default_ = "a";
  s.selector.emplace().matchLabels["app"] = name;
  return w;
}

/// The CRD of Widget and Gadget created from crd_of; a Widget created, read, listed, updated,
/// status-updated, merge-patched and removed, and a cluster-scoped Gadget created, all typed.
inline boost::asio::awaitable<void> widget_verbs(Client& client, const std::string& ns) {
  co_await install_crd_of<Widget>(client);
  co_await install_crd_of<Gadget>(client);
  Api<Widget> widgets(client, ns);

  Widget w = make_widget("w1");
  w.status.emplace().observedGeneration = 9;  // create ignores status (status subresource)
  const Widget created = co_await widgets.create(w);
  REQUIRE(created.metadata);
  CHECK(created.metadata->namespace_ == ns);
  CHECK(created.metadata->uid.has_value());
  CHECK(created.kind == "Widget");
  CHECK_FALSE(created.status.has_value());

  Widget got = co_await widgets.get("w1");
  REQUIRE(got.spec);
  CHECK(got.spec->image == "nginx");
  CHECK(got.spec->replicas == 1);
  CHECK(got.spec->ports.at(0).number == 80);
  CHECK(got.spec->memory->str() == "1Gi");
  CHECK(got.spec->maxUnavailable->str() == "25%");
  CHECK(got.spec->until->str() == "2024-01-02T03:04:05Z");
  CHECK(got.spec->extra->text == R"({"k":[1]})");
  CHECK(got.spec->selector->matchLabels.at("app") == "w1");

  const TypedList<Widget> list = co_await widgets.list();
  REQUIRE(list.items.size() == 1);
  CHECK(list.items[0].kind == "Widget");
  CHECK(list.items[0].apiVersion == "example.kcoro.dev/v1");

  got.spec->replicas = 2;
  got.status.emplace().observedGeneration = 5;  // the main resource ignores status
  const Widget updated = co_await widgets.update(got);
  CHECK(updated.spec->replicas == 2);
  CHECK_FALSE(updated.status.has_value());
  CHECK(updated.metadata->resourceVersion != got.metadata->resourceVersion);

  Widget with_status = updated;
  with_status.spec->replicas = 4;  // /status ignores spec
  auto& st = with_status.status.emplace();
  st.observedGeneration = *updated.metadata->generation;
  auto& cond = st.conditions.emplace_back();
  cond.type = "Ready";
  cond.status = "True";
  cond.reason = "Synced";
  cond.message = "ok";
  cond.lastTransitionTime = api::Time::parse("2024-05-06T07:08:09Z");
  const Widget status = co_await widgets.update_status(with_status);
  REQUIRE(status.status);
  CHECK(status.status->observedGeneration == updated.metadata->generation);
  CHECK(status.status->conditions.at(0).reason == "Synced");
  CHECK(status.status->conditions.at(0).lastTransitionTime->str() == "2024-05-06T07:08:09Z");
  CHECK(status.spec->replicas == 2);

  // A stale resourceVersion is a conflict, typed or not.
  bool conflict = false;
  try {
    co_await widgets.update(got);
  } catch (const ApiError& e) {
    conflict = is_conflict(e);
  }
  CHECK(conflict);

  // A partly filled Widget is a merge patch.
  Widget partial;
  partial.metadata.emplace().labels["merged"] = "yes";
  const Widget merged = co_await widgets.patch("w1", PatchType::merge, api::encode(partial));
  CHECK(merged.metadata->labels.at("merged") == "yes");
  CHECK(merged.spec->image == "nginx");

  // The schema crd_of wrote is enforced: replicas has maximum 5.
  Widget too_many = make_widget("w2");
  too_many.spec->replicas = 7;
  int code = 0;
  std::string message;
  try {
    co_await widgets.create(too_many);
  } catch (const ApiError& e) {
    code = e.http_code();
    message = e.status().message;
  }
  CHECK(code == 422);
  CHECK_MESSAGE(message.find("spec.replicas: Invalid value: 7: spec.replicas in body should be "
                             "less than or equal to 5") != std::string::npos,
                message);
  // So is a value of the wrong type, sent as a merge patch.
  code = 0;
  message.clear();
  try {
    co_await widgets.patch("w1", PatchType::merge, R"({"spec":{"replicas":"two"}})");
  } catch (const ApiError& e) {
    code = e.http_code();
    message = e.status().message;
  }
  CHECK(code == 422);
  CHECK_MESSAGE(message.find("spec.replicas in body must be of type integer") != std::string::npos,
                message);

  co_await widgets.remove("w1");
  bool gone = false;
  try {
    co_await widgets.get("w1");
  } catch (const ApiError& e) {
    gone = is_not_found(e);
  }
  CHECK(gone);

  // A custom resource is unstructured to the server: without kind it is refused.
  int no_kind = 0;
  try {
    co_await client.create(Widget::resource(), ns, R"({"metadata":{"name":"w3"},"spec":{}})");
  } catch (const ApiError& e) {
    no_kind = e.http_code();
  }
  CHECK(no_kind == 400);

  // A protected group needs the approval annotation crd_of adds.
  using Crd = api::apiextensions::v1::CustomResourceDefinition;
  Crd unapproved = crd_of<Gadget>();
  unapproved.metadata->annotations.clear();
  unapproved.metadata->name = "things.gadgets.k8s.io";
  unapproved.spec->names->plural = "things";
  unapproved.spec->names->singular = "thing";
  unapproved.spec->names->kind = "Thing";
  unapproved.spec->names->listKind = "ThingList";
  code = 0;
  message.clear();
  try {
    co_await Api<Crd>(client).create(unapproved);
  } catch (const ApiError& e) {
    code = e.http_code();
    message = e.status().message;
  }
  CHECK(code == 422);
  CHECK_MESSAGE(message.find("protected groups must have approval annotation") != std::string::npos,
                message);

  // Cluster-scoped, no status, in a protected group (crd_of added the approval annotation).
  Api<Gadget> gadgets(client);
  Gadget g;
  g.metadata.emplace().name = "g-" + ns;
  g.spec.emplace().enabled = true;
  const Gadget made = co_await gadgets.create(g);
  CHECK_FALSE(made.metadata->namespace_.has_value());
  CHECK(made.spec->enabled);
  const Gadget read = co_await gadgets.get("g-" + ns);
  CHECK(read.spec->enabled);
  co_await gadgets.remove("g-" + ns);
}

/// Server-side apply of partial typed Widgets by two managers: each apply changes only what its
/// manager sets; a field another manager owns with another value is a conflict unless forced;
/// what a manager stops applying goes, unless someone else owns it.
inline boost::asio::awaitable<void> widget_apply(Client& client, const std::string& ns) {
  co_await install_crd_of<Widget>(client);
  Api<Widget> widgets(client, ns);

  Widget alice;
  alice.metadata.emplace().name = "shared";
  alice.metadata->labels["owner"] = "alice";
  auto& as = alice.spec.emplace();
  as.image = "nginx";
  as.replicas = 2;
  as.env["A"] = "1";
  const Widget first = co_await widgets.apply(alice, "alice");
  CHECK(first.spec->replicas == 2);

  Widget bob;
  bob.metadata.emplace().name = "shared";
  bob.metadata->labels["bob"] = "yes";
  auto& bs = bob.spec.emplace();
  bs.image = "nginx";  // required, so always sent: the same value, so shared, no conflict
  bs.ratio = 0.5;
  bs.env["B"] = "2";
  const Widget second = co_await widgets.apply(bob, "bob");
  CHECK(second.spec->replicas == 2);  // alice's, untouched
  CHECK(second.spec->ratio == 0.5);
  CHECK(second.spec->env == std::map<std::string, std::string>{{"A", "1"}, {"B", "2"}});
  CHECK(second.metadata->labels.at("owner") == "alice");
  CHECK(second.metadata->labels.at("bob") == "yes");

  // Alice applies again without env.A and her label, and with other replicas.
  Widget alice2;
  alice2.metadata.emplace().name = "shared";
  auto& a2 = alice2.spec.emplace();
  a2.image = "nginx";
  a2.replicas = 3;
  const Widget third = co_await widgets.apply(alice2, "alice");
  CHECK(third.spec->replicas == 3);
  CHECK(third.spec->ratio == 0.5);  // bob's
  CHECK(third.spec->env == std::map<std::string, std::string>{{"B", "2"}});
  CHECK_FALSE(third.metadata->labels.contains("owner"));
  CHECK(third.metadata->labels.at("bob") == "yes");

  // Bob asks for alice's replicas too: a conflict, until he forces it; then they are his.
  Widget grab = bob;
  grab.spec->replicas = 5;
  int code = 0;
  try {
    co_await widgets.apply(grab, "bob");
  } catch (const ApiError& e) {
    code = e.http_code();
  }
  CHECK(code == 409);
  const Widget forced = co_await widgets.apply(grab, "bob", true);
  CHECK(forced.spec->replicas == 5);
  CHECK(forced.spec->ratio == 0.5);
  CHECK(forced.spec->env == std::map<std::string, std::string>{{"B", "2"}});
  code = 0;
  try {
    co_await widgets.apply(alice2, "alice");
  } catch (const ApiError& e) {
    code = e.http_code();
  }
  CHECK(code == 409);

  // Bob stops applying ratio and env: they go, as nobody else owns them.
  Widget bob2;
  bob2.metadata.emplace().name = "shared";
  bob2.metadata->labels["bob"] = "yes";
  bob2.spec.emplace().image = "nginx";
  bob2.spec->replicas = 5;
  const Widget last = co_await widgets.apply(bob2, "bob");
  CHECK(last.spec->replicas == 5);
  CHECK_FALSE(last.spec->ratio.has_value());
  CHECK(last.spec->env.empty());
  CHECK(last.spec->image == "nginx");
}

}  // namespace kcoro::test
