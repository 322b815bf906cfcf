// kcoro/api/types.hpp — the value types the generated API structs are made of, and the
// conversions every generated type shares.
//
// Contract
// - The generated headers (kcoro/api/GROUP/VERSION.hpp) hold plain structs whose fields are
//   std::optional (scalars, nested objects), std::vector (arrays) and std::map (maps). A field that
//   is not set is not written by encode(): a partly filled struct is a server-side-apply
//   configuration or a merge patch. An empty vector or map is "not set" too.
// - decode<T>(json) reads one JSON document in a single forward pass (simdjson On-Demand). Unknown
//   fields are ignored, null is "not set". A value of the wrong type, malformed JSON or an
//   out-of-range number throws DecodeError, whose what() names the JSON path of the value:
//   "spec.containers[0].ports[1].containerPort: expected an integer".
// - encode(v) returns compact JSON text. Keys follow the order of the schema, not of the input.
// - The special types follow apimachinery: Quantity (resource.Quantity: exact value, canonical
//   String()), IntOrString (intstr), Time (RFC 3339, seconds), MicroTime (RFC 3339, microseconds),
//   RawJson (free-form JSON kept as text: RawExtension, FieldsV1, apiextensions JSON).
// - Core layer: no Asio, no simdjson in this header. The conversion code is compiled once into
//   libkcoro (src/api/); these headers only declare it.
#pragma once

#include "kcoro/json.hpp"

#include <chrono>
#include <compare>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace kcoro::api {

/// A JSON document was not what the type expects. what() is "PATH: MESSAGE"; the path is empty
/// for the document itself.
class DecodeError : public std::runtime_error {
 public:
  DecodeError(std::string path, std::string message);
  const std::string& path() const noexcept { return path_; }
  const std::string& message() const noexcept { return message_; }

 private:
  std::string path_;
  std::string message_;
};

/// JSON text to decode, padded or not (kcoro/json.hpp).
using ::kcoro::JsonInput;

/// Free-form JSON kept as text (RawExtension, FieldsV1, apiextensions JSON): written back as is.
/// Unlike kcoro::RawJson (a view into an Object) it owns its text.
struct RawJson {
  std::string text;
  friend bool operator==(const RawJson&, const RawJson&) = default;
};

/// apimachinery's resource.Quantity: a fixed-point number with a suffix ("100m", "1.5Gi", "1e3").
/// The value is exact to 10^-9: parsing rounds smaller fractions up (away from zero) to 1n, and
/// caps at 2^63-1 what apimachinery caps (binary values, and decimals of more than 18 digits),
/// as the API server does. A decimal it keeps exactly beyond 10^28 ("1e30") is rejected here:
/// kcoro holds the value in 128 bits. Comparison is by value ("1000m" == "1", "1Gi" > "1G"); the
/// format only decides how str() writes it.
class Quantity {
 public:
  enum class Format : uint8_t {
    decimal_si,        ///< "", n u m k M G T P E
    binary_si,         ///< Ki Mi Gi Ti Pi Ei
    decimal_exponent,  ///< e3, E-6
  };

  /// Zero ("0").
  Quantity() = default;
  /// Parses by resource.ParseQuantity's rules. Throws std::invalid_argument when `s` is not a
  /// quantity.
  static Quantity parse(std::string_view s);
  /// As parse(), without throwing.
  static std::optional<Quantity> try_parse(std::string_view s) noexcept;
  /// `value` units of 10^`exponent` (a decimal exponent between -9 and 18).
  static Quantity from_scaled(int64_t value, int exponent, Format format = Format::decimal_si);

  /// The canonical form, as resource.Quantity.String(): "1536Mi", "100m", "1e3", "0".
  std::string str() const;
  Format format() const noexcept { return format_; }
  /// The value rounded up (away from zero) to an integer, as Value().
  int64_t value() const noexcept;
  /// The value in thousandths, rounded up (away from zero), as MilliValue().
  int64_t milli_value() const noexcept;
  double as_double() const noexcept;
  bool is_zero() const noexcept { return nanos_ == 0; }

  friend bool operator==(const Quantity& a, const Quantity& b) noexcept {
    return a.nanos_ == b.nanos_;
  }
  friend std::strong_ordering operator<=>(const Quantity& a, const Quantity& b) noexcept {
    return a.nanos_ <=> b.nanos_;
  }

 private:
  __extension__ typedef __int128 Int128;
  Quantity(Int128 nanos, Format f) : nanos_(nanos), format_(f) {}
  Int128 nanos_ = 0;  // the value in units of 10^-9; |nanos_| < 10^37
  Format format_ = Format::decimal_si;
};

