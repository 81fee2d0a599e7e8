// The control commands as DPDK telemetry commands (control/telemetry.h):
// what a reply becomes under DPDK's limits, and the parts one can ask for.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <string>

#include "control/telemetry.h"
#include "tests/unit/control/config_fixture.h"
#include "tests/unit/control/fake_link.h"

using namespace hafw;
using control::telemetry_answer;
using control::telemetry_shape;
using nlohmann::json;

namespace {

// Every scalar of `reply`, with the path and value a telemetry reader finds
// it under: key characters DPDK refuses as '_', arrays of objects by
// position, booleans as 0/1, nulls gone.
void leaves(const json& v, const std::string& path, std::map<std::string, json>& out) {
  if (v.is_object()) {
    for (const auto& [k, x] : v.items()) {
      std::string key = k;
      for (char& c : key)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '/') c = '_';
      leaves(x, path.empty() ? key : path + "/" + key, out);
    }
  } else if (v.is_array() && std::any_of(v.begin(), v.end(), [](const json& x) { return x.is_structured(); })) {
    for (size_t i = 0; i < v.size(); ++i) leaves(v[i], path + "/" + std::to_string(i), out);
  } else if (v.is_boolean()) {
    out[path] = v.get<bool>() ? 1 : 0;
  } else if (!v.is_null()) {
    out[path] = v;
  }
}

// A node of the example pair on the fake network, as the unit tests of the
// controller make it.
struct Node {
  config::Config cfg = config::test::load_ok(config::test::primary());
  std::vector<test::Segment> segs{cfg.interfaces.size()};
  std::vector<test::Segment*> seg_ptrs;
  std::vector<net::Mac> macs;
  std::unique_ptr<test::FakeIo> io;
  ManualClock clock;
  std::unique_ptr<test::Daemon> daemon;
  Node() {
    for (size_t i = 0; i < segs.size(); ++i) {
      seg_ptrs.push_back(&segs[i]);
      macs.push_back(net::Mac{{0x02, 0, 0, 0, 1, uint8_t(i)}});
    }
    io = std::make_unique<test::FakeIo>(seg_ptrs, macs);
    io->set_clock(clock);
    daemon = std::make_unique<test::Daemon>(cfg, config::test::primary(), *io, clock);
    daemon->start();
    clock.advance(std::chrono::seconds(4));  // MASTER: adverts sent, counters moved
    daemon->step();
  }
};

}  // namespace

TEST_CASE("a real node's stats, carp and status read the same through telemetry", "[telemetry]") {
  Node node;
  for (const char* cmd : {"stats", "carp.status", "status", "states.summary", "sync.status"}) {
    INFO(cmd);
    const json reply = node.daemon->handle(cmd, json::object());
    const json shaped = telemetry_answer("/hafw/x", "", reply);
    REQUIRE_FALSE(shaped.contains("error"));
    std::map<std::string, json> want, got;
    leaves(reply, "", want);
    leaves(shaped, "", got);
    CHECK(got == want);
    CHECK(shaped.dump().size() < control::kTelemetryMaxOutput);
  }
  // The numbers a monitoring script would look for, where it looks.
  const json shaped = telemetry_answer("/hafw/carp", "", node.daemon->handle("carp.status", json::object()));
  CHECK(shaped["vhids"]["0"]["state"] == "MASTER");
  CHECK(shaped["vhids"]["0"]["adverts_sent"].get<uint64_t>() >= 1);
  CHECK(shaped["maintenance"] == 0);
}

