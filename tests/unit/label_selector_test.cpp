// Label selectors in the core: the API server's syntax, matched against an object's labels.
#include "kcoro/label_selector.hpp"

#include <doctest/doctest.h>

#include <stdexcept>

using kcoro::LabelSelector;

namespace {

kcoro::ObjectPtr labelled(const char* labels) {
  auto obj = kcoro::Object::parse(
      std::string(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labels":)") + labels +
      "}}");
  REQUIRE(obj);
  return obj;
}

}  // namespace

TEST_CASE("LabelSelector: each operator against an object's labels") {
  auto web = labelled(R"({"app":"web","tier":"front","rank":"3"})");
  const auto& labels = web->meta().labels;
  struct Row {
    const char* selector;
    bool matches;
  };
  for (const Row& row :
       {Row{"", true}, Row{"app=web", true}, Row{"app==web", true}, Row{"app=db", false},
        Row{"app!=db", true}, Row{"app!=web", false},
        Row{"missing!=x", true},  // != matches objects without the label
        Row{"app in (db, web)", true}, Row{"app in (db)", false}, Row{"app notin (db)", true},
        Row{"missing notin (x)", true}, Row{"tier", true}, Row{"missing", false},
        Row{"!missing", true}, Row{"!tier", false}, Row{"rank>2", true}, Row{"rank<3", false},
        Row{"app=web,tier=front", true}, Row{"app=web,tier=back", false}}) {
    CAPTURE(row.selector);
    CHECK(LabelSelector::parse(row.selector).matches(labels) == row.matches);
  }
}

TEST_CASE("LabelSelector: a malformed selector throws with the server's wording") {
  for (const char* bad : {"a in (x", "a=(b)", ",", "-a=b", "a>b"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(LabelSelector::parse(bad), std::invalid_argument);
  }
  try {
    LabelSelector::parse("-a=b");
    FAIL("no exception");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()).find("unable to parse requirement") != std::string::npos);
  }
}

TEST_CASE("LabelSelector: match_labels is an AND of equalities, no parsing") {
  const auto sel = LabelSelector::match_labels({{"app", "web"}, {"tier", "front"}});
  CHECK(sel.matches(labelled(R"({"app":"web","tier":"front"})")->meta().labels));
  CHECK_FALSE(sel.matches(labelled(R"({"app":"web"})")->meta().labels));
  CHECK(LabelSelector{}.empty());
  CHECK(LabelSelector{}.matches(labelled("{}")->meta().labels));
}
