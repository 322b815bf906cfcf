// kcoro/store.hpp — the informer's indexed cache: key -> shared_ptr<const Object>, named indexes.
//
// Contract
//
// Keys. An object is stored under Object::key(): "namespace/name", or "name" for cluster-scoped
// objects (client-go's MetaNamespaceKeyFunc).
//
// Read-only by type. Store has only const, read-only members: users (reconcilers, handlers) get a
// `std::shared_ptr<const Store>`. The informer, the store's only writer, holds the StoreWriter that
// created it (kube-rs splits reflector::Store from its Writer the same way).
//
// Indexes. An index maps each object to zero or more values through an IndexFunc; by_index(name,
// value) returns the objects that produced `value`. The "namespace" index (metadata.namespace; ""
// for cluster-scoped objects) is built in. add_index() adds one before or after objects exist
// (existing objects are indexed at once). An IndexFunc must be deterministic (the same object
// always gives the same values: the store calls it again on the old object to unindex it) and
// should be cheap; duplicate values are ignored. If it throws, the write that called it throws and
// leaves the store unchanged.
//
// Threads. Every member of Store and StoreWriter may be called from any thread. Reads take a
// shared lock; concurrent reads do not block each other. Writes are serialised by a writer mutex
// and hold the exclusive lock only to apply what they computed beforehand: index values are
// computed, and a relist's new maps built, before the lock is taken, so a write blocks readers for
// about one hash-map update (upsert/erase) or one container swap per index (replace), never for an
// IndexFunc or a list's length. The lock prefers writers where the platform allows (glibc), so a
// stream of list() calls cannot starve the informer. A read copies ObjectPtrs while it holds the
// shared lock; list() is O(size).
//
// Atomicity. Each write is atomic for readers: a reader sees an object and its index entries from
// the same write, and never part of a replace(): before it, every object of the old list; after
// it, exactly the new list.
//
// Lifetimes. Objects are immutable and shared; what a read returned stays valid after the store
// dropped it.
#pragma once

#include "kcoro/delta.hpp"
#include "kcoro/object.hpp"

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kcoro {

/// The values under which an object is indexed.
using IndexFunc = std::function<std::vector<std::string>(const Object&)>;

/// The name of the built-in index on metadata.namespace.
inline constexpr std::string_view namespace_index = "namespace";

/// Indexes by the value of label `key`; objects without it are not indexed.
IndexFunc index_by_label(std::string key);
/// Indexes by the uid of every owner reference.
IndexFunc index_by_owner_uid();
/// Indexes by the field at `json_pointer` (e.g. "/spec/nodeName"): a string's value, or another
/// scalar's JSON text ("3", "true"); absent, null, object and array fields are not indexed.
IndexFunc index_by_field(std::string json_pointer);

class StoreWriter;

/// The read side of the cache. See the contract.
class Store {
 public:
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  /// The object stored under `key`, or nullptr.
  ObjectPtr get(std::string_view key) const;
  /// The object stored under `key` as a typed API struct (Object::as), or nullopt. The cache
  /// stays JSON: each call decodes. Throws kcoro::api::DecodeError when it does not fit T.
  template <class T>
  std::optional<T> get(std::string_view key) const {
    ObjectPtr o = get(key);
    if (!o) return std::nullopt;
    return o->template as<T>();
  }
  /// Every object, in no particular order.
  std::vector<ObjectPtr> list() const;
  /// Every key, in no particular order.
  std::vector<std::string> list_keys() const;
  /// The objects indexed under `value` by index `index`, in no particular order. Throws
  /// std::invalid_argument if there is no such index.
  std::vector<ObjectPtr> by_index(std::string_view index, std::string_view value) const;
  /// The values index `index` holds objects under (client-go's ListIndexFuncValues). Throws
  /// std::invalid_argument if there is no such index.
  std::vector<std::string> index_keys(std::string_view index) const;
  /// The names of the indexes, sorted.
  std::vector<std::string> index_names() const;
  std::size_t size() const;

 private:
  friend class StoreWriter;
  struct Impl;
  Store();
  std::unique_ptr<Impl> impl_;
};

/// Everything a relist changed, for the informer's handlers. Vectors follow the list's order,
/// except `deleted` (no particular order).
struct ReplaceResult {
  struct Update {
    ObjectPtr old_object;
    ObjectPtr new_object;
  };
  std::vector<ObjectPtr> added;    ///< Keys not in the store before.
  std::vector<Update> updated;     ///< Keys whose resourceVersion changed (or is empty).
  std::vector<ObjectPtr> deleted;  ///< Keys absent from the list: their last known object.
  /// Keys whose object has the same non-empty resourceVersion as the stored one (or is the same
  /// pointer): the store kept its existing ObjectPtr, which is what is reported here.
  std::vector<ObjectPtr> unchanged;
};

/// One thing the handlers must be told about, in order.
struct StoreChange {
  enum Kind : uint8_t { add, update, remove } kind = add;
  ObjectPtr old_object;    ///< update: the object replaced
  ObjectPtr object;        ///< add and update: the new object; remove: the last state known
  bool tombstone = false;  ///< remove: the key vanished from a relist (not a DELETED event)
};

/// What StoreWriter::apply did.
struct ApplyResult {
  std::vector<StoreChange> changes;
  /// The resume point the delta carries (an event's object, a bookmark, a relist's end), if any.
  std::optional<std::string> resource_version;
  bool relisted = false;  ///< a relist batch completed: the store equals the list
};

/// The write side: the informer's handle. See the contract.
class StoreWriter {
 public:
  /// A new, empty store with the "namespace" index.
  StoreWriter();

  /// The read-only handle for users. The same Store for the writer's whole life.
  std::shared_ptr<const Store> store() const noexcept { return store_; }
  const Store& reader() const noexcept { return *store_; }

  /// Adds an index and indexes the objects already stored. Throws std::invalid_argument if
  /// an index of that name exists.
  void add_index(std::string name, IndexFunc func);

  /// Stores `object` under its key. Returns the object it replaced, or nullptr if the key was new.
  ObjectPtr upsert(ObjectPtr object);
  /// Removes the object stored under `key`. Returns it, or nullptr if there was none.
  ObjectPtr erase(std::string_view key);
  /// Makes the store equal to `items` at once (a relist) and reports what changed. If a key
  /// appears more than once, the last object wins. An object with the stored resourceVersion
  /// keeps the stored ObjectPtr (no second copy in memory).
  ReplaceResult replace(std::vector<ObjectPtr> items);

  /// Applies one delta from the reflector and says what the handlers must see. No I/O, no
  /// threads of its own: the informer's consumer loop is the only caller.
  /// - added / updated: an upsert; an add when the key was new, else an update (old, new).
  /// - deleted: the key is erased; a remove with the server's last state of the object.
  /// - replace_begin starts a relist batch (dropping an unfinished one), replace_item adds to it
  ///   (ignored outside a batch), replace_end applies it at once with replace(): adds, then
  ///   updates, then tombstones, and `relisted`. The store never shows half a relist.
  /// - bookmark: only a resource_version.
  ApplyResult apply(Delta delta);

 private:
  std::shared_ptr<Store> store_;
  std::vector<ObjectPtr> batch_;  // the relist being received
  bool in_batch_ = false;
};

}  // namespace kcoro
