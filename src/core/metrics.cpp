// The metrics facade over prometheus-cpp: families looked up once by name and checked against the
// type, label names and buckets they were first registered with.
#include "kcoro/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <variant>

namespace kcoro {

namespace {

enum Type { counter_type, gauge_type, histogram_type };

using AnyFamily =
    std::variant<prometheus::Family<prometheus::Counter>*, prometheus::Family<prometheus::Gauge>*,
                 prometheus::Family<prometheus::Histogram>*>;

prometheus::Labels labels_of(const std::vector<std::string>& names, const LabelValues& values) {
  prometheus::Labels labels;
  for (std::size_t i = 0; i < names.size(); ++i)
    labels.emplace(names[i], values[i]);
  return labels;
}

// A family someone registered before this facade saw it: its existing series must have the label
// names (and, for a histogram, the buckets) asked for. One without series agrees with anything.
bool agrees(const AnyFamily& family, std::vector<std::string> label_names,
            const std::vector<double>* bounds) {
  const auto collected = std::visit([](auto* f) { return f->Collect(); }, family);
  if (collected.empty() || collected.front().metric.empty()) return true;
  const prometheus::ClientMetric& m = collected.front().metric.front();
  std::sort(label_names.begin(), label_names.end());
  std::vector<std::string> found;
  for (const auto& l : m.label)
    found.push_back(l.name);
  if (found != label_names) return false;
  if (!bounds) return true;
  std::vector<double> upper;
  for (const auto& b : m.histogram.bucket)
    upper.push_back(b.upper_bound);
  std::vector<double> expected = *bounds;
  expected.push_back(std::numeric_limits<double>::infinity());
  return upper == expected;
}

AnyFamily add_family(prometheus::Registry& r, int type, const std::string& name,
                     const std::string& help) {
  switch (type) {
    case counter_type:
      return &prometheus::BuildCounter().Name(name).Help(help).Register(r);
    case gauge_type:
      return &prometheus::BuildGauge().Name(name).Help(help).Register(r);
    default:
      return &prometheus::BuildHistogram().Name(name).Help(help).Register(r);
  }
}

// The text format wants `\` and newlines in help escaped; prometheus-cpp 1.0 writes help as is.
std::string escape_help(const std::string& help) {
  if (help.find_first_of("\\\n") == std::string::npos) return help;
  std::string out;
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::vector<double> exponential_buckets(double start, double factor, int count) {
  std::vector<double> b;
  for (int i = 0; i < count; ++i, start *= factor)
    b.push_back(start);
  return b;
}

struct MetricsRegistry::Family {
  int type;
  std::vector<std::string> label_names;
  std::vector<double> bounds;
  AnyFamily family;
};

MetricsRegistry::MetricsRegistry(std::shared_ptr<prometheus::Registry> registry)
    : registry_(registry ? std::move(registry) : std::make_shared<prometheus::Registry>()) {}

MetricsRegistry::~MetricsRegistry() = default;

std::shared_ptr<MetricsRegistry> MetricsRegistry::global() {
  static const auto registry = std::make_shared<MetricsRegistry>();
  return registry;
}

// Called with mu_ held.
MetricsRegistry::Family& MetricsRegistry::family(std::string_view name, std::string_view help,
                                                 int type,
                                                 const std::vector<std::string>& label_names,
                                                 const LabelValues& values,
                                                 const std::vector<double>* bounds) {
  if (values.size() != label_names.size())
    throw std::invalid_argument(fmt::format("metric {}: wrong number of label values", name));
  auto it = families_.find(name);
  if (it == families_.end()) {
    std::vector<std::string> sorted = label_names;
    std::sort(sorted.begin(), sorted.end());
    if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end())
      throw std::invalid_argument(fmt::format("metric {}: a label name twice", name));
    auto f = std::make_unique<Family>();
    f->type = type;
    f->label_names = label_names;
    if (bounds) f->bounds = *bounds;
    f->family = add_family(*registry_, type, std::string(name), std::string(help));
    if (!agrees(f->family, label_names, bounds)) {
      throw std::invalid_argument(fmt::format(
          "metric {} is in the registry already with other label names or buckets", name));
    }
    it = families_.emplace(std::string(name), std::move(f)).first;
  }
  Family& f = *it->second;
  if (f.type != type || f.label_names != label_names || (bounds && f.bounds != *bounds)) {
    throw std::invalid_argument(
        fmt::format("metric {} registered again with another type, labels or buckets", name));
  }
  return f;
}

prometheus::Counter& MetricsRegistry::counter(std::string_view name, std::string_view help,
                                              const std::vector<std::string>& label_names,
                                              const LabelValues& values) {
  std::lock_guard lk(mu_);
  return std::get<counter_type>(
             family(name, help, counter_type, label_names, values, nullptr).family)
      ->Add(labels_of(label_names, values));
}

prometheus::Gauge& MetricsRegistry::gauge(std::string_view name, std::string_view help,
                                          const std::vector<std::string>& label_names,
                                          const LabelValues& values) {
  std::lock_guard lk(mu_);
  return std::get<gauge_type>(family(name, help, gauge_type, label_names, values, nullptr).family)
      ->Add(labels_of(label_names, values));
}

prometheus::Histogram& MetricsRegistry::histogram(std::string_view name, std::string_view help,
                                                  const std::vector<std::string>& label_names,
                                                  const LabelValues& values,
                                                  const std::vector<double>& bounds) {
  std::lock_guard lk(mu_);
  return std::get<histogram_type>(
             family(name, help, histogram_type, label_names, values, &bounds).family)
      ->Add(labels_of(label_names, values), bounds);
}

std::string MetricsRegistry::render() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  std::erase_if(families, [](const prometheus::MetricFamily& f) { return f.metric.empty(); });
  std::sort(families.begin(), families.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  for (auto& f : families) {
    f.help = escape_help(f.help);
    std::sort(f.metric.begin(), f.metric.end(),
              [](const auto& a, const auto& b) { return a.label < b.label; });
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace kcoro
