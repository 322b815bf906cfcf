// The hand-written API value types: Quantity (against apimachinery's quantity_test.go tables),
// IntOrString, Time and MicroTime.
#include "kcoro/api/types.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>

using kcoro::api::IntOrString;
using kcoro::api::MicroTime;
using kcoro::api::Quantity;
using kcoro::api::Time;
using Format = Quantity::Format;

namespace {
std::string canon(std::string_view s) {
  return Quantity::parse(s).str();
}
}  // namespace

TEST_CASE("Quantity: canonical forms, as resource.Quantity.String()") {
  struct Case {
    const char* in;
    const char* out;
  };
  // From TestQuantityParseEmit, TestQuantityString (its alternates), TestQuantityParse.
  const Case cases[] = {
      {"0", "0"},
      {"0m", "0"},
      {"0Ki", "0"},
      {"1000m", "1"},
      {"1.5Gi", "1536Mi"},
      {"0.1", "100m"},
      {"0.5", "500m"},
      {"1e3", "1e3"},  // the exponent format is kept: 1e3, not 1k
      {"1E-3", "1e-3"},
      {"100Mi", "100Mi"},
      {"1Ki", "1Ki"},
      {"1Mi", "1Mi"},
      {"1Gi", "1Gi"},
      {"1024Mi", "1Gi"},
      {"307200Ki", "300Mi"},
      {"1025024Mi", "1001Gi"},
      {"1024Gi", "1Ti"},
      {"5000m", "5"},
      {"1000M", "1G"},
      {"0.001T", "1G"},
      {"1000u", "1m"},
      {"1.08", "1080m"},
      {"1080000000n", "1080m"},
      {".001Ki", "1024m"},
      {".000001Ki", "1024u"},
      {".000000001Ki", "1024n"},
      {".000000000001Ki", "2n"},
      {".001e12", "1e9"},
      {"0.001e0", "1e-3"},
      {"1000e-12", "1e-9"},
      {"100.035k", "100035"},
      {"50k", "50k"},
      {"1.2e3", "1200"},  // 12e2 → exponent made a multiple of 3: 1200e0
      {"10e3", "10e3"},
      {"1e4", "10e3"},
      {"3.001n", "4n"},  // rounds up to whole nanos
      {"0.9n", "1n"},
      {"0.00000012345", "124n"},
      {"9Ei", "9223372036854775807"},  // capped at 2^63-1
      {"9223372036854775807Ki", "9223372036854775807"},
      {"12E", "12E"},     // 18 digits or fewer: exact, not capped
      {"1000E", "1e21"},  // no SI suffix beyond E
      {"100.035Ki", "102435840m"},
      {"0.5Mi", "512Ki"},
      {"1.", "1"},
      {"1.G", "1G"},
      {".", "0"},
      {"-1.5Gi", "-1536Mi"},
      {"-100m", "-100m"},
      {"1023", "1023"},
      {"1025", "1025"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.in);
    CHECK(canon(c.in) == c.out);
    // The canonical form parses back to the same value and prints the same.
    CHECK(Quantity::parse(c.out) == Quantity::parse(c.in));
  }
}

TEST_CASE("Quantity: formats and values") {
  CHECK(Quantity::parse("1Ki").format() == Format::binary_si);
  CHECK(Quantity::parse("1k").format() == Format::decimal_si);
  CHECK(Quantity::parse("1e3").format() == Format::decimal_exponent);
  CHECK(Quantity::parse("0.000000000001Ki").format() == Format::decimal_si);  // below 1
  CHECK(Quantity::parse("500m").milli_value() == 500);
  CHECK(Quantity::parse("500m").value() == 1);  // rounds up, as Value()
  CHECK(Quantity::parse("-500m").value() == -1);
  CHECK(Quantity::parse("1Gi").value() == 1073741824);
  CHECK(Quantity::parse("1.5").as_double() == 1.5);
  CHECK(Quantity::from_scaled(5300, -3).str() == "5300m");
  CHECK(Quantity::from_scaled(5, 9).str() == "5G");
  CHECK(Quantity::from_scaled(1024, 0, Format::binary_si).str() == "1Ki");
  CHECK(Quantity().str() == "0");
}

