// kcoro-bench decode: the watch and list decoders on one core, against their ceilings.
//
// Streams are generated in memory from a fixed seed (realistic pods of 3-8 KB with
// managedFields) and fed in 64 KiB reads, as a socket delivers them. Phases:
//   steady      a bounded cache whose objects are replaced by new versions: memory is recycled
//               as in a long-running informer (the headline watch figure);
//   first-touch every Object is new and kept, as in an initial list: fresh pages are expensive;
//   list        items/s through ListDecoder;
//   ceiling     simdjson's DOM parser over the same event lines (reads every byte);
//   memcpy      the same bytes copied into reused memory.
#include "bench.hpp"
#include "core/bracket_scan.hpp"

#include "kcoro/json.hpp"
#include "kcoro/list_decoder.hpp"
#include "kcoro/watch_decoder.hpp"
#include "testing/pod_generator.hpp"

#include <simdjson.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct Stream {
  std::string bytes;               // newline-delimited events
  std::vector<std::size_t> lines;  // start offset of each line
  std::size_t events = 0;
};

// `distinct` pods, each appearing as ADDED then MODIFIED versions, cycled.
Stream make_stream(std::size_t events, std::size_t distinct, uint64_t seed) {
  kcoro::testing::PodGenerator gen(seed);
  Stream s;
  s.bytes.reserve(events * 6200);
  for (std::size_t i = 0; i < events; ++i) {
    const std::size_t k = i % distinct;
    std::string pod = gen.pod("ns-" + std::to_string(k % 20), "pod-" + std::to_string(k), 1000 + i);
    s.lines.push_back(s.bytes.size());
    s.bytes += kcoro::testing::PodGenerator::watch_line(i < distinct ? "ADDED" : "MODIFIED", pod);
  }
  s.events = events;
  return s;
}

constexpr std::size_t kRead = 64 * 1024;

// Feeds the stream in kRead pieces; `sink` receives each batch of events.
template <class Sink>
std::size_t feed_stream(kcoro::WatchDecoder& dec, const Stream& s, Sink&& sink) {
  std::vector<kcoro::WatchEvent> out;
  out.reserve(64);
  std::size_t n = 0;
  for (std::size_t pos = 0; pos < s.bytes.size(); pos += kRead) {
    const std::size_t len = std::min(kRead, s.bytes.size() - pos);
    if (auto err = dec.feed(std::string_view(s.bytes).substr(pos, len), out)) {
      std::fprintf(stderr, "decode error: %s\n", err.to_string().c_str());
      return 0;
    }
    n += out.size();
    sink(out);
    out.clear();
  }
  return n;
}

}  // namespace

