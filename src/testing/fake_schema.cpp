// FakeCluster: a custom resource's openAPIV3Schema, enforced on every write as kube-apiserver's
// schema validation does, with its causes (field, reason, message) worded the same way. A subset:
// type (and x-kubernetes-int-or-string), required, minimum and maximum, minLength and maxLength,
// enum and pattern, through properties, items and additionalProperties. The real server also
// prunes unknown fields and runs CEL rules; the fake does neither.
#include "testing/fake_cluster_impl.hpp"

#include <cmath>
#include <regex>

namespace kcoro::testing::fake {

namespace {

std::string json_type(const json::value& v) {
  switch (v.kind()) {
    case json::kind::string:
      return "string";
    case json::kind::int64:
    case json::kind::uint64:
      return "integer";
    case json::kind::double_:
      return "number";
    case json::kind::bool_:
      return "boolean";
    case json::kind::object:
      return "object";
    case json::kind::array:
      return "array";
    case json::kind::null:
      return "null";
  }
  return "null";
}

bool is_integer(const json::value& v) {
  if (v.is_int64() || v.is_uint64()) return true;
  return v.is_double() && std::floor(v.get_double()) == v.get_double();
}

bool has_type(const json::value& v, std::string_view type) {
  if (type == "string") return v.is_string();
  if (type == "integer") return is_integer(v);
  if (type == "number") return v.is_number();
  if (type == "boolean") return v.is_bool();
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  return true;
}

double number(const json::value& v) {
  return v.to_number<double>();
}

std::string join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

void check(const json::value& schema, const json::value& v, const std::string& path,
           std::vector<Cause>& causes) {
  if (!schema.is_object()) return;
  const json::object& s = schema.get_object();
  const std::string value = json::serialize(v);
  const auto flag = [&](std::string_view key) {
    auto it = s.find(key);
    return it != s.end() && it->value() == true;
  };
  if (flag("x-kubernetes-int-or-string")) {
    if (!is_integer(v) && !v.is_string()) {
      causes.push_back({"FieldValueTypeInvalid",
                        "Invalid value: \"" + json_type(v) + "\": " + path +
                            " in body must be of type integer,string: \"" + json_type(v) + "\"",
                        path});
      return;
    }
  } else if (auto type = get_string(s, "type"); !type.empty() && !has_type(v, type)) {
    causes.push_back({"FieldValueTypeInvalid",
                      "Invalid value: \"" + json_type(v) + "\": " + path +
                          " in body must be of type " + std::string(type) + ": \"" + json_type(v) +
                          "\"",
                      path});
    return;
  }
  if (v.is_number()) {
    if (auto it = s.find("maximum");
        it != s.end() && it->value().is_number() && number(v) > number(it->value())) {
      causes.push_back({"FieldValueInvalid",
                        "Invalid value: " + value + ": " + path +
                            " in body should be less than or equal to " +
                            json::serialize(it->value()),
                        path});
    }
    if (auto it = s.find("minimum");
        it != s.end() && it->value().is_number() && number(v) < number(it->value())) {
      causes.push_back({"FieldValueInvalid",
                        "Invalid value: " + value + ": " + path +
                            " in body should be greater than or equal to " +
                            json::serialize(it->value()),
                        path});
    }
  }
  if (v.is_string()) {
    const std::string_view str = v.get_string();
    if (auto it = s.find("maxLength"); it != s.end() && it->value().is_number() &&
                                       static_cast<double>(str.size()) > number(it->value())) {
      causes.push_back({"FieldValueTooLong",
                        "Too long: may not be more than " + json::serialize(it->value()) + " bytes",
                        path});
    }
    if (auto it = s.find("minLength"); it != s.end() && it->value().is_number() &&
                                       static_cast<double>(str.size()) < number(it->value())) {
      causes.push_back({"FieldValueInvalid",
                        "Invalid value: " + value + ": " + path + " in body should be at least " +
                            json::serialize(it->value()) + " chars long",
                        path});
    }
    if (auto p = get_string(s, "pattern"); !p.empty()) {
      try {
        if (!std::regex_search(std::string(str), std::regex(std::string(p)))) {
          causes.push_back({"FieldValueInvalid",
                            "Invalid value: " + value + ": " + path + " in body should match '" +
                                std::string(p) + "'",
                            path});
        }
      } catch (const std::regex_error&) {
        // A pattern std::regex cannot read (RE2 syntax it lacks): not checked.
      }
    }
  }
  if (auto it = s.find("enum"); it != s.end() && it->value().is_array()) {
    const json::array& allowed = it->value().get_array();
    if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
      std::string list;
      for (const auto& a : allowed)
        list += (list.empty() ? "" : ", ") + json::serialize(a);
      causes.push_back({"FieldValueNotSupported",
                        "Unsupported value: " + value + ": supported values: " + list, path});
    }
  }
  if (const json::object* o = v.if_object()) {
    const json::object* props = get_object(s, "properties");
    auto additional = s.find("additionalProperties");
    for (const auto& [key, child] : *o) {
      if (props) {
        if (auto p = props->find(key); p != props->end()) {
          check(p->value(), child, join(path, key), causes);
          continue;
        }
      }
      if (additional != s.end()) check(additional->value(), child, join(path, key), causes);
    }
    if (auto req = s.find("required"); req != s.end() && req->value().is_array()) {
      for (const auto& name : req->value().get_array()) {
        if (!name.is_string()) continue;
        auto f = o->find(name.get_string());
        if (f == o->end() || f->value().is_null()) {
          causes.push_back({"FieldValueRequired", "Required value", join(path, name.get_string())});
        }
      }
    }
  }
  if (const json::array* a = v.if_array()) {
    if (auto items = s.find("items"); items != s.end()) {
      for (std::size_t i = 0; i < a->size(); ++i) {
        check(items->value(), (*a)[i], path + "[" + std::to_string(i) + "]", causes);
      }
    }
  }
}

}  // namespace

void validate_schema(const ResourceInfo& r, const json::object& obj, std::vector<Cause>& causes) {
  if (!r.schema.is_object()) return;
  // metadata is the server's, validated as ObjectMeta elsewhere.
  const json::object& s = r.schema.get_object();
  const json::object* props = get_object(s, "properties");
  for (const auto& [key, child] : obj) {
    if (key == "metadata" || key == "apiVersion" || key == "kind" || !props) continue;
    if (auto p = props->find(key); p != props->end()) check(p->value(), child, key, causes);
  }
  if (auto req = s.find("required"); req != s.end() && req->value().is_array()) {
    for (const auto& name : req->value().get_array()) {
      if (name.is_string() && !obj.contains(name.get_string())) {
        causes.push_back({"FieldValueRequired", "Required value", std::string(name.get_string())});
      }
    }
  }
}

}  // namespace kcoro::testing::fake