TEST_CASE("Quantity: comparison is by value") {
  auto q = [](const char* s) { return Quantity::parse(s); };
  CHECK(q("1Gi") > q("1G"));
  CHECK(q("1000m") == q("1"));
  CHECK(q("100m") > q("50m"));
  CHECK(q("50m") < q("100m"));
  CHECK(q("10000T") > q("100Gi"));
  CHECK(q("1Ki") == q("1024"));
  CHECK(q("1e3") == q("1k"));
  CHECK(q("0") == q("0Gi"));
  CHECK(q("-1") < q("1n"));
  CHECK(q("0.5") == q("500m"));
}

TEST_CASE("Quantity: malformed input") {
  for (const char* s : {"", "Non-Numeric", "1Qi", "1.5.5", "1e", "1KiB", "--1", "1 ", " 1", "m",
                        "1e3.5", "0x10", "1e40"}) {
    CAPTURE(s);
    CHECK_FALSE(Quantity::try_parse(s));
    CHECK_THROWS_AS(Quantity::parse(s), std::invalid_argument);
  }
}

TEST_CASE("IntOrString") {
  IntOrString i = 8080;
  IntOrString s = "http";
  CHECK(i.is_int());
  CHECK(i.int_value() == 8080);
  CHECK(i.str() == "8080");
  CHECK(i.str_value().empty());
  CHECK_FALSE(s.is_int());
  CHECK(s.str_value() == "http");
  CHECK(s.int_value() == 0);
  CHECK(IntOrString("8080") != IntOrString(8080));  // a string is never the int
  CHECK(IntOrString().is_int());
  // GetScaledValueFromIntOrPercent.
  CHECK(IntOrString("25%").scaled_value(10, true) == 3);
  CHECK(IntOrString("25%").scaled_value(10, false) == 2);
  CHECK(IntOrString(3).scaled_value(10, true) == 3);
  CHECK(IntOrString("100%").scaled_value(7, false) == 7);
  CHECK_FALSE(IntOrString("25").scaled_value(10, true));
  CHECK_FALSE(IntOrString("%").scaled_value(10, true));
  CHECK_FALSE(IntOrString("x%").scaled_value(10, true));
}

TEST_CASE("Time and MicroTime: RFC 3339") {
  using namespace std::chrono;
  const Time t = Time::parse("2024-01-02T03:04:05Z");
  CHECK(t.str() == "2024-01-02T03:04:05Z");
  CHECK(t.time_point() == sys_days{2024y / 1 / 2} + 3h + 4min + 5s);
  // Offsets are converted to UTC; fractions are dropped by Time (second precision).
  CHECK(Time::parse("2024-01-02T05:04:05.999+02:00").str() == "2024-01-02T03:04:05Z");
  CHECK(Time::parse("2024-01-01T23:30:00-01:00").str() == "2024-01-02T00:30:00Z");
  CHECK(Time::parse("1970-01-01T00:00:00Z").time_point().time_since_epoch().count() == 0);
  CHECK(Time::parse("2024-02-29T00:00:00Z").str() == "2024-02-29T00:00:00Z");

  const MicroTime m = MicroTime::parse("2024-01-02T03:04:05.123456Z");
  CHECK(m.str() == "2024-01-02T03:04:05.123456Z");
  CHECK(MicroTime::parse("2024-01-02T03:04:05Z").str() == "2024-01-02T03:04:05.000000Z");
  CHECK(MicroTime::parse("2024-01-02T03:04:05.1234567Z").str() == "2024-01-02T03:04:05.123456Z");
  CHECK(MicroTime::parse("2024-01-02T03:04:05.5Z").str() == "2024-01-02T03:04:05.500000Z");
  CHECK(MicroTime(sys_days{1999y / 12 / 31} + 23h + 59min + 59s + 999999us).str() ==
        "1999-12-31T23:59:59.999999Z");
  CHECK(Time::parse("2024-01-02T03:04:05Z") < Time::parse("2024-01-02T03:04:06Z"));

  for (const char* bad :
       {"", "2024-01-02", "2024-01-02T03:04:05", "2024-13-02T03:04:05Z", "2024-02-30T03:04:05Z",
        "2024-01-02 03:04:05Z", "2024-01-02T03:04:05.Z", "2024-01-02T03:04:05+0200",
        "2024-01-02T25:04:05Z", "x024-01-02T03:04:05Z", "2024-01-02T03:04:05Zjunk",
        // Beyond what system_clock holds (nanoseconds in 64 bits): an error, not an overflow.
        "0000-01-01T00:00:00-23:59", "9999-12-31T23:59:59Z"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(Time::parse(bad), std::invalid_argument);
  }
}
