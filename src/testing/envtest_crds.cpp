#include "testing/envtest_crds.hpp"

#include "kcoro/testing/envtest.hpp"

#include <boost/json.hpp>

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <regex>
#include <stdexcept>

namespace kcoro::testing {
namespace {

namespace json = boost::json;

// A YAML scalar written without quotes, resolved by YAML 1.2's core schema.
json::value plain_scalar(const std::string& s) {
  static const std::regex int_re("[-+]?[0-9]+");
  static const std::regex float_re("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (std::regex_match(s, int_re)) {
    try {
      return static_cast<std::int64_t>(std::stoll(s));
    } catch (const std::out_of_range&) {
      return std::stod(s);
    }
  }
  if (std::regex_match(s, float_re)) return std::stod(s);
  return json::string(s);
}

json::value yaml_to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return nullptr;
    case YAML::NodeType::Scalar: {
      const std::string& tag = n.Tag();
      if (tag == "?" || tag == "tag:yaml.org,2002:int" || tag == "tag:yaml.org,2002:float" ||
          tag == "tag:yaml.org,2002:bool" || tag == "tag:yaml.org,2002:null") {
        return plain_scalar(n.Scalar());
      }
      return json::string(n.Scalar());  // quoted ("!") or !!str
    }
    case YAML::NodeType::Sequence: {
      json::array a;
      for (const auto& item : n)
        a.push_back(yaml_to_json(item));
      return a;
    }
    case YAML::NodeType::Map: {
      json::object o;
      for (const auto& kv : n)
        o[kv.first.Scalar()] = yaml_to_json(kv.second);
      return o;
    }
  }
  return nullptr;
}

}  // namespace

std::vector<json::object> crd_documents(const std::string& text, const std::string& origin) {
  std::vector<json::object> out;
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    throw EnvTestError("envtest: " + origin + ": not YAML or JSON: " + e.what());
  }
  for (const auto& d : docs) {
    json::value v = yaml_to_json(d);
    if (v.is_null()) continue;
    // A List of CRDs (kubectl's output) holds them in items.
    if (v.is_object() && v.as_object().contains("items") && v.at("items").is_array()) {
      for (auto& item : v.at("items").as_array())
        if (item.is_object()) out.push_back(item.as_object());
      continue;
    }
    if (!v.is_object() || !v.as_object().contains("kind") ||
        v.at("kind") != "CustomResourceDefinition") {
      throw EnvTestError("envtest: " + origin + ": a document is not a CustomResourceDefinition");
    }
    out.push_back(v.as_object());
  }
  return out;
}

}  // namespace kcoro::testing
