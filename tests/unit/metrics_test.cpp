// Metrics: the Prometheus text rendering and the histogram buckets (kcoro/metrics.hpp).
#include "kcoro/metrics.hpp"

#include <doctest/doctest.h>

#include <stdexcept>

TEST_CASE("metrics: Prometheus text rendering") {
  kcoro::MetricsRegistry r;
  r.counter("requests_total", "Requests.", {"code", "path"}, {"200", "/a\"b\\c\nd"}).inc(3);
  r.counter("requests_total", "Requests.", {"code", "path"}, {"500", "/"}).inc();
  r.gauge("temperature", "Degrees.\nTwo lines.").set(-1.5);
  auto& h = r.histogram("latency_seconds", "Latency.", {"op"}, {"get"}, {0.005, 0.1, 1});
  h.observe(0.001);
  h.observe(0.05);
  h.observe(0.05);
  h.observe(3);
  CHECK(&r.counter("requests_total", "Requests.", {"code", "path"}, {"500", "/"}) ==
        &r.counter("requests_total", "Requests.", {"code", "path"}, {"500", "/"}));
  CHECK_THROWS_AS(r.gauge("requests_total", "x"), std::invalid_argument);
  CHECK_THROWS_AS(r.counter("requests_total", "x", {"code"}, {"1"}), std::invalid_argument);
  CHECK(r.render() ==
        "# HELP latency_seconds Latency.\n"
        "# TYPE latency_seconds histogram\n"
        "latency_seconds_bucket{op=\"get\",le=\"0.005\"} 1\n"
        "latency_seconds_bucket{op=\"get\",le=\"0.1\"} 3\n"
        "latency_seconds_bucket{op=\"get\",le=\"1\"} 3\n"
        "latency_seconds_bucket{op=\"get\",le=\"+Inf\"} 4\n"
        "latency_seconds_sum{op=\"get\"} 3.101\n"
        "latency_seconds_count{op=\"get\"} 4\n"
        "# HELP requests_total Requests.\n"
        "# TYPE requests_total counter\n"
        "requests_total{code=\"200\",path=\"/a\\\"b\\\\c\\nd\"} 3\n"
        "requests_total{code=\"500\",path=\"/\"} 1\n"
        "# HELP temperature Degrees.\\nTwo lines.\n"
        "# TYPE temperature gauge\n"
        "temperature -1.5\n");
}

TEST_CASE("metrics: exponential buckets are Prometheus' ExponentialBuckets") {
  const auto b = kcoro::exponential_buckets(10e-9, 10, 12);
  REQUIRE(b.size() == 12);
  CHECK(b.front() == doctest::Approx(1e-8));
  CHECK(b.back() == doctest::Approx(1e3));
}
