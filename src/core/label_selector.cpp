// Label selectors: the API server's labelSelector syntax, parsed and matched. See
// kcoro/label_selector.hpp.
#include "kcoro/label_selector.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <stdexcept>

namespace kcoro {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return s;
}

bool valid_label_value(std::string_view v) {
  if (v.size() > 63) return false;
  for (char c : v) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return false;
    }
  }
  return v.empty() || (std::isalnum(static_cast<unsigned char>(v.front())) &&
                       std::isalnum(static_cast<unsigned char>(v.back())));
}

bool valid_label_key(std::string_view k) {
  if (k.empty()) return false;
  auto slash = k.find('/');
  std::string_view name = slash == std::string_view::npos ? k : k.substr(slash + 1);
  if (slash != std::string_view::npos) {
    auto prefix = k.substr(0, slash);
    if (prefix.empty() || prefix.size() > 253) return false;
    for (char c : prefix) {
      if (!std::islower(static_cast<unsigned char>(c)) &&
          !std::isdigit(static_cast<unsigned char>(c)) && c != '-' && c != '.') {
        return false;
      }
    }
  }
  return !name.empty() && valid_label_value(name);
}

/// Splits on commas outside parentheses.
std::vector<std::string_view> split_terms(std::string_view s, bool& balanced) {
  std::vector<std::string_view> out;
  int depth = 0;
  std::size_t start = 0;
  balanced = true;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '(') ++depth;
    if (s[i] == ')') --depth;
    if (depth < 0 || depth > 1) balanced = false;
    if (s[i] == ',' && depth == 0) {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  if (depth != 0) balanced = false;
  out.push_back(s.substr(start));
  return out;
}

