// Store: one hash map of key -> ObjectPtr, and per index a map of value -> set of entries of that
// map (pointers to its nodes, which stay put while the key is stored: no second copy of the key).
// Writers compute under the writer mutex, then apply under the exclusive lock.
#include "kcoro/store.hpp"

#include <pthread.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <system_error>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace kcoro {

namespace {

struct StringHash {
  using is_transparent = void;
  // Not noexcept on purpose: libstdc++ then keeps each node's hash code, so a lookup compares
  // codes before keys and never hashes a stored key again while walking a bucket (with a
  // noexcept hasher it re-hashes the next node's key at each step).
  std::size_t operator()(std::string_view s) const {  // NOLINT(performance-noexcept-*)
    return std::hash<std::string_view>{}(s);
  }
};

using Items = std::unordered_map<std::string, ObjectPtr, StringHash, std::equal_to<>>;
using Entry = Items::value_type;
using EntrySet = std::unordered_set<const Entry*>;
using ValueMap = std::unordered_map<std::string, EntrySet, StringHash, std::equal_to<>>;

struct Index {
  IndexFunc func;
  ValueMap values;
};
using Indexes = std::map<std::string, Index, std::less<>>;

// A reader-writer lock that lets a waiting writer in before new readers (glibc's
// PREFER_WRITER_NONRECURSIVE, like Go's RWMutex); std::shared_mutex prefers readers on glibc.
// Readers must not nest read locks, which the store never does.
class RwLock {
 public:
  RwLock() {
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
#if defined(__GLIBC__)
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
    const int rc = pthread_rwlock_init(&rw_, &attr);
    pthread_rwlockattr_destroy(&attr);
    if (rc != 0) throw std::system_error(rc, std::generic_category(), "pthread_rwlock_init");
  }
  ~RwLock() {
    pthread_rwlock_destroy(&rw_);
  }
  RwLock(const RwLock&) = delete;
  RwLock& operator=(const RwLock&) = delete;

  void lock() {
    pthread_rwlock_wrlock(&rw_);
  }
  void unlock() {
    pthread_rwlock_unlock(&rw_);
  }
  void lock_shared() {
    pthread_rwlock_rdlock(&rw_);
  }
  void unlock_shared() {
    pthread_rwlock_unlock(&rw_);
  }

 private:
  pthread_rwlock_t rw_;
};

// The object's values for an index, without duplicates.
std::vector<std::string> values_of(const Index& index, const Object& obj) {
  std::vector<std::string> v = index.func(obj);
  if (v.size() > 1) {
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
  }
  return v;
}

bool contains(const std::vector<std::string>& sorted, const std::string& s) {
  return std::binary_search(sorted.begin(), sorted.end(), s);
}

void index_entry(ValueMap& values, std::string value, const Entry* e) {
  values.try_emplace(std::move(value)).first->second.insert(e);
}

void unindex_entry(ValueMap& values, const std::string& value, const Entry* e) {
  auto it = values.find(value);
  if (it == values.end()) return;
  it->second.erase(e);
  if (it->second.empty()) values.erase(it);
}

// Same object for replace(): the same pointer, or the same non-empty resourceVersion.
bool unchanged(const ObjectPtr& stored, const ObjectPtr& listed) {
  if (stored == listed) return true;
  const std::string_view rv = listed->meta().resource_version;
  return !rv.empty() && rv == stored->meta().resource_version;
}

[[noreturn]] void no_such_index(std::string_view name) {
  throw std::invalid_argument("Store: no index named \"" + std::string(name) + "\"");
}

}  // namespace

struct Store::Impl {
  mutable RwLock lock;   // Readers shared; writers exclusive, briefly.
  std::mutex writer_mu;  // Serialises writers; held while they compute.
  Items items;           // Changed only with writer_mu and lock both held.
  Indexes indexes;       // Likewise.
};

// ---- Index helpers ----

IndexFunc index_by_label(std::string key) {
  return [key = std::move(key)](const Object& obj) -> std::vector<std::string> {
    if (auto v = obj.meta().labels.get(key)) return {std::string(*v)};
    return {};
  };
}

IndexFunc index_by_owner_uid() {
  return [](const Object& obj) {
    std::vector<std::string> uids;
    uids.reserve(obj.meta().owner_references.size());
    for (const auto& ref : obj.meta().owner_references)
      uids.emplace_back(ref.uid);
    return uids;
  };
}

IndexFunc index_by_field(std::string json_pointer) {
  if (json_pointer.empty() || json_pointer.front() != '/') {
    throw std::invalid_argument("index_by_field: \"" + json_pointer +
                                "\" is not a JSON pointer to a field");
  }
  return [ptr = std::move(json_pointer)](const Object& obj) -> std::vector<std::string> {
    std::error_code ec;
    auto raw = obj.get<RawJson>(ptr, ec);
    if (ec || !raw || raw->text.empty()) return {};
    const char first = raw->text.front();
    if (first == '{' || first == '[') return {};
    if (first != '"') return {std::string(raw->text)};
    auto s = obj.get<std::string>(ptr, ec);  // Unescaped.
    if (ec || !s) return {};
    return {std::move(*s)};
  };
}

