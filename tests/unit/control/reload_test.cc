// config.reload on whole nodes (node_lab.h: the real Controller and worker
// pipeline, a manual clock): what a reload keeps (MASTER, timers, states),
// what it changes (VIPs, rules, config.get), and that a config it refuses
// changes nothing and gets the lines of `hafwctl check`.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <string>

#include "control/check.h"
#include "control/config.h"
#include "control/socket.h"
#include "tests/unit/control/node_lab.h"

using namespace hafw;
using namespace std::chrono_literals;
using namespace hafw::test::node;
using nlohmann::json;

namespace {

// n1's config as the lab starts it, as JSON to edit.
json n1_config(const Lab& lab) { return json::parse(node_json("n1", "primary", 2, 0, lab.dirs.path + "/n1")); }

std::string write(const Lab& lab, const std::string& name, const std::string& text) {
  const std::string path = lab.dirs.path + "/" + name;
  std::ofstream(path) << text;
  return path;
}
std::string write(const Lab& lab, const std::string& name, const json& cfg) { return write(lab, name, cfg.dump(2)); }

const json* vhid_of(const json& carp_status, const std::string& iface, int vhid) {
  for (const auto& v : carp_status["vhids"])
    if (v["interface"] == iface && v["vhid"] == vhid) return &v;
  return nullptr;
}

// What `hafwctl check FILE` prints.
std::string check_output(const std::string& path) {
  std::ostringstream out;
  config::check_command({path}, out);
  return out.str();
}

// The message of the CommandError the command throws ("" if it does not).
std::string refusal(test::Daemon& d, const std::string& cmd, const json& args) {
  try {
    d.handle(cmd, args);
  } catch (const control::CommandError& e) {
    return e.what();
  }
  return "";
}

bool has_event(test::Daemon& d, const std::string& text) {
  const json ev = d.handle("events", json::object());
  for (const auto& e : ev["events"])
    if (e["message"].get<std::string>().find(text) != std::string::npos) return true;
  return false;
}

json lan_vip(int vhid, const std::string& addr) {
  return {{"interface", "lan"}, {"vhid", vhid}, {"addresses", {addr}}, {"password", "lan2-secret"},
          {"advbase", 1},       {"advskew", 0}};
}

}  // namespace

TEST_CASE("a reload adds a VIP in BACKUP and keeps the unchanged VHIDs MASTER with their timers", "[node][reload]") {
  Lab lab;
  lab.start_n1();
  lab.run_for(4s);
  REQUIRE(Lab::state(*lab.n1, "wan") == "MASTER");
  const json before = lab.n1->handle("carp.status", json::object());
  const auto deadline_before = lab.n1->controller.next_deadline();

  json cfg = n1_config(lab);
  cfg["carp"]["vips"].push_back(lan_vip(2, "192.168.1.250"));
  const std::string path = write(lab, "n1-vip.json", cfg);
  const json reply = lab.n1->handle("config.reload", {{"path", path}});
  CHECK(reply["applied"] == true);
  CHECK(reply["changes"] == json::array({"lan vhid 2 added"}));
  CHECK(reply["source"] == path);

  // The new VHID starts as any VHID does; the others did not move: same
  // state, no transition counted, the advert timer as it was.
  const json after = lab.n1->handle("carp.status", json::object());
  REQUIRE(after["vhids"].size() == 3);
  REQUIRE(vhid_of(after, "lan", 2));
  CHECK((*vhid_of(after, "lan", 2))["state"] == "BACKUP");
  for (const auto& [iface, vhid] : {std::pair("wan", 200), std::pair("lan", 1)}) {
    INFO(iface);
    CHECK((*vhid_of(after, iface, vhid))["state"] == "MASTER");
    CHECK((*vhid_of(after, iface, vhid))["transitions"] == (*vhid_of(before, iface, vhid))["transitions"]);
    CHECK((*vhid_of(after, iface, vhid))["adverts_sent"] == (*vhid_of(before, iface, vhid))["adverts_sent"]);
  }
  CHECK(lab.n1->controller.next_deadline() == deadline_before);

  // A new VHID waits a full master-down interval (3 s) before it takes
  // over, even with nobody else on the segment; then it answers ARP.
  auto took = lab.time_until([&] { return Lab::state(*lab.n1, "lan") == "MASTER" &&
                                          (*vhid_of(lab.n1->handle("carp.status", json::object()), "lan", 2))["state"] == "MASTER"; },
                             5s);
  REQUIRE(took);
  CHECK(*took >= 3s);
  lab.client.received.clear();
  lab.client.send(arp_frame(net::kArpRequest, lab.client.mac, lab.client.addr, net::Mac{}, ip("192.168.1.250"),
                            net::Mac::broadcast()));
  lab.settle();
  net::Mac sha{};
  CHECK(arp_replies_for(lab.client, ip("192.168.1.250"), &sha) == 1);
  CHECK(sha == net::Mac::virtual_for(2));

  // config.get returns the new config; the event says what changed.
  CHECK(lab.n1->handle("config.get", {{"secrets", true}}) == cfg);
  CHECK(has_event(*lab.n1, "config applied: 1 change (lan vhid 2 added) from " + path + " (config.reload)"));
}

