// FakeCluster: list (selectors, limit/continue over a snapshot), watch (replay from the history,
// initial events, bookmarks, selector transitions) and the Watcher.
#include "testing/fake_cluster_impl.hpp"

#include <algorithm>
#include <charconv>

namespace kcoro::testing::fake {

// --- rendering
// -------------------------------------------------------------------------------------

std::string object_json(const Stored& s, const ResourceInfo& res) {
  if (res.builtin || get_string(s.obj, "apiVersion") == res.api_version()) return s.json;
  // A custom resource stored at another served version: same content, this apiVersion (the
  // fake does no conversion).
  json::value v = s.obj;
  v.as_object()["apiVersion"] = res.api_version();
  sort_keys(v);
  return json::serialize(v);
}

void append_item(std::string& out, const Stored& s, const ResourceInfo& res) {
  if (res.builtin && s.item_offset != 0) {
    out += '{';
    out.append(s.json, s.item_offset, std::string::npos);
  } else {
    out += object_json(s, res);
  }
}

json::object partial_metadata(const Stored& s) {
  json::object o;
  o.emplace("kind", "PartialObjectMetadata");
  o.emplace("apiVersion", "meta.k8s.io/v1");
  o.emplace("metadata", s.obj.at("metadata"));
  return o;
}

std::string watch_line(EventType type, const Stored& obj, const ResourceInfo& res,
                       bool metadata_only) {
  std::string line = "{\"type\":\"";
  line += event_name(type);
  line += "\",\"object\":";
  line += metadata_only ? json::serialize(partial_metadata(obj)) : object_json(obj, res);
  line += "}\n";
  return line;
}

namespace {

std::string bookmark_line(const WatchFilter& f, uint64_t rv, json::object annotations = {}) {
  json::value obj;
  if (f.metadata_only) {
    json::object meta{{"resourceVersion", std::to_string(rv)}, {"creationTimestamp", nullptr}};
    if (!annotations.empty()) meta.emplace("annotations", std::move(annotations));
    obj = json::object{{"kind", "PartialObjectMetadata"},
                       {"apiVersion", "meta.k8s.io/v1"},
                       {"metadata", std::move(meta)}};
  } else {
    obj = bookmark_object(*f.res, rv);
    if (!annotations.empty()) {
      obj.as_object()["metadata"].as_object().emplace("annotations", std::move(annotations));
    }
    if (!f.res->builtin) sort_keys(obj);
  }
  return "{\"type\":\"BOOKMARK\",\"object\":" + json::serialize(obj) + "}\n";
}

// --- continue tokens (base64url of {"v":"meta.k8s.io/v1","rv":N,"start":"KEY\u0000"}) -------

const char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const char kStdB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64(std::string_view in, const char* alphabet, bool pad) {
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t n =
        (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8) | uint8_t(in[i + 2]);
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += alphabet[(n >> 6) & 63];
    out += alphabet[n & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t n = uint32_t(uint8_t(in[i])) << 16;
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    if (pad) out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t n = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8);
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += alphabet[(n >> 6) & 63];
    if (pad) out += '=';
  }
  return out;
}

std::optional<std::string> unbase64(std::string_view in) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '-' || c == '+') {
      v = 62;
    } else if (c == '_' || c == '/') {
      v = 63;
    } else if (c == '=') {
      break;
    } else {
      return std::nullopt;
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}

std::string encode_continue(int64_t rv, const std::string& start) {
  // The real server's start key is relative to the collection's etcd prefix: "/web-2\u0000".
  json::object o{{"v", "meta.k8s.io/v1"}, {"rv", rv}, {"start", rv < 0 ? start : "/" + start}};
  return base64(json::serialize(o), kB64, false);
}

bool decode_continue(std::string_view token, int64_t& rv, std::string& start) {
  auto raw = unbase64(token);
  if (!raw) return false;
  boost::system::error_code ec;
  auto v = json::parse(*raw, ec);
  if (ec || !v.is_object()) return false;
  const auto& o = v.get_object();
  if (get_string(o, "v") != "meta.k8s.io/v1") return false;
  auto it = o.find("rv");
  if (it == o.end() || !it->value().is_int64()) return false;
  rv = it->value().get_int64();
  auto st = o.find("start");
  if (st == o.end() || !st->value().is_string()) return false;
  start = std::string(st->value().get_string());
  if (start.starts_with("/")) start.erase(0, 1);
  return true;
}

