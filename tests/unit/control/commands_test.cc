// The command registry: dispatch, the unknown-command reply, help, and stats
// assembled from every part's section.
#include <catch2/catch.hpp>

#include <string>

#include "control/commands.h"

using namespace hafw::control;
using nlohmann::json;

TEST_CASE("commands dispatch by name and refuse what is not registered", "[commands]") {
  Commands c;
  c.add({.name = "echo", .args = "{...}", .summary = "returns its args", .run = [](std::string_view, const json& a) {
           return a;
         }});
  CHECK(c.run("echo", json{{"x", 1}}) == json{{"x", 1}});
  try {
    c.run("no.such", json::object());
    FAIL("no error");
  } catch (const CommandError& e) {
    CHECK(std::string(e.what()) == "unknown command 'no.such' (try 'help')");
  }
  CHECK_THROWS_AS(c.add({.name = "echo", .args = "", .summary = "", .run = nullptr}), std::logic_error);
}

TEST_CASE("help lists exactly the registered commands", "[commands]") {
  Commands c;
  c.add({.name = "carp.status", .args = "", .summary = "s", .run = [](std::string_view, const json&) { return 1; }});
  json help = c.run("help", json::object());
  std::vector<std::string> names;
  for (const auto& h : help) names.push_back(h["cmd"]);
  CHECK(names == std::vector<std::string>{"help", "stats", "carp.status"});
}

TEST_CASE("stats is assembled from every registered section", "[commands]") {
  Commands c;
  c.add_stats([](json& out) { out["dataplane"]["rx"] = 5; });
  c.add_stats([](json& out) { out["control"]["socket"]["requests"] = 2; });
  c.add_stats([](json& out) { out["control"]["unusable_punts"] = 0; });
  json s = c.run("stats", json::object());
  CHECK(s["dataplane"]["rx"] == 5);
  CHECK(s["control"]["socket"]["requests"] == 2);
  CHECK(s["control"]["unusable_punts"] == 0);
}
