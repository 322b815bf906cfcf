// FakeCluster internals: JSON helpers, label and field selectors.
#include "testing/fake_internal.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace kcoro::testing::fake {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return s;
}

}  // namespace

bool matches(const LabelSelector& selector, const json::object* labels) {
  return selector.matches([labels](std::string_view key) -> std::optional<std::string_view> {
    if (!labels) return std::nullopt;
    auto it = labels->find(key);
    if (it == labels->end() || !it->value().is_string()) return std::nullopt;
    const auto& s = it->value().get_string();
    return std::string_view(s.data(), s.size());
  });
}

const json::object* get_object(const json::object& obj, std::string_view key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->value().is_object()) return nullptr;
  return &it->value().get_object();
}

json::object* get_object(json::object& obj, std::string_view key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->value().is_object()) return nullptr;
  return &it->value().get_object();
}

std::string_view get_string(const json::object& obj, std::string_view key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->value().is_string()) return {};
  const auto& s = it->value().get_string();
  return {s.data(), s.size()};
}

std::string dotted_value(const json::object& obj, std::string_view dotted) {
  const json::object* cur = &obj;
  while (true) {
    auto dot = dotted.find('.');
    auto part = dotted.substr(0, dot);
    auto it = cur->find(part);
    if (it == cur->end()) return {};
    if (dot == std::string_view::npos) {
      const json::value& v = it->value();
      if (v.is_string()) return std::string(v.get_string());
      if (v.is_bool()) return v.get_bool() ? "true" : "false";
      if (v.is_int64()) return std::to_string(v.get_int64());
      if (v.is_uint64()) return std::to_string(v.get_uint64());
      return {};
    }
    if (!it->value().is_object()) return {};
    cur = &it->value().get_object();
    dotted.remove_prefix(dot + 1);
  }
}

void sort_keys(json::value& v) {
  if (v.is_array()) {
    for (auto& e : v.get_array())
      sort_keys(e);
    return;
  }
  if (!v.is_object()) return;
  auto& o = v.get_object();
  std::vector<std::pair<std::string, json::value>> entries;
  entries.reserve(o.size());
  for (auto& kv : o)
    entries.emplace_back(std::string(kv.key()), std::move(kv.value()));
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  json::object sorted;
  sorted.reserve(entries.size());
  for (auto& [k, val] : entries) {
    sort_keys(val);
    sorted.emplace(k, std::move(val));
  }
  o = std::move(sorted);
}

// --- label selectors ---------------------------------------------------------------------------

// --- field selectors ---------------------------------------------------------------------------

std::optional<FieldSelector> parse_field_selector(std::string_view s, std::string& error) {
  FieldSelector sel;
  if (trim(s).empty()) return sel;
  // Split on unescaped commas, then on the first unescaped operator.
  std::vector<std::string> terms;
  std::string cur;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      cur += s[i];
      cur += s[++i];
    } else if (s[i] == ',') {
      terms.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += s[i];
    }
  }
  terms.push_back(std::move(cur));
  for (const auto& term : terms) {
    FieldRequirement req;
    std::size_t i = 0;
    bool found = false;
    for (; i < term.size(); ++i) {
      if (term[i] == '\\') {
        ++i;
        continue;
      }
      if (term[i] == '=' || (term[i] == '!' && i + 1 < term.size() && term[i + 1] == '=')) {
        found = true;
        break;
      }
    }
    if (!found) {
      error = "invalid selector: '" + std::string(s) + "'; can't understand '" + term + "'";
      return std::nullopt;
    }
    req.field = std::string(trim(std::string_view(term).substr(0, i)));
    std::size_t vstart = i + 1;
    if (term[i] == '!') {
      req.negate = true;
      vstart = i + 2;
    } else if (vstart < term.size() && term[vstart] == '=') {
      ++vstart;
    }
    std::string value;
    for (std::size_t j = vstart; j < term.size(); ++j) {
      if (term[j] == '\\' && j + 1 < term.size()) ++j;
      value += term[j];
    }
    req.value = std::move(value);
    sel.reqs.push_back(std::move(req));
  }
  return sel;
}

bool FieldSelector::matches(const json::object& obj) const {
  for (const auto& r : reqs) {
    std::string v;
    if (r.field == "source") {
      v = dotted_value(obj, "source.component");  // events: "source" is the reporting component
    } else {
      v = dotted_value(obj, r.field);
    }
    if ((v == r.value) == r.negate) return false;
  }
  return true;
}

}  // namespace kcoro::testing::fake
