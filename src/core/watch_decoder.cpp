#include "kcoro/watch_decoder.hpp"

#include "core/json_frame.hpp"
#include "core/object_builder.hpp"
#include "core/padded_buffer.hpp"

#include <algorithm>
#include <cstring>

namespace kcoro {

namespace od = simdjson::ondemand;

std::string_view to_string(WatchEventType t) noexcept {
  switch (t) {
    case WatchEventType::added:
      return "ADDED";
    case WatchEventType::modified:
      return "MODIFIED";
    case WatchEventType::deleted:
      return "DELETED";
    case WatchEventType::bookmark:
      return "BOOKMARK";
    case WatchEventType::error:
      return "ERROR";
  }
  return "UNKNOWN";
}

bool WatchEvent::initial_events_end() const noexcept {
  if (type != WatchEventType::bookmark || !object) return false;
  return object->meta().annotations.get("k8s.io/initial-events-end") == "true";
}

namespace {
bool is_ws(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

std::optional<WatchEventType> parse_type(std::string_view s) {
  if (s == "ADDED") return WatchEventType::added;
  if (s == "MODIFIED") return WatchEventType::modified;
  if (s == "DELETED") return WatchEventType::deleted;
  if (s == "BOOKMARK") return WatchEventType::bookmark;
  if (s == "ERROR") return WatchEventType::error;
  return std::nullopt;
}
}  // namespace

struct WatchDecoder::Impl {
  DecodeOptions opts;
  od::parser parser;
  detail::ObjectBuilder builder;
  detail::PaddedBuffer pending;  // a partial line carried to the next feed
  uint64_t fed = 0;              // bytes fed before the current feed call
  uint64_t pending_offset = 0;   // stream offset of pending's first byte
  bool skipping = false;         // dropping the rest of an over-long line
  // The fast path's scratch, reused across events.
  detail::ScanIsa scan_isa = detail::scan_isa();  // the bracket scanner's variant, read once
  std::vector<detail::JsonMark> marks;
  std::vector<detail::JsonField> fields;

  Error error_at(uint64_t offset, std::error_code code, std::string message) {
    return Error{code, std::move(message), offset};
  }

  // Decodes one line [data, data+len); the buffer is readable for json_padding bytes past it.
  // `try_fast`: false when the fast path already declined this line.
  Error line(const char* data, std::size_t len, uint64_t offset, std::vector<WatchEvent>& out,
             bool try_fast = true) {
    while (len > 0 && is_ws(data[len - 1]))
      --len;
    std::size_t lead = 0;
    while (lead < len && is_ws(data[lead]))
      ++lead;
    if (lead == len) return {};  // blank line
    if (len > opts.max_document_bytes) {
      return error_at(offset, errc::document_too_large, "watch event exceeds the size cap");
    }

    if (data[lead] != '{') {
      return error_at(offset, errc::invalid_json, "watch event is not a JSON object");
    }
    if (try_fast && detail::decoder_fast_path()) {
      if (auto done = fast_line(data + lead, len - lead, offset, out)) return std::move(*done);
    }
    od::document doc;
    od::object event;
    auto e = parser.iterate(data, len, len + json_padding).get(doc);
    if (!e) e = doc.get_object().get(event);
    if (e) return fail(offset, e, {data, len});

    std::optional<WatchEventType> type;
    bool have_type = false;
    const char* obj_begin = nullptr;
    const char* obj_end = nullptr;
    for (auto f : event) {
      od::field field;
      if ((e = std::move(f).get(field))) return fail(offset, e, {data, len});
      auto key = field.key();
      if (key == "type") {
        std::string_view t;
        if ((e = field.value().get_string().get(t))) {
          return error_at(offset, errc::missing_event_type, "watch event type is not a string");
        }
        have_type = true;
        type = parse_type(t);
        if (!type) {
          return error_at(offset, errc::unknown_event_type,
                          "unknown watch event type \"" + std::string(t) + "\"");
        }
      } else if (key == "object") {
        od::value v = field.value();
        obj_begin = v.raw_json_token().data();
        od::object o;
        if ((e = v.get_object().get(o))) {
          return error_at(offset, errc::missing_event_object,
                          "watch event object is not an object");
        }
        if (Error err = builder.scan(o, obj_begin, data + len, opts.strip_managed_fields)) {
          if (err.code != errc::type_mismatch) err.code = detail::classify_malformed({data, len});
          err.offset = offset;
          return err;
        }
        const char* next = nullptr;
        if ((e = doc.current_location().get(next))) return fail(offset, e, {data, len});
        while (next > obj_begin && is_ws(next[-1]))
          --next;
        obj_end = next;
      }
    }
    if (const char* trailing = nullptr; doc.current_location().get(trailing) == simdjson::SUCCESS) {
      return error_at(offset, errc::invalid_json, "trailing bytes after event");
    }
    if (!have_type) return error_at(offset, errc::missing_event_type, "watch event has no type");
    if (!obj_begin || obj_end <= obj_begin || obj_end[-1] != '}') {
      return error_at(offset, errc::missing_event_object, "watch event has no object");
    }

    WatchEvent ev;
    ev.type = *type;
    if (ev.type == WatchEventType::error) {
      std::error_code ec;
      ev.status = Status::parse({obj_begin, static_cast<std::size_t>(obj_end - obj_begin)}, ec);
      if (!ev.status) return error_at(offset, errc::invalid_status, "ERROR event without Status");
      ev.error = ev.status->code == 410 ? errc::resource_expired : errc::api_error;
    } else {
      Error err;
      ev.object = builder.build(obj_begin, obj_end, opts, ev.type != WatchEventType::bookmark, err);
      if (!ev.object) {
        err.offset = offset;
        return err;
      }
    }
    out.push_back(std::move(ev));
    return {};
  }