std::optional<uint64_t> parse_rv(const std::string& s) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

[[noreturn]] void fail_too_large(uint64_t asked, uint64_t current) {
  fail(
      504, "Timeout",
      "Too large resource version: " + std::to_string(asked) +
          ", current: " + std::to_string(current),
      json::object{{"causes", json::array{json::object{{"reason", "ResourceVersionTooLarge"},
                                                       {"message", "Too large resource version"}}}},
                   {"retryAfterSeconds", 1}});
}

}  // namespace

bool WatchFilter::matches(const Stored& s) const {
  const json::object& meta = *get_object(s.obj, "metadata");
  if (!ns.empty() && res->namespaced && get_string(meta, "namespace") != ns) return false;
  if (!labels.empty() && !fake::matches(labels, get_object(meta, "labels"))) return false;
  if (!fields.empty() && !fields.matches(s.obj)) return false;
  return true;
}

WatchFilter Impl::make_filter(const FakeRequest& req, const Target& t, const Query& q) const {
  WatchFilter f;
  f.res = t.res;
  f.ns = t.ns;
  std::string err;
  const std::string* ls = q.get("labelSelector");
  auto labels = parse_label_selector(ls ? *ls : "", err);
  if (!labels) fail_bad_request(err);
  f.labels = std::move(*labels);
  const std::string* fs = q.get("fieldSelector");
  auto fields = parse_field_selector(fs ? *fs : "", err);
  if (!fields) fail_bad_request(err);
  for (const auto& r : fields->reqs) {
    if (r.field != "metadata.name" && r.field != "metadata.namespace" &&
        std::find(t.res->field_labels.begin(), t.res->field_labels.end(), r.field) ==
            t.res->field_labels.end()) {
      fail_bad_request("field label not supported: " + r.field);
    }
  }
  f.fields = std::move(*fields);
  if (!t.name.empty()) f.fields.reqs.push_back(FieldRequirement{"metadata.name", false, t.name});
  f.metadata_only = wants_metadata_only(req.accept, true);
  return f;
}

// --- list
// ------------------------------------------------------------------------------------------

