// kcoro/list_decoder.hpp — incremental decoder of a Kubernetes list response (sans-I/O).
//
// Contract
// - Feed it the body bytes as they arrive, split anywhere. Each item comes out as soon as its
//   closing brace has arrived; the whole body is never held, so a 500 MB list costs the memory
//   of its objects, not twice that. The list's metadata (resourceVersion, continue,
//   remainingItemCount) is available once the decoder is done, whether `metadata` came before
//   or after `items`.
// - Items of a real list carry no kind/apiVersion. When the list's kind ("PodList") and
//   apiVersion came before the items, each item gets kind "Pod" and that apiVersion, written
//   into its text and its meta.
// - Malformed input is an Error value with the byte offset; after a structural error the decoder
//   stops (the rest of the body is not a list any more). An item that fails to decode as an
//   Object (no metadata.name, say) is skipped and reported; the items after it still come out.
// - Not thread-safe: one decoder per response.
#pragma once

#include "kcoro/error.hpp"
#include "kcoro/object.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kcoro {

/// A list's metadata.
struct ListMeta {
  std::string resource_version;
  std::string continue_token;  ///< Empty on the last page.
  std::optional<int64_t> remaining_item_count;
};

class ListDecoder {
 public:
  explicit ListDecoder(DecodeOptions opts = {});
  ~ListDecoder();
  ListDecoder(ListDecoder&&) noexcept;
  ListDecoder& operator=(ListDecoder&&) noexcept;

  /// Decodes every item completed by `bytes` and appends it to `out`. Returns the first Error.
  Error feed(std::string_view bytes, std::vector<ObjectPtr>& out);

  /// The body ended. errc::truncated_input unless the list's closing brace has arrived.
  Error finish();

  /// True once the list's closing brace has arrived.
  bool done() const noexcept;
  const ListMeta& meta() const noexcept;
  /// The list's kind and apiVersion ("PodList", "v1"), once seen.
  std::string_view kind() const noexcept;
  std::string_view api_version() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kcoro
