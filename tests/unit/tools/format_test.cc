// hafwctl's human output (control/format) on the replies of real daemons: two
// nodes (tests/unit/tools/server_fixture.h's Cluster, fw1 MASTER and fw2
// BACKUP) answer status, carp.status, carp.maintenance, stats and events, and
// the tests read what an operator would. Hand-written replies remain only for
// what a real daemon does not send: missing fields, no VHIDs, no events.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <iterator>
#include <regex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "control/format.h"
#include "tests/unit/tools/server_fixture.h"

using namespace hafw::control;
using hafw::test::Cluster;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// stats output as (name, value) pairs; every line must be "NAME  VALUE" with
// the values right-aligned in one column.
std::vector<std::pair<std::string, std::string>> stat_lines(const std::string& text) {
  static const std::regex kLine(R"(([a-z_.\[\]0-9]+)  +(\S+))");
  std::vector<std::pair<std::string, std::string>> out;
  size_t width = 0;
  for (const auto& l : lines(text)) {
    std::smatch m;
    INFO(l);
    REQUIRE(std::regex_match(l, m, kLine));
    if (width == 0) width = l.size();
    CHECK(l.size() == width);
    out.emplace_back(m[1], m[2]);
  }
  return out;
}

std::string value_of(const std::vector<std::pair<std::string, std::string>>& stats, const std::string& name) {
  for (const auto& [n, v] : stats)
    if (n == name) return v;
  return "<absent>";
}

}  // namespace

TEST_CASE("a VHID prints exactly as BSD ifconfig shows it", "[control][format]") {
  Cluster c;
  json master = c.fw1->handle("carp.status", {})["vhids"];
  json backup = c.fw2->handle("carp.status", {})["vhids"];
  REQUIRE(master.size() == 2);
  REQUIRE(backup.size() == 2);
  CHECK(format_carp_line(master[0]) == "wan: carp: MASTER vhid 200 advbase 1 advskew 0");
  CHECK(format_carp_line(master[1]) == "lan: carp: MASTER vhid 1 advbase 1 advskew 0");
  CHECK(format_carp_line(backup[0]) == "wan: carp: BACKUP vhid 200 advbase 1 advskew 100");
  CHECK(format_carp_line(backup[1]) == "lan: carp: BACKUP vhid 1 advbase 1 advskew 100");
}

TEST_CASE("carp status lists VHIDs with their VIPs, then demotion and maintenance", "[control][format]") {
  Cluster c;
  CHECK(format_carp(c.fw1->handle("carp.status", {})) ==
        "wan: carp: MASTER vhid 200 advbase 1 advskew 0\n"
        "        vip 198.51.100.200\n"
        "lan: carp: MASTER vhid 1 advbase 1 advskew 0\n"
        "        vip 192.168.1.1\n"
        "demotion 0, maintenance off\n");
  CHECK(format_carp(c.fw2->handle("carp.status", {})) ==
        "wan: carp: BACKUP vhid 200 advbase 1 advskew 100\n"
        "        vip 198.51.100.200\n"
        "lan: carp: BACKUP vhid 1 advbase 1 advskew 100\n"
        "        vip 192.168.1.1\n"
        "demotion 0, maintenance off\n");

  // `hafwctl carp maintenance on` prints carp.maintenance's reply: still
  // MASTER, bowing out with advskew 254, until the peer takes over.
  CHECK(format_carp(c.fw1->handle("carp.maintenance", {{"enter", true}})) ==
        "wan: carp: MASTER vhid 200 advbase 1 advskew 254\n"
        "        vip 198.51.100.200\n"
        "lan: carp: MASTER vhid 1 advbase 1 advskew 254\n"
        "        vip 192.168.1.1\n"
        "demotion 0, maintenance on\n");
  c.run_for(50ms);
  CHECK(format_carp(c.fw1->handle("carp.status", {})) ==
        "wan: carp: BACKUP vhid 200 advbase 1 advskew 254\n"
        "        vip 198.51.100.200\n"
        "lan: carp: BACKUP vhid 1 advbase 1 advskew 254\n"
        "        vip 192.168.1.1\n"
        "demotion 0, maintenance on\n");
  CHECK(format_carp(c.fw2->handle("carp.status", {})).starts_with(
      "wan: carp: MASTER vhid 200 advbase 1 advskew 100\n"));
}

TEST_CASE("carp status of a node without VHIDs says so", "[control][format]") {
  // A config always has VHIDs today; a hand-written reply covers the empty list.
  CHECK(format_carp(json{{"maintenance", false}, {"demotion", 0}, {"vhids", json::array()}}) ==
        "no CARP VHIDs configured\ndemotion 0, maintenance off\n");
}