TEST_CASE("an invalid config is refused with hafwctl check's lines and changes nothing", "[node][reload]") {
  Lab lab;
  lab.start_n1();
  lab.run_for(4s);
  REQUIRE(Lab::state(*lab.n1, "wan") == "MASTER");
  const json status = lab.n1->handle("carp.status", json::object());
  const json running = lab.n1->handle("config.get", {{"secrets", true}});

  json cfg = n1_config(lab);
  cfg["carp"]["vips"].push_back(lan_vip(0, "192.168.1.250"));   // vhid out of range
  cfg["carp"]["vips"].push_back(lan_vip(3, "10.0.0.1"));        // outside the LAN's subnet
  cfg["rules"][0]["action"] = "allow";
  const std::string path = write(lab, "n1-bad.json", cfg);
  const std::string expected = check_output(path);
  REQUIRE(expected.starts_with("error: "));
  const std::string why = refusal(*lab.n1, "config.reload", {{"path", path}});
  CHECK(why + "\n" == expected);

  // A file that is not JSON, and the same config inline: refused alike.
  const std::string broken = write(lab, "n1-broken.json", std::string("{\"node\": {\"name\": \"n1\",}"));
  CHECK(refusal(*lab.n1, "config.reload", {{"path", broken}}) + "\n" == check_output(broken));
  CHECK(refusal(*lab.n1, "config.reload", {{"config", cfg}}) + "\n" == expected);
  // Nothing to read, a relative path, a wrong argument: refused with a reason.
  CHECK(refusal(*lab.n1, "config.reload", {{"path", lab.dirs.path + "/missing.json"}})
            .starts_with("error: $: cannot read " + lab.dirs.path + "/missing.json: "));
  CHECK(refusal(*lab.n1, "config.reload", {{"path", "n1.json"}}).find("must be absolute") != std::string::npos);
  CHECK(refusal(*lab.n1, "config.reload", {{"file", path}}).find("unknown argument \"file\"") != std::string::npos);
  CHECK(refusal(*lab.n1, "config.reload", {{"config", "{}"}}).find("must be a JSON object") != std::string::npos);
  // Not started from a file (the lab's nodes are not): nothing to reload.
  CHECK(refusal(*lab.n1, "config.reload", json::object()).find("not started from a file") != std::string::npos);

  // The running config is fully in force.
  CHECK(lab.n1->handle("carp.status", json::object()) == status);
  CHECK(lab.n1->handle("config.get", {{"secrets", true}}) == running);
  CHECK(has_event(*lab.n1, "config rejected: 3 errors (carp.vips[2].vhid: must be 1-255, got 0; rules[0].action: "));
  CHECK(has_event(*lab.n1, ") from " + path + " (config.reload); the running config stays"));
  lab.run_for(2s);
  CHECK(Lab::state(*lab.n1, "wan") == "MASTER");
  CHECK(lab.ping_server(1).size() == 1);
}

TEST_CASE("the reassembly limits need a restart", "[node][reload]") {
  Lab lab;
  lab.start_n1();
  lab.run_for(4s);
  const json running = lab.n1->handle("config.get", {{"secrets", true}});
  json cfg = n1_config(lab);
  cfg["dataplane"]["fragments"] = {{"max_packets", 2048}, {"timeout_ms", 30000}};
  CHECK(refusal(*lab.n1, "config.reload", {{"config", cfg}}) ==
        "warning: sync.key: not set: state sync travels in cleartext; keep the sync link a crossover cable or "
        "isolated VLAN\n"
        "error: dataplane.fragments.max_packets: requires a restart (running 1024, new 2048)");
  CHECK(lab.n1->handle("config.get", {{"secrets", true}}) == running);
}