// ---- Store (read side) ----

Store::Store() : impl_(std::make_unique<Impl>()) {
  impl_->indexes.emplace(std::string(namespace_index),
                         Index{[](const Object& obj) -> std::vector<std::string> {
                                 return {std::string(obj.meta().ns)};
                               },
                               {}});
}

Store::~Store() = default;

ObjectPtr Store::get(std::string_view key) const {
  std::shared_lock lk(impl_->lock);
  auto it = impl_->items.find(key);
  return it == impl_->items.end() ? nullptr : it->second;
}

std::vector<ObjectPtr> Store::list() const {
  std::vector<ObjectPtr> out;
  std::shared_lock lk(impl_->lock);
  out.reserve(impl_->items.size());
  for (const auto& [key, obj] : impl_->items)
    out.push_back(obj);
  return out;
}

std::vector<std::string> Store::list_keys() const {
  std::vector<std::string> out;
  std::shared_lock lk(impl_->lock);
  out.reserve(impl_->items.size());
  for (const auto& entry : impl_->items)
    out.push_back(entry.first);
  return out;
}

std::vector<ObjectPtr> Store::by_index(std::string_view index, std::string_view value) const {
  std::vector<ObjectPtr> out;
  std::shared_lock lk(impl_->lock);
  auto idx = impl_->indexes.find(index);
  if (idx == impl_->indexes.end()) no_such_index(index);
  auto it = idx->second.values.find(value);
  if (it == idx->second.values.end()) return out;
  out.reserve(it->second.size());
  for (const Entry* e : it->second)
    out.push_back(e->second);
  return out;
}

std::vector<std::string> Store::index_keys(std::string_view index) const {
  std::vector<std::string> out;
  std::shared_lock lk(impl_->lock);
  auto idx = impl_->indexes.find(index);
  if (idx == impl_->indexes.end()) no_such_index(index);
  out.reserve(idx->second.values.size());
  for (const auto& entry : idx->second.values)
    out.push_back(entry.first);
  return out;
}

std::vector<std::string> Store::index_names() const {
  std::vector<std::string> out;
  std::shared_lock lk(impl_->lock);
  for (const auto& entry : impl_->indexes)
    out.push_back(entry.first);
  return out;
}

std::size_t Store::size() const {
  std::shared_lock lk(impl_->lock);
  return impl_->items.size();
}

// ---- StoreWriter ----
// Under writer_mu nobody else changes items or indexes, so a writer reads them without `lock`.

StoreWriter::StoreWriter() : store_(new Store()) {}

void StoreWriter::add_index(std::string name, IndexFunc func) {
  if (!func) throw std::invalid_argument("Store::add_index: empty IndexFunc");
  Store::Impl& s = *store_->impl_;
  std::lock_guard w(s.writer_mu);
  if (s.indexes.contains(name)) {
    throw std::invalid_argument("Store::add_index: index \"" + name + "\" exists");
  }
  Index index{std::move(func), {}};
  for (const Entry& e : s.items) {
    for (auto& v : values_of(index, *e.second))
      index_entry(index.values, std::move(v), &e);
  }
  std::unique_lock lk(s.lock);
  s.indexes.emplace(std::move(name), std::move(index));
}

ObjectPtr StoreWriter::upsert(ObjectPtr object) {
  if (!object) throw std::invalid_argument("Store::upsert: null object");
  Store::Impl& s = *store_->impl_;
  // The key is looked up from a reused buffer; a std::string is made only for a new entry.
  thread_local std::string key;
  const ObjectMeta& m = object->meta();
  key.assign(m.ns);
  if (!m.ns.empty()) key += '/';
  key += m.name;
  std::lock_guard w(s.writer_mu);
  auto it = s.items.find(std::string_view(key));
  ObjectPtr old = it == s.items.end() ? nullptr : it->second;

  // Per index, in the map's order: the values to drop and the values to add.
  struct Change {
    std::vector<std::string> drop, add;
  };
  std::vector<Change> changes;
  changes.reserve(s.indexes.size());
  for (const auto& [name, index] : s.indexes) {
    Change c;
    std::vector<std::string> now = values_of(index, *object);
    if (old) {
      // Only what changed: an update that keeps its values (the usual case) touches no index.
      std::vector<std::string> before = values_of(index, *old);
      for (auto& v : before) {
        if (!contains(now, v)) c.drop.push_back(std::move(v));
      }
      for (auto& v : now) {
        if (!contains(before, v)) c.add.push_back(std::move(v));
      }
    } else {
      c.add = std::move(now);
    }
    changes.push_back(std::move(c));
  }

  std::unique_lock lk(s.lock);
  const Entry* e = nullptr;
  if (it == s.items.end()) {
    e = &*s.items.emplace(key, std::move(object)).first;
  } else {
    it->second = std::move(object);
    e = &*it;
  }
  std::size_t i = 0;
  for (auto& [name, index] : s.indexes) {
    Change& c = changes[i++];
    for (const auto& v : c.drop)
      unindex_entry(index.values, v, e);
    for (auto& v : c.add)
      index_entry(index.values, std::move(v), e);
  }
  return old;
}

