// kcoro/metrics.hpp — a small metrics registry (counters, gauges, histograms with labels)
// rendered in the Prometheus text exposition format (version 0.0.4).
//
// Contract
// - A metric family has a name, a help line, a type and a fixed list of label names; each set of
//   label values is one series. `counter()`, `gauge()` and `histogram()` get or create the series
//   and return a reference that stays valid as long as the registry lives: look a series up once
//   and keep the reference on hot paths.
// - Asking again for a family with the same name and labels returns the same series. Asking with
//   another type, other label names, or (for histograms) other buckets throws
//   std::invalid_argument.
// - Threads: every member may be called from any thread. Updating a series is lock-free (atomics);
//   creating a series and render() take the registry's mutex. render() sees each value at some
//   moment during the call; a histogram's buckets, sum and count are read one by one, not as a
//   snapshot.
// - render() lists families by name and series by label values, with `# HELP` and `# TYPE` lines,
//   label values escaped (\\, \", \n), histograms as cumulative `_bucket{le=...}` series with
//   `+Inf`, then `_sum` and `_count`. Numbers are printed in their shortest exact form.
// - The controller's series use controller-runtime's names (controller_runtime_*, workqueue_*).
// - No Asio here.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kcoro {

/// Label values, in the order of the family's label names.
using LabelValues = std::vector<std::string>;

/// A value that only goes up.
class Counter {
 public:
  void inc(double v = 1) noexcept { value_.fetch_add(v, std::memory_order_relaxed); }
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

/// A value that goes up and down.
class Gauge {
 public:
  void set(double v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void add(double v) noexcept { value_.fetch_add(v, std::memory_order_relaxed); }
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

/// Observations counted in buckets by upper bound (each observation in the first bucket whose
/// bound is >= it), with their sum and count.
class Histogram {
 public:
  /// `bounds` sorted ascending, without +Inf.
  explicit Histogram(std::vector<double> bounds);
  void observe(double v) noexcept;

  const std::vector<double>& bounds() const noexcept { return bounds_; }
  /// Observations in bucket `i` alone (not cumulative); i == bounds().size() is the +Inf bucket.
  uint64_t bucket(std::size_t i) const noexcept {
    return counts_[i].load(std::memory_order_relaxed);
  }
  uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }
  double sum() const noexcept { return sum_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

/// `count` bounds: start, start*factor, ... (Prometheus' ExponentialBuckets).
std::vector<double> exponential_buckets(double start, double factor, int count);

class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  /// The process-wide registry (controller-runtime's metrics.Registry).
  static std::shared_ptr<MetricsRegistry> global();

  Counter& counter(std::string_view name, std::string_view help,
                   const std::vector<std::string>& label_names = {},
                   const LabelValues& values = {});
  Gauge& gauge(std::string_view name, std::string_view help,
               const std::vector<std::string>& label_names = {}, const LabelValues& values = {});
  Histogram& histogram(std::string_view name, std::string_view help,
                       const std::vector<std::string>& label_names, const LabelValues& values,
                       const std::vector<double>& bounds);

  /// The Prometheus text format of every series.
  std::string render() const;

 private:
  struct Family;
  Family& family(std::string_view name, std::string_view help, int type,
                 const std::vector<std::string>& label_names, const std::vector<double>* bounds);

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Family>, std::less<>> families_;
};

}  // namespace kcoro
