// kcoro/json.hpp — small JSON helpers shared by the core: raw sub-trees and string quoting.
// Building documents for writes uses boost::json::value; reading uses Object::get.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace kcoro {

namespace detail {
struct ObjectBuilder;
}

/// The text of a JSON sub-tree, exactly as it stands in the document.
struct RawJson {
  std::string_view text;
  friend bool operator==(const RawJson&, const RawJson&) = default;
};

/// Bytes of headroom kept after every buffer handed to simdjson (SIMDJSON_PADDING).
inline constexpr std::size_t json_padding = 64;

/// JSON text to decode into a typed API struct (kcoro/api/types.hpp). When `padded` is true,
/// json_padding readable bytes follow the text (an Object's text has them) and the decoder reads
/// it in place; otherwise it copies it once.
struct JsonInput {
  std::string_view text;
  bool padded = false;
};

/// The simdjson kernel of On-Demand's second stage in kcoro's decoders ("icelake", "haswell",
/// "westmere", "fallback"), fixed when kcoro is compiled (meson option cpu: "fallback" for the
/// portable default). Their first stage, the SIMD indexing, runs the kernel simdjson picks for
/// the CPU at run time (simdjson::get_active_implementation()).
std::string_view json_decoder_kernel() noexcept;

/// `s` as a JSON string literal, quotes included.
std::string json_quote(std::string_view s);
/// Appends json_quote(s) to `out` without a temporary.
void append_json_quoted(std::string& out, std::string_view s);

}  // namespace kcoro
