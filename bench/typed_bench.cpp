// kcoro-bench typed: the generated API types against Boost.JSON's DOM on the same pods.
//
// Pods come from the deterministic generator (3-8 KB, managedFields included, as a real cluster
// fills them in). Each text is kept with simdjson padding after it, as an Object's stored text
// is, so `decode` reads it in place exactly as Object::as<Pod>() does. Phases, one core:
//   decode   JSON -> kcoro::api::core::v1::Pod (one simdjson On-Demand pass, every field copied)
//   encode   Pod -> JSON (only the fields that are set)
//   dom      boost::json::parse of the same texts (a DOM of every value)
// The headline is the ratio of decode to dom throughput.
#include "bench.hpp"

#include "kcoro/api/core/v1.hpp"
#include "kcoro/json.hpp"
#include "testing/pod_generator.hpp"

#include <boost/json.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using Pod = kcoro::api::core::v1::Pod;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct Rate {
  double per_s = 0;
  double mb_s = 0;
};

// Runs `one(i)` over every pod `rounds` times; returns operations/s and MB/s of `bytes` per round.
template <class F>
Rate measure(std::size_t pods, std::size_t rounds, double bytes, F&& one) {
  const auto t0 = Clock::now();
  for (std::size_t r = 0; r < rounds; ++r) {
    for (std::size_t i = 0; i < pods; ++i)
      one(i);
  }
  const double s = seconds_since(t0);
  return Rate{static_cast<double>(pods * rounds) / s,
              bytes * static_cast<double>(rounds) / s / 1e6};
}

}  // namespace

int kcoro_bench_typed(int argc, char** argv) {
  kcoro::bench::Args args(argc, argv);
  const std::size_t pods = args.get_size("--pods", 2000);
  const std::size_t rounds = args.get_size("--rounds", 10);
  const bool json = args.flag("--json");
  if (!args.ok() || pods == 0 || rounds == 0) return 2;

  kcoro::testing::PodGenerator gen(7);
  std::vector<std::string> texts;
  texts.reserve(pods);
  double bytes = 0;
  for (std::size_t i = 0; i < pods; ++i) {
    std::string t = gen.pod("ns-" + std::to_string(i % 20), "pod-" + std::to_string(i), 1000 + i);
    t.reserve(t.size() + kcoro::json_padding);  // readable padding after the text, as an Object's
    bytes += static_cast<double>(t.size());
    texts.push_back(std::move(t));
  }

  // Warm up, and keep one decoded Pod per text for the encode phase.
  std::vector<Pod> decoded;
  decoded.reserve(pods);
  for (const auto& t : texts)
    decoded.push_back(kcoro::api::decode<Pod>(kcoro::JsonInput{t, true}));

  std::size_t names = 0;
  const Rate dec = measure(pods, rounds, bytes, [&](std::size_t i) {
    const Pod p = kcoro::api::decode<Pod>(kcoro::JsonInput{texts[i], true});
    names += p.metadata && p.metadata->name ? 1 : 0;
  });

  double out_bytes = 0;
  for (const auto& p : decoded)
    out_bytes += static_cast<double>(kcoro::api::encode(p).size());
  std::size_t encoded = 0;
  const Rate enc = measure(pods, rounds, out_bytes, [&](std::size_t i) {
    encoded += kcoro::api::encode(decoded[i]).empty() ? 0 : 1;
  });

  std::size_t objects = 0;
  const Rate dom = measure(pods, rounds, bytes, [&](std::size_t i) {
    const boost::json::value v = boost::json::parse(texts[i]);
    objects += v.is_object() ? 1 : 0;
  });

  const std::size_t expect = pods * rounds;
  const bool sane = names == expect && encoded == expect && objects == expect;
  const double ratio = dec.mb_s / dom.mb_s;
  if (json) {
    std::printf(
        "{\"bench\":\"typed\",\"pods\":%zu,\"rounds\":%zu,\"avg_pod_bytes\":%.0f,"
        "\"decode_per_s\":%.0f,\"decode_mb_s\":%.1f,\"encode_per_s\":%.0f,\"encode_mb_s\":%.1f,"
        "\"dom_parse_per_s\":%.0f,\"dom_parse_mb_s\":%.1f,\"decode_to_dom_ratio\":%.3f,"
        "\"sane\":%s}\n",
        pods, rounds, bytes / static_cast<double>(pods), dec.per_s, dec.mb_s, enc.per_s, enc.mb_s,
        dom.per_s, dom.mb_s, ratio, sane ? "true" : "false");
  } else {
    std::printf("kcoro-bench typed: %zu pods of %.0f bytes on average, %zu rounds, one core\n",
                pods, bytes / static_cast<double>(pods), rounds);
    std::printf("  %-34s %10.0f /s  %8.1f MB/s\n", "decode JSON -> core::v1::Pod", dec.per_s,
                dec.mb_s);
    std::printf("  %-34s %10.0f /s  %8.1f MB/s\n", "encode core::v1::Pod -> JSON", enc.per_s,
                enc.mb_s);
    std::printf("  %-34s %10.0f /s  %8.1f MB/s\n", "boost::json::parse (DOM)", dom.per_s, dom.mb_s);
    std::printf("  %-34s %10.2f\n", "typed decode / DOM parse", ratio);
  }
  if (!sane) {
    std::fprintf(stderr, "typed bench: counts do not add up\n");
    return 1;
  }
  return 0;
}
