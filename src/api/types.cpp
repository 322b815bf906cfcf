// The hand-written API value types: Quantity, IntOrString, Time, MicroTime, DecodeError.
#include "kcoro/api/types.hpp"

#include <array>
#include <charconv>
#include <cstdio>
#include <limits>

namespace kcoro::api {

DecodeError::DecodeError(std::string path, std::string message)
    : std::runtime_error(path.empty() ? message : path + ": " + message),
      path_(std::move(path)),
      message_(std::move(message)) {}

// ---- Quantity --------------------------------------------------------------------------------

namespace {

__extension__ typedef __int128 Int128;
using Format = Quantity::Format;

constexpr Int128 nano = 1'000'000'000;
constexpr Int128 max_nanos = Int128{std::numeric_limits<int64_t>::max()} * nano;

Int128 pow10(int e) {
  Int128 r = 1;
  while (e-- > 0)
    r *= 10;
  return r;
}

std::string to_string(Int128 v) {
  if (v == 0) return "0";
  const bool neg = v < 0;
  std::string out;
  while (v != 0) {
    const int digit = static_cast<int>(v % 10);
    out.push_back(static_cast<char>('0' + (digit < 0 ? -digit : digit)));
    v /= 10;
  }
  if (neg) out.push_back('-');
  return {out.rbegin(), out.rend()};
}

struct Suffix {
  int base = 10;  // 10 or 2
  int exponent = 0;
  Format format = Format::decimal_si;
};

std::optional<Suffix> parse_suffix(std::string_view s) {
  if (s.empty()) return Suffix{};
  if (s.size() == 1) {
    static constexpr std::string_view letters = "numkMGTPE";
    static constexpr std::array<int, 9> exps{-9, -6, -3, 3, 6, 9, 12, 15, 18};
    const auto i = letters.find(s[0]);
    if (i == std::string_view::npos) return std::nullopt;
    return Suffix{10, exps[i], Format::decimal_si};
  }
  if (s.size() == 2 && s[1] == 'i') {
    static constexpr std::string_view letters = "KMGTPE";
    const auto i = letters.find(s[0]);
    if (i == std::string_view::npos) return std::nullopt;
    return Suffix{2, 10 * static_cast<int>(i + 1), Format::binary_si};
  }
  if (s[0] == 'e' || s[0] == 'E') {
    std::string_view digits = s.substr(1);
    bool neg = false;
    if (!digits.empty() && (digits[0] == '+' || digits[0] == '-')) {
      neg = digits[0] == '-';
      digits.remove_prefix(1);
    }
    if (digits.empty() || digits.size() > 9) return std::nullopt;
    int e = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return std::nullopt;
      e = e * 10 + (c - '0');
    }
    return Suffix{10, neg ? -e : e, Format::decimal_exponent};
  }
  return std::nullopt;
}

// Removes factors of `base` from |v| while it is at least `base` (apimachinery's
// removeInt64Factors), returning how many were removed.
int remove_factors(Int128& v, int base, int max_times) {
  int times = 0;
  const bool neg = v < 0;
  Int128 a = neg ? -v : v;
  while (times < max_times && a >= base && a % base == 0) {
    a /= base;
    ++times;
  }
  v = neg ? -a : a;
  return times;
}

}  // namespace

