// crd_of (kcoro/crd.hpp): an openAPIV3Schema from the member tables of kcoro/custom_resource.hpp.
#include "kcoro/crd.hpp"

#include <cctype>
#include <stdexcept>

namespace kcoro::detail {
namespace {

namespace ext = api::apiextensions::v1;

// controller-gen's pattern for resource.Quantity.
constexpr const char* kQuantityPattern =
    R"(^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$)";

std::string_view json_name(const char* name) {
  std::string_view s(name);
  if (s.size() > 1 && s.back() == '_') s.remove_suffix(1);
  return s;
}

ext::JSONSchemaProps typed(const char* type, const char* format = nullptr) {
  ext::JSONSchemaProps p;
  p.type = type;
  if (format) p.format = format;
  return p;
}

ext::JSONSchemaProps int_or_string() {
  ext::JSONSchemaProps p;
  p.anyOf = {typed("integer"), typed("string")};
  p.x_kubernetes_int_or_string = true;
  return p;
}

void apply_hints(ext::JSONSchemaProps& p, const MemberSchema& h) {
  if (!h.description.empty()) p.description = h.description;
  if (h.minimum) p.minimum = *h.minimum;
  if (h.maximum) p.maximum = *h.maximum;
  if (h.min_length) p.minLength = *h.min_length;
  if (h.max_length) p.maxLength = *h.max_length;
  if (h.min_items) p.minItems = *h.min_items;
  if (h.max_items) p.maxItems = *h.max_items;
  if (!h.pattern.empty()) p.pattern = h.pattern;
  if (!h.format.empty()) p.format = h.format;
  for (const std::string& e : h.enum_values) {
    std::string text;
    append_json_quoted(text, e);
    p.enum_.push_back(api::RawJson{std::move(text)});
  }
}

ext::JSONSchemaProps struct_schema(const CrType& t) {
  ext::JSONSchemaProps p = typed("object");
  SchemaHints hints;
  if (t.hints) hints = t.hints();
  if (!hints.description.empty()) p.description = hints.description;
  std::size_t hinted = 0;
  for (std::size_t i = 0; i < t.member_count; ++i) {
    const CrMember& m = t.members[i];
    const std::string name(json_name(m.name));
    ext::JSONSchemaProps member = cr_schema(m.type());
    if (auto h = hints.members.find(name); h != hints.members.end()) {
      apply_hints(member, h->second);
      ++hinted;
    }
    p.properties.emplace(name, std::move(member));
    if (m.required) p.required.push_back(name);
  }
  if (hinted != hints.members.size()) {
    for (const auto& [name, h] : hints.members) {
      if (!p.properties.contains(name)) {
        throw std::invalid_argument("kcoro::crd_of: kcoro_schema() names \"" + name +
                                    "\", which is not a member");
      }
    }
  }
  return p;
}

bool protected_group(std::string_view g) {
  for (std::string_view d : {std::string_view("k8s.io"), std::string_view("kubernetes.io")}) {
    if (g == d) return true;
    if (g.size() > d.size() && g.ends_with(d) && g[g.size() - d.size() - 1] == '.') return true;
  }
  return false;
}

}  // namespace

ext::JSONSchemaProps cr_schema(const CrType& t) {
  switch (t.kind) {
    case CrKind::string:
      return typed("string");
    case CrKind::boolean:
      return typed("boolean");
    case CrKind::int32:
      return typed("integer", "int32");
    case CrKind::int64:
      return typed("integer", "int64");
    case CrKind::float64:
      return typed("number");
    case CrKind::quantity: {
      ext::JSONSchemaProps p = int_or_string();
      p.pattern = kQuantityPattern;
      return p;
    }
    case CrKind::int_or_string:
      return int_or_string();
    case CrKind::time:
    case CrKind::micro_time:
      return typed("string", "date-time");
    case CrKind::raw_json: {
      ext::JSONSchemaProps p;
      p.x_kubernetes_preserve_unknown_fields = true;
      return p;
    }
    case CrKind::object_meta:
      return typed("object");
    case CrKind::generated: {
      ext::JSONSchemaProps p = typed("object");
      p.x_kubernetes_preserve_unknown_fields = true;
      return p;
    }
    case CrKind::structure:
      return struct_schema(t);
    case CrKind::optional:
      return cr_schema(t.element());
    case CrKind::vector: {
      ext::JSONSchemaProps p = typed("array");
      p.items = api::RawJson{api::encode(cr_schema(t.element()))};
      return p;
    }
    case CrKind::map: {
      ext::JSONSchemaProps p = typed("object");
      p.additionalProperties = api::RawJson{api::encode(cr_schema(t.element()))};
      return p;
    }
  }
  return {};
}

ext::CustomResourceDefinition cr_definition(const Resource& r, const CrType& type) {
  ext::CustomResourceDefinition crd;
  crd.apiVersion = ext::CustomResourceDefinition::resource().api_version();
  crd.kind = ext::CustomResourceDefinition::resource().kind;
  auto& meta = crd.metadata.emplace();
  meta.name = r.plural + "." + r.group;
  if (protected_group(r.group)) {
    meta.annotations["api-approved.kubernetes.io"] = "unapproved, experimental-only";
  }
  auto& spec = crd.spec.emplace();
  spec.group = r.group;
  spec.scope = r.namespaced ? "Namespaced" : "Cluster";
  auto& names = spec.names.emplace();
  names.plural = r.plural;
  std::string singular = r.kind;
  for (char& ch : singular)
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  names.singular = std::move(singular);
  names.kind = r.kind;
  names.listKind = r.kind + "List";
  auto& version = spec.versions.emplace_back();
  version.name = r.version;
  version.served = true;
  version.storage = true;
  version.schema.emplace().openAPIV3Schema = cr_schema(type);
  for (std::size_t i = 0; i < type.member_count; ++i) {
    if (json_name(type.members[i].name) == "status") {
      version.subresources.emplace().status = api::RawJson{"{}"};
    }
  }
  return crd;
}

}  // namespace kcoro::detail