bool parse_set_term(std::string_view term, std::string_view word, LabelRequirement::Op op,
                    LabelRequirement& req, bool& matched, std::string& error) {
  // "key in (a,b)": the word must be surrounded by spaces and followed by a parenthesis.
  matched = false;
  std::string pat = " " + std::string(word) + " ";
  auto pos = term.find(pat);
  if (pos == std::string_view::npos) {
    pat = " " + std::string(word) + "(";
    pos = term.find(pat);
    if (pos == std::string_view::npos) return true;
  }
  matched = true;
  req.key = std::string(trim(term.substr(0, pos)));
  req.op = op;
  auto rest = trim(term.substr(pos + word.size() + 1));
  if (rest.size() < 2 || rest.front() != '(' || rest.back() != ')') {
    error = "unable to parse requirement: found '" + std::string(rest) + "', expected: '('";
    return false;
  }
  rest = rest.substr(1, rest.size() - 2);
  std::size_t start = 0;
  while (true) {
    auto comma = rest.find(',', start);
    auto v = trim(rest.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (!valid_label_value(v)) {
      error = "unable to parse requirement: invalid label value: \"" + std::string(v) + "\"";
      return false;
    }
    req.values.emplace_back(v);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return true;
}

}  // namespace

std::optional<LabelSelector> parse_label_selector(std::string_view s, std::string& error) {
  LabelSelector sel;
  s = trim(s);
  if (s.empty()) return sel;
  bool balanced = true;
  auto terms = split_terms(s, balanced);
  if (!balanced) {
    error = "unable to parse requirement: unbalanced parentheses in \"" + std::string(s) + "\"";
    return std::nullopt;
  }
  for (auto raw : terms) {
    auto term = trim(raw);
    if (term.empty()) {
      error = "unable to parse requirement: found '', expected: identifier";
      return std::nullopt;
    }
    LabelRequirement req;
    bool matched = false;
    if (!parse_set_term(term, "notin", LabelRequirement::Op::NotIn, req, matched, error)) {
      return std::nullopt;
    }
    if (!matched && !parse_set_term(term, "in", LabelRequirement::Op::In, req, matched, error)) {
      return std::nullopt;
    }
    if (!matched) {
      std::size_t op_pos = term.find_first_of("=!<>");
      if (op_pos == 0 && term[0] == '!') {
        req.op = LabelRequirement::Op::NotExists;
        req.key = std::string(trim(term.substr(1)));
      } else if (op_pos == std::string_view::npos) {
        req.op = LabelRequirement::Op::Exists;
        req.key = std::string(term);
      } else {
        req.key = std::string(trim(term.substr(0, op_pos)));
        std::string_view rest = term.substr(op_pos);
        std::size_t op_len = 1;
        if (rest.starts_with("==")) {
          req.op = LabelRequirement::Op::Eq;
          op_len = 2;
        } else if (rest.starts_with("!=")) {
          req.op = LabelRequirement::Op::NotEq;
          op_len = 2;
        } else if (rest[0] == '=') {
          req.op = LabelRequirement::Op::Eq;
        } else if (rest[0] == '>') {
          req.op = LabelRequirement::Op::Gt;
        } else if (rest[0] == '<') {
          req.op = LabelRequirement::Op::Lt;
        } else {
          error = "unable to parse requirement: found '" + std::string(rest) +
                  "', expected: in, notin, =, ==, !=, gt, lt";
          return std::nullopt;
        }
        auto value = trim(rest.substr(op_len));
        if (req.op == LabelRequirement::Op::Gt || req.op == LabelRequirement::Op::Lt) {
          char* end = nullptr;
          std::string v(value);
          std::strtoll(v.c_str(), &end, 10);
          if (v.empty() || *end != '\0') {
            error =
                "unable to parse requirement: for 'Gt', 'Lt' operators, the value must be "
                "an integer";
            return std::nullopt;
          }
        } else if (!valid_label_value(value)) {
          error = "unable to parse requirement: values[0]: Invalid value: \"" + std::string(value) +
                  "\": a valid label must be an empty string or consist of alphanumeric "
                  "characters, '-', '_' or '.', and must start and end with an alphanumeric "
                  "character";
          return std::nullopt;
        }
        req.values.emplace_back(value);
      }
    }
    if (!valid_label_key(req.key)) {
      error = "unable to parse requirement: key: Invalid value: \"" + req.key +
              "\": name part must consist of alphanumeric characters, '-', '_' or '.', and must "
              "start and end with an alphanumeric character";
      return std::nullopt;
    }
    sel.reqs.push_back(std::move(req));
  }
  return sel;
}

bool LabelSelector::matches(const LabelLookup& label) const {
  for (const auto& r : reqs) {
    const std::optional<std::string_view> v = label(r.key);
    auto in = [&] {
      return v && std::find(r.values.begin(), r.values.end(), *v) != r.values.end();
    };
    switch (r.op) {
      case LabelRequirement::Op::Eq:
      case LabelRequirement::Op::In:
        if (!in()) return false;
        break;
      case LabelRequirement::Op::NotEq:
      case LabelRequirement::Op::NotIn:
        if (in()) return false;
        break;
      case LabelRequirement::Op::Exists:
        if (!v) return false;
        break;
      case LabelRequirement::Op::NotExists:
        if (v) return false;
        break;
      case LabelRequirement::Op::Gt:
      case LabelRequirement::Op::Lt: {
        if (!v) return false;
        std::string s(*v);
        char* end = nullptr;
        long long n = std::strtoll(s.c_str(), &end, 10);
        if (s.empty() || *end != '\0') return false;
        long long bound = std::strtoll(r.values.front().c_str(), nullptr, 10);
        if (r.op == LabelRequirement::Op::Gt ? !(n > bound) : !(n < bound)) return false;
        break;
      }
    }
  }
  return true;
}

bool LabelSelector::matches(const StringMap& labels) const {
  return matches([&](std::string_view key) { return labels.get(key); });
}

LabelSelector LabelSelector::parse(std::string_view text) {
  std::string error;
  auto sel = parse_label_selector(text, error);
  if (!sel) throw std::invalid_argument("label selector \"" + std::string(text) + "\": " + error);
  return std::move(*sel);
}

LabelSelector LabelSelector::match_labels(
    const std::vector<std::pair<std::string, std::string>>& labels) {
  LabelSelector sel;
  for (const auto& [k, v] : labels)
    sel.reqs.push_back({k, LabelRequirement::Op::Eq, {v}});
  return sel;
}

}  // namespace kcoro