std::optional<Quantity> Quantity::try_parse(std::string_view s) noexcept {
  // [+-] digits [. digits] suffix, as parseQuantityString; "." alone is zero.
  std::size_t i = 0;
  bool negative = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
  const std::size_t num_begin = i;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9')
    ++i;
  std::string_view num = s.substr(num_begin, i - num_begin);
  std::string_view denom;
  bool dot = false;
  if (i < s.size() && s[i] == '.') {
    dot = true;
    const std::size_t d = ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9')
      ++i;
    denom = s.substr(d, i - d);
  }
  if (num.empty() && denom.empty() && !dot) return std::nullopt;
  const auto suffix = parse_suffix(s.substr(i));
  if (!suffix) return std::nullopt;

  // The digits as an integer (leading zeros dropped), and the power of ten they are scaled by.
  const int raw_digits = static_cast<int>(num.size() + denom.size());
  while (num.size() > 1 && num[0] == '0')
    num.remove_prefix(1);
  while (!denom.empty() && denom.back() == '0')
    denom.remove_suffix(1);
  if (num == "0") num = {};
  Int128 digits = 0;
  int significant = 0;
  for (std::string_view part : {num, denom}) {
    for (char c : part) {
      if (digits == 0 && c == '0') continue;
      if (++significant > 30) return std::nullopt;  // more digits than 128 bits hold
      digits = digits * 10 + (c - '0');
    }
  }
  int scale = -static_cast<int>(denom.size());  // value = digits * 10^scale (* 2^binary)
  int binary = 0;
  if (suffix->base == 10) {
    scale += suffix->exponent;
  } else {
    binary = suffix->exponent;
  }

  // nanos = digits * 2^binary * 10^(scale+9), rounded up (away from zero) to an integer and
  // capped at max_nanos, computed exactly in 128 bits.
  Int128 nanos = 0;
  if (digits != 0) {
    const int sig = significant;
    if (binary > 0 && sig > 20) return std::nullopt;  // 10^20 * 2^60 is the most 128 bits hold
    const int shift = scale + 9;
    // apimachinery keeps a decimal of at most 18 digits with a scale of at least nano exactly (its
    // int64Amount fast path) and caps everything else at 2^63-1.
    const bool exact = binary == 0 && raw_digits <= 18 && shift >= 0;
    if (shift >= 0) {
      if (sig - 1 + shift >= 28) {
        if (exact && sig + shift <= 37) {
          nanos = digits * pow10(shift);
        } else if (exact) {
          return std::nullopt;  // beyond 10^28: more than kcoro's 128 bits hold
        } else {
          nanos = max_nanos;  // at least 10^28 nanos
        }
      } else {
        nanos = digits * pow10(shift);
        nanos = nanos > (max_nanos >> binary) ? max_nanos : nanos << binary;
        if (nanos > max_nanos && !exact) nanos = max_nanos;
      }
    } else {
      const Int128 v = digits << binary;
      if (-shift > 38) {
        nanos = 1;
      } else {
        const Int128 d = pow10(-shift);
        nanos = v / d + (v % d != 0 ? 1 : 0);
      }
      if (nanos > max_nanos) nanos = max_nanos;
    }
  }
  Format format = suffix->format;
  if (format == Format::binary_si && nanos > 0 && nanos < nano) format = Format::decimal_si;
  return Quantity(negative ? -nanos : nanos, format);
}

Quantity Quantity::parse(std::string_view s) {
  auto q = try_parse(s);
  if (!q) throw std::invalid_argument("quantity: cannot parse '" + std::string(s) + "'");
  return *q;
}

Quantity Quantity::from_scaled(int64_t value, int exponent, Format format) {
  if (exponent < -9 || exponent > 18)
    throw std::invalid_argument("quantity: exponent out of range");
  Int128 n = Int128{value} * pow10(exponent + 9);
  if (n > max_nanos) n = max_nanos;
  if (n < -max_nanos) n = -max_nanos;
  return Quantity(n, format);
}

std::string Quantity::str() const {
  // resource.Quantity.CanonicalizeBytes.
  if (nanos_ == 0) return "0";
  Format format = format_;
  if (format == Format::binary_si) {
    if (nanos_ > -1024 * nano && nanos_ < 1024 * nano) {
      format = Format::decimal_si;
    } else if (nanos_ % nano != 0) {
      format = Format::decimal_si;
    }
  }
  if (format == Format::binary_si) {
    Int128 v = nanos_ / nano;
    const int times = remove_factors(v, 1024, 6);
    static constexpr std::array<std::string_view, 7> suffixes{"",   "Ki", "Mi", "Gi",
                                                              "Ti", "Pi", "Ei"};
    return to_string(v) + std::string(suffixes[static_cast<std::size_t>(times)]);
  }
  Int128 v = nanos_;
  int exponent = -9 + remove_factors(v, 10, 64);
  switch (exponent % 3) {
    case 1:
    case -2:
      v *= 10;
      exponent -= 1;
      break;
    case 2:
    case -1:
      v *= 100;
      exponent -= 2;
      break;
    default:
      break;
  }
  std::string out = to_string(v);
  if (format == Format::decimal_exponent) {
    if (exponent != 0) out += "e" + std::to_string(exponent);
    return out;
  }
  static constexpr std::string_view si[] = {"n", "u", "m", "", "k", "M", "G", "T", "P", "E"};
  const int idx = exponent / 3 + 3;  // -9 → 0, 18 → 9; |value| < 10^19 keeps it in range
  if (idx < 0 || idx > 9) return out + "e" + std::to_string(exponent);
  return out + std::string(si[idx]);
}

