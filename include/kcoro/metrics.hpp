// kcoro/metrics.hpp — kcoro's series (counters, gauges, histograms with labels) in a prometheus-cpp
// `prometheus::Registry`, rendered in the Prometheus text exposition format (version 0.0.4).
//
// Contract
// - MetricsRegistry is a facade over a `std::shared_ptr<prometheus::Registry>`: pass your own
//   registry to put kcoro's series beside yours, or take registry() and add your families to it
//   with prometheus-cpp's builders. Everything in that registry appears in render() and so on
//   kcoro's /metrics (MetricsServer), kcoro's series and yours alike.
// - A metric family has a name, a help line, a type and a fixed list of label names; each set of
//   label values is one series. `counter()`, `gauge()` and `histogram()` get or create the series
//   and return prometheus-cpp's own object (include <prometheus/counter.h> etc. to use it). The
//   reference stays valid as long as the prometheus::Registry lives (nothing here removes series):
//   look a series up once and keep the reference on hot paths.
// - Asking again for a family with the same name and labels returns the same series. Asking with
//   another type, other label names, the wrong number of label values, or (for histograms) other
//   buckets throws std::invalid_argument — also when the family was registered in the
//   prometheus::Registry by someone else (its existing series tell its label names and buckets).
//   Invalid metric or label names throw std::invalid_argument too (prometheus-cpp's check).
// - Threads: every member may be called from any thread. Counters and gauges are atomics: updating
//   them never locks. prometheus-cpp's Histogram::Observe takes the series' own mutex for a bucket
//   search and two atomic adds; kcoro observes histograms once per request, per reconcile or per
//   queue item (the queue's histograms under the queue's own lock already), never per watch event.
//   Creating a series takes this facade's mutex and prometheus-cpp's; render() takes only
//   prometheus-cpp's (Registry::Collect), and sees each value at some moment during the call.
// - render() is prometheus::TextSerializer over Registry::Collect(), with families sorted by name
//   and series by labels (prometheus-cpp keeps them unordered), families without series left out,
//   and help text escaped (\\ and \n; prometheus-cpp 1.0 writes it as is). Label names of a series
//   are printed sorted (prometheus::Labels is a std::map); histograms print `_count`, `_sum`,
//   then the cumulative `_bucket{le=...}` series ending with `+Inf`.
// - Series kcoro registers: controller-runtime's controller_runtime_*, workqueue_* and
//   leader_election_master_status; client-go's rest_client_requests_total and
//   rest_client_request_duration_seconds (ClientOptions::metrics); kcoro_reflector_*
//   (ReflectorOptions::metrics, InformerOptions::metrics). Each options struct defaults to
//   global(); nullptr there records nothing.
// - No Asio here, and no prometheus-cpp header: only forward declarations.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace prometheus {
class Registry;
class Counter;
class Gauge;
class Histogram;
}  // namespace prometheus

namespace kcoro {

/// Label values, in the order of the family's label names.
using LabelValues = std::vector<std::string>;

/// `count` bounds: start, start*factor, ... (Prometheus' ExponentialBuckets).
std::vector<double> exponential_buckets(double start, double factor, int count);

class MetricsRegistry {
 public:
  /// Registers into `registry`; nullptr: a new, empty prometheus::Registry.
  explicit MetricsRegistry(std::shared_ptr<prometheus::Registry> registry = nullptr);
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  /// The process-wide registry (controller-runtime's metrics.Registry).
  static std::shared_ptr<MetricsRegistry> global();

  /// The prometheus-cpp registry the series live in.
  const std::shared_ptr<prometheus::Registry>& registry() const noexcept { return registry_; }

  prometheus::Counter& counter(std::string_view name, std::string_view help,
                               const std::vector<std::string>& label_names = {},
                               const LabelValues& values = {});
  prometheus::Gauge& gauge(std::string_view name, std::string_view help,
                           const std::vector<std::string>& label_names = {},
                           const LabelValues& values = {});
  /// `bounds` strictly ascending, without +Inf.
  prometheus::Histogram& histogram(std::string_view name, std::string_view help,
                                   const std::vector<std::string>& label_names,
                                   const LabelValues& values, const std::vector<double>& bounds);

  /// The Prometheus text format of every series in registry(); see the contract.
  std::string render() const;

 private:
  struct Family;
  Family& family(std::string_view name, std::string_view help, int type,
                 const std::vector<std::string>& label_names, const LabelValues& values,
                 const std::vector<double>* bounds);

  const std::shared_ptr<prometheus::Registry> registry_;
  std::mutex mu_;  // families_
  std::map<std::string, std::unique_ptr<Family>, std::less<>> families_;
};

}  // namespace kcoro
