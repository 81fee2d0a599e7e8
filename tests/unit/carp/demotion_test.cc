// The node's demotion as a sum of named causes.
#include <catch2/catch.hpp>

#include "carp/demotion.h"

using hafw::carp::Demotion;

TEST_CASE("demotion is the sum of its causes, clamped to 0..255, each removable", "[carp][demotion]") {
  Demotion d;
  CHECK(d.total() == 0);
  CHECK(d.set("link down: lan", 1));
  CHECK(d.set("operator", 10));
  CHECK(d.total() == 11);
  CHECK(d.causes().size() == 2);
  CHECK(d.causes()[0].first == "link down: lan");  // in the order raised
  CHECK_FALSE(d.set("operator", 10));              // no change
  CHECK(d.set("operator", 300));
  CHECK(d.total() == 255);
  CHECK(d.set("operator", 0));
  CHECK(d.get("operator") == 0);
  CHECK(d.causes().size() == 1);
  CHECK(d.total() == 1);
  CHECK(d.set("link down: lan", 0));
  CHECK(d.causes().empty());
  CHECK(d.total() == 0);
}
