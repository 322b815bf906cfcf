// Internal to FakeCluster (src/testing/fake_*.cpp): JSON helpers, selectors, patches, field
// sets. Not a public interface; tests may include it (private_inc) to test the pieces directly.
#pragma once

#include "kcoro/label_selector.hpp"

#include <boost/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace kcoro::testing::fake {

namespace json = boost::json;

// --- small JSON helpers ------------------------------------------------------------------------

/// obj[key] as an object, or nullptr.
const json::object* get_object(const json::object& obj, std::string_view key);
json::object* get_object(json::object& obj, std::string_view key);
/// obj[key] as a string, or empty.
std::string_view get_string(const json::object& obj, std::string_view key);
/// The value at a dotted path ("spec.nodeName") rendered as a field selector sees it: strings as
/// is, booleans as "true"/"false", integers in decimal; missing is "".
std::string dotted_value(const json::object& obj, std::string_view dotted);

/// Sorts every object's keys recursively (custom resources are served from unstructured maps, so
/// the real server writes their keys in sorted order).
void sort_keys(json::value& v);

// --- selectors ---------------------------------------------------------------------------------

using kcoro::LabelRequirement;
using kcoro::LabelSelector;
using kcoro::parse_label_selector;

/// `labels` may be null (no labels).
bool matches(const LabelSelector& selector, const json::object* labels);

struct FieldRequirement {
  std::string field;
  bool negate = false;
  std::string value;
};

struct FieldSelector {
  std::vector<FieldRequirement> reqs;
  bool empty() const { return reqs.empty(); }
  bool matches(const json::object& obj) const;
};

/// Parses `f=v`, `f==v`, `f!=v` joined by commas (values may escape `\,` `\=` `\\`).
std::optional<FieldSelector> parse_field_selector(std::string_view s, std::string& error);

// --- patches -----------------------------------------------------------------------------------

struct PatchError {
  int code = 400;  ///< 400 (malformed patch) or 422 (a patch that cannot be applied)
  std::string message;
};

/// RFC 7386 JSON merge patch, in place.
void merge_patch(json::value& target, const json::value& patch);

/// RFC 6902 JSON patch, in place (on failure `doc` may be partly changed: work on a copy).
std::optional<PatchError> json_patch(json::value& doc, const json::value& patch);

/// Strategic merge patch for the common cases: maps merge recursively, null deletes, lists of
/// objects with a known merge key ("name" for containers/env/volumes/..., "containerPort" for
/// ports, "mountPath" for volumeMounts, "type" for conditions, "uid" for ownerReferences) merge
/// by key, `$patch: delete` removes an item, `$patch: replace` replaces a map, finalizers merge
/// as a set, other lists are replaced. Directives (`$...` keys) never reach the result.
void strategic_merge(json::value& target, const json::value& patch);

/// The merge key fields of list `field` given its items (empty: atomic list).
std::vector<std::string> merge_keys(std::string_view field, const json::array& items);
/// Lists of scalars merged as sets (finalizers).
bool is_set_list(std::string_view field);

// --- field sets (managedFields) ----------------------------------------------------------------

/// A path in fieldsV1 notation: "f:spec", "k:{\"name\":\"nginx\"}", "v:\"x\"".
using FieldPath = std::vector<std::string>;
using FieldSet = std::set<FieldPath>;
/// Leaf paths of an object with the value at each.
using LeafMap = std::map<FieldPath, const json::value*>;

enum class FieldScope {
  Main,          ///< everything except identity metadata
  MainNoStatus,  ///< ... and except status (resources with a status subresource)
  Status,        ///< only status
};

/// The leaves of `obj` in scope (apiVersion, kind and server-set metadata are never part).
LeafMap collect_leaves(const json::object& obj, FieldScope scope);
FieldSet keys_of(const LeafMap& m);
/// fieldsV1 tree of a set; "." marks list items and nested maps (and, with `crd_style`, the
/// top-level fields too, as the real server writes for custom resources).
json::object to_fields_v1(const FieldSet& set, bool crd_style);
FieldSet from_fields_v1(const json::object& fields);
/// ".spec.containers[name=\"nginx\"].image": how the real server names a field in a conflict.
std::string path_string(const FieldPath& p);
/// Removes the field at `p` from `obj` (list items whose fields all went are removed too).
void remove_path(json::object& obj, const FieldPath& p);

/// One metadata.managedFields entry, its fieldsV1 read into a set.
struct ManagedFieldsEntry {
  std::string manager;
  std::string operation;    ///< "Update" or "Apply"
  std::string subresource;  ///< "" or "status"
  std::string api_version;
  std::string time;
  FieldSet set;
};

/// The entries of obj's metadata.managedFields (none when it has none).
std::vector<ManagedFieldsEntry> read_managed_fields(const json::object& obj);
/// Writes `entries` as obj's metadata.managedFields, in order, leaving out those that own no
/// field; with none left the key goes.
void write_managed_fields(json::object& obj, const std::vector<ManagedFieldsEntry>& entries,
                          bool crd_style);
/// The fields a write through `subresource` touches: "status" only status, "*" (direct access)
/// everything, "" everything but status when the resource has the status subresource.
FieldScope write_scope(bool has_status, std::string_view subresource);
/// Update-operation ownership: the fields in `scope` that differ between `old_obj` (null: a
/// create) and `new_obj` go to `writer` (matched by manager, operation and subresource; added
/// when new, with writer.time and writer.api_version; its set is not read) and are taken from
/// every other entry, as are removed fields. Rewrites new_obj's metadata.managedFields from
/// old_obj's.
void update_managed_fields(const json::object* old_obj, json::object& new_obj, FieldScope scope,
                           const ManagedFieldsEntry& writer, bool crd_style);

}  // namespace kcoro::testing::fake
