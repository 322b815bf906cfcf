// FakeCluster internals: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and the common
// cases of Kubernetes strategic merge patch.
#include "testing/fake_internal.hpp"

#include <algorithm>
#include <cstdlib>

namespace kcoro::testing::fake {

// --- RFC 7386 ----------------------------------------------------------------------------------

void merge_patch(json::value& target, const json::value& patch) {
  if (!patch.is_object()) {
    target = patch;
    return;
  }
  if (!target.is_object()) target = json::object();
  auto& t = target.get_object();
  for (const auto& kv : patch.get_object()) {
    if (kv.value().is_null()) {
      t.erase(kv.key());
      continue;
    }
    auto it = t.find(kv.key());
    if (it == t.end()) {
      json::value v;
      merge_patch(v, kv.value());  // drops nulls nested in the patch
      t.emplace(kv.key(), std::move(v));
    } else {
      merge_patch(it->value(), kv.value());
    }
  }
}

// --- RFC 6902 ----------------------------------------------------------------------------------

namespace {

struct Pointer {
  std::vector<std::string> tokens;
};

std::optional<Pointer> parse_pointer(std::string_view p) {
  Pointer out;
  if (p.empty()) return out;
  if (p.front() != '/') return std::nullopt;
  std::size_t i = 1;
  std::string tok;
  for (; i <= p.size(); ++i) {
    if (i == p.size() || p[i] == '/') {
      out.tokens.push_back(std::move(tok));
      tok.clear();
      continue;
    }
    if (p[i] == '~') {
      if (i + 1 >= p.size() || (p[i + 1] != '0' && p[i + 1] != '1')) return std::nullopt;
      tok += p[i + 1] == '0' ? '~' : '/';
      ++i;
    } else {
      tok += p[i];
    }
  }
  return out;
}

std::optional<std::size_t> array_index(const std::string& tok, std::size_t size, bool allow_end) {
  if (allow_end && tok == "-") return size;
  if (tok.empty() || (tok.size() > 1 && tok[0] == '0')) return std::nullopt;
  for (char c : tok) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  std::size_t n = std::strtoull(tok.c_str(), nullptr, 10);
  if (n > size || (!allow_end && n == size)) return std::nullopt;
  return n;
}

/// The container holding the pointer's last token (nullptr if missing).
json::value* parent_of(json::value& doc, const Pointer& p) {
  json::value* cur = &doc;
  for (std::size_t i = 0; i + 1 < p.tokens.size(); ++i) {
    const auto& tok = p.tokens[i];
    if (cur->is_object()) {
      auto it = cur->get_object().find(tok);
      if (it == cur->get_object().end()) return nullptr;
      cur = &it->value();
    } else if (cur->is_array()) {
      auto idx = array_index(tok, cur->get_array().size(), false);
      if (!idx) return nullptr;
      cur = &cur->get_array()[*idx];
    } else {
      return nullptr;
    }
  }
  return cur;
}

json::value* resolve(json::value& doc, const Pointer& p) {
  if (p.tokens.empty()) return &doc;
  json::value* parent = parent_of(doc, p);
  if (!parent) return nullptr;
  const auto& last = p.tokens.back();
  if (parent->is_object()) {
    auto it = parent->get_object().find(last);
    return it == parent->get_object().end() ? nullptr : &it->value();
  }
  if (parent->is_array()) {
    auto idx = array_index(last, parent->get_array().size(), false);
    return idx ? &parent->get_array()[*idx] : nullptr;
  }
  return nullptr;
}

bool add_at(json::value& doc, const Pointer& p, json::value v) {
  if (p.tokens.empty()) {
    doc = std::move(v);
    return true;
  }
  json::value* parent = parent_of(doc, p);
  if (!parent) return false;
  const auto& last = p.tokens.back();
  if (parent->is_object()) {
    parent->get_object()[last] = std::move(v);
    return true;
  }
  if (parent->is_array()) {
    auto& arr = parent->get_array();
    auto idx = array_index(last, arr.size(), true);
    if (!idx) return false;
    arr.insert(arr.begin() + static_cast<std::ptrdiff_t>(*idx), std::move(v));
    return true;
  }
  return false;
}

std::optional<json::value> remove_at(json::value& doc, const Pointer& p) {
  if (p.tokens.empty()) return std::nullopt;
  json::value* parent = parent_of(doc, p);
  if (!parent) return std::nullopt;
  const auto& last = p.tokens.back();
  if (parent->is_object()) {
    auto& o = parent->get_object();
    auto it = o.find(last);
    if (it == o.end()) return std::nullopt;
    json::value v = std::move(it->value());
    o.erase(it);
    return v;
  }
  if (parent->is_array()) {
    auto& arr = parent->get_array();
    auto idx = array_index(last, arr.size(), false);
    if (!idx) return std::nullopt;
    json::value v = std::move(arr[*idx]);
    arr.erase(arr.begin() + static_cast<std::ptrdiff_t>(*idx));
    return v;
  }
  return std::nullopt;
}

}  // namespace

std::optional<PatchError> json_patch(json::value& doc, const json::value& patch) {
  if (!patch.is_array()) {
    return PatchError{400, "json: cannot unmarshal object into Go value of type jsonpatch.Patch"};
  }
  for (const auto& opv : patch.get_array()) {
    if (!opv.is_object()) return PatchError{400, "invalid JSON patch operation"};
    const auto& op = opv.get_object();
    std::string opname(get_string(op, "op"));
    auto path_it = op.find("path");
    if (path_it == op.end() || !path_it->value().is_string()) {
      return PatchError{422, "missing path in " + opname + " operation"};
    }
    std::string path(path_it->value().get_string());
    auto ptr = parse_pointer(path);
    if (!ptr) return PatchError{422, "invalid JSON pointer: " + path};
    auto value_of = [&]() -> const json::value* {
      auto it = op.find("value");
      return it == op.end() ? nullptr : &it->value();
    };
    if (opname == "add" || opname == "replace" || opname == "test") {
      const json::value* v = value_of();
      if (!v) return PatchError{422, opname + " operation does not apply: missing value"};
      if (opname == "add") {
        if (!add_at(doc, *ptr, *v)) {
          return PatchError{422, "add operation does not apply: doc is missing path: \"" + path +
                                     "\": missing value"};
        }
      } else if (opname == "replace") {
        json::value* target = resolve(doc, *ptr);
        if (!target) {
          return PatchError{422, "replace operation does not apply: doc is missing key: " + path +
                                     ": missing value"};
        }
        *target = *v;
      } else {
        json::value* target = resolve(doc, *ptr);
        if (!target || *target != *v) {
          return PatchError{422, "testing value " + path + " failed: test failed"};
        }
      }
    } else if (opname == "remove") {
      if (!remove_at(doc, *ptr)) {
        return PatchError{422, "remove operation does not apply: doc is missing path: \"" + path +
                                   "\": missing value"};
      }
    } else if (opname == "move" || opname == "copy") {
      auto from_it = op.find("from");
      if (from_it == op.end() || !from_it->value().is_string()) {
        return PatchError{422, opname + " operation does not apply: missing from"};
      }
      std::string from(from_it->value().get_string());
      auto from_ptr = parse_pointer(from);
      if (!from_ptr) return PatchError{422, "invalid JSON pointer: " + from};
      std::optional<json::value> v;
      if (opname == "move") {
        v = remove_at(doc, *from_ptr);
      } else if (json::value* src = resolve(doc, *from_ptr)) {
        v = *src;
      }
      if (!v) {
        return PatchError{422, opname + " operation does not apply: doc is missing from path: " +
                                   from + ": missing value"};
      }
      if (!add_at(doc, *ptr, std::move(*v))) {
        return PatchError{422, opname +
                                   " operation does not apply: doc is missing destination "
                                   "path: " +
                                   path + ": missing value"};
      }
    } else {
      return PatchError{400, "Unexpected kind: " + opname};
    }
  }
  return std::nullopt;
}

// --- strategic merge patch ---------------------------------------------------------------------

std::vector<std::string> merge_keys(std::string_view field, const json::array& items) {
  if (items.empty() || !items.front().is_object()) return {};
  const auto& first = items.front().get_object();
  if (field == "containers" || field == "initContainers" || field == "ephemeralContainers" ||
      field == "env" || field == "volumes" || field == "imagePullSecrets" ||
      field == "hostAliases" || field == "volumeDevices" || field == "resourceClaims") {
    if (first.contains("name")) return {"name"};
    if (field == "hostAliases" && first.contains("ip")) return {"ip"};
    return {};
  }
  if (field == "ports") {
    if (first.contains("containerPort")) return {"containerPort", "protocol"};
    if (first.contains("port")) return {"port", "protocol"};
    return {};
  }
  if (field == "volumeMounts") return {"mountPath"};
  if (field == "conditions") return {"type"};
  if (field == "ownerReferences") return {"uid"};
  return {};
}

bool is_set_list(std::string_view field) {
  return field == "finalizers";
}

namespace {

bool same_key(const json::object& a, const json::object& b, const std::vector<std::string>& keys) {
  for (const auto& k : keys) {
    auto ia = a.find(k);
    auto ib = b.find(k);
    bool ha = ia != a.end();
    bool hb = ib != b.end();
    if (k == "protocol") {  // defaulted: absent means TCP
      std::string_view pa = ha && ia->value().is_string() ? get_string(a, k) : "TCP";
      std::string_view pb = hb && ib->value().is_string() ? get_string(b, k) : "TCP";
      if (pa != pb) return false;
      continue;
    }
    if (ha != hb || (ha && ia->value() != ib->value())) return false;
  }
  return true;
}

void strip_directives(json::value& v) {
  if (v.is_object()) {
    auto& o = v.get_object();
    for (auto it = o.begin(); it != o.end();) {
      if (!it->key().empty() && it->key().front() == '$') {
        it = o.erase(it);
      } else {
        strip_directives(it->value());
        ++it;
      }
    }
  } else if (v.is_array()) {
    for (auto& e : v.get_array())
      strip_directives(e);
  }
}

void smp_object(json::object& target, const json::object& patch);

void smp_list(json::value& target, const json::array& patch, std::string_view field) {
  if (is_set_list(field) && target.is_array()) {
    auto& arr = target.get_array();
    for (const auto& v : patch) {
      if (std::find(arr.begin(), arr.end(), v) == arr.end()) arr.push_back(v);
    }
    return;
  }
  auto keys = merge_keys(field, patch);
  if (keys.empty() && target.is_array()) keys = merge_keys(field, target.get_array());
  if (keys.empty() || !target.is_array()) {
    json::array copy = patch;
    for (auto it = copy.begin(); it != copy.end();) {
      if (it->is_object() && get_string(it->get_object(), "$patch") == "delete") {
        it = copy.erase(it);
      } else {
        strip_directives(*it);
        ++it;
      }
    }
    target = std::move(copy);
    return;
  }
  auto& arr = target.get_array();
  for (const auto& pv : patch) {
    if (!pv.is_object()) continue;
    const auto& p = pv.get_object();
    auto it = std::find_if(arr.begin(), arr.end(), [&](const json::value& e) {
      return e.is_object() && same_key(e.get_object(), p, keys);
    });
    std::string_view directive = get_string(p, "$patch");
    if (directive == "delete") {
      if (it != arr.end()) arr.erase(it);
      continue;
    }
    if (it == arr.end() || directive == "replace") {
      json::value item = p;
      strip_directives(item);
      if (it == arr.end()) {
        arr.push_back(std::move(item));
      } else {
        *it = std::move(item);
      }
      continue;
    }
    smp_object(it->get_object(), p);
  }
}

void smp_object(json::object& target, const json::object& patch) {
  if (get_string(patch, "$patch") == "replace") {
    json::value v = patch;
    strip_directives(v);
    target = std::move(v.get_object());
    return;
  }
  for (const auto& kv : patch) {
    std::string_view key(kv.key().data(), kv.key().size());
    if (key.starts_with("$")) continue;
    if (key.starts_with("$setElementOrder/") || key.starts_with("$deleteFromPrimitiveList/")) {
      continue;
    }
    const json::value& pv = kv.value();
    if (pv.is_null()) {
      target.erase(key);
      continue;
    }
    auto it = target.find(key);
    if (pv.is_object()) {
      if (it == target.end() || !it->value().is_object()) {
        if (get_string(pv.get_object(), "$patch") == "delete") {
          if (it != target.end()) target.erase(it);
          continue;
        }
        json::value v = json::object();
        smp_object(v.get_object(), pv.get_object());
        target[key] = std::move(v);
      } else if (get_string(pv.get_object(), "$patch") == "delete") {
        target.erase(it);
      } else {
        smp_object(it->value().get_object(), pv.get_object());
      }
    } else if (pv.is_array()) {
      if (it == target.end()) {
        json::value v = json::array();
        smp_list(v, pv.get_array(), key);
        target[key] = std::move(v);
      } else {
        smp_list(it->value(), pv.get_array(), key);
      }
    } else {
      target[key] = pv;
    }
  }
}

}  // namespace

void strategic_merge(json::value& target, const json::value& patch) {
  if (!patch.is_object()) {
    target = patch;
    return;
  }
  if (!target.is_object()) target = json::object();
  smp_object(target.get_object(), patch.get_object());
}

}  // namespace kcoro::testing::fake