TEST_CASE("a key that needs a restart refuses the whole config", "[node][reload]") {
  Lab lab;
  lab.start_n1();
  lab.run_for(4s);
  const json status = lab.n1->handle("carp.status", json::object());
  const json running = lab.n1->handle("config.get", {{"secrets", true}});

  json cfg = n1_config(lab);
  cfg["carp"]["vips"].push_back(lan_vip(2, "192.168.1.250"));  // would be fine alone
  cfg["dataplane"]["workers"] = 2;
  cfg["interfaces"][1]["port"] = "7";
  cfg["control"]["socket"] = "/run/elsewhere.sock";
  cfg["sync"]["key"] = "a-new-sync-key";
  CHECK(refusal(*lab.n1, "config.reload", {{"config", cfg}}) ==
        "error: dataplane.workers: requires a restart (running 1, new 2)\n"
        "error: interfaces[1].port: requires a restart (running '1', new '7')\n"
        "error: sync.key: requires a restart\n"
        "error: control.socket: requires a restart (running '/nonexistent/hafwd.sock', new '/run/elsewhere.sock')");
  CHECK(lab.n1->handle("carp.status", json::object()) == status);
  CHECK(lab.n1->handle("config.get", {{"secrets", true}}) == running);
  CHECK(has_event(*lab.n1, "config rejected: 4 errors (dataplane.workers: requires a restart (running 1, new 2); "));
  CHECK(has_event(*lab.n1, "; and 1 more) from an inline config (config.reload); the running config stays"));

  // The sync interface's address is the seal's and the peer's: a restart.
  // (The checker's warning comes first, as hafwctl check prints it.)
  json moved = n1_config(lab);
  moved["interfaces"][2]["address"] = "172.16.1.9/24";
  CHECK(refusal(*lab.n1, "config.reload", {{"config", moved}}) ==
        "warning: sync.key: not set: state sync travels in cleartext; keep the sync link a crossover cable or "
        "isolated VLAN\n"
        "error: interfaces[2].address: requires a restart on the sync interface (running 172.16.1.2/24, new "
        "172.16.1.9/24)");
}

TEST_CASE("states survive a reload that changes the rules; new connections meet the new rules", "[node][reload]") {
  Lab lab;
  lab.start_n1();
  lab.run_for(5s);
  REQUIRE(Lab::state(*lab.n1, "lan") == "MASTER");
  REQUIRE(lab.ping_server(1).size() == 1);  // echo id 7: a state, translated
  const json states = lab.n1->handle("states.list", json::object());
  REQUIRE(states["states"].size() == 1);

  // Rule 0 now blocks ICMP from the LAN; the rest moves down.
  json cfg = n1_config(lab);
  cfg["rules"].insert(cfg["rules"].begin(), json{{"action", "block"}, {"interface", "lan"}, {"direction", "in"},
                                                 {"protocol", "icmp"}, {"source", "any"}, {"destination", "any"}});
  const json reply = lab.n1->handle("config.reload", {{"path", write(lab, "n1-rules.json", cfg)}});
  CHECK(reply["changes"] == json::array({"rules (2 -> 3)"}));
  CHECK(Lab::state(*lab.n1, "lan") == "MASTER");

  // The state is still there, and still carries its flow (same id).
  const json kept = lab.n1->handle("states.list", json::object());
  REQUIRE(kept["states"].size() == 1);
  CHECK(kept["states"][0]["id"] == states["states"][0]["id"]);
  auto echoes = lab.ping_server(2);
  REQUIRE(echoes.size() == 1);
  CHECK(as_ipv4(echoes[0])->src == net::be32(ip("198.51.100.200").v4()));

  // A new ping (another echo id: another flow) is blocked by the new rule 0.
  const auto blocked_before = lab.io1->counters().drops[size_t(dp::DropReason::RuleBlock)];
  lab.server.received.clear();
  lab.client.send(test::ipv4_frame(net::Mac::virtual_for(1), lab.client.mac, lab.client.addr.v4(), lab.server.addr.v4(),
                                   net::kProtoIcmp, test::icmp_echo(8, 1, 8)));
  lab.settle();
  CHECK(lab.server.received.empty());
  CHECK(lab.io1->counters().drops[size_t(dp::DropReason::RuleBlock)] == blocked_before + 1);
  const json stats = lab.n1->handle("stats", json::object());
  REQUIRE(stats["rules"].size() == 3);
  CHECK(stats["rules"][0]["action"] == "block");
  CHECK(stats["rules"][0]["matches"] == 1);
  CHECK(lab.n1->handle("states.summary", json::object())["states"] == 1);
}