TEST_CASE("status shows node, interfaces as a table and the CARP lines", "[control][format]") {
  Cluster c;
  CHECK(format_status(c.fw1->handle("status", {})) ==
        "node fw1 (primary), up 5s\n"
        "maintenance off, demotion 0\n"
        "\n"
        "interface  port  mac                address            link  rx_packets  tx_packets\n"
        "wan        0     02:00:00:00:01:00  198.51.100.201/24  up             0           0\n"
        "lan        1     02:00:00:00:01:01  192.168.1.2/24     up             0           0\n"
        "sync       2     02:00:00:00:01:02  172.16.1.2/24      up             0           0\n"
        "\n"
        "wan: carp: MASTER vhid 200 advbase 1 advskew 0\n"
        "        vip 198.51.100.200\n"
        "lan: carp: MASTER vhid 1 advbase 1 advskew 0\n"
        "        vip 192.168.1.1\n");

  // The uptime follows the node's clock; the peer's link goes down when its
  // cables are pulled.
  c.run_for(3600s - 5s + 61s);
  c.io2->unplug();
  std::string st = format_status(c.fw2->handle("status", {}));
  CHECK(st.starts_with("node fw2 (secondary), up 1h 1m 1s\nmaintenance off, demotion 0\n"));
  CHECK(st.find("\nwan        0     02:00:00:00:02:00  198.51.100.202/24  down           0           0\n") !=
        std::string::npos);
}

TEST_CASE("uptime reads as days, hours, minutes, seconds", "[control][format]") {
  CHECK(format_uptime(0) == "0s");
  CHECK(format_uptime(59) == "59s");
  CHECK(format_uptime(3600) == "1h 0m 0s");
  CHECK(format_uptime(93784) == "1d 2h 3m 4s");
}

TEST_CASE("stats are aligned name/value lines with only non-zero drop reasons", "[control][format]") {
  Cluster c;
  // A runt on the LAN: both nodes drop it. The backup also drops what is for
  // the VIPs it does not own (the master's adverts).
  hafw::test::Host host(c.lan);
  host.send(std::vector<uint8_t>(10, 0xab));
  c.run_for(10ms);

  json reply = c.fw2->handle("stats", {});
  const json& drops = reply["dataplane"]["drops"];
  REQUIRE(drops["runt"] == 1);
  REQUIRE(drops["vip_not_owned"] > 0);
  // Name/value lines, then a blank line and the table of rules.
  const std::string text = format_stats(reply);
  const size_t gap = text.find("\n\n");
  REQUIRE(gap != std::string::npos);
  auto st = stat_lines(text.substr(0, gap + 1));
  const auto rules = lines(text.substr(gap + 2));
  REQUIRE(rules.size() == 3);  // header, then the lab config's two rules
  CHECK(rules[0].find("rule") == 0);
  CHECK(rules[0].find("evaluations") != std::string::npos);
  const std::regex rule_row(R"( *0 +pass +lan +in +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+)");
  CHECK(std::regex_match(rules[1], rule_row));

  // Sections in the documented order: the packet path, the state table, CARP, state sync, the control thread.
  std::vector<std::string> sections;
  for (const auto& [name, value] : st) {
    std::string s = name.substr(0, name.find('.'));
    if (sections.empty() || sections.back() != s) sections.push_back(s);
  }
  CHECK(sections == std::vector<std::string>{"dataplane", "state_table", "carp", "sync", "control"});

  // A drops object: its total, then its non-zero reasons, nothing else.
  uint64_t total = 0;
  for (const auto& [reason, n] : drops.items()) {
    total += n.get<uint64_t>();
    CHECK(value_of(st, "dataplane.drops." + reason) == (n == 0 ? "<absent>" : n.dump()));
  }
  CHECK(value_of(st, "dataplane.drops") == std::to_string(total));
  auto at = std::find_if(st.begin(), st.end(), [](const auto& l) { return l.first == "dataplane.drops"; });
  REQUIRE(std::distance(at, st.end()) >= 3);
  CHECK(at[1] == std::pair<std::string, std::string>{"dataplane.drops.runt", "1"});
  CHECK(at[2] == std::pair<std::string, std::string>{"dataplane.drops.vip_not_owned", drops["vip_not_owned"].dump()});
  CHECK(value_of(st, "carp.drops") == "0");

  // Every other counter, zero or not, is a line of its own.
  for (const auto& [key, n] : reply["dataplane"].items())
    if (n.is_number()) CHECK(value_of(st, "dataplane." + key) == n.dump());
  for (const auto& [key, n] : reply["dataplane"]["punts"].items())
    CHECK(value_of(st, "dataplane.punts." + key) == n.dump());
  CHECK(value_of(st, "control.unusable_punts") == "0");
}