TEST_CASE("the shape fits DPDK's types and limits", "[telemetry]") {
  const json shaped = telemetry_shape(json{{"tcp.first", 120},
                                           {"up", true},
                                           {"gone", nullptr},
                                           {"ratio", 0.5},
                                           {"delta", -3},
                                           {"huge_negative", -5000000000LL},
                                           {"list", {1, 2, 3}},
                                           {"mixed", {1, "a"}},
                                           {"signed", {1, -1}},
                                           {"rules", {{{"rule", 0}}, {{"rule", 1}}}},
                                           {"name", std::string(200, 'x')}});
  CHECK(shaped["tcp_first"] == 120);
  CHECK(shaped["up"] == 1);
  CHECK_FALSE(shaped.contains("gone"));
  CHECK(shaped["ratio"] == "0.5");
  CHECK(shaped["delta"] == -3);
  CHECK(shaped["huge_negative"] == "-5000000000");
  CHECK(shaped["list"] == json{1, 2, 3});
  CHECK(shaped["mixed"] == json{"1", "a"});
  CHECK(shaped["signed"] == json{1, -1});
  CHECK(shaped["rules"] == json{{"0", {{"rule", 0}}}, {"1", {{"rule", 1}}}});
  CHECK(shaped["name"].get<std::string>().size() == control::kTelemetryMaxString);
  // UTF-8 is cut between characters: 64 two-byte characters are 128 bytes.
  std::string accents;
  for (int i = 0; i < 64; ++i) accents += "\xc3\xa9";
  CHECK(telemetry_shape(json{{"s", accents}})["s"].get<std::string>().size() == 126);
  CHECK(telemetry_shape(json(7)) == json{{"value", 7}});

  json big = json::object();
  for (int i = 0; i < 300; ++i) big["k" + std::to_string(1000 + i)] = i;
  const json cut = telemetry_shape(big);
  CHECK(cut.size() == control::kTelemetryMaxDict);
  CHECK(cut["truncated"] == 300 - (control::kTelemetryMaxDict - 1));
  json long_list = json::array();
  for (int i = 0; i < 600; ++i) long_list.push_back(i);
  CHECK(telemetry_shape(json{{"l", long_list}})["l"].size() == control::kTelemetryMaxArray);
}

TEST_CASE("params pick a part of the reply", "[telemetry]") {
  const json reply = {{"dataplane", {{"rx", 5}, {"drops", {{"runt", 1}}}}},
                      {"rules", {{{"matches", 9}}}},
                      {"state_table", {{"states", 12}}}};
  CHECK(telemetry_answer("/hafw/stats", "dataplane/drops", reply) == json{{"runt", 1}});
  CHECK(telemetry_answer("/hafw/stats", "state_table/states", reply) == json{{"states", 12}});
  CHECK(telemetry_answer("/hafw/stats", "rules/0", reply) == json{{"matches", 9}});
  CHECK(telemetry_answer("/hafw/stats", "rules/0/matches", reply) == json{{"matches", 9}});
  const json bad = telemetry_answer("/hafw/stats", "dataplane/nope", reply);
  CHECK(bad["error"] == "no part 'nope' in 'dataplane'");
  CHECK(bad["parts"] == json{"drops", "rx"});
  CHECK(telemetry_answer("/hafw/stats", "rules/3", reply)["parts"] == json{"0"});
  // A command's error comes through as it is.
  CHECK(telemetry_answer("/hafw/sync", "", json{{"error", "no sync"}}) == json{{"error", "no sync"}});
}

TEST_CASE("an answer over DPDK's 16 KiB is refused with the parts to ask for", "[telemetry]") {
  json rules = json::array();
  for (int i = 0; i < 200; ++i) rules.push_back({{"rule", i}, {"matches", 0}, {"packets", 0}, {"description", std::string(60, 'd')}});
  const json reply = {{"dataplane", {{"rx", 5}}}, {"rules", rules}};
  const json all = telemetry_answer("/hafw/stats", "", reply);
  REQUIRE(all.contains("error"));
  CHECK(all["error"].get<std::string>().find("more than DPDK telemetry's 16384") != std::string::npos);
  CHECK(all["parts"] == json{"dataplane", "rules"});
  CHECK(telemetry_answer("/hafw/stats", "dataplane", reply) == json{{"rx", 5}});
  CHECK(telemetry_answer("/hafw/stats", "rules/199", reply)["rule"] == 199);
  // Whatever is answered fits: the size DPDK will write stays under its buffer.
  CHECK(telemetry_answer("/hafw/stats", "rules", reply).contains("error"));
}
