// Internal: turns one JSON object, read with simdjson On-Demand, into an Object in one pass.
//
// The scan records where each metadata string lies in the source bytes (or an unescaped copy when
// the string has JSON escapes) and where metadata.managedFields lies. `build` then copies the
// source once, minus the managedFields range and plus any kind/apiVersion the list implied, and
// points the meta views into that copy. A builder is reused across objects by one decoder, so
// its tables stop allocating after the first few objects.
#pragma once

#include "core/json_frame.hpp"
#include "kcoro/object.hpp"

#include <simdjson.h>

#include <cstdint>
#include <string>
#include <vector>

namespace kcoro::detail {

struct ObjectBuilder {
  /// Where a recorded string is: [off, off+len) of the source, or escaped[esc] when esc >= 0.
  struct Str {
    uint32_t off = 0;
    uint32_t len = 0;
    int32_t esc = -1;
    bool present() const noexcept { return esc >= 0 || len > 0; }
  };
  struct Owner {
    Str api_version, kind, name, uid;
    bool controller = false;
    bool block_owner_deletion = false;
  };

  // What the list implied for items that carry no kind/apiVersion (empty otherwise).
  std::string_view default_kind;
  std::string_view default_api_version;

  /// Scans the object `obj`, whose text starts at `begin` ('{') within a document that ends at
  /// `end`. Returns an Error on malformed JSON or unexpected types in metadata.
  /// `strip_managed_fields` records the cut.
  Error scan(simdjson::ondemand::object obj, const char* begin, const char* end,
             bool strip_managed_fields);

  /// The same scan for an object that was framed without simdjson (the decoders' fast path):
  /// `kind` and `api_version` are views into the source without escapes (empty when absent), and
  /// `metadata` an On-Demand object iterated over its own bytes within the source, which end at
  /// `metadata_end`.
  Error scan_parts(const char* begin, std::string_view kind, std::string_view api_version,
                   simdjson::ondemand::object metadata, const char* metadata_end,
                   bool strip_managed_fields);

  /// As scan_parts, but the metadata too is framed by the bracket scanner and only its small
  /// structured values (labels, annotations, ownerReferences, finalizers) go through simdjson:
  /// managedFields is never indexed. The metadata's braces are marks[md_open] and
  /// marks[md_close], its fields at depth `level`; positions are offsets from `base`.
  enum class Framed { ok, unusual, invalid };
  /// `invalid`: the metadata does not frame as an object of `"key": value` fields (decode the
  /// document the general way). `unusual`: a field is not in the plain form handled here
  /// (escaped strings, a number that is not a plain integer, ...): use scan_parts.
  Framed scan_framed(simdjson::ondemand::parser& parser, const char* begin, std::string_view kind,
                     std::string_view api_version, const char* base,
                     const std::vector<JsonMark>& marks, std::size_t md_open, std::size_t md_close,
                     int level, bool strip_managed_fields);

  /// The fast path from BracketScan marks: the object's braces are marks[open] and marks[close]
  /// at depth `depth`, its fields' commas are at depth + 1 and its metadata's at depth + 2 (the
  /// scan's shallow level was at least depth + 2). Positions are offsets from `base`. False when
  /// the object is not in the plain form the fast path handles: decode it the general way.
  bool scan_marked(simdjson::ondemand::parser& parser, const char* base,
                   const std::vector<JsonMark>& marks, std::size_t open, std::size_t close,
                   int depth, bool strip_managed_fields);

  /// Builds the Object from source bytes [begin, end) (end is one past '}'), after scan.
  /// `require_name` is false for bookmarks. Applies `opts.transform` if any.
  ObjectPtr build(const char* begin, const char* end, const DecodeOptions& opts, bool require_name,
                  Error& err);

  /// Parses one whole JSON object held in a padded buffer (capacity >= len + json_padding).
  ObjectPtr parse_document(simdjson::ondemand::parser& parser, const char* data, std::size_t len,
                           const DecodeOptions& opts, Error& err);

 private:
  void reset();
  simdjson::error_code record(simdjson::ondemand::value v, Str& out);
  simdjson::error_code scan_metadata(simdjson::ondemand::object md, bool strip);
  simdjson::error_code scan_string_map(simdjson::ondemand::object m,
                                       std::vector<std::pair<Str, Str>>& out);
  simdjson::error_code scan_owners(simdjson::ondemand::array a);
  simdjson::error_code scan_finalizers(simdjson::ondemand::array a);
  std::string_view view(const Object& o, const Str& s) const;
  ObjectPtr build_plain(const char* begin, const char* end, Error& err, bool require_name);

  const char* base_ = nullptr;
  const char* end_ = nullptr;      // the end of the document scan_metadata's object is in
  ScanIsa scan_isa_ = scan_isa();  // the bracket scanner's variant, read once
  Str kind_, api_version_, ns_, name_, generate_name_, uid_, rv_, created_, deleted_;
  int64_t generation_ = 0;
  std::optional<int64_t> grace_;
  std::vector<std::pair<Str, Str>> labels_, annotations_;
  std::vector<Owner> owners_;
  std::vector<Str> finalizers_;
  std::vector<std::string> escaped_;
  std::size_t cut_begin_ = 0, cut_end_ = 0;  // offsets of the managedFields cut, begin==end: none
  // Layout of the built text: '{' + insert + source[1, cut_begin) + source[cut_end, n).
  std::string insert_;
  std::size_t kind_at_ = 0, api_version_at_ = 0;  // positions of the inserted values in insert_
  std::vector<std::string_view> interned_views_;
  std::vector<JsonField> md_fields_;
  std::vector<JsonField> top_fields_;
};

/// For a document simdjson rejected: truncated_input when it ends inside a string or with
/// brackets left open, invalid_json otherwise. Only on the error path: it reads every byte.
std::error_code classify_malformed(std::string_view text) noexcept;

/// Maps a simdjson error to kcoro's.
std::error_code to_error_code(simdjson::error_code e) noexcept;

}  // namespace kcoro::detail