ObjectPtr StoreWriter::erase(std::string_view key) {
  Store::Impl& s = *store_->impl_;
  std::lock_guard w(s.writer_mu);
  auto it = s.items.find(key);
  if (it == s.items.end()) return nullptr;
  ObjectPtr old = it->second;
  std::vector<std::vector<std::string>> values;
  values.reserve(s.indexes.size());
  for (const auto& [name, index] : s.indexes)
    values.push_back(values_of(index, *old));

  std::unique_lock lk(s.lock);
  std::size_t i = 0;
  for (auto& [name, index] : s.indexes) {
    for (const auto& v : values[i++])
      unindex_entry(index.values, v, &*it);
  }
  s.items.erase(it);
  return old;
}

ReplaceResult StoreWriter::replace(std::vector<ObjectPtr> items) {
  Store::Impl& s = *store_->impl_;
  ReplaceResult r;
  std::lock_guard w(s.writer_mu);

  // The new map, and its entries in list order (node addresses are stable).
  Items next;
  next.reserve(items.size());
  std::vector<Entry*> order;
  order.reserve(items.size());
  for (auto& obj : items) {
    if (!obj) throw std::invalid_argument("Store::replace: null object");
    auto [it, inserted] = next.try_emplace(obj->key(), std::move(obj));
    if (inserted) {
      order.push_back(&*it);
    } else {
      it->second = std::move(obj);  // A later duplicate wins.
    }
  }

  for (Entry* e : order) {
    auto old = s.items.find(e->first);
    if (old == s.items.end()) {
      r.added.push_back(e->second);
    } else if (unchanged(old->second, e->second)) {
      e->second = old->second;  // Keep the stored copy.
      r.unchanged.push_back(e->second);
    } else {
      r.updated.push_back({old->second, e->second});
    }
  }
  for (const auto& [key, obj] : s.items) {
    if (!next.contains(key)) r.deleted.push_back(obj);
  }

  std::vector<ValueMap> next_values;
  next_values.reserve(s.indexes.size());
  for (const auto& [name, index] : s.indexes) {
    ValueMap& values = next_values.emplace_back();
    for (const Entry* e : order) {
      for (auto& v : values_of(index, *e->second))
        index_entry(values, std::move(v), e);
    }
  }

  {
    std::unique_lock lk(s.lock);
    s.items.swap(next);  // swap keeps every node where it is: the entry pointers stay valid.
    std::size_t i = 0;
    for (auto& [name, index] : s.indexes)
      index.values.swap(next_values[i++]);
  }
  // The old maps are freed here, outside the lock.
  return r;
}

ApplyResult StoreWriter::apply(Delta d) {
  ApplyResult r;
  switch (d.type) {
    case DeltaType::replace_begin:
      batch_.clear();  // an unfinished earlier batch is dropped
      in_batch_ = true;
      break;
    case DeltaType::replace_item:
      if (in_batch_) batch_.push_back(std::move(d.object));
      break;
    case DeltaType::replace_end: {
      if (!in_batch_) break;
      in_batch_ = false;
      ReplaceResult rr = replace(std::move(batch_));
      batch_ = {};
      r.changes.reserve(rr.added.size() + rr.updated.size() + rr.deleted.size());
      for (auto& o : rr.added)
        r.changes.push_back({StoreChange::add, nullptr, std::move(o)});
      for (auto& u : rr.updated)
        r.changes.push_back(
            {StoreChange::update, std::move(u.old_object), std::move(u.new_object)});
      for (auto& o : rr.deleted)
        r.changes.push_back({StoreChange::remove, nullptr, std::move(o), true});
      r.resource_version = std::move(d.resource_version);
      r.relisted = true;
      break;
    }
    case DeltaType::added:
    case DeltaType::updated: {
      r.resource_version = std::string(d.object->meta().resource_version);
      ObjectPtr old = upsert(d.object);
      if (old) {
        r.changes.push_back({StoreChange::update, std::move(old), std::move(d.object)});
      } else {
        r.changes.push_back({StoreChange::add, nullptr, std::move(d.object)});
      }
      break;
    }
    case DeltaType::deleted:
      r.resource_version = std::string(d.object->meta().resource_version);
      erase(d.object->key());
      r.changes.push_back({StoreChange::remove, nullptr, std::move(d.object), false});
      break;
    case DeltaType::bookmark:
      r.resource_version = std::move(d.resource_version);
      break;
  }
  return r;
}

}  // namespace kcoro