TEST_CASE("stats layout, spelled out on a small reply", "[control][format]") {
  // Hand-written so the whole text fits here: a section the formatter does
  // not know goes last, a drops object in any section gets its total.
  json s = json::parse(R"({
    "zebra": {"x": 1},
    "control": {"unusable_punts": 2},
    "carp": {"drops": {"bad_ttl": 3, "bad_auth": 0}},
    "dataplane": {"rx": 1000000, "drops": {"no_route": 0, "runt": 12}, "punts": {"carp": 40, "arp": 0}}
  })");
  CHECK(format_stats(s) ==
        "dataplane.drops              12\n"
        "dataplane.drops.runt         12\n"
        "dataplane.punts.arp           0\n"
        "dataplane.punts.carp         40\n"
        "dataplane.rx            1000000\n"
        "carp.drops                    3\n"
        "carp.drops.bad_ttl            3\n"
        "control.unusable_punts        2\n"
        "zebra.x                       1\n");
}

TEST_CASE("events print time then message, oldest first", "[control][format]") {
  Cluster c;
  c.fw1->handle("carp.maintenance", {{"enter", true}});
  c.run_for(50ms);

  // The daemon stamps events with the wall clock: check the shape of the time
  // and the messages exactly.
  static const std::regex kLine(R"((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)  (.+))");
  std::vector<std::string> messages;
  for (const auto& l : lines(format_events(c.fw1->handle("events", {})))) {
    std::smatch m;
    INFO(l);
    REQUIRE(std::regex_match(l, m, kLine));
    // State sync's own events (its bulk at start, and the demotion it
    // holds until then) are checked by the sync tests.
    const std::string msg = m[2];
    if (msg.starts_with("sync: ") || msg.starts_with("demotion ")) continue;
    messages.push_back(msg);
  }
  CHECK(messages == std::vector<std::string>{
                        "node fw1 starting (primary)",
                        "wan vhid 200: INIT -> BACKUP (started)",
                        "lan vhid 1: INIT -> BACKUP (started)",
                        "wan vhid 200: BACKUP -> MASTER (master down timer expired)",
                        "lan vhid 1: BACKUP -> MASTER (master down timer expired)",
                        "entering maintenance mode",
                        "wan vhid 200: MASTER -> BACKUP (peer took over (maintenance))",
                        "lan vhid 1: MASTER -> BACKUP (peer took over (maintenance))",
                    });
  std::string fw2 = format_events(c.fw2->handle("events", {}));
  CHECK(fw2.find("Z  wan vhid 200: BACKUP -> MASTER (master bowed out)\n") != std::string::npos);

  CHECK(format_events(json{{"events", json::array()}}) == "no events\n");
}

TEST_CASE("every field the formatters print is in the daemon's replies", "[control][format]") {
  // A '?' would mean the formatter looks for a field the daemon does not send.
  Cluster c;
  for (auto* d : {c.fw1.get(), c.fw2.get()}) {
    CHECK(format_status(d->handle("status", {})).find('?') == std::string::npos);
    CHECK(format_carp(d->handle("carp.status", {})).find('?') == std::string::npos);
    CHECK(format_stats(d->handle("stats", {})).find('?') == std::string::npos);
    CHECK(format_events(d->handle("events", {})).find('?') == std::string::npos);
  }
}

TEST_CASE("a reply missing fields prints '?' instead of failing", "[control][format]") {
  // An older daemon, a newer CLI: hand-written replies the real daemon never sends.
  CHECK(format_carp_line(json{{"interface", "wan"}, {"vhid", 200}}) == "wan: carp: ? vhid 200 advbase ? advskew ?");
  CHECK(format_carp_line(json("garbage")) == "?: carp: ? vhid ? advbase ? advskew ?");
  CHECK(format_status(json{{"node", {{"name", "fw1"}}}}).starts_with("node fw1 (?), up ?\nmaintenance off, demotion ?\n"));
  CHECK(format_status(json{{"uptime_s", -1}}).starts_with("node ? (?), up -1\n"));
  CHECK_NOTHROW(format_status(json::array({1, 2})));
  CHECK_NOTHROW(format_stats(json(42)));
  CHECK(format_events(json::object()) == "no events\n");
  CHECK(format_events(json{{"events", {{{"message", "x"}}}}}) == "?  x\n");
}

