#include "kcoro/list_decoder.hpp"

#include "core/bracket_scan.hpp"
#include "core/json_frame.hpp"
#include "core/object_builder.hpp"
#include "core/padded_buffer.hpp"

#include <cstring>

namespace kcoro {

namespace od = simdjson::ondemand;

namespace {

bool is_ws(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

// Collects the bytes of one JSON value that may span many feeds, tracking strings and nesting so
// that it knows when the value is complete. Containers end at their matching bracket; strings at
// their closing quote; atoms (numbers, true, false, null) at the first delimiter. A container is
// scanned 64 bytes at a time by the bracket scanner, which also keeps the marks of its shallow
// levels (its fields and its metadata's) for the item fast path.
class Capture {
 public:
  enum class Kind { container, string, atom };
  static constexpr std::size_t max_marks = std::size_t{1} << 16;

  void begin(char first) {
    buf_.clear();
    scan_.reset();
    marks_.clear();
    marks_overflow_ = false;
    depth_ = 0;
    in_string_ = false;
    escape_next_ = false;
    kind_ = first == '{' || first == '[' ? Kind::container
            : first == '"'               ? Kind::string
                                         : Kind::atom;
    if (kind_ == Kind::string) in_string_ = true;
  }

  // Consumes bytes from [p, p+n). Returns how many were consumed when the value completed, or
  // npos when all were consumed and it goes on. For atoms the delimiter is not consumed.
  std::size_t feed(const char* p, std::size_t n) {
    if (kind_ == Kind::container) return feed_container(p, n);
    std::size_t i = 0;
    if (kind_ == Kind::string && buf_.empty() && n > 0) {
      i = 1;  // the opening quote
    }
    while (i < n) {
      if (escape_next_) {
        escape_next_ = false;
        ++i;
        continue;
      }
      if (in_string_) {
        // Inside a string only '"' and '\\' matter.
        const char* q = p + i;
        const char* e = p + n;
        while (q < e && *q != '"' && *q != '\\')
          ++q;
        i = static_cast<std::size_t>(q - p);
        if (i == n) break;
        if (*q == '\\') {
          escape_next_ = true;
          ++i;
          continue;
        }
        in_string_ = false;
        ++i;
        if (kind_ == Kind::string) return done(p, i);
        continue;
      }
      const char c = p[i];
      if (kind_ == Kind::atom) {
        if (c == ',' || c == '}' || c == ']' || is_ws(c)) return done(p, i);
        ++i;
        continue;
      }
      switch (c) {
        case '"':
          in_string_ = true;
          break;
        case '{':
        case '[':
          ++depth_;
          break;
        case '}':
        case ']':
          if (--depth_ == 0) return done(p, i + 1);
          break;
        default:
          break;
      }
      ++i;
    }
    buf_.append(p, n);
    return npos;
  }

  std::string_view text() const { return {buf_.data(), buf_.size()}; }
  /// For a container: its marks at depth <= 2, complete (no overflow) and in printable ASCII.
  const std::vector<detail::JsonMark>* plain_marks() const {
    if (kind_ != Kind::container || marks_overflow_ || scan_.non_ascii) return nullptr;
    return &marks_;
  }
  const char* data() const { return buf_.data(); }
  std::size_t size() const { return buf_.size(); }
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

 private:
  std::size_t feed_container(const char* p, std::size_t n) {
    const auto before = static_cast<uint32_t>(buf_.size());
    bool ended = false;
    const std::size_t used = scan_.scan(p, n, 2, [&](std::size_t at, char c, int64_t depth) {
      if (marks_.size() < max_marks) {
        marks_.push_back({static_cast<uint32_t>(before + at), c, static_cast<int8_t>(depth)});
      } else {
        marks_overflow_ = true;
      }
      ended = depth == 0 && (c == '}' || c == ']');
      return !ended;
    });
    if (!ended) {
      buf_.append(p, n);
      return npos;
    }
    return done(p, used);
  }

  std::size_t done(const char* p, std::size_t n) {
    buf_.append(p, n);
    return n;
  }

  detail::PaddedBuffer buf_;
  detail::BracketScan scan_;
  std::vector<detail::JsonMark> marks_;
  bool marks_overflow_ = false;
  Kind kind_ = Kind::container;
  int depth_ = 0;
  bool in_string_ = false;
  bool escape_next_ = false;
};

enum class State {
  start,        // before the list's '{'
  key_or_end,   // after '{'
  key_next,     // after ','
  key,          // inside a top-level key
  colon,        // after a key
  value,        // inside a top-level value other than items
  after_value,  // after a top-level value
  items_open,   // after "items":
  item_or_end,  // after '['
  item_next,    // after ',' between items
  item,         // inside an item
  after_item,   // after an item
  done,         // after the list's '}'
  failed,
};

}  // namespace

struct ListDecoder::Impl {
  DecodeOptions opts;
  od::parser parser;
  detail::ObjectBuilder builder;
  Capture capture;
  State state = State::start;
  std::string key;
  bool key_escape = false;
  bool items_null = false;
  bool value_started = false;
  ListMeta meta;
  std::string kind, api_version, item_kind;
  uint64_t fed = 0;
  uint64_t value_offset = 0;

