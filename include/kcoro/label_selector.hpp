// kcoro/label_selector.hpp — label selectors in the API server's syntax, parsed and matched
// (apimachinery's labels.Parse and Selector.Matches).
//
// Contract
// - parse() reads the labelSelector query syntax: `k=v`, `k==v`, `k!=v`, `k in (a,b)`,
//   `k notin (a,b)`, `k` (exists), `!k` (does not exist), `k>n`, `k<n`, joined by commas. Keys and
//   values are checked as the API server checks them; a malformed selector throws
//   std::invalid_argument with the server's wording. The empty selector matches everything.
// - `!=` and `notin` match objects without the label, as the API server's do.
// - No Asio here; this header belongs to the core layer.
#pragma once

#include "kcoro/object.hpp"

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kcoro {

struct LabelRequirement {
  enum class Op { Eq, NotEq, In, NotIn, Exists, NotExists, Gt, Lt };
  std::string key;
  Op op = Op::Exists;
  std::vector<std::string> values;
};

/// A label's value by key, or nullopt when the object has no such label.
using LabelLookup = std::function<std::optional<std::string_view>(std::string_view key)>;

struct LabelSelector {
  std::vector<LabelRequirement> reqs;  ///< all must hold

  /// Parses the query syntax; throws std::invalid_argument on a malformed selector.
  static LabelSelector parse(std::string_view text);
  /// `k1=v1,k2=v2` without parsing (controller-runtime's MatchingLabels).
  static LabelSelector match_labels(const std::vector<std::pair<std::string, std::string>>& labels);

  bool empty() const noexcept { return reqs.empty(); }
  bool matches(const StringMap& labels) const;
  bool matches(const LabelLookup& label) const;
};

/// As LabelSelector::parse, with the failure as `error` and nullopt instead of an exception.
std::optional<LabelSelector> parse_label_selector(std::string_view text, std::string& error);

}  // namespace kcoro