FakeResponse Impl::list(const FakeRequest& req, const Target& t, const Query& q) {
  WatchFilter f = make_filter(req, t, q);
  bool selective = !f.labels.empty() || !f.fields.empty();
  int64_t limit = 0;
  if (const std::string* l = q.get("limit"); l && !l->empty()) {
    auto [p, ec] = std::from_chars(l->data(), l->data() + l->size(), limit);
    if (ec != std::errc() || p != l->data() + l->size()) {
      fail_bad_request("unable to parse quantity's limit: strconv.ParseInt: parsing \"" + *l +
                       "\": invalid syntax");
    }
  }
  const std::string* cont = q.get("continue");
  if (cont && cont->empty()) cont = nullptr;
  const std::string* rvp = q.get("resourceVersion");
  if (rvp && rvp->empty()) rvp = nullptr;
  std::string match = q.get("resourceVersionMatch") ? *q.get("resourceVersionMatch") : "";
  if (!match.empty()) {
    if (!rvp) {
      fail_options("ListOptions", "resourceVersionMatch",
                   "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is "
                   "provided");
    }
    if (cont) {
      fail_options("ListOptions", "resourceVersionMatch",
                   "Forbidden: resourceVersionMatch is forbidden when continue is provided");
    }
    if (match != "Exact" && match != "NotOlderThan") {
      fail_options("ListOptions", "resourceVersionMatch",
                   "Unsupported value: \"" + match +
                       "\": supported values: \"Exact\", \"NotOlderThan\", \"\"",
                   "FieldValueNotSupported");
    }
    if (match == "Exact" && *rvp == "0") {
      fail_options("ListOptions", "resourceVersionMatch",
                   "Forbidden: resourceVersionMatch \"exact\" is forbidden for "
                   "resourceVersion \"0\"");
    }
  }
  if (cont && rvp && *rvp != "0") {
    fail_bad_request("specifying resource version is not allowed when using continue");
  }

  uint64_t snapshot = rv;
  std::string start;  // relative to the collection's prefix
  bool paged = limit > 0;
  if (cont) {
    int64_t token_rv = 0;
    if (!decode_continue(*cont, token_rv, start)) {
      fail_bad_request("continue key is not valid: illegal base64 data or malformed token");
    }
    if (token_rv >= 0 && (static_cast<uint64_t>(token_rv) < compacted_rv ||
                          static_cast<uint64_t>(token_rv) < continue_floor)) {
      fail(410, "Expired",
           "The provided continue parameter is too old to display a consistent list result. You "
           "can start a new list without the continue parameter, or use the continue token in "
           "this response to retrieve the remainder of the results. Continuing with the provided "
           "token results in an inconsistent list - objects that were created, modified, or "
           "deleted between the time the first chunk was returned and now may show up in the "
           "list.",
           {}, json::object{{"continue", encode_continue(-1, start)}});
    }
    if (token_rv >= 0 && static_cast<uint64_t>(token_rv) <= rv) {
      snapshot = static_cast<uint64_t>(token_rv);
    }
  } else if (rvp) {
    if (*rvp == "0") {
      paged = false;  // served from the watch cache, which ignores limit
    } else {
      auto n = parse_rv(*rvp);
      if (!n) fail_bad_request("invalid resource version: " + *rvp);
      if (*n > rv) fail_too_large(*n, rv);
      if (match == "Exact") {
        if (*n < compacted_rv) {
          fail(410, "Expired", "The resourceVersion for the provided list is too old.");
        }
        snapshot = *n;
      }
    }
  }

  static const std::map<std::string, StoredPtr> kEmpty;
  auto sit = stores.find(t.res->storage_key());
  const auto& objects = sit == stores.end() ? kEmpty : sit->second;
  // The state at the snapshot: the current objects, with every change made after it undone.
  std::map<std::string, StoredPtr> overrides;
  if (snapshot < rv) {
    for (auto it = history.rbegin(); it != history.rend() && it->rv > snapshot; ++it) {
      if (it->storage_key == t.res->storage_key()) overrides[it->obj->key] = it->prev;
    }
  }
  std::string prefix = t.res->namespaced && !t.ns.empty() ? t.ns + "/" : "";
  std::string lo = prefix + start;
  auto a = objects.lower_bound(lo);
  auto b = overrides.lower_bound(lo);

  std::string items;
  if (!objects.empty() && !f.metadata_only) {
    // Room for the page, guessed from the first object's size: growing a list of thousands of
    // pods by doubling costs more in fresh pages than the copying itself.
    const std::size_t n =
        paged ? std::min<std::size_t>(static_cast<std::size_t>(limit), objects.size())
              : objects.size();
    items.reserve(std::min<std::size_t>(n * (objects.begin()->second->json.size() + 1),
                                        std::size_t{1} << 30));
  }
  int64_t count = 0;
  int64_t remaining = 0;
  bool more = false;
  std::string last_key;
  while (true) {
    bool a_ok = a != objects.end() && a->first.starts_with(prefix);
    bool b_ok = b != overrides.end() && b->first.starts_with(prefix);
    if (!a_ok && !b_ok) break;
    const std::string* key;
    const StoredPtr* cur;
    if (b_ok && (!a_ok || b->first <= a->first)) {
      key = &b->first;
      cur = &b->second;
      if (a_ok && a->first == b->first) ++a;
      ++b;
    } else {
      key = &a->first;
      cur = &a->second;
      ++a;
    }
    if (!*cur || !f.matches(**cur)) continue;
    if (paged && count == limit) {
      more = true;
      if (selective) break;
      ++remaining;
      continue;
    }
    if (count++ > 0) items += ',';
    if (f.metadata_only) {
      items += json::serialize(partial_metadata(**cur));
    } else {
      append_item(items, **cur, *t.res);
    }
    last_key = *key;
  }

  std::string token;
  if (more)
    token = encode_continue(static_cast<int64_t>(snapshot),
                            last_key.substr(prefix.size()) + std::string(1, '\0'));
  std::string rv_s = "\"" + std::to_string(snapshot) + "\"";
  std::string body;
  body.reserve(items.size() + 256);
  if (f.metadata_only || t.res->builtin) {
    body += "{\"kind\":";
    body += f.metadata_only ? "\"PartialObjectMetadataList\""
                            : json::serialize(json::value(t.res->list_kind));
    body += ",\"apiVersion\":";
    body +=
        f.metadata_only ? "\"meta.k8s.io/v1\"" : json::serialize(json::value(t.res->api_version()));
    body += ",\"metadata\":{\"resourceVersion\":" + rv_s;
    if (more) {
      body += ",\"continue\":\"" + token + "\"";
      if (!selective) body += ",\"remainingItemCount\":" + std::to_string(remaining);
    }
    // Appended piece by piece: `"[" + items + "]"` would copy a 10,000-pod page twice more.
    body += "},\"items\":[";
    body += items;
    body += "]}";
  } else {
    // Unstructured: keys in sorted order, and metadata.continue always present.
    body += "{\"apiVersion\":" + json::serialize(json::value(t.res->api_version()));
    body += ",\"items\":[";
    body += items;
    body += "]";
    body += ",\"kind\":" + json::serialize(json::value(t.res->list_kind));
    body += ",\"metadata\":{\"continue\":\"" + token + "\"";
    if (more && !selective) body += ",\"remainingItemCount\":" + std::to_string(remaining);
    body += ",\"resourceVersion\":" + rv_s + "}}";
  }
  FakeResponse r;
  r.body = std::move(body);
  return r;
}

