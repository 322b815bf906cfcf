#include "kcoro/metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <variant>

namespace kcoro {

namespace {

enum Type { counter_type, gauge_type, histogram_type };

constexpr std::string_view type_name(int t) {
  return t == counter_type ? "counter" : t == gauge_type ? "gauge" : "histogram";
}

// Prometheus prints Go's strconv.FormatFloat(v, 'g', -1, 64); fmt's shortest round trip is close
// enough (integers without a fraction, exponents for very small or large values).
void append_number(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    fmt::format_to(std::back_inserter(out), "{}", v);
  }
}

void append_escaped(std::string& out, std::string_view s, bool quote_too) {
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote_too) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

// `{a="x",b="y"` plus `extra` (already formatted), closed; nothing when there are no labels.
void append_labels(std::string& out, const std::vector<std::string>& names,
                   const LabelValues& values, std::string_view extra = {}) {
  if (names.empty() && extra.empty()) return;
  out += '{';
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i) out += ',';
    out += names[i];
    out += "=\"";
    append_escaped(out, values[i], true);
    out += '"';
  }
  if (!extra.empty()) {
    if (!names.empty()) out += ',';
    out += extra;
  }
  out += '}';
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      counts_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {
  if (!std::is_sorted(bounds_.begin(), bounds_.end()))
    throw std::invalid_argument("histogram bounds must be sorted");
}

void Histogram::observe(double v) noexcept {
  const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);
  counts_[static_cast<std::size_t>(it - bounds_.begin())].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

std::vector<double> exponential_buckets(double start, double factor, int count) {
  std::vector<double> b;
  for (int i = 0; i < count; ++i, start *= factor)
    b.push_back(start);
  return b;
}

struct MetricsRegistry::Family {
  std::string name;
  std::string help;
  int type;
  std::vector<std::string> label_names;
  std::vector<double> bounds;
  std::map<LabelValues, std::variant<std::unique_ptr<Counter>, std::unique_ptr<Gauge>,
                                     std::unique_ptr<Histogram>>>
      series;
};

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

std::shared_ptr<MetricsRegistry> MetricsRegistry::global() {
  static const auto registry = std::make_shared<MetricsRegistry>();
  return registry;
}

MetricsRegistry::Family& MetricsRegistry::family(std::string_view name, std::string_view help,
                                                 int type,
                                                 const std::vector<std::string>& label_names,
                                                 const std::vector<double>* bounds) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    auto f = std::make_unique<Family>();
    f->name = name;
    f->help = help;
    f->type = type;
    f->label_names = label_names;
    if (bounds) f->bounds = *bounds;
    it = families_.emplace(f->name, std::move(f)).first;
  }
  Family& f = *it->second;
  if (f.type != type || f.label_names != label_names || (bounds && f.bounds != *bounds)) {
    throw std::invalid_argument(
        fmt::format("metric {} registered again with another type, labels or buckets", name));
  }
  return f;
}

Counter& MetricsRegistry::counter(std::string_view name, std::string_view help,
                                  const std::vector<std::string>& label_names,
                                  const LabelValues& values) {
  if (values.size() != label_names.size())
    throw std::invalid_argument(fmt::format("metric {}: wrong number of label values", name));
  std::lock_guard lk(mu_);
  auto& slot = family(name, help, counter_type, label_names, nullptr).series[values];
  if (slot.index() != 0 || !std::get<0>(slot)) slot = std::make_unique<Counter>();
  return *std::get<0>(slot);
}

Gauge& MetricsRegistry::gauge(std::string_view name, std::string_view help,
                              const std::vector<std::string>& label_names,
                              const LabelValues& values) {
  if (values.size() != label_names.size())
    throw std::invalid_argument(fmt::format("metric {}: wrong number of label values", name));
  std::lock_guard lk(mu_);
  auto& slot = family(name, help, gauge_type, label_names, nullptr).series[values];
  if (slot.index() != 1) slot = std::make_unique<Gauge>();
  return *std::get<1>(slot);
}

Histogram& MetricsRegistry::histogram(std::string_view name, std::string_view help,
                                      const std::vector<std::string>& label_names,
                                      const LabelValues& values,
                                      const std::vector<double>& bounds) {
  if (values.size() != label_names.size())
    throw std::invalid_argument(fmt::format("metric {}: wrong number of label values", name));
  std::lock_guard lk(mu_);
  auto& slot = family(name, help, histogram_type, label_names, &bounds).series[values];
  if (slot.index() != 2) slot = std::make_unique<Histogram>(bounds);
  return *std::get<2>(slot);
}

std::string MetricsRegistry::render() const {
  std::string out;
  std::lock_guard lk(mu_);
  for (const auto& [name, f] : families_) {
    if (f->series.empty()) continue;
    out += "# HELP ";
    out += name;
    out += ' ';
    append_escaped(out, f->help, false);
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type_name(f->type);
    out += '\n';
    for (const auto& [values, s] : f->series) {
      if (f->type != histogram_type) {
        out += name;
        append_labels(out, f->label_names, values);
        out += ' ';
        append_number(out,
                      f->type == counter_type ? std::get<0>(s)->value() : std::get<1>(s)->value());
        out += '\n';
        continue;
      }
      const Histogram& h = *std::get<2>(s);
      uint64_t cumulative = 0;
      for (std::size_t i = 0; i <= h.bounds().size(); ++i) {
        cumulative += h.bucket(i);
        std::string le = "le=\"";
        if (i == h.bounds().size()) {
          le += "+Inf";
        } else {
          append_number(le, h.bounds()[i]);
        }
        le += '"';
        out += name;
        out += "_bucket";
        append_labels(out, f->label_names, values, le);
        out += ' ';
        out += std::to_string(cumulative);
        out += '\n';
      }
      out += name;
      out += "_sum";
      append_labels(out, f->label_names, values);
      out += ' ';
      append_number(out, h.sum());
      out += '\n';
      out += name;
      out += "_count";
      append_labels(out, f->label_names, values);
      out += ' ';
      out += std::to_string(h.count());
      out += '\n';
    }
  }
  return out;
}

}  // namespace kcoro
