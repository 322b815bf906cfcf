// Metrics: the facade over prometheus::Registry (kcoro/metrics.hpp) — the Prometheus text
// rendering, the same-family contract and its guards, and a registry shared with the user.
#include "kcoro/metrics.hpp"

#include <doctest/doctest.h>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <stdexcept>

TEST_CASE("metrics: Prometheus text rendering") {
  kcoro::MetricsRegistry r;
  r.counter("requests_total", "Requests.", {"code", "path"}, {"200", "/a\"b\\c\nd"}).Increment(3);
  r.counter("requests_total", "Requests.", {"code", "path"}, {"500", "/"}).Increment();
  r.gauge("temperature", "Degrees.\nTwo lines.").Set(-1.5);
  auto& h = r.histogram("latency_seconds", "Latency.", {"op"}, {"get"}, {0.005, 0.1, 1});
  h.Observe(0.001);
  h.Observe(0.05);
  h.Observe(0.05);
  h.Observe(3);
  // Families sorted by name, series by labels; help escaped; histograms as prometheus-cpp
  // writes them (count, sum, cumulative buckets).
  CHECK(r.render() ==
        "# HELP latency_seconds Latency.\n"
        "# TYPE latency_seconds histogram\n"
        "latency_seconds_count{op=\"get\"} 4\n"
        "latency_seconds_sum{op=\"get\"} 3.101\n"
        "latency_seconds_bucket{op=\"get\",le=\"0.005\"} 1\n"
        "latency_seconds_bucket{op=\"get\",le=\"0.1\"} 3\n"
        "latency_seconds_bucket{op=\"get\",le=\"1\"} 3\n"
        "latency_seconds_bucket{op=\"get\",le=\"+Inf\"} 4\n"
        "# HELP requests_total Requests.\n"
        "# TYPE requests_total counter\n"
        "requests_total{code=\"200\",path=\"/a\\\"b\\\\c\\nd\"} 3\n"
        "requests_total{code=\"500\",path=\"/\"} 1\n"
        "# HELP temperature Degrees.\\nTwo lines.\n"
        "# TYPE temperature gauge\n"
        "temperature -1.5\n");
}

TEST_CASE("metrics: the same family and labels give the same series; a mismatch throws") {
  kcoro::MetricsRegistry r;
  auto& a = r.counter("requests_total", "Requests.", {"code"}, {"200"});
  CHECK(&a == &r.counter("requests_total", "Requests.", {"code"}, {"200"}));
  CHECK(&a != &r.counter("requests_total", "Requests.", {"code"}, {"500"}));
  auto& h = r.histogram("latency_seconds", "Latency.", {}, {}, {0.1, 1});
  CHECK(&h == &r.histogram("latency_seconds", "Latency.", {}, {}, {0.1, 1}));

  CHECK_THROWS_AS(r.gauge("requests_total", "x"), std::invalid_argument);  // another type
  CHECK_THROWS_AS(r.counter("requests_total", "x", {"path"}, {"/"}), std::invalid_argument);
  CHECK_THROWS_AS(r.counter("requests_total", "x", {"code", "path"}, {"200", "/"}),
                  std::invalid_argument);
  CHECK_THROWS_AS(r.counter("requests_total", "x", {"code"}, {}), std::invalid_argument);
  CHECK_THROWS_AS(r.histogram("latency_seconds", "x", {}, {}, {0.5}), std::invalid_argument);
  CHECK_THROWS_AS(r.counter("twice_total", "x", {"a", "a"}, {"1", "2"}), std::invalid_argument);
  CHECK_THROWS_AS(r.counter("bad name", "x"), std::invalid_argument);
  CHECK_THROWS_AS(r.histogram("unsorted", "x", {}, {}, {1, 0.5}), std::invalid_argument);
  // The failed requests changed nothing.
  a.Increment();
  CHECK(r.render().find("requests_total{code=\"200\"} 1\n") != std::string::npos);
  CHECK(r.render().find("path") == std::string::npos);
}

TEST_CASE("metrics: a registry passed in is shared with the user's own families") {
  auto prom = std::make_shared<prometheus::Registry>();
  auto& mine = prometheus::BuildCounter().Name("my_jobs_total").Help("Jobs.").Register(*prom);
  mine.Add({{"queue", "fast"}}).Increment(7);
  // The user's family was there first, with other labels: kcoro cannot take its name.
  prometheus::BuildGauge()
      .Name("shared_gauge")
      .Help("Taken.")
      .Register(*prom)
      .Add({{"who", "user"}})
      .Set(1);

  kcoro::MetricsRegistry r(prom);
  CHECK(r.registry() == prom);
  r.gauge("kcoro_things", "Things.").Set(2);
  CHECK_THROWS_AS(r.gauge("shared_gauge", "Taken.", {"other"}, {"x"}), std::invalid_argument);
  CHECK_THROWS_AS(r.counter("my_jobs_total", "Jobs."), std::invalid_argument);  // no labels
  // With the same labels kcoro's series is the user's.
  r.counter("my_jobs_total", "Jobs.", {"queue"}, {"fast"}).Increment();
  // Families added after the facade was made appear too.
  prometheus::BuildGauge().Name("my_late").Help("Late.").Register(*prom).Add({}).Set(3);

  const std::string text = r.render();
  CHECK(text.find("kcoro_things 2\n") != std::string::npos);
  CHECK(text.find("my_jobs_total{queue=\"fast\"} 8\n") != std::string::npos);
  CHECK(text.find("shared_gauge{who=\"user\"} 1\n") != std::string::npos);
  CHECK(text.find("my_late 3\n") != std::string::npos);

  // A registry made without one has its own, new prometheus::Registry.
  kcoro::MetricsRegistry fresh;
  REQUIRE(fresh.registry());
  CHECK(fresh.registry() != prom);
  CHECK(fresh.render().empty());
  CHECK(kcoro::MetricsRegistry::global() == kcoro::MetricsRegistry::global());
}

TEST_CASE("metrics: exponential buckets are Prometheus' ExponentialBuckets") {
  const auto b = kcoro::exponential_buckets(10e-9, 10, 12);
  REQUIRE(b.size() == 12);
  CHECK(b.front() == doctest::Approx(1e-8));
  CHECK(b.back() == doctest::Approx(1e3));
}
