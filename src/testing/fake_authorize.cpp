// FakeCluster: authorization. Every request is allowed unless FakeCluster::forbid() denied its
// user the resource; the denial is the real server's 403.
#include "testing/fake_cluster_impl.hpp"

namespace kcoro::testing::fake {

void Impl::authorize(const FakeRequest& req, const Target& t, std::string_view verb) const {
  if (forbidden.empty()) return;
  std::string user = req.user.empty() ? "system:anonymous" : req.user;
  std::string resource = t.res->plural + (t.sub.empty() ? "" : "/" + t.sub);
  if (!forbidden.count({user, t.res->plural}) && !forbidden.count({user, resource}) &&
      !forbidden.count({user, "*"})) {
    return;
  }
  std::string scope = t.ns.empty() ? "at the cluster scope" : "in the namespace \"" + t.ns + "\"";
  std::string who =
      t.name.empty() ? t.res->qualified() : t.res->qualified() + " \"" + t.name + "\"";
  fail(403, "Forbidden",
       who + " is forbidden: User \"" + user + "\" cannot " + std::string(verb) + " resource \"" +
           resource + "\" in API group \"" + t.res->group + "\" " + scope,
       name_details(*t.res, t.name));
}

}  // namespace kcoro::testing::fake