  // The common case, without simdjson indexing the whole event: {"type":T,"object":{...}} in
  // printable ASCII. The bracket scanner frames the event and the object's top-level fields;
  // simdjson then parses the metadata alone. The rest of the object (spec, status) is checked as
  // an On-Demand skip would check it: strings closed, brackets balanced. Anything else — other
  // bytes, other shapes, ERROR events, any error — returns false and the line is decoded the
  // general way, which reports errors precisely. [data, data+len) starts with '{', ends without
  // whitespace, and is readable for json_padding bytes past its end. Returns the line's outcome,
  // or nullopt for the general way. Once the object is built (the transform has run) there is no
  // going back: a transform runs once per event.
  std::optional<Error> fast_line(const char* data, std::size_t len, uint64_t offset,
                                 std::vector<WatchEvent>& out) {
    marks.clear();
    detail::BracketScan scan(scan_isa);
    const std::size_t stop = scan.scan(data, len, 3, [&](std::size_t at, char c, int64_t depth) {
      marks.push_back({static_cast<uint32_t>(at), c, static_cast<int8_t>(depth)});
      return marks.size() < 8192;
    });
    if (stop != len || scan.non_ascii || scan.in_string() || scan.depth != 0) return std::nullopt;
    return fast_marked(data, len, offset, out);
  }

  // Frames the event at `p`, which starts with '{', with the bracket scanner alone: the event
  // ends where the depth returns to zero, and a newline must follow at once (what the API
  // server writes). Returns the event's length with `marks` filled for fast_marked, or 0 when
  // the line is not framed so (the caller then looks for the newline itself).
  std::size_t frame(const char* p, std::size_t avail) {
    marks.clear();
    detail::BracketScan scan(scan_isa);
    bool closed = false;
    const std::size_t stop = scan.scan(p, avail, 3, [&](std::size_t at, char c, int64_t depth) {
      marks.push_back({static_cast<uint32_t>(at), c, static_cast<int8_t>(depth)});
      if (depth == 0 && at > 0) {
        closed = true;
        return false;
      }
      return marks.size() < 8192;
    });
    if (!closed || scan.non_ascii || stop >= avail || p[stop] != '\n') return 0;
    return stop;
  }

  // The fast path over a line framed by `marks` (see fast_line).
  std::optional<Error> fast_marked(const char* data, std::size_t len, uint64_t offset,
                                   std::vector<WatchEvent>& out) {
    constexpr std::nullopt_t general = std::nullopt;
    if (marks.size() < 4 || marks.front().pos != 0 || marks.back().pos != len - 1) return general;
    // Depth 0: the event's braces. Depth 1: its commas and the object's braces. Depth 2: the
    // object's commas and its fields' brackets. Depth 3: the commas of those fields' values,
    // among them the metadata's.
    if (!detail::split_fields(data, marks, 0, marks.size() - 1, 1, fields)) return general;
    std::optional<WatchEventType> type;
    std::string_view object;
    for (const auto& f : fields) {
      if (f.key == "type") {
        const char* p = f.value.data();
        std::string_view t;
        if (type || !detail::take_plain_string(p, p + f.value.size(), t)) return general;
        type = parse_type(t);
        if (!type || *type == WatchEventType::error) return general;
      } else if (f.key == "object") {
        if (!object.empty() || f.value.front() != '{') return general;
        object = f.value;
      } else {
        return general;
      }
    }
    if (!type || object.empty()) return general;
    // The object's braces: the depth-1 marks at its ends (split_fields checked they pair).
    std::size_t open = 0, close = 0;
    for (std::size_t k = 1; k + 1 < marks.size(); ++k) {
      if (marks[k].depth != 1) continue;
      if (data + marks[k].pos == object.data()) open = k;
      if (data + marks[k].pos == object.data() + object.size() - 1) close = k;
    }
    if (!open || !close) return general;
    const char* obj_begin = object.data();
    const char* obj_end = object.data() + object.size();
    if (!builder.scan_marked(parser, data, marks, open, close, 1, opts.strip_managed_fields)) {
      return general;
    }
    Error err;
    WatchEvent ev;
    ev.type = *type;
    ev.object = builder.build(obj_begin, obj_end, opts, ev.type != WatchEventType::bookmark, err);
    if (!ev.object) {
      err.offset = offset;
      return err;
    }
    out.push_back(std::move(ev));
    return Error{};
  }

