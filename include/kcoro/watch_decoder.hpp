// kcoro/watch_decoder.hpp — incremental decoder of a Kubernetes watch stream (sans-I/O).
//
// Contract
// - Feed it the body bytes exactly as they come off the socket, after HTTP chunk decoding: an
//   event may be split anywhere and several may arrive in one read. The server writes one JSON
//   document and a newline per event; complete events come out in the order they were sent.
// - Each event's object is parsed with simdjson On-Demand in one pass, from the caller's bytes
//   when a whole line is there (no copy) or from a padded buffer the decoder owns and reuses. The
//   only copy is the Object's own text (without managedFields by default).
// - Malformed input is an Error value with the byte offset of the bad event in the stream; the
//   bad line is skipped and decoding goes on with the next one. Nothing is thrown.
// - A line longer than DecodeOptions::max_document_bytes fails with errc::document_too_large and
//   is skipped up to its newline, so a hostile peer cannot grow the buffer without bound.
// - Values the decoder does not read (spec, status, ...) are checked structurally (balanced
//   brackets, valid strings and UTF-8), not atom by atom; Object::get reports what is left.
// - Not thread-safe: one decoder per stream.
#pragma once

#include "kcoro/error.hpp"
#include "kcoro/object.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

namespace kcoro {

enum class WatchEventType : uint8_t { added, modified, deleted, bookmark, error };

/// "ADDED", "MODIFIED", "DELETED", "BOOKMARK" or "ERROR".
std::string_view to_string(WatchEventType t) noexcept;

struct WatchEvent {
  WatchEventType type = WatchEventType::added;
  /// The object; for a bookmark an object that carries only kind, apiVersion, resourceVersion
  /// and annotations. Null for an ERROR event.
  ObjectPtr object;
  /// For an ERROR event: the Status the server sent, and errc::resource_expired when its code is
  /// 410 (the watch must relist), errc::api_error otherwise.
  std::optional<Status> status;
  std::error_code error;

  /// The event's resourceVersion (the object's, or the bookmark's).
  std::string_view resource_version() const noexcept {
    return object ? object->meta().resource_version : std::string_view{};
  }
  /// True for the bookmark that ends a streaming initial list (k8s.io/initial-events-end).
  bool initial_events_end() const noexcept;
};

class WatchDecoder {
 public:
  explicit WatchDecoder(DecodeOptions opts = {});
  ~WatchDecoder();
  WatchDecoder(WatchDecoder&&) noexcept;
  WatchDecoder& operator=(WatchDecoder&&) noexcept;

  /// Decodes every event completed by `bytes` and appends it to `out`, in order. A malformed
  /// event is skipped and the first such Error is returned; the other events of the call, before
  /// and after the bad one, are in `out`.
  Error feed(std::string_view bytes, std::vector<WatchEvent>& out);

  /// The stream ended. Returns errc::truncated_input if it ended inside an event.
  Error finish();

  /// Bytes fed so far.
  uint64_t bytes_fed() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kcoro