// --- watch
// -----------------------------------------------------------------------------------------

FakeCluster::WatchStart Impl::start_watch(const FakeRequest& req, const Target& t, const Query& q) {
  WatchFilter f = make_filter(req, t, q);
  bool bookmarks = q.flag("allowWatchBookmarks");
  std::optional<bool> initial;
  if (q.has("sendInitialEvents")) initial = q.flag("sendInitialEvents");
  std::string match = q.get("resourceVersionMatch") ? *q.get("resourceVersionMatch") : "";
  if (initial) {
    if (match != "NotOlderThan") {
      fail_options("ListOptions", "resourceVersionMatch",
                   "Forbidden: sendInitialEvents requires setting resourceVersionMatch to "
                   "NotOlderThan");
    }
  } else if (!match.empty()) {
    fail_options("ListOptions", "resourceVersionMatch",
                 "Forbidden: resourceVersionMatch is forbidden for watch unless "
                 "sendInitialEvents is provided");
  }
  std::optional<Clock::time_point> deadline;
  if (const std::string* ts = q.get("timeoutSeconds"); ts && !ts->empty()) {
    int64_t secs = 0;
    auto [p, ec] = std::from_chars(ts->data(), ts->data() + ts->size(), secs);
    if (ec != std::errc() || p != ts->data() + ts->size()) {
      fail_bad_request("invalid timeoutSeconds: " + *ts);
    }
    deadline = now() + std::chrono::seconds(secs);
  }
  const std::string* rvp = q.get("resourceVersion");
  if (rvp && rvp->empty()) rvp = nullptr;
  std::optional<uint64_t> from;
  if (rvp && *rvp != "0") {
    from = parse_rv(*rvp);
    if (!from) fail_bad_request("invalid resource version: " + *rvp);
  }

  auto clock = opts.clock;
  auto w = std::make_shared<WatcherImpl>(
      f, [clock] { return clock ? clock() : Clock::now(); }, bookmarks, opts.bookmark_interval,
      deadline, rv);
  FakeCluster::WatchStart ws;
  ws.watcher = w;

  auto initial_events = [&] {
    auto sit = stores.find(t.res->storage_key());
    if (sit == stores.end()) return;
    std::string prefix = t.res->namespaced && !t.ns.empty() ? t.ns + "/" : "";
    for (auto it = sit->second.lower_bound(prefix);
         it != sit->second.end() && it->first.starts_with(prefix); ++it) {
      if (f.matches(*it->second)) {
        w->append(watch_line(EventType::Added, *it->second, *t.res, f.metadata_only), rv);
      }
    }
  };

  if (initial && *initial) {
    initial_events();
    // Without allowWatchBookmarks the real server still sends the initial events, but no
    // bookmark marks their end.
    if (bookmarks) {
      json::object ann{{"k8s.io/initial-events-end", "true"}};
      if (t.res->builtin && !f.metadata_only) {
        std::string blueprint =
            "{\"kind\":" + json::serialize(json::value(t.res->list_kind)) +
            ",\"apiVersion\":" + json::serialize(json::value(t.res->api_version())) +
            ",\"metadata\":{},\"items\":null}\n";
        ann.emplace("kubernetes.io/initial-events-list-blueprint",
                    base64(blueprint, kStdB64, true));
      }
      w->append(bookmark_line(f, rv, std::move(ann)), rv);
    }
  } else if (!from) {
    // rv absent or "0": the current state as ADDED events, then changes (unless
    // sendInitialEvents=false asked to skip them).
    if (!initial) initial_events();
  } else if (*from < compacted_rv) {
    json::object status = status_object(410, "Expired",
                                        "too old resource version: " + std::to_string(*from) +
                                            " (" + std::to_string(compacted_rv) + ")",
                                        {}, {}, false);
    w->append("{\"type\":\"ERROR\",\"object\":" + json::serialize(status) + "}\n", rv);
    w->end();
    return ws;
  } else {
    // Replay every change after `from` still in the history (a resourceVersion newer than the
    // current one simply waits for it: the fake does not answer "too large" on watches).
    for (const auto& e : history) {
      if (e.rv > *from) w->deliver(e);
    }
  }
  watchers.push_back(w);
  return ws;
}