  Error fail(uint64_t offset, simdjson::error_code e, std::string_view line = {}) {
    std::error_code code = detail::to_error_code(e);
    if (!line.empty() && code != errc::type_mismatch) code = detail::classify_malformed(line);
    return error_at(offset, code,
                    std::string("malformed watch event: ") + simdjson::error_message(e));
  }

  Error feed(std::string_view bytes, std::vector<WatchEvent>& out) {
    const char* p = bytes.data();
    const char* const end = p + bytes.size();
    const uint64_t base = fed;
    fed += bytes.size();
    auto offset_of = [&](const char* q) { return base + static_cast<uint64_t>(q - bytes.data()); };
    Error first;
    auto keep = [&](Error err) {
      if (err && !first) first = std::move(err);
    };

    if (skipping) {
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', bytes.size()));
      if (!nl) return {};
      skipping = false;
      p = nl + 1;
    } else if (!pending.empty()) {
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', end - p));
      const char* stop = nl ? nl : end;
      if (pending.size() + static_cast<std::size_t>(stop - p) > opts.max_document_bytes) {
        keep(
            error_at(pending_offset, errc::document_too_large, "watch event exceeds the size cap"));
        pending.clear();
        if (!nl) {
          skipping = true;
          return first;
        }
      } else {
        pending.append(p, static_cast<std::size_t>(stop - p));
        if (!nl) return {};
        keep(line(pending.data(), pending.size(), pending_offset, out));
        pending.clear();
      }
      p = nl + 1;
    }

    const bool fast = detail::decoder_fast_path();
    while (p < end) {
      // The common case: the bracket scan that frames the event's fields also finds its end,
      // and no separate search for the newline passes over the bytes again.
      if (fast && *p == '{') {
        const std::size_t avail = static_cast<std::size_t>(end - p);
        const std::size_t len = frame(p, std::min(avail, opts.max_document_bytes));
        if (len > 0 && avail - len >= json_padding) {
          if (auto done = fast_marked(p, len, offset_of(p), out)) {
            keep(std::move(*done));
          } else {
            keep(line(p, len, offset_of(p), out, false));
          }
          p += len + 1;
          continue;
        }
      }
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', end - p));
      if (!nl) {
        const std::size_t rest = static_cast<std::size_t>(end - p);
        if (rest > opts.max_document_bytes) {
          skipping = true;
          keep(
              error_at(offset_of(p), errc::document_too_large, "watch event exceeds the size cap"));
        } else {
          pending_offset = offset_of(p);
          pending.append(p, rest);
        }
        break;
      }
      const std::size_t len = static_cast<std::size_t>(nl - p);
      if (static_cast<std::size_t>(end - nl) >= json_padding) {
        keep(line(p, len, offset_of(p), out));  // the caller's bytes are readable past the line
      } else {
        pending.assign(p, len);
        keep(line(pending.data(), len, offset_of(p), out));
        pending.clear();
      }
      p = nl + 1;
    }
    return first;
  }
};

WatchDecoder::WatchDecoder(DecodeOptions opts) : impl_(std::make_unique<Impl>()) {
  impl_->opts = std::move(opts);
}
WatchDecoder::~WatchDecoder() = default;
WatchDecoder::WatchDecoder(WatchDecoder&&) noexcept = default;
WatchDecoder& WatchDecoder::operator=(WatchDecoder&&) noexcept = default;

Error WatchDecoder::feed(std::string_view bytes, std::vector<WatchEvent>& out) {
  return impl_->feed(bytes, out);
}

Error WatchDecoder::finish() {
  Impl& d = *impl_;
  const bool skipped = d.skipping;
  d.skipping = false;
  if (skipped) return {};  // the over-long line was reported when it passed the cap
  std::string_view rest(d.pending.data(), d.pending.size());
  const bool blank = rest.find_first_not_of(" \t\r\n") == std::string_view::npos;
  const uint64_t at = d.pending_offset;
  d.pending.clear();
  if (blank) return {};
  return Error{errc::truncated_input, "watch stream ended inside an event", at};
}

uint64_t WatchDecoder::bytes_fed() const noexcept {
  return impl_->fed;
}

}  // namespace kcoro