TEST_CASE("stats in the Prometheus text format: one counter per number, reasons as labels",
          "[control][format][prometheus]") {
  Cluster c;
  hafw::test::Host host(c.lan);
  host.send(std::vector<uint8_t>(10, 0xab));  // a runt
  c.run_for(10ms);
  json reply = c.fw2->handle("stats", {});
  reply["control"]["socket"] = hafw::control::ControlStats{.requests = 7, .active = 1}.to_json();
  const std::string text = format_prometheus(reply);

  // Every line is a TYPE comment or "name{reason="..."}? value", and every
  // sample follows the TYPE line of its metric.
  const std::regex type_line(R"(# TYPE (hafw_[a-z_0-9]+) (counter|gauge))");
  const std::regex sample(R"((hafw_[a-z_0-9]+)(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? ([0-9]+))");
  std::istringstream in(text);
  std::string line, typed;
  size_t samples = 0;
  std::smatch m;
  while (std::getline(in, line)) {
    INFO(line);
    if (std::regex_match(line, m, type_line)) {
      typed = m[1];
    } else {
      REQUIRE(std::regex_match(line, m, sample));
      CHECK(m[1] == typed);
      ++samples;
    }
  }
  CHECK(samples > 40);
  CHECK(text.find("hafw_dataplane_drops{reason=\"runt\"} 1\n") != std::string::npos);
  CHECK(text.find("# TYPE hafw_dataplane_drops counter\n") != std::string::npos);
  CHECK(text.find("hafw_carp_drops{reason=\"bad_auth\"} 0\n") != std::string::npos);
  CHECK(text.find("hafw_control_socket_requests 7\n") != std::string::npos);
  // Per-rule counters carry the rule as labels.
  CHECK(text.find("# TYPE hafw_rule_matches counter\n") != std::string::npos);
  CHECK(text.find("hafw_rule_evaluations{rule=\"1\",action=\"block\",interface=\"wan\",direction=\"in\"} ") !=
        std::string::npos);
  CHECK(text.find("# TYPE hafw_control_socket_active gauge\nhafw_control_socket_active 1\n") != std::string::npos);
}

TEST_CASE("sync prints the peer, the bulk, both directions and only the non-zero drops", "[control][format]") {
  Cluster c;
  c.run_for(50ms);
  // The real reply after the start: both nodes asked each other for their table.
  const std::string text = format_sync(c.fw2->handle("sync.status", {}));
  INFO(text);
  CHECK(text.find('?') == std::string::npos);
  const auto l = lines(text);
  REQUIRE(l.size() >= 4);
  CHECK(std::regex_match(l[0], std::regex(R"(sync on sync, peer 172\.16\.1\.2 \([0-9a-f:]{17}\), link up, (encrypted|cleartext), last frame [0-9]+ ms ago)")));
  CHECK(l[1].starts_with("bulk update: done (0 states received in "));
  CHECK(l[2].starts_with("sent: "));
  CHECK(l[3].starts_with("received: "));
  CHECK(l[l.size() - 2] == "drops 0");
  // fw2 is the secondary: it takes the primary's configuration (config
  // sync), which fw1 does not push (no sync.config_sync here).
  CHECK(l.back() == "config sync: taking the primary's, 0 received, 0 applied, 0 unchanged");
  // Drops: their total, then each non-zero reason.
  json st = c.fw2->handle("sync.status", {});
  st["drops"]["bad_tag"] = 3;
  st["drops"]["wrong_source"] = 1;
  st["config_sync"]["refused"]["interface_order"] = 2;
  st["config_sync"]["drops"]["gap"] = 5;
  const auto m = lines(format_sync(st));
  CHECK(m[m.size() - 2] == "drops 4, bad_tag 3, wrong_source 1");
  CHECK(m.back() ==
        "config sync: taking the primary's, 0 received, 0 applied, 0 unchanged, refused interface_order 2, drops gap 5");
  st["config_sync"] = {{"role", "push"}, {"generation", 17}, {"pushed", 2}, {"repushed", 3}, {"chunks_sent", 9}};
  CHECK(lines(format_sync(st)).back() ==
        "config sync: pushing to the peer, generation 17, 2 pushed, 3 re-pushed, 9 chunks sent");
  st["config_sync"]["role"] = "off";
  CHECK(lines(format_sync(st)).back() == "drops 4, bad_tag 3, wrong_source 1");
  CHECK(format_sync(json{{"enabled", false}}) == "state sync off (no sync section in the config)\n");
}