  Error fail(uint64_t at, std::error_code code, std::string message) {
    state = State::failed;
    return Error{code, std::move(message), at};
  }

  std::string_view unquote(std::string_view v) {
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') return v.substr(1, v.size() - 2);
    return {};
  }

  Error top_level_value() {
    std::string_view text = capture.text();
    if (items_null) {
      items_null = false;
      if (text != "null") return fail(value_offset, errc::invalid_list, "items is not an array");
      return {};
    }
    if (key == "kind") {
      kind = unquote(text);
      if (kind.size() > 4 && kind.ends_with("List")) item_kind = kind.substr(0, kind.size() - 4);
    } else if (key == "apiVersion") {
      api_version = unquote(text);
    } else if (key == "metadata") {
      od::document doc;
      od::object md;
      auto e =
          parser.iterate(capture.data(), capture.size(), capture.size() + json_padding).get(doc);
      if (!e) e = doc.get_object().get(md);
      // Only a valid object may be iterated: begin() on a failed one is undefined (simdjson
      // asserts). Found by list_decoder_fuzz.
      if (!e) {
        for (auto f : md) {
          od::field field;
          if ((e = std::move(f).get(field))) break;
          auto k = field.key();
          std::string_view s;
          if (k == "resourceVersion") {
            if (!(e = field.value().get_string().get(s))) meta.resource_version = s;
          } else if (k == "continue") {
            if (!(e = field.value().get_string().get(s))) meta.continue_token = s;
          } else if (k == "remainingItemCount") {
            int64_t n = 0;
            if (!(e = field.value().get_int64().get(n))) meta.remaining_item_count = n;
          }
          if (e) break;
        }
      }
      if (e) {
        return fail(value_offset, detail::to_error_code(e),
                    std::string("malformed list metadata: ") + simdjson::error_message(e));
      }
    }
    return {};
  }

  Error item_done(std::vector<ObjectPtr>& out) {
    builder.default_kind = item_kind;
    builder.default_api_version = api_version;
    Error err;
    ObjectPtr obj;
    // The fast path: the item framed by the capture's marks, simdjson on the metadata only.
    const auto* marks = capture.plain_marks();
    if (marks && detail::decoder_fast_path() && marks->size() >= 2 &&
        marks->back().pos + 1 == capture.size() &&
        builder.scan_marked(parser, capture.data(), *marks, 0, marks->size() - 1, 0,
                            opts.strip_managed_fields)) {
      obj = builder.build(capture.data(), capture.data() + capture.size(), opts, true, err);
    } else {
      obj = builder.parse_document(parser, capture.data(), capture.size(), opts, err);
    }
    if (!obj) {
      err.offset = value_offset + err.offset.value_or(0);
      return err;
    }
    out.push_back(std::move(obj));
    return {};
  }