// --- the Watcher
// -----------------------------------------------------------------------------------

WatcherImpl::WatcherImpl(WatchFilter filter, std::function<Clock::time_point()> clock,
                         bool bookmarks, std::chrono::milliseconds interval,
                         std::optional<Clock::time_point> deadline, uint64_t start_rv)
    : filter_(std::move(filter)),
      storage_key_(filter_.res->storage_key()),
      clock_(std::move(clock)),
      bookmarks_(bookmarks),
      interval_(interval),
      deadline_(deadline),
      known_rv_(start_rv) {
  next_bookmark_ = clock_() + interval_;
}

bool WatcherImpl::poll(std::string& out) {
  std::lock_guard lk(m_);
  auto now = clock_();
  if (!ended_ && deadline_ && now >= *deadline_) ended_ = true;
  if (!ended_ && bookmarks_ && now >= next_bookmark_) {
    pending_ += bookmark_line(filter_, known_rv_);
    next_bookmark_ = now + interval_;
  }
  out += pending_;
  pending_.clear();
  return !ended_;
}

void WatcherImpl::set_notify(std::function<void()> notify) {
  std::lock_guard lk(m_);
  notify_ = std::move(notify);
}

std::optional<Clock::time_point> WatcherImpl::next_bookmark() const {
  std::lock_guard lk(m_);
  if (!bookmarks_ || ended_) return std::nullopt;
  return next_bookmark_;
}

void WatcherImpl::close() {
  std::lock_guard lk(m_);
  ended_ = true;
  pending_.clear();
}

void WatcherImpl::end() {
  std::lock_guard lk(m_);
  ended_ = true;
}

bool WatcherImpl::finished() const {
  std::lock_guard lk(m_);
  return ended_;
}

void WatcherImpl::wake() {
  std::function<void()> fn;
  {
    std::lock_guard lk(m_);
    fn = notify_;
  }
  if (fn) fn();
}

void WatcherImpl::append(std::string line, uint64_t rv) {
  std::lock_guard lk(m_);
  pending_ += line;
  known_rv_ = std::max(known_rv_, rv);
}

bool WatcherImpl::deliver(const HistoryEvent& e) {
  std::lock_guard lk(m_);
  if (ended_) return false;
  known_rv_ = std::max(known_rv_, e.rv);
  if (e.storage_key != storage_key_) return false;
  const ResourceInfo& res = *filter_.res;
  bool cur = filter_.matches(*e.obj);
  switch (e.type) {
    case EventType::Added:
      if (!cur) return false;
      pending_ += watch_line(EventType::Added, *e.obj, res, filter_.metadata_only);
      return true;
    case EventType::Deleted:
      if (!cur) return false;
      pending_ += watch_line(EventType::Deleted, *e.obj, res, filter_.metadata_only);
      return true;
    case EventType::Modified: {
      bool old = e.prev && filter_.matches(*e.prev);
      if (cur) {
        pending_ += watch_line(old ? EventType::Modified : EventType::Added, *e.obj, res,
                               filter_.metadata_only);
        return true;
      }
      if (!old) return false;
      // Stopped matching: DELETED with the previous content at this event's resourceVersion,
      // as the watch cache sends it.
      json::object gone = e.prev->obj;
      gone["metadata"].as_object()["resourceVersion"] = std::to_string(e.rv);
      auto s = make_stored(res, std::move(gone), e.rv);
      pending_ += watch_line(EventType::Deleted, *s, res, filter_.metadata_only);
      return true;
    }
  }
  return false;
}

}  // namespace kcoro::testing::fake
