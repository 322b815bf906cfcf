// Internal (EnvTest): CustomResourceDefinitions read from YAML or JSON text, as JSON objects.
//
// Several YAML documents may follow each other ("---"); a List holds its CRDs in `items`; empty
// documents are skipped; any other kind is an error. YAML becomes JSON by YAML 1.2's core
// schema: a plain (unquoted) scalar is null, a bool, an integer or a float when it reads as one,
// else a string; a quoted scalar is always a string. Pure: no I/O.
#pragma once

#include <boost/json/object.hpp>

#include <string>
#include <vector>

namespace kcoro::testing {

/// The CRDs in `text`; throws EnvTestError naming `origin` (a file name) when the text is not
/// YAML or a document is not a CustomResourceDefinition.
std::vector<boost::json::object> crd_documents(const std::string& text, const std::string& origin);

}  // namespace kcoro::testing
