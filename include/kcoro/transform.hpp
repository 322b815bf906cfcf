// kcoro/transform.hpp — an edit of an object's JSON text at decode time (client-go's
// TransformFunc), shared by the decoders, list and watch options, and informers.
//
// Contract
// - A transform runs before the Object is built, after the managedFields cut. It may rewrite the
//   text freely; the result must still be a JSON object with metadata.name. A transform that
//   throws fails the decode of that object with the exception's message.
// - No Asio here; this header belongs to the core layer.
#pragma once

#include <functional>
#include <string>

namespace kcoro {

/// Edits an object's JSON text at decode time, before the Object is built.
using Transform = std::function<void(std::string& json)>;

/// Runs `first`, then `second`. Either may be empty.
Transform compose(Transform first, Transform second);

}  // namespace kcoro