int kcoro_bench_decode(int argc, char** argv) {
  kcoro::bench::Args args(argc, argv);
  const std::size_t events = args.get_size("--events", 200000);
  const std::size_t distinct = std::max<std::size_t>(1, args.get_size("--objects", 2000));
  const bool json = args.flag("--json");
  // The bracket scanner's variant: the widest the CPU runs, or a narrower one to compare.
  const std::string isa = args.get("--scan-isa", "best");
  if (!args.ok()) return 2;
  if (isa != "best") {
    using kcoro::detail::ScanIsa;
    bool known = false;
    for (ScanIsa v : {ScanIsa::avx512, ScanIsa::avx2, ScanIsa::sse2, ScanIsa::portable}) {
      if (isa != kcoro::detail::scan_isa_name(v)) continue;
      kcoro::detail::force_scan_isa(v);
      known = true;
    }
    if (!known) {
      std::fprintf(stderr, "kcoro-bench decode: --scan-isa: avx512, avx2, sse2 or portable\n");
      return 2;
    }
  }

  // One pass of the stream holds `block` events; larger runs repeat it.
  const std::size_t block =
      std::min<std::size_t>(events, std::max<std::size_t>(distinct * 4, 8000));
  const Stream stream = make_stream(block, std::min(distinct, block), 42);
  const std::size_t passes = (events + block - 1) / block;
  const double stream_mb = static_cast<double>(stream.bytes.size()) / 1e6;

  // --- steady state: new versions replace old ones in a bounded cache -------------------------
  std::vector<kcoro::ObjectPtr> cache(distinct);
  kcoro::WatchDecoder warm;  // one untimed pass fills the cache and warms the allocator
  feed_stream(warm, stream, [&](auto& out) {
    for (auto& e : out)
      cache[std::hash<std::string_view>{}(e.object->meta().name) % distinct] = e.object;
  });
  // The watch decoder and the DOM ceiling run pass by pass, alternately, so that both see the
  // same machine: their ratio is what this bench reports.
  std::size_t decoded = 0;
  kcoro::WatchDecoder dec;
  std::size_t slot = 0;
  simdjson::dom::parser dom;
  std::size_t dom_ok = 0;
  double steady_s = 0, dom_s = 0;
  Clock::time_point t0;
  for (std::size_t p = 0; p < passes; ++p) {
    t0 = Clock::now();
    decoded += feed_stream(dec, stream, [&](auto& out) {
      for (auto& e : out) {
        cache[slot] = std::move(e.object);
        if (++slot == distinct) slot = 0;
      }
    });
    steady_s += seconds_since(t0);
    t0 = Clock::now();
    for (std::size_t i = 0; i < stream.lines.size(); ++i) {
      const std::size_t b = stream.lines[i];
      const std::size_t e = i + 1 < stream.lines.size() ? stream.lines[i + 1] : stream.bytes.size();
      simdjson::dom::element el;
      if (dom.parse(stream.bytes.data() + b, e - b, false).get(el) == simdjson::SUCCESS) ++dom_ok;
    }
    dom_s += seconds_since(t0);
  }
  const double steady_mb_s = stream_mb * static_cast<double>(passes) / steady_s;
  const double steady_ev_s = static_cast<double>(decoded) / steady_s;

  // --- first touch: every object new and kept ------------------------------------------------
  std::vector<kcoro::ObjectPtr> kept;
  kept.reserve(stream.events);
  kcoro::WatchDecoder fresh;
  t0 = Clock::now();
  const std::size_t fresh_n = feed_stream(fresh, stream, [&](auto& out) {
    for (auto& e : out)
      kept.push_back(std::move(e.object));
  });
  const double first_s = seconds_since(t0);
  const double first_mb_s = stream_mb / first_s;

  // --- bytes retained per object, with and without the managedFields cut -------------------
  double retained = 0, json_no_mf = 0;
  for (const auto& o : kept) {
    retained += static_cast<double>(o->retained_bytes());
    json_no_mf += static_cast<double>(o->json().size());
  }
  retained /= static_cast<double>(kept.size());
  json_no_mf /= static_cast<double>(kept.size());
  kept.clear();
  kept.shrink_to_fit();
  double retained_with_mf = 0;
  {
    kcoro::DecodeOptions keep_mf;
    keep_mf.strip_managed_fields = false;
    kcoro::WatchDecoder with_mf(keep_mf);
    std::size_t n = 0;
    feed_stream(with_mf, stream, [&](auto& out) {
      for (auto& e : out) {
        retained_with_mf += static_cast<double>(e.object->retained_bytes());
        ++n;
      }
    });
    retained_with_mf /= static_cast<double>(n);
  }

  // --- list: items/s through ListDecoder -----------------------------------------------------
  std::vector<std::string> items;
  {
    kcoro::testing::PodGenerator gen(7);
    for (std::size_t i = 0; i < block; ++i) {
      items.push_back(gen.pod("default", "pod-" + std::to_string(i), 5000 + i, true));
    }
  }
  const std::string list = kcoro::testing::PodGenerator::list(items, "99999");
  items.clear();
  std::size_t list_items = 0;
  std::vector<kcoro::ObjectPtr> list_cache(distinct);
  t0 = Clock::now();
  for (std::size_t p = 0; p < passes; ++p) {
    kcoro::ListDecoder ldec;
    std::vector<kcoro::ObjectPtr> out;
    for (std::size_t pos = 0; pos < list.size(); pos += kRead) {
      if (auto err = ldec.feed(
              std::string_view(list).substr(pos, std::min(kRead, list.size() - pos)), out)) {
        std::fprintf(stderr, "list decode error: %s\n", err.to_string().c_str());
        return 1;
      }
      for (auto& o : out)
        list_cache[list_items++ % distinct] = std::move(o);
      out.clear();
    }
  }
  const double list_s = seconds_since(t0);
  const double list_items_s = static_cast<double>(list_items) / list_s;

  // --- ceilings: the DOM parse of every line (timed above); memcpy into reused memory
  // --------------------------

  const double ceiling_mb_s = stream_mb * static_cast<double>(passes) / dom_s;

  std::vector<char> sink(kRead);
  t0 = Clock::now();
  const std::size_t copies = std::max<std::size_t>(passes, 8);
  for (std::size_t p = 0; p < copies; ++p) {
    for (std::size_t pos = 0; pos < stream.bytes.size(); pos += kRead) {
      const std::size_t len = std::min(kRead, stream.bytes.size() - pos);
      std::memcpy(sink.data(), stream.bytes.data() + pos, len);
      asm volatile("" : : "r"(sink.data()) : "memory");
    }
  }
  const double memcpy_mb_s = stream_mb * static_cast<double>(copies) / seconds_since(t0);

  const bool sane = decoded == passes * stream.events && fresh_n == stream.events &&
                    list_items == passes * block && dom_ok == passes * stream.events;
  const double avg_event =
      static_cast<double>(stream.bytes.size()) / static_cast<double>(stream.events);

  if (json) {
    std::printf(
        "{\"bench\":\"decode\",\"events\":%zu,\"avg_event_bytes\":%.0f,"
        "\"watch_mb_per_s\":%.1f,\"watch_events_per_s\":%.0f,\"first_touch_mb_per_s\":%.1f,"
        "\"list_items_per_s\":%.0f,\"ceiling_mb_per_s\":%.1f,\"memcpy_mb_per_s\":%.1f,"
        "\"watch_vs_ceiling\":%.2f,\"bytes_per_object\":%.0f,"
        "\"bytes_per_object_with_managed_fields\":%.0f,\"json_bytes_without_managed_fields\":%.0f,"
        "\"bytes_per_object_ratio\":%.3f,\"simdjson_implementation\":\"%s\","
        "\"ondemand_kernel\":\"%s\",\"scan_isa\":\"%s\",\"ok\":%s}\n",
        decoded, avg_event, steady_mb_s, steady_ev_s, first_mb_s, list_items_s, ceiling_mb_s,
        memcpy_mb_s, steady_mb_s / ceiling_mb_s, retained, retained_with_mf, json_no_mf,
        retained / json_no_mf, simdjson::get_active_implementation()->name().c_str(),
        std::string(kcoro::json_decoder_kernel()).c_str(),
        kcoro::detail::scan_isa_name(kcoro::detail::scan_isa()), sane ? "true" : "false");
  } else {
    std::printf("kcoro-bench decode: %zu events of %.0f bytes on average, one core\n", decoded,
                avg_event);
    std::printf("  %-36s %s indexing and DOM ceiling, %s On-Demand, %s bracket scan\n",
                "kernels of the decoders", simdjson::get_active_implementation()->name().c_str(),
                std::string(kcoro::json_decoder_kernel()).c_str(),
                kcoro::detail::scan_isa_name(kcoro::detail::scan_isa()));
    std::printf("  %-36s %10.1f MB/s  %10.0f events/s\n", "watch, steady state", steady_mb_s,
                steady_ev_s);
    std::printf("  %-36s %10.1f MB/s\n", "watch, first-touch memory", first_mb_s);
    std::printf("  %-36s %10.0f items/s\n", "list (ListDecoder)", list_items_s);
    std::printf("  %-36s %10.1f MB/s  (watch at %.0f%% of it)\n", "ceiling: simdjson DOM parse",
                ceiling_mb_s, 100 * steady_mb_s / ceiling_mb_s);
    std::printf("  %-36s %10.1f MB/s\n", "memcpy into reused memory", memcpy_mb_s);
    std::printf("  %-36s %10.0f bytes (%.2fx its JSON without managedFields: %.0f)\n",
                "retained per object", retained, retained / json_no_mf, json_no_mf);
    std::printf("  %-36s %10.0f bytes\n", "retained, managedFields kept", retained_with_mf);
  }
  if (!sane) {
    std::fprintf(stderr, "decode bench: counts do not add up\n");
    return 1;
  }
  return 0;
}