/// apimachinery's intstr.IntOrString: an int32 or a string (a port name, a percentage "25%").
class IntOrString {
 public:
  IntOrString() : v_(int32_t{0}) {}
  IntOrString(int32_t i) : v_(i) {}                   // NOLINT: implicit, as in Go's FromInt32
  IntOrString(std::string s) : v_(std::move(s)) {}    // NOLINT
  IntOrString(const char* s) : v_(std::string(s)) {}  // NOLINT
  bool is_int() const noexcept { return v_.index() == 0; }
  /// The integer; 0 when this holds a string.
  int32_t int_value() const noexcept { return is_int() ? std::get<0>(v_) : 0; }
  /// The string; empty when this holds an integer.
  const std::string& str_value() const noexcept;
  /// The text form: "8080" or "http".
  std::string str() const;
  /// GetScaledValueFromIntOrPercent: an integer as is, "N%" as N% of `total` (rounded up when
  /// `round_up`). nullopt for a string that is not a percentage.
  std::optional<int64_t> scaled_value(int64_t total, bool round_up) const;
  friend bool operator==(const IntOrString&, const IntOrString&) = default;

 private:
  std::variant<int32_t, std::string> v_;
};

namespace detail {
/// RFC 3339 text ("2024-01-02T03:04:05Z", "...05.123456+02:00") to a time point, any precision.
/// nullopt when malformed or outside what system_clock holds (years 1678 to 2261 with GCC).
std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view s) noexcept;
/// A time point in UTC with `fraction_digits` (0 or 6) digits after the seconds, then "Z".
std::string format_rfc3339(std::chrono::system_clock::time_point tp, int fraction_digits);
}  // namespace detail

namespace detail {
/// A point in time at the precision `Precision`, written RFC 3339 in UTC with `FractionDigits`
/// digits after the seconds: Time and MicroTime.
template <class Precision, int FractionDigits>
class TimeAt {
 public:
  using clock = std::chrono::system_clock;
  TimeAt() = default;
  /// Truncates to the precision, as the API does.
  explicit TimeAt(clock::time_point tp) : tp_(std::chrono::floor<Precision>(tp)) {}
  static TimeAt now() { return TimeAt(clock::now()); }
  /// Parses RFC 3339 (any fraction, any offset). Throws std::invalid_argument.
  static TimeAt parse(std::string_view s) {
    auto tp = parse_rfc3339(s);
    if (!tp) throw std::invalid_argument("time: not RFC 3339: '" + std::string(s) + "'");
    return TimeAt(*tp);
  }
  clock::time_point time_point() const noexcept { return tp_; }
  std::string str() const { return format_rfc3339(tp_, FractionDigits); }
  friend auto operator<=>(const TimeAt&, const TimeAt&) = default;

 private:
  clock::time_point tp_{};
};
}  // namespace detail

/// meta/v1 Time: a point in time with second precision, written "2024-01-02T03:04:05Z".
using Time = detail::TimeAt<std::chrono::seconds, 0>;
/// meta/v1 MicroTime: a point in time with microsecond precision, "2024-01-02T03:04:05.123456Z".
using MicroTime = detail::TimeAt<std::chrono::microseconds, 6>;

/// An optional value on the heap, for recursive types (JSONSchemaProps.not): copies deeply,
/// compares by value, and reads like std::optional.
template <class T>
class Box {
 public:
  Box() = default;
  Box(const Box& o) : p_(o.p_ ? std::make_unique<T>(*o.p_) : nullptr) {}
  Box(Box&&) noexcept = default;
  Box& operator=(const Box& o) {
    if (this != &o) p_ = o.p_ ? std::make_unique<T>(*o.p_) : nullptr;
    return *this;
  }
  Box& operator=(Box&&) noexcept = default;
  ~Box() = default;

  bool has_value() const noexcept { return p_ != nullptr; }
  explicit operator bool() const noexcept { return has_value(); }
  T& emplace() {
    p_ = std::make_unique<T>();
    return *p_;
  }
  void reset() noexcept { p_.reset(); }
  T& operator*() const noexcept { return *p_; }
  T* operator->() const noexcept { return p_.get(); }

 private:
  std::unique_ptr<T> p_;
};

/// Decodes a JSON document into T (a generated API type). Throws DecodeError.
template <class T>
T decode(std::string_view json) {
  T out;
  decode_json(JsonInput{json}, out);  // the generated overload, found by ADL
  return out;
}

/// As above, from text that may carry padding (an Object's).
template <class T>
T decode(const JsonInput& json) {
  T out;
  decode_json(json, out);
  return out;
}

/// The JSON text of `v` (a generated API type): only the fields that are set.
template <class T>
std::string encode(const T& v) {
  return encode_json(v);  // the generated overload, found by ADL
}

}  // namespace kcoro::api