namespace {
// nanos / unit, rounded away from zero, saturated to int64.
int64_t scaled(Int128 nanos, Int128 unit) {
  Int128 v = nanos / unit;
  if (nanos % unit != 0) v += nanos > 0 ? 1 : -1;
  if (v > std::numeric_limits<int64_t>::max()) return std::numeric_limits<int64_t>::max();
  if (v < std::numeric_limits<int64_t>::min()) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(v);
}
}  // namespace

int64_t Quantity::value() const noexcept {
  return scaled(nanos_, nano);
}

int64_t Quantity::milli_value() const noexcept {
  return scaled(nanos_, 1'000'000);
}

double Quantity::as_double() const noexcept {
  return static_cast<double>(nanos_) / 1e9;
}

// ---- IntOrString -----------------------------------------------------------------------------

const std::string& IntOrString::str_value() const noexcept {
  static const std::string empty;
  return is_int() ? empty : std::get<1>(v_);
}

std::string IntOrString::str() const {
  return is_int() ? std::to_string(std::get<0>(v_)) : std::get<1>(v_);
}

std::optional<int64_t> IntOrString::scaled_value(int64_t total, bool round_up) const {
  if (is_int()) return std::get<0>(v_);
  const std::string& s = std::get<1>(v_);
  if (s.size() < 2 || s.back() != '%') return std::nullopt;
  int64_t pct = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size() - 1, pct);
  if (ec != std::errc{} || p != s.data() + s.size() - 1) return std::nullopt;
  const Int128 prod = Int128{pct} * total;
  Int128 q = prod / 100;
  if (round_up && prod % 100 != 0 && prod > 0) ++q;
  return static_cast<int64_t>(q);
}

// ---- Time ------------------------------------------------------------------------------------

namespace detail {

namespace {
bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}
}  // namespace

std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view s) noexcept {
  using namespace std::chrono;
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!digits(s, 0, 4, y) || s.size() < 20 || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't') || !digits(s, 11, 2, h) ||
      s[13] != ':' || !digits(s, 14, 2, mi) || s[16] != ':' || !digits(s, 17, 2, sec)) {
    return std::nullopt;
  }
  const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)},
                           day{static_cast<unsigned>(d)}};
  if (!ymd.ok() || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  std::size_t i = 19;
  nanoseconds frac{0};
  if (i < s.size() && s[i] == '.') {
    ++i;
    const std::size_t begin = i;
    int64_t ns = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (i - begin < 9) ns = ns * 10 + (s[i] - '0');
      ++i;
    }
    if (i == begin) return std::nullopt;
    for (std::size_t n = i - begin; n < 9; ++n)
      ns *= 10;
    frac = nanoseconds{ns};
  }
  minutes offset{0};
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    int oh = 0, om = 0;
    if (!digits(s, i + 1, 2, oh) || i + 3 >= s.size() || s[i + 3] != ':' ||
        !digits(s, i + 4, 2, om)) {
      return std::nullopt;
    }
    offset = minutes{(s[i] == '-' ? -1 : 1) * (oh * 60 + om)};
    i += 6;
  } else {
    return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  // In seconds first: system_clock counts nanoseconds in 64 bits (years 1678 to 2261 here), and a
  // time beyond that is an error, not an overflow.
  const sys_seconds secs = sys_days{ymd} + hours{h} + minutes{mi} + seconds{sec} - offset;
  constexpr auto lo = ceil<seconds>(system_clock::time_point::min()) + seconds{1};
  constexpr auto hi = floor<seconds>(system_clock::time_point::max()) - seconds{1};
  if (secs < lo || secs > hi) return std::nullopt;
  return time_point_cast<system_clock::duration>(secs) +
         duration_cast<system_clock::duration>(frac);
}

std::string format_rfc3339(std::chrono::system_clock::time_point tp, int fraction_digits) {
  using namespace std::chrono;
  const auto day_start = floor<days>(tp);
  const year_month_day ymd{day_start};
  const auto in_day = duration_cast<microseconds>(tp - day_start);
  const auto secs = duration_cast<seconds>(in_day);
  const long long s = secs.count();
  char buf[48];
  int n = std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02lld:%02lld:%02lld",
                        static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                        static_cast<unsigned>(ymd.day()), s / 3600, s / 60 % 60, s % 60);
  if (fraction_digits == 6) {
    n += std::snprintf(buf + n, sizeof buf - static_cast<std::size_t>(n), ".%06lld",
                       static_cast<long long>((in_day - secs).count()));
  }
  return std::string(buf, static_cast<std::size_t>(n)) + "Z";
}

}  // namespace detail

}  // namespace kcoro::api
