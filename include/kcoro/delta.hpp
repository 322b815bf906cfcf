// kcoro/delta.hpp — what the reflector hands the informer: one change of the watched resource,
// or a piece of a relist batch (begin, items, end). Core types, without Asio: the DeltaChannel
// carries them and StoreWriter::apply consumes them.
#pragma once

#include "kcoro/object.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace kcoro {

enum class DeltaType : uint8_t {
  added,          ///< A watch ADDED event.
  updated,        ///< A watch MODIFIED event.
  deleted,        ///< A watch DELETED event; `object` is the last state the server sent.
  bookmark,       ///< A watch BOOKMARK: no object, `resource_version` set.
  replace_begin,  ///< A relist starts: the items follow.
  replace_item,   ///< One object of the relist.
  replace_end,    ///< The relist is complete; `resource_version` is the list's.
};

/// "added", "updated", ...
std::string_view to_string(DeltaType type) noexcept;

struct Delta {
  DeltaType type = DeltaType::added;
  ObjectPtr object;              ///< Null for bookmark, replace_begin and replace_end.
  std::string resource_version;  ///< Set for bookmark and replace_end.

  Delta() = default;
  // Not an aggregate on purpose: GCC 12 destroys the members of an aggregate temporary built inside
  // a co_await expression twice (`co_await ch.send({type, obj, rv})` frees them twice); a
  // temporary made by a constructor is handled correctly.
  Delta(DeltaType t, ObjectPtr obj = nullptr, std::string rv = {}) noexcept
      : type(t), object(std::move(obj)), resource_version(std::move(rv)) {}
};

}  // namespace kcoro