  Error feed(std::string_view bytes, std::vector<ObjectPtr>& out) {
    const char* p = bytes.data();
    const std::size_t n = bytes.size();
    const uint64_t base = fed;
    fed += n;
    Error first;
    std::size_t i = 0;
    auto at = [&](std::size_t k) { return base + k; };
    auto expect = [&](const char* what) {
      return fail(at(i), errc::invalid_list,
                  std::string("malformed list: expected ") + what + ", found '" + p[i] + "'");
    };

    while (i < n) {
      if (state == State::failed) return first;
      const char c = p[i];
      switch (state) {
        case State::start:
          if (is_ws(c)) break;
          if (c != '{') return expect("'{'");
          state = State::key_or_end;
          break;
        case State::key_or_end:
        case State::key_next:
          if (is_ws(c)) break;
          if (c == '"') {
            key.clear();
            key_escape = false;
            state = State::key;
          } else if (c == '}' && state == State::key_or_end) {
            state = State::done;
          } else {
            return expect("a key");
          }
          break;
        case State::key:
          if (key_escape) {
            key_escape = false;
            key.push_back(c);
          } else if (c == '\\') {
            key_escape = true;
          } else if (c == '"') {
            state = State::colon;
          } else {
            key.push_back(c);
          }
          break;
        case State::colon:
          if (is_ws(c)) break;
          if (c != ':') return expect("':'");
          state = key == "items" ? State::items_open : State::value;
          value_started = false;
          break;
        case State::items_open:
          if (is_ws(c)) break;
          if (c == '[') {
            state = State::item_or_end;
          } else if (c == 'n') {
            items_null = true;
            value_started = true;
            value_offset = at(i);
            capture.begin(c);
            state = State::value;
            continue;  // the capture reads this byte
          } else {
            return expect("'[' after \"items\"");
          }
          break;
        case State::value: {
          if (!value_started) {
            if (is_ws(c)) break;
            value_started = true;
            value_offset = at(i);
            capture.begin(c);
          }
          std::size_t used = capture.feed(p + i, n - i);
          if (used == Capture::npos) return first;
          i += used;
          if (capture.size() > opts.max_document_bytes) {
            return fail(value_offset, errc::document_too_large, "list field exceeds the size cap");
          }
          if (Error err = top_level_value()) return err;
          value_started = false;
          state = State::after_value;
          continue;
        }
        case State::after_value:
          if (is_ws(c)) break;
          if (c == ',') {
            state = State::key_next;
          } else if (c == '}') {
            state = State::done;
          } else {
            return expect("',' or '}'");
          }
          break;
        case State::item_or_end:
        case State::item_next:
          if (is_ws(c)) break;
          if (c == '{') {
            value_offset = at(i);
            capture.begin(c);
            state = State::item;
            continue;
          }
          if (c == ']' && state == State::item_or_end) {
            state = State::after_value;
            break;
          }
          return expect("an item object");
        case State::item: {
          std::size_t used = capture.feed(p + i, n - i);
          if (used == Capture::npos) {
            if (capture.size() > opts.max_document_bytes) {
              return fail(value_offset, errc::document_too_large, "list item exceeds the size cap");
            }
            return first;
          }
          i += used;
          if (capture.size() > opts.max_document_bytes) {
            return fail(value_offset, errc::document_too_large, "list item exceeds the size cap");
          }
          if (Error err = item_done(out); err && !first) first = std::move(err);
          state = State::after_item;
          continue;
        }
        case State::after_item:
          if (is_ws(c)) break;
          if (c == ',') {
            state = State::item_next;
          } else if (c == ']') {
            state = State::after_value;
          } else {
            return expect("',' or ']' between items");
          }
          break;
        case State::done:
          if (is_ws(c)) break;
          return fail(at(i), errc::invalid_list, "trailing bytes after the list");
        case State::failed:
          return first;
      }
      ++i;
    }
    return first;
  }
};

ListDecoder::ListDecoder(DecodeOptions opts) : impl_(std::make_unique<Impl>()) {
  impl_->opts = std::move(opts);
}
ListDecoder::~ListDecoder() = default;
ListDecoder::ListDecoder(ListDecoder&&) noexcept = default;
ListDecoder& ListDecoder::operator=(ListDecoder&&) noexcept = default;

Error ListDecoder::feed(std::string_view bytes, std::vector<ObjectPtr>& out) {
  return impl_->feed(bytes, out);
}

Error ListDecoder::finish() {
  Impl& d = *impl_;
  if (d.state == State::done) return {};
  if (d.state == State::failed)
    return Error{errc::invalid_list, "list decoding failed earlier", {}};
  // An atom value at the very end ("...,"x":1" then EOF) cannot complete without a delimiter; the
  // list's '}' is missing anyway.
  d.state = State::failed;
  return Error{errc::truncated_input, "list response ended before its closing brace", d.fed};
}

bool ListDecoder::done() const noexcept {
  return impl_->state == State::done;
}
const ListMeta& ListDecoder::meta() const noexcept {
  return impl_->meta;
}
std::string_view ListDecoder::kind() const noexcept {
  return impl_->kind;
}
std::string_view ListDecoder::api_version() const noexcept {
  return impl_->api_version;
}

}  // namespace kcoro
