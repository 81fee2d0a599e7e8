// docs/counters.md tells the truth: each of its sections lists exactly the
// counters a real node's `stats` reply has in that section.
#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "control/sched.h"
#include "control/telemetry_broker.h"
#include "tests/unit/control/config_fixture.h"
#include "tests/unit/control/fake_link.h"

using namespace hafw;
using nlohmann::json;

namespace {

// Section heading ("## carp.drops") -> the backticked names of its table's first column.
std::map<std::string, std::set<std::string>> doc_sections() {
  std::ifstream in(std::string(HAFW_SOURCE_DIR) + "/docs/counters.md");
  REQUIRE(in);
  std::map<std::string, std::set<std::string>> out;
  std::string line, section;
  const std::regex heading(R"(^#{2,3} ([a-z_.]+)\s*$)"), row(R"(^\| `([a-z_0-9]+)` \|)");
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_match(line, m, heading)) section = m[1];
    else if (std::regex_search(line, m, row) && !section.empty()) out[section].insert(m[1]);
  }
  return out;
}

// The scalar keys of the object at a dotted path of the reply.
std::set<std::string> counters_at(const json& stats, const std::string& dotted) {
  const json* j = &stats;
  std::stringstream ss(dotted);
  for (std::string part; std::getline(ss, part, '.');) {
    REQUIRE(j->contains(part));
    j = &(*j)[part];
  }
  std::set<std::string> out;
  for (const auto& [k, v] : j->items())
    if (!v.is_object()) out.insert(k);
  return out;
}

}  // namespace

TEST_CASE("docs/counters.md lists exactly the counters of a real stats reply", "[docs][counters]") {
  config::Config cfg = config::test::load_ok(config::test::primary());
  std::vector<test::Segment> segs(cfg.interfaces.size());
  std::vector<test::Segment*> seg_ptrs;
  std::vector<net::Mac> macs;
  for (size_t i = 0; i < segs.size(); ++i) {
    seg_ptrs.push_back(&segs[i]);
    macs.push_back(net::Mac{{0x02, 0, 0, 0, 1, uint8_t(i)}});
  }
  test::FakeIo io(seg_ptrs, macs);
  ManualClock clock;
  io.set_clock(clock);
  test::Daemon node(cfg, config::test::primary(), io, clock);
  // hafwd adds the socket's and telemetry's sections.
  node.commands.add_stats([](json& out) { out["control"]["socket"] = control::ControlStats{}.to_json(); });
  node.commands.add_stats([](json& out) { out["control"]["telemetry"] = control::TelemetryBroker{}.stats_json(); });
  control::LinuxScheduler ops;
  control::ControlScheduling sched(ops, 0);
  node.commands.add_stats([&](json& out) { out["control"]["scheduling"] = sched.stats_json(); });
  const json stats = node.handle("stats", json::object());

  const auto doc = doc_sections();
  for (const char* section : {"dataplane", "dataplane.drops", "dataplane.punts", "dataplane.icmp", "dataplane.states",
                              "dataplane.nat", "dataplane.carp", "state_table", "carp.drops", "sync", "sync.drops", "sync.records", "sync.config_sync",
                              "sync.config_sync.refused", "sync.config_sync.drops", "control",
                              "control.socket", "control.telemetry", "control.scheduling"}) {
    INFO("section " << section);
    REQUIRE(doc.count(section));
    CHECK(doc.at(section) == counters_at(stats, section));
  }
}
