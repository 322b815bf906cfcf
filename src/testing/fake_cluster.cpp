// FakeCluster: the public face. Each call takes the cluster lock, runs the request through the
// internals (fake_routing.cpp and the files it names), turns a Failure into its response, and
// wakes the watchers once the lock is released.
#include "kcoro/testing/fake_cluster.hpp"

#include "testing/fake_cluster_impl.hpp"

#include <stdexcept>

namespace kcoro::testing::fake {

Impl::Impl(FakeClusterOptions o) : opts(std::move(o)), rng(std::random_device{}()) {
  if (opts.history == 0) opts.history = 1;
  register_builtins();
}

}  // namespace kcoro::testing::fake

namespace kcoro::testing {

using namespace fake;

struct FakeCluster::Impl : fake::Impl {
  using fake::Impl::Impl;
};

FakeCluster::FakeCluster(FakeClusterOptions opts)
    : impl_(std::make_unique<Impl>(std::move(opts))) {}

FakeCluster::~FakeCluster() {
  std::vector<std::shared_ptr<WatcherImpl>> live;
  {
    std::lock_guard lk(impl_->mu);
    for (auto& w : impl_->watchers) {
      if (auto sw = w.lock()) {
        sw->end();
        live.push_back(std::move(sw));
      }
    }
    impl_->watchers.clear();
  }
  for (auto& w : live)
    w->wake();
}

FakeResponse FakeCluster::handle(const FakeRequest& req) {
  Notifier n;
  FakeResponse r;
  {
    std::lock_guard lk(impl_->mu);
    try {
      if (is_watch(req)) fail_bad_request("watch requests are served by FakeCluster::watch");
      r = impl_->dispatch(req, n);
    } catch (Failure& f) {
      r = std::move(f.resp);
    }
  }
  n.fire();
  return r;
}

bool FakeCluster::is_watch(const FakeRequest& req) {
  std::vector<std::string> segs;
  Query q;
  if (!split_target(req.target, segs, q)) return false;
  if (q.flag("watch")) return true;
  if (segs.size() > 2 && segs[0] == "api" && segs[2] == "watch") return true;
  if (segs.size() > 3 && segs[0] == "apis" && segs[3] == "watch") return true;
  return false;
}

FakeCluster::WatchStart FakeCluster::watch(const FakeRequest& req) {
  WatchStart ws;
  std::lock_guard lk(impl_->mu);
  try {
    std::vector<std::string> segs;
    Query q;
    if (!split_target(req.target, segs, q)) fail_bad_request("invalid URL escape in the request");
    Target t = impl_->route(segs);
    if (!req.method.empty() && req.method != "GET") fail_method_not_allowed();
    impl_->authorize(req, t, "watch");
    ws = impl_->start_watch(req, t, q);
  } catch (Failure& f) {
    ws.error = std::move(f.resp);
    ws.watcher.reset();
  }
  return ws;
}

std::string FakeCluster::apply_object(const std::string& text) {
  Notifier n;
  std::string out;
  {
    std::lock_guard lk(impl_->mu);
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec || !v.is_object()) throw std::invalid_argument("apply_object: not a JSON object");
    auto& obj = v.get_object();
    auto r = impl_->find_by_kind(get_string(obj, "apiVersion"), get_string(obj, "kind"));
    if (!r) {
      throw std::invalid_argument("apply_object: no resource serves " +
                                  std::string(get_string(obj, "apiVersion")) + " " +
                                  std::string(get_string(obj, "kind")));
    }
    auto& meta = obj["metadata"];
    if (!meta.is_object()) meta = json::object();
    auto& m = meta.as_object();
    if (r->namespaced && get_string(m, "namespace").empty()) m["namespace"] = "default";
    if (!r->namespaced) m.erase("namespace");
    std::string key = r->namespaced ? std::string(get_string(m, "namespace")) + "/" +
                                          std::string(get_string(m, "name"))
                                    : std::string(get_string(m, "name"));
    try {
      impl_->apply_defaults(*r, obj);
      impl_->validate(*r, obj);
      StoredPtr s;
      if (auto prev = impl_->lookup(*r, key)) {
        m.erase("resourceVersion");
        s = impl_->do_update(*r, prev, std::move(obj), "unknown", "Update", "*", n);
      } else {
        s = impl_->do_create(*r, std::move(obj), "unknown", "Update", n, true);
      }
      if (r->builtin && r->group == "apiextensions.k8s.io") impl_->register_crd(s->obj);
      out = object_json(*s, *r);
    } catch (Failure& f) {
      throw std::invalid_argument("apply_object: " + f.resp.body);
    }
  }
  n.fire();
  return out;
}

bool FakeCluster::delete_object(const std::string& api_version, const std::string& kind,
                                const std::string& ns, const std::string& name) {
  Notifier n;
  bool found = false;
  {
    std::lock_guard lk(impl_->mu);
    auto r = impl_->find_by_kind(api_version, kind);
    if (!r) return false;
    auto prev = impl_->lookup(*r, r->namespaced ? ns + "/" + name : name);
    if (prev) {
      found = true;
      impl_->do_delete(*r, prev, n);
      if (r->builtin && r->group == "apiextensions.k8s.io") impl_->unregister_crd(name, n);
    }
  }
  n.fire();
  return found;
}

uint64_t FakeCluster::resource_version() const {
  std::lock_guard lk(impl_->mu);
  return impl_->rv;
}

void FakeCluster::expire_continue_tokens() {
  std::lock_guard lk(impl_->mu);
  // Tokens carry their snapshot's resourceVersion; bump the counter (etcd revisions have gaps
  // too) so that every token issued so far is older than the floor and new ones are not.
  impl_->continue_floor = ++impl_->rv;
}

void FakeCluster::compact() {
  std::lock_guard lk(impl_->mu);
  impl_->history.clear();
  impl_->compacted_rv = impl_->rv;
}

void FakeCluster::forbid(const std::string& user, const std::string& resource) {
  std::lock_guard lk(impl_->mu);
  impl_->forbidden.emplace(user, resource);
}

}  // namespace kcoro::testing