TEST_CASE("a reload without a path reads the start file; a changed VHID bows out and a removed one leaves",
          "[node][reload]") {
  Lab lab;
  lab.start_n1();
  lab.start_n2();
  lab.run_for(5s);
  REQUIRE(Lab::state(*lab.n1, "wan") == "MASTER");
  REQUIRE(Lab::state(*lab.n2, "wan") == "BACKUP");
  REQUIRE(Lab::state(*lab.n2, "lan") == "BACKUP");

  // n1's start file now gives WAN advskew 50 and no LAN VIP at all.
  json cfg = n1_config(lab);
  cfg["carp"]["vips"][0]["advskew"] = 50;
  cfg["carp"]["vips"].erase(1);
  const std::string start_file = write(lab, "n1.json", cfg);
  lab.n1->controller.set_config_file(start_file);
  const control::ApplyResult r = lab.n1->controller.reload_file(start_file, "SIGHUP");
  REQUIRE(r.ok);
  CHECK(r.changes == std::vector<std::string>{"wan vhid 200 changed", "lan vhid 1 removed"});
  CHECK(has_event(*lab.n1, "config applied: 2 changes (wan vhid 200 changed; lan vhid 1 removed) from " +
                                start_file + " (SIGHUP)"));
  CHECK(has_event(*lab.n1, "lan vhid 1: MASTER -> INIT (removed from the config)"));

  // Both bowed out: the peer takes over at once, not after master-down.
  lab.settle();
  CHECK(Lab::state(*lab.n2, "wan") == "MASTER");
  CHECK(Lab::state(*lab.n2, "lan") == "MASTER");
  const json st = lab.n1->handle("carp.status", json::object());
  REQUIRE(st["vhids"].size() == 1);
  CHECK(st["vhids"][0]["state"] == "BACKUP");
  CHECK(st["vhids"][0]["advskew"] == 50);
  CHECK(st["vhids"][0]["transitions"] == 1);  // a new VHID: INIT -> BACKUP

  // The new WAN VHID (advskew 50 < 100) preempts once its start-up wait is over.
  auto back = lab.time_until([&] { return Lab::state(*lab.n1, "wan") == "MASTER"; }, 6s);
  REQUIRE(back);
  CHECK(*back >= 3s);
  CHECK(Lab::state(*lab.n2, "wan") == "BACKUP");
  CHECK(Lab::state(*lab.n2, "lan") == "MASTER");

  // config.reload without arguments reads the start file again: nothing changed.
  const json again = lab.n1->handle("config.reload", json::object());
  CHECK(again["changes"].empty());
  CHECK(again["source"] == start_file);
  CHECK(Lab::state(*lab.n1, "wan") == "MASTER");
  CHECK(has_event(*lab.n1, "config applied: no changes from " + start_file + " (config.reload)"));
}

TEST_CASE("a reload in maintenance mode starts new VHIDs in maintenance; preempt changes in place",
          "[node][reload]") {
  Lab lab;
  lab.start_n1();
  lab.run_for(4s);
  lab.n1->handle("carp.maintenance", {{"enter", true}});
  lab.run_for(4s);  // alone: it keeps its VIPs (make-before-break), advertising 254
  const json before = lab.n1->handle("carp.status", json::object());

  json cfg = n1_config(lab);
  cfg["carp"]["preempt"] = false;
  cfg["carp"]["vips"].push_back(lan_vip(2, "192.168.1.250"));
  const json reply = lab.n1->handle("config.reload", {{"config", cfg}});
  CHECK(reply["changes"] == json::array({"carp.preempt off", "lan vhid 2 added"}));
  const json after = lab.n1->handle("carp.status", json::object());
  CHECK((*vhid_of(after, "lan", 2))["advskew"] == 254);
  CHECK((*vhid_of(after, "wan", 200))["transitions"] == (*vhid_of(before, "wan", 200))["transitions"]);
  CHECK((*vhid_of(after, "wan", 200))["state"] == (*vhid_of(before, "wan", 200))["state"]);
  CHECK(lab.n1->handle("config.get", {{"secrets", true}}) == cfg);
}
