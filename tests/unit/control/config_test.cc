// One node's file: each rule of docs/config.md broken alone, with the
// exact line `hafwctl check` prints for it.
#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <regex>

#include "tests/unit/control/config_fixture.h"

using namespace hafw;
using namespace hafw::config;
using namespace hafw::config::test;
using V = std::vector<std::string>;

namespace {

// A VIP on interface `name`, VHID `vhid`, with `addresses`.
json vip(const std::string& name, int vhid, const json& addresses) {
  return {{"interface", name}, {"vhid", vhid}, {"addresses", addresses}, {"password", "s"}};
}

}  // namespace

TEST_CASE("the example configs pass alone, without a warning", "[config]") {
  auto p = parse(example_text("primary.json"));  // config_sync on, with sync.key
  CHECK(lines(p.diagnostics, false).empty());
  REQUIRE(p.ok());
  auto s = parse(example_text("secondary.json"));  // config_sync false: nothing to warn about
  CHECK(lines(s.diagnostics, false).empty());
  REQUIRE(s.ok());
  auto r = load(std::string(HAFW_SOURCE_DIR) + "/docs/examples/primary.json");
  REQUIRE(r.ok());
  const Config& c = *r.config;
  CHECK(c.node.role == Role::Primary);
  REQUIRE(c.interfaces.size() == 4);
  CHECK(c.interfaces[0].port == "net_af_packet0");
  CHECK(c.interfaces[0].address.str() == "198.51.100.201/24");
  REQUIRE(c.find_interface("sync"));
  CHECK(c.find_interface("sync")->address.str() == "172.16.1.2/24");
  CHECK(c.find_interface("nope") == nullptr);
  REQUIRE(c.carp.vips.size() == 3);
  CHECK(c.carp.vips[0].vhid == 200);
  CHECK(c.carp.vips[0].addresses == std::vector{*net::IpAddr::parse("198.51.100.200")});
  CHECK(c.carp.vips[2].addresses == std::vector{*net::IpAddr::parse("10.0.1.1")});
  REQUIRE(c.sync);
  CHECK(c.sync->peer.str() == "172.16.1.3");
  CHECK(c.routes.at(0).destination.str() == "0.0.0.0/0");
  CHECK(c.nat.outbound.at(0).translation.str() == "198.51.100.200");
  CHECK(c.nat.port_forwards.at(0).protocol == net::kProtoTcp);
  CHECK(c.rules.at(1).destination->str() == "10.0.1.10/32");  // a bare address is one host
  CHECK_FALSE(c.rules.at(0).protocol);                         // "any"
  CHECK_FALSE(c.rules.at(0).destination);
  CHECK(c.rules.at(3).keep_state == false);
}

TEST_CASE("a missing file is reported, not thrown", "[config]") {
  auto r = load("/nonexistent/hafw.json");
  CHECK_FALSE(r.ok());
  CHECK(lines(r.diagnostics, true) == V{"error: $: cannot read /nonexistent/hafw.json: No such file or directory"});
}

TEST_CASE("defaults fill what a minimal file leaves out", "[config]") {
  json j = {{"node", {{"name", "fw1"}, {"role", "primary"}}},
            {"interfaces", {{{"name", "lan"}, {"port", 0}, {"address", "192.168.1.2/24"}, {"peer", "192.168.1.3"}}}},
            {"carp", {{"vips", {{{"interface", "lan"}, {"vhid", 1}, {"addresses", {"192.168.1.1"}}, {"password", "x"}}}}}},
            {"sync", {{"interface", "lan2"}, {"peer", "10.0.0.1"}}}};
  j["interfaces"].push_back({{"name", "lan2"}, {"port", "1"}, {"address", "10.0.0.0/31"}});
  // A sync link on a /31 (RFC 3021): two addresses, no network or broadcast.
  auto r = parse(j.dump());
  CHECK(lines(r.diagnostics, false) ==
        V{"warning: sync.key: not set: state sync travels in cleartext; keep the sync link a crossover cable or isolated VLAN",
          });
  REQUIRE(r.ok());
  const Config& c = *r.config;
  CHECK(c.dataplane.workers == 1);
  CHECK(c.dataplane.max_states == 1048576);
  CHECK(c.dataplane.eal.empty());
  CHECK(c.carp.preempt == true);
  CHECK(c.carp.vips[0].advbase == 1);
  CHECK(c.carp.vips[0].advskew == 0);
  CHECK(c.control.socket == "/run/hafw/hafwd.sock");
  CHECK(c.control.state_dir == "/var/lib/hafw");
  CHECK(c.control.realtime_priority == 10);
  CHECK(c.interfaces[0].port == "0");  // a DPDK port id, stored as text
  CHECK(c.sync->config_sync == false);
  CHECK(c.routes.empty());
}

TEST_CASE("invalid JSON names line and column", "[config]") {
  auto r = parse("{\n  \"node\": {\n    \"name\" \"fw1\"\n  }\n}\n");
  CHECK_FALSE(r.ok());
  CHECK(lines(r.diagnostics, false) ==
        V{"error: $: invalid JSON at line 3, column 16: syntax error while parsing object separator - "
          "unexpected string literal; expected ':'"});
  r = parse("{\"node\": ");
  CHECK(lines(r.diagnostics, false) ==
        V{"error: $: invalid JSON at line 1, column 10: syntax error while parsing value - unexpected end of input; "
          "expected '[', '{', or a literal"});
  CHECK(lines(parse("").diagnostics, true).size() == 1);
  CHECK(lines(parse("[]").diagnostics, true) == V{"error: $: expected an object, got array"});
}

TEST_CASE("hostile nesting and size are refused cheaply", "[config]") {
  std::string deep = std::string(1000, '[') + std::string(1000, ']');
  CHECK(lines(parse(deep).diagnostics, true) ==
        V{"error: $: nested deeper than 32 levels", "error: $: expected an object, got array"});
  std::string big(5u << 20, ' ');
  CHECK(lines(parse(big).diagnostics, true) == V{"error: $: file is 5242880 bytes; a config is at most 4 MiB"});
}

TEST_CASE("a duplicate key is an error", "[config]") {
  std::string text = example_text("primary.json");
  auto at = text.find("\"vhid\": 200");
  REQUIRE(at != std::string::npos);
  text.insert(at, "\"vhid\": 7, ");
  CHECK(lines(parse(text).diagnostics, true) ==
        V{"error: carp.vips[0].vhid: duplicate key 'vhid' (a JSON reader keeps only one)"});
}

TEST_CASE("unknown keys are errors, with the closest known key", "[config]") {
  json j = primary();
  j["carp"]["vips"][0]["advksew"] = 100;
  CHECK(errors(j) == V{"error: carp.vips[0]: unknown key 'advksew'; did you mean 'advskew'?"});
  j = primary();
  j["frobnicate"] = true;
  CHECK(errors(j) == V{"error: $: unknown key 'frobnicate'"});
  j = primary();
  j["interfaces"][1]["adress"] = "1.2.3.4/24";
  CHECK(errors(j) == V{"error: interfaces[1]: unknown key 'adress'; did you mean 'address'?"});
  j = primary();
  j["control"]["sokcet"] = "/x";
  CHECK(errors(j) == V{"error: control: unknown key 'sokcet'; did you mean 'socket'?"});
  j = primary();
  j["dataplane"]["bad\x01key"] = 1;  // shown escaped, never raw
  CHECK(errors(j) == V{"error: dataplane: unknown key 'bad\\x01key'"});
}

TEST_CASE("wrong types name the expected type", "[config]") {
  json j = primary();
  j["dataplane"]["workers"] = "two";
  CHECK(errors(j) == V{"error: dataplane.workers: expected an integer, got string"});
  j = primary();
  j["carp"]["preempt"] = "yes";
  CHECK(errors(j) == V{"error: carp.preempt: expected true or false, got string"});
  j = primary();
  j["interfaces"] = json::object();
  CHECK(errors(j)[0] == "error: interfaces: expected an array, got object");
  j = primary();
  j["carp"]["vips"][0]["advskew"] = 1.5;
  CHECK(errors(j) == V{"error: carp.vips[0].advskew: expected an integer, got 1.5"});
  j = primary();
  j["interfaces"][0]["port"] = true;
  CHECK(errors(j) == V{"error: interfaces[0].port: expected a port id (integer) or device name (string), got boolean"});
  j = primary();
  j["node"] = "fw1";
  CHECK(errors(j) == V{"error: node: expected an object, got string"});
}

TEST_CASE("required keys are reported when missing", "[config]") {
  json j = primary();
  j.erase("node");
  CHECK(errors(j) == V{"error: node: missing (required)"});
  j = primary();
  j["interfaces"][2].erase("address");
  // The DMZ VIP cannot be placed without the interface's subnet; only the
  // missing key is reported, not a cascade.
  CHECK(errors(j) == V{"error: interfaces[2].address: missing (required)"});
  j = primary();
  j["interfaces"] = json::array();
  CHECK(errors(j)[0] == "error: interfaces: must list at least one interface");
  j = primary();
  j["nat"]["port_forwards"][0].erase("target_port");
  CHECK(errors(j) == V{"error: nat.port_forwards[0].target_port: missing (required)"});
}

TEST_CASE("a VIP lies inside its interface's subnet with the same prefix length", "[config][vip]") {
  json j = primary();
  j["carp"]["vips"][1]["addresses"][0] = "192.168.2.1";
  CHECK(errors(j) == V{"error: carp.vips[1].addresses[0]: 192.168.2.1 is outside interface lan's subnet "
                       "192.168.1.0/24; a VIP lives in its interface's subnet"});
  j = primary();
  j["carp"]["vips"][1]["addresses"][0] = "192.168.1.1/25";
  CHECK(errors(j) == V{"error: carp.vips[1].addresses[0]: prefix length /25 differs from interface lan's /24; "
                       "a VIP has its interface's prefix length"});
  j["carp"]["vips"][1]["addresses"][0] = "192.168.1.1/24";
  CHECK(errors(j) == V{});
}

TEST_CASE("a subnet has room for both nodes, every VIP and the gateway", "[config][vip]") {
  // The guide's example: a /30 WAN cannot hold two nodes, a VIP and a gateway.
  json j = primary();
  j["interfaces"][0]["address"] = "198.51.100.201/30";
  j["interfaces"][0].erase("peer");
  j["carp"]["vips"][0]["addresses"][0] = "198.51.100.202";
  j["routes"][0]["gateway"] = "198.51.100.203";
  auto e = errors(j);
  CHECK(std::count(e.begin(), e.end(),
                   "error: interfaces[0].address: subnet 198.51.100.200/30 has 2 usable addresses but needs 4 "
                   "(2 node addresses, 1 VIP, 1 gateway); use at least /29") == 1);
  // Only the room rule broken: a /29 with every address valid and distinct
  // but one too many (the peer's address is counted even when not written).
  j = primary();
  j["interfaces"][1]["address"] = "192.168.1.2/29";
  j["interfaces"][1].erase("peer");
  j["carp"]["vips"][1]["addresses"] = {"192.168.1.1", "192.168.1.3", "192.168.1.4", "192.168.1.5"};
  j["routes"].push_back({{"destination", "10.50.0.0/16"}, {"gateway", "192.168.1.6"}});
  CHECK(errors(j) == V{"error: interfaces[1].address: subnet 192.168.1.0/29 has 6 usable addresses but needs 7 "
                       "(2 node addresses, 4 VIPs, 1 gateway); use at least /28"});
  j["carp"]["vips"][1]["addresses"].erase(3);
  CHECK(errors(j) == V{});
}

TEST_CASE("VHID is 1-255 and unique per interface", "[config][vip]") {
  json j = primary();
  j["carp"]["vips"][0]["vhid"] = 0;
  CHECK(errors(j) == V{"error: carp.vips[0].vhid: must be 1-255, got 0"});
  j["carp"]["vips"][0]["vhid"] = 256;
  CHECK(errors(j) == V{"error: carp.vips[0].vhid: must be 1-255, got 256"});
  j["carp"]["vips"][0]["vhid"] = -1;
  CHECK(errors(j) == V{"error: carp.vips[0].vhid: must be 1-255, got -1"});
  j = primary();
  auto extra = j["carp"]["vips"][0];
  extra["addresses"] = {"198.51.100.199"};
  j["carp"]["vips"].push_back(extra);
  CHECK(errors(j) == V{"error: carp.vips[3].vhid: vhid 200 is already used on wan by carp.vips[0]; "
                       "a VHID is unique per broadcast domain"});
  // The same VHID on another interface is another broadcast domain.
  j["carp"]["vips"][3]["interface"] = "lan";
  j["carp"]["vips"][3]["addresses"] = {"192.168.1.254"};
  CHECK(errors(j) == V{});
}

TEST_CASE("every VIP has a password of at most 19 bytes", "[config][vip]") {
  json j = primary();
  j["carp"]["vips"][2].erase("password");
  CHECK(errors(j) == V{"error: carp.vips[2].password: missing (required): every VIP needs a password, the key of the CARP HMAC"});
  j["carp"]["vips"][2]["password"] = "";
  CHECK(errors(j) == V{"error: carp.vips[2].password: must not be empty: an unauthenticated VHID lets anyone on "
                       "the segment take the VIP"});
  j["carp"]["vips"][2]["password"] = std::string(20, 'p');
  CHECK(errors(j) == V{"error: carp.vips[2].password: is 20 bytes; at most 19 (BSD peers read at most 19 bytes, "
                       "longer passwords fail their HMAC check)"});
  j["carp"]["vips"][2]["password"] = std::string(19, 'p');
  CHECK(errors(j) == V{});
}

TEST_CASE("advbase 0-255, advskew 0-254, not both 0", "[config][vip]") {
  json j = primary();
  j["carp"]["vips"][0]["advbase"] = 256;
  CHECK(errors(j) == V{"error: carp.vips[0].advbase: must be 0-255, got 256"});
  j = primary();
  j["carp"]["vips"][0]["advskew"] = 255;  // reserved for the bow-out advert
  CHECK(errors(j) == V{"error: carp.vips[0].advskew: must be 0-254, got 255"});
  j = primary();
  j["carp"]["vips"][0]["advbase"] = 0;
  CHECK(errors(j) == V{"error: carp.vips[0].advbase: advbase 0 with advskew 0 would advertise continuously; "
                       "set advskew above 0 (interval advskew/256 s)"});
  j["carp"]["vips"][0]["advskew"] = 20;
  CHECK(all(j) == V({"warning: carp.vips[0].advbase: advbase 0 is OpenBSD's sub-second mode; "
                                    "FreeBSD and ucarp peers cannot follow it"}));
}

TEST_CASE("node, peer and VIP addresses are distinct", "[config][vip]") {
  json j = primary();
  j["carp"]["vips"][1]["addresses"][0] = "192.168.1.2";
  CHECK(errors(j) == V{"error: carp.vips[1].addresses[0]: 192.168.1.2 is this node's address on lan; "
                       "a VIP needs an address of its own"});
  j["carp"]["vips"][1]["addresses"][0] = "192.168.1.3";
  CHECK(errors(j) == V{"error: carp.vips[1].addresses[0]: 192.168.1.3 is the other node's address on lan "
                       "(interfaces[1].peer); a VIP needs an address of its own"});
  j = primary();
  j["interfaces"][1]["peer"] = "192.168.1.2";
  CHECK(errors(j) == V{"error: interfaces[1].peer: 192.168.1.2 is this node's own address; peer is the other "
                       "node's address on this segment"});
  j = primary();
  j["carp"]["vips"][0]["addresses"].push_back("198.51.100.200");
  CHECK(errors(j) == V{"error: carp.vips[0].addresses[1]: 198.51.100.200 is already a VIP at carp.vips[0].addresses[0]"});
}

TEST_CASE("no node, peer or VIP address is the network or broadcast address", "[config][vip]") {
  json j = primary();
  j["carp"]["vips"][1]["addresses"][0] = "192.168.1.255";
  CHECK(errors(j) == V{"error: carp.vips[1].addresses[0]: 192.168.1.255 is the broadcast address of 192.168.1.0/24, "
                       "not a host address"});
  j = primary();
  j["interfaces"][2]["peer"] = "10.0.1.0";
  CHECK(errors(j) == V{"error: interfaces[2].peer: 10.0.1.0 is the network address of 10.0.1.0/24, not a host address"});
  j = primary();
  j["interfaces"][3]["address"] = "172.16.1.255/24";
  CHECK(errors(j) == V{"error: interfaces[3].address: 172.16.1.255 is the broadcast address of 172.16.1.0/24, "
                       "not a host address"});
}

TEST_CASE("a VIP's interface exists", "[config][vip]") {
  json j = primary();
  j["carp"]["vips"][0]["interface"] = "wn";
  CHECK(errors(j) == V{"error: carp.vips[0].interface: 'wn' is not defined in interfaces; did you mean 'wan'?"});
  j["carp"]["vips"][0]["interface"] = "internet";
  CHECK(errors(j) == V{"error: carp.vips[0].interface: 'internet' is not defined in interfaces"});
}

TEST_CASE("the sync interface exists, carries no VIP, and holds sync.peer", "[config][sync]") {
  json j = primary();
  j["sync"]["interface"] = "snyc";
  CHECK(errors(j) == V{"error: sync.interface: 'snyc' is not defined in interfaces; did you mean 'sync'?"});
  j = primary();
  j["carp"]["vips"].push_back({{"interface", "sync"}, {"vhid", 50}, {"addresses", {"172.16.1.1"}}, {"password", "s"}});
  CHECK(errors(j) == V{"error: carp.vips[3].interface: 'sync' is the sync interface: the sync link is dedicated to "
                       "state and config sync and carries no VIP"});
  j = primary();
  j["sync"]["peer"] = "172.16.2.3";
  CHECK(errors(j) == V{"error: sync.peer: 172.16.2.3 is outside sync interface sync's subnet 172.16.1.0/24"});
  j["sync"]["peer"] = "172.16.1.4";
  CHECK(errors(j) == V{"error: sync.peer: 172.16.1.4 differs from interfaces[3].peer 172.16.1.3"});
  j["sync"]["peer"] = "172.16.1.2";
  CHECK(errors(j) == V{"error: sync.peer: 172.16.1.2 is this node's own address; sync.peer is the other node's sync address"});
}

TEST_CASE("outbound NAT translates to a VIP of its interface", "[config][nat]") {
  json j = primary();
  j["nat"]["outbound"][0]["translation"] = "198.51.100.201";
  CHECK(errors(j) == V{"error: nat.outbound[0].translation: translation 198.51.100.201 is this node's interface "
                       "address; NAT to the VIP or connections break after failover"});
  j["nat"]["outbound"][0]["translation"] = "203.0.113.7";
  CHECK(errors(j) == V{"error: nat.outbound[0].translation: translation 203.0.113.7 is not a VIP; NAT to the VIP or "
                       "connections break after failover"});
  j["nat"]["outbound"][0]["translation"] = "10.0.1.1";
  CHECK(errors(j) == V{"error: nat.outbound[0].translation: translation 10.0.1.1 is a VIP of dmz, not of wan"});
}

TEST_CASE("a VIP is not an outbound NAT source", "[config][nat]") {
  json j = primary();
  j["nat"]["outbound"][0]["source"] = "192.168.1.1";
  CHECK(errors(j) == V{"error: nat.outbound[0].source: source 192.168.1.1/32 is a VIP; a VIP is not an outbound NAT source"});
  j["nat"]["outbound"][0]["source"] = "0.0.0.0/0";
  CHECK(errors(j) == V{"error: nat.outbound[0].source: source 0.0.0.0/0 contains VIP 198.51.100.200 of wan; a VIP is "
                       "not an outbound NAT source (list the inside subnets)"});
  // An inside subnet holds its own VIP (the LAN gateway): that is the normal case.
  j["nat"]["outbound"][0]["source"] = "192.168.0.0/16";
  CHECK(errors(j) == V{});
}

TEST_CASE("a port forward's destination is a VIP", "[config][nat]") {
  json j = primary();
  j["nat"]["port_forwards"][0]["destination"] = "198.51.100.201";
  CHECK(errors(j) == V{"error: nat.port_forwards[0].destination: destination 198.51.100.201 is this node's interface "
                       "address; bind the port forward to the VIP or it stops working after failover"});
  j["nat"]["port_forwards"][0]["destination"] = "198.51.100.99";
  CHECK(errors(j) == V{"error: nat.port_forwards[0].destination: destination 198.51.100.99 is not a VIP; bind the port "
                       "forward to the VIP or it stops working after failover"});
  j = primary();
  j["nat"]["port_forwards"].push_back(j["nat"]["port_forwards"][0]);
  CHECK(errors(j) == V{"error: nat.port_forwards[1].port: port 443 on 198.51.100.200 is already forwarded by "
                       "nat.port_forwards[0]"});
  j = primary();
  j["nat"]["port_forwards"][0]["protocol"] = "icmp";
  CHECK(errors(j) == V{"error: nat.port_forwards[0].protocol: must be tcp or udp, got 'icmp'"});
}

TEST_CASE("a route's gateway is inside an interface's subnet", "[config][routes]") {
  json j = primary();
  j["routes"][0]["gateway"] = "203.0.113.1";
  CHECK(errors(j) == V{"error: routes[0].gateway: 203.0.113.1 is not inside any interface's subnet; a gateway must "
                       "be directly reachable"});
  j["routes"][0]["gateway"] = "198.51.100.200";
  CHECK(errors(j) == V{"error: routes[0].gateway: 198.51.100.200 is a VIP of this cluster; a gateway is the next router"});
  j = primary();
  j["routes"].push_back({{"destination", "0.0.0.0/0"}, {"gateway", "10.0.1.254"}});
  CHECK(errors(j) == V{"error: routes[1].destination: 0.0.0.0/0 is already routed by routes[0]"});
  j = primary();
  j["routes"][0]["destination"] = "10.9.0.1/16";
  CHECK(all(j) ==
        V({"warning: routes[0].destination: '10.9.0.1/16' has host bits set; it is taken as 10.9.0.0/16"}));
}

TEST_CASE("interface names and ports are unique", "[config][interfaces]") {
  json j = primary();
  j["interfaces"][2]["name"] = "lan";
  j["carp"]["vips"][2]["interface"] = "lan";  // keep the DMZ VIP referring to a declared name
  j["carp"]["vips"][2]["vhid"] = 11;
  auto e = errors(j);
  REQUIRE(!e.empty());
  CHECK(e[0] == "error: interfaces[2].name: 'lan' is already the name of interfaces[1]");
  j = primary();
  j["interfaces"][3]["port"] = "net_af_packet0";
  CHECK(errors(j) == V{"error: interfaces[3].port: port 'net_af_packet0' is already used by interfaces[0] (wan)"});
  j = primary();
  j["interfaces"][0]["port"] = 3;
  j["interfaces"][1]["port"] = "3";  // port id 3 written as text is the same port
  CHECK(errors(j) == V{"error: interfaces[1].port: port '3' is already used by interfaces[0] (wan)"});
  j = primary();
  j["interfaces"][3]["name"] = "sync-crossover-link";
  j["sync"]["interface"] = "sync-crossover-link";
  CHECK(errors(j) == V{"error: interfaces[3].name: 'sync-crossover-link' is longer than 15 bytes (pfsync carries the "
                       "name in ifname[16])"});
}

TEST_CASE("interface subnets do not overlap", "[config][interfaces]") {
  json j = primary();
  j["interfaces"][2]["address"] = "192.168.1.200/16";
  j["interfaces"][2]["peer"] = "192.168.1.201";
  j["carp"]["vips"][2]["addresses"] = {"192.168.1.202"};
  CHECK(errors(j) == V{"error: interfaces[2].address: subnet 192.168.0.0/16 overlaps interfaces[1] (lan) "
                       "192.168.1.0/24; each interface needs its own segment"});
}

TEST_CASE("an interface address has a prefix length and is IPv4", "[config][interfaces]") {
  json j = primary();
  j["interfaces"][3]["address"] = "172.16.1.2";
  CHECK(errors(j) == V{"error: interfaces[3].address: '172.16.1.2' has no prefix length; write it as 172.16.1.2/24 "
                       "(or the segment's length)"});
  j["interfaces"][3]["address"] = "2001:db8::1/64";
  CHECK(errors(j) == V{"error: interfaces[3].address: '2001:db8::1/64' is IPv6; put it in address6"});
}

TEST_CASE("IPv6 VIPs live in address6", "[config][vip]") {
  json j = primary();
  j["carp"]["vips"][1]["addresses"].push_back("2001:db8:1::1");
  CHECK(errors(j) == V{"error: carp.vips[1].addresses[1]: 2001:db8:1::1 is IPv6 but interface lan has no address6"});
  j["interfaces"][1]["address6"] = "2001:db8:1::2/64";
  CHECK(errors(j) == V{});
  j["carp"]["vips"][1]["addresses"][1] = "2001:db8:2::1";
  CHECK(errors(j) == V{"error: carp.vips[1].addresses[1]: 2001:db8:2::1 is outside interface lan's subnet "
                       "2001:db8:1::/64; a VIP lives in its interface's subnet"});
}

TEST_CASE("node.role is primary or secondary", "[config]") {
  json j = primary();
  j["node"]["role"] = "master";
  CHECK(errors(j) == V{"error: node.role: must be primary or secondary, got 'master'"});
}

TEST_CASE("workers is at least 1", "[config]") {
  json j = primary();
  j["dataplane"]["workers"] = 0;
  CHECK(errors(j) == V{"error: dataplane.workers: must be 1-127, got 0"});
}

TEST_CASE("max_states is 1 to 2^30: the state table's capacity", "[config]") {
  json j = primary();
  j["dataplane"]["max_states"] = 0;
  CHECK(errors(j) == V{"error: dataplane.max_states: must be 1-1073741824, got 0"});
  j["dataplane"]["max_states"] = (1u << 30) + 1;
  CHECK(errors(j) == V{"error: dataplane.max_states: must be 1-1073741824, got 1073741825"});
  j["dataplane"]["max_states"] = 1u << 30;
  CHECK(load_ok(j).dataplane.max_states == 1u << 30);
}

TEST_CASE("dataplane.timeouts defaults to pf's values", "[config][timeouts]") {
  const Config c = load_ok(primary());  // the example sets no timeouts
  CHECK(c.dataplane.timeouts == net::default_timeouts());
  CHECK(c.dataplane.timeouts[size_t(net::Timeout::TcpEstablished)] == 86400);
  CHECK(c.dataplane.timeouts[size_t(net::Timeout::UdpFirst)] == 60);
  json j = primary();
  j["dataplane"]["timeouts"] = json::object();  // empty: nothing changes
  CHECK(load_ok(j).dataplane.timeouts == net::default_timeouts());
}

TEST_CASE("dataplane.timeouts sets each of pf's classes by its pf name", "[config][timeouts]") {
  json j = primary();
  j["dataplane"]["timeouts"] = {{"tcp.established", 3600}, {"udp.first", 30}};
  auto r = parse(j.dump());
  CHECK(lines(r.diagnostics, true) == V{});
  REQUIRE(r.ok());
  net::Timeouts want = net::default_timeouts();
  want[size_t(net::Timeout::TcpEstablished)] = 3600;
  want[size_t(net::Timeout::UdpFirst)] = 30;
  CHECK(r.config->dataplane.timeouts == want);  // the others keep pf's defaults

  // Every name pf uses for a class we track is a key, and sets that class.
  j["dataplane"]["timeouts"] = json::object();
  for (size_t i = 0; i < net::kTimeouts.size(); ++i) j["dataplane"]["timeouts"][net::kTimeouts[i].name] = 1000 + i;
  const Config c = load_ok(j);
  for (size_t i = 0; i < net::kTimeouts.size(); ++i) {
    INFO(net::kTimeouts[i].name);
    CHECK(c.dataplane.timeouts[size_t(net::kTimeouts[i].id)] == 1000 + i);
  }
}

TEST_CASE("dataplane.timeouts names only pf's classes", "[config][timeouts]") {
  json j = primary();
  j["dataplane"]["timeouts"] = {{"tcp.establised", 3600}};
  CHECK(errors(j) == V{"error: dataplane.timeouts: unknown key 'tcp.establised'; did you mean 'tcp.established'?"});
  j["dataplane"]["timeouts"] = {{"udp.frist", 30}};
  CHECK(errors(j) == V{"error: dataplane.timeouts: unknown key 'udp.frist'; did you mean 'udp.first'?"});
  // pf's other settings (fragments, adaptive scaling) are not state classes here.
  j["dataplane"]["timeouts"] = {{"frag", 30}};
  CHECK(errors(j) == V{"error: dataplane.timeouts: unknown key 'frag'"});
  j = primary();
  j["dataplane"]["timeout"] = {{"tcp.first", 30}};
  CHECK(errors(j) == V{"error: dataplane: unknown key 'timeout'; did you mean 'timeouts'?"});
  j = primary();
  j["dataplane"]["timeouts"] = json::array({30});
  CHECK(errors(j) == V{"error: dataplane.timeouts: expected an object, got array"});
}

TEST_CASE("docs/config.md lists every timeout key with pf's default", "[config][timeouts][docs]") {
  std::ifstream in(std::string(HAFW_SOURCE_DIR) + "/docs/config.md");
  REQUIRE(in);
  // The rows of the timeouts table: "| `tcp.first` | ... | 120 |".
  const std::regex row(R"(^\| `([a-z]+\.[a-z]+)` \| .* \| ([0-9]+) \|$)");
  std::map<std::string, uint32_t> documented;
  std::smatch m;
  for (std::string line; std::getline(in, line);)
    if (std::regex_match(line, m, row)) documented[m[1]] = uint32_t(std::stoul(m[2]));
  std::map<std::string, uint32_t> want;
  for (const auto& t : net::kTimeouts) want[t.name] = t.seconds;
  CHECK(documented == want);
}

TEST_CASE("a timeout is whole seconds, 1 to ten years", "[config][timeouts]") {
  json j = primary();
  j["dataplane"]["timeouts"] = {{"tcp.first", 0}};
  CHECK(errors(j) == V{"error: dataplane.timeouts.tcp.first: must be 1-315360000, got 0"});
  j["dataplane"]["timeouts"] = {{"tcp.first", -30}};
  CHECK(errors(j) == V{"error: dataplane.timeouts.tcp.first: must be 1-315360000, got -30"});
  j["dataplane"]["timeouts"] = {{"tcp.established", 315360001}};
  CHECK(errors(j) == V{"error: dataplane.timeouts.tcp.established: must be 1-315360000, got 315360001"});
  j["dataplane"]["timeouts"] = {{"udp.first", "30s"}};
  CHECK(errors(j) == V{"error: dataplane.timeouts.udp.first: expected an integer, got string"});
  j["dataplane"]["timeouts"] = {{"icmp.first", 1.5}};
  CHECK(errors(j) == V{"error: dataplane.timeouts.icmp.first: expected an integer, got 1.5"});
  // The bounds themselves are accepted.
  j["dataplane"]["timeouts"] = {{"tcp.established", 315360000}, {"icmp.error", 1}};
  const Config c = load_ok(j);
  CHECK(c.dataplane.timeouts[size_t(net::Timeout::TcpEstablished)] == 315360000);
  CHECK(c.dataplane.timeouts[size_t(net::Timeout::IcmpError)] == 1);
}

TEST_CASE("rules name existing interfaces, protocols, and ports only with tcp/udp", "[config][rules]") {
  json j = primary();
  j["rules"][0]["interface"] = "lna";
  CHECK(errors(j) == V{"error: rules[0].interface: 'lna' is not defined in interfaces; did you mean 'lan'?"});
  j = primary();
  j["rules"][0]["protocol"] = "sctp";
  CHECK(errors(j) == V{"error: rules[0].protocol: must be tcp, udp, icmp, icmp6 or any, got 'sctp'"});
  j = primary();
  j["rules"][0]["port"] = 80;
  CHECK(errors(j) == V{"error: rules[0].port: a port needs protocol tcp or udp"});
  j = primary();
  j["rules"][0]["source"] = "192.168.1.300/24";
  CHECK(errors(j) == V{"error: rules[0].source: '192.168.1.300/24' is not an address or prefix (a.b.c.d/len)"});
  j = primary();
  j["rules"][0]["action"] = "allow";
  CHECK(errors(j) == V{"error: rules[0].action: must be pass or block, got 'allow'"});
}

TEST_CASE("control paths are absolute", "[config]") {
  json j = primary();
  j["control"]["socket"] = "hafwd.sock";
  CHECK(errors(j) == V{"error: control.socket: 'hafwd.sock' must be an absolute path (hafwd may run from any directory)"});
}

TEST_CASE("warnings keep the config valid", "[config][warnings]") {
  json j = secondary();
  j["carp"]["vips"][1]["advskew"] = 0;
  auto r = parse(j.dump());
  CHECK(r.ok());
  CHECK(lines(r.diagnostics, false) ==
        V{"warning: carp.vips[1].advskew: advskew 0 on the secondary ties the primary, so start order "
          "decides the MASTER; the secondary normally runs 100"});
  j = primary();
  j.erase("sync");
  r = parse(j.dump());
  CHECK(r.ok());
  CHECK(lines(r.diagnostics, false) ==
        V{"warning: sync: not set: without state sync every connection through the master is lost at failover"});
  j = primary();
  j["interfaces"][0].erase("peer");
  r = parse(j.dump());
  CHECK(r.ok());
  CHECK(lines(r.diagnostics, false) ==
        V({"warning: interfaces[0].peer: not set on an interface with VIPs; set it to the other node's "
                         "address so room and the pair are checked"}));
  j = primary();
  j.erase("carp");
  j.erase("nat");  // NAT needs VIPs
  CHECK(all(j) == V({"warning: carp: no VIPs: this node fails over nothing"}));
  j = secondary();
  j["sync"]["config_sync"] = true;
  CHECK(all(j) == V({"warning: sync.config_sync: set on the secondary: only the primary pushes its "
                                    "configuration, or the nodes overwrite each other"}));
}

TEST_CASE("config sync without sync.key is an error: the secondary takes configuration only when authenticated",
          "[config]") {
  json j = primary();
  j["sync"].erase("key");
  CHECK(all(j) == V{"warning: sync.key: not set: state sync travels in cleartext; keep the sync link a crossover "
                    "cable or isolated VLAN",
                    "error: sync.config_sync: needs sync.key: the secondary takes a configuration only over the "
                    "authenticated sync link"});
  CHECK_FALSE(parse(j.dump()).ok());
  j["sync"]["config_sync"] = false;  // state sync alone may run in the clear
  CHECK(parse(j.dump()).ok());
}

TEST_CASE("every problem is reported, not only the first", "[config]") {
  json j = primary();
  j["carp"]["vips"][0]["vhid"] = 0;
  j["carp"]["vips"][1]["password"] = std::string(25, 'x');
  j["dataplane"]["workers"] = 0;
  j["nat"]["outbound"][0]["translation"] = "198.51.100.201";
  j["bogus"] = 1;
  auto e = errors(j);
  CHECK(e.size() == 5);
  auto r = parse(j.dump());
  CHECK_FALSE(r.ok());
}

TEST_CASE("at most 16 interfaces per node", "[config][limits]") {
  json j = primary();
  for (int k = 4; k < 17; ++k)
    j["interfaces"].push_back({{"name", "if" + std::to_string(k)},
                               {"port", "net_af_packet" + std::to_string(k)},
                               {"address", "10.1" + std::to_string(k) + ".0.2/24"}});
  REQUIRE(j["interfaces"].size() == 17);
  auto r = parse(j.dump());
  CHECK_FALSE(r.ok());
  CHECK(lines(r.diagnostics, true) == V{"error: interfaces: at most 16 interfaces per node, got 17"});
  j["interfaces"].erase(16);
  CHECK(errors(j) == V{});
}

TEST_CASE("at most 16 addresses per VHID", "[config][limits]") {
  json j = primary();
  for (int k = 10; k < 26; ++k) j["carp"]["vips"][1]["addresses"].push_back("192.168.1." + std::to_string(k));
  REQUIRE(j["carp"]["vips"][1]["addresses"].size() == 17);
  CHECK(errors(j) == V{"error: carp.vips[1].addresses: at most 16 addresses per VHID, got 17"});
  j["carp"]["vips"][1]["addresses"].erase(16);
  CHECK(errors(j) == V{});
}

TEST_CASE("at most 64 VIP addresses per node in total", "[config][limits]") {
  // The examples' 3 VIPs, and 62 more on lan in VHIDs of at most 16.
  json j = primary();
  json addrs = json::array();
  for (int k = 100; k < 162; ++k) {
    addrs.push_back("192.168.1." + std::to_string(k));
    if (addrs.size() == 16 || k == 161) {
      j["carp"]["vips"].push_back(vip("lan", 20 + int(j["carp"]["vips"].size()), addrs));
      addrs = json::array();
    }
  }
  CHECK(errors(j) == V{"error: carp.vips: at most 64 VIP addresses per node in total, got 65"});
  j["carp"]["vips"].back()["addresses"].erase(0);
  CHECK(errors(j) == V{});
}

TEST_CASE("at most 256 static routes", "[config][limits]") {
  json j = primary();
  for (int k = 0; k < 256; ++k)
    j["routes"].push_back({{"destination", "10.200." + std::to_string(k) + ".0/24"}, {"gateway", "198.51.100.1"}});
  REQUIRE(j["routes"].size() == 257);
  CHECK(errors(j) == V{"error: routes: at most 256 static routes, got 257"});
  j["routes"].erase(256);
  CHECK(errors(j) == V{});
}

TEST_CASE("at most 1024 rules", "[config][limits]") {
  json j = primary();
  const json four = j["rules"];
  while (j["rules"].size() < 1025) j["rules"].push_back(four[j["rules"].size() % 4]);
  auto r = parse(j.dump());
  CHECK_FALSE(r.ok());
  CHECK(lines(r.diagnostics, true) == V{"error: rules: at most 1024 rules, got 1025"});
  j["rules"].erase(1024);
  CHECK(errors(j) == V{});
}

TEST_CASE("rules, NAT and max_states are enforced: only sync warns that it is not", "[config][warnings]") {
  // The primary without sync: only the long-standing warning that sync is
  // missing, although it sets rules, outbound NAT, a port forward and
  // max_states.
  json base = primary();
  base.erase("sync");
  REQUIRE(base["rules"].size() == 4);
  REQUIRE(base["nat"]["outbound"].size() == 2);
  REQUIRE(base["nat"]["port_forwards"].size() == 1);
  REQUIRE(base["dataplane"].contains("max_states"));
  const std::string no_sync =
      "warning: sync: not set: without state sync every connection through the master is lost at failover";
  auto r = parse(base.dump());
  CHECK(r.ok());
  CHECK(lines(r.diagnostics, false) == V{no_sync});

  json j = base;
  j["dataplane"]["max_states"] = 65536;
  j["dataplane"]["timeouts"] = {{"tcp.established", 3600}};
  CHECK(all(j) == V{no_sync});

  // A sync section with config sync: nothing more to say.
  j = base;
  j["sync"] = primary()["sync"];
  j["routes"][0]["destination"] = "10.9.0.1/16";
  r = parse(j.dump());
  CHECK(r.ok());
  CHECK(lines(r.diagnostics, false) ==
        V{"warning: routes[0].destination: '10.9.0.1/16' has host bits set; it is taken as 10.9.0.0/16"});
}

TEST_CASE("dataplane.fragments sets each worker's reassembly limits", "[config][fragments]") {
  CHECK(load_ok(primary()).dataplane.fragments.max_packets == 1024);
  CHECK(load_ok(primary()).dataplane.fragments.timeout_ms == 30000);
  json j = primary();
  j["dataplane"]["fragments"] = {{"max_packets", 64}, {"timeout_ms", 500}};
  const Config c = load_ok(j);
  CHECK(c.dataplane.fragments.max_packets == 64);
  CHECK(c.dataplane.fragments.timeout_ms == 500);
  j["dataplane"]["fragments"] = {{"max_packets", 0}};
  CHECK(errors(j) == V{"error: dataplane.fragments.max_packets: must be 1-65536, got 0"});
  j["dataplane"]["fragments"] = {{"timeout_ms", 120001}};
  CHECK(errors(j) == V{"error: dataplane.fragments.timeout_ms: must be 1-120000, got 120001"});
  j["dataplane"]["fragments"] = {{"max_fragments", 4}};
  CHECK(errors(j).size() == 1);
  CHECK(errors(j)[0].rfind("error: dataplane.fragments: unknown key 'max_fragments'", 0) == 0);
}

TEST_CASE("a running node takes every change but the keys it set up at start", "[config][reload]") {
  const Config running = load_ok(primary());
  auto refused = [&](const json& next) { return lines(check_reload(running, load_ok(next)), false); };

  // What is applied in place: VIPs, rules, NAT, routes, timeouts, preempt,
  // an interface's address (not the sync interface's), config_sync.
  json ok = primary();
  ok["carp"]["preempt"] = false;
  ok["carp"]["vips"][0]["advskew"] = 20;
  ok["rules"].erase(0);
  ok["dataplane"]["timeouts"] = {{"tcp.established", 3600}};
  ok["sync"]["config_sync"] = false;
  ok["interfaces"][1]["address"] = "192.168.1.4/24";
  CHECK(refused(ok).empty());
  CHECK(refused(primary()).empty());

  json j = primary();
  j["node"]["name"] = "fw9";
  j["node"]["role"] = "secondary";
  j["dataplane"]["eal"].push_back("--no-telemetry");
  j["dataplane"]["max_states"] = 4096;
  j["interfaces"][0]["name"] = "wan0";
  for (auto& ref : j["carp"]["vips"])
    if (ref["interface"] == "wan") ref["interface"] = "wan0";
  for (auto& ref : j["nat"]["outbound"]) if (ref["interface"] == "wan") ref["interface"] = "wan0";
  for (auto& ref : j["nat"]["port_forwards"]) if (ref["interface"] == "wan") ref["interface"] = "wan0";
  for (auto& ref : j["rules"]) if (ref["interface"] == "wan") ref["interface"] = "wan0";
  j["sync"]["peer"] = "172.16.1.4";
  j["interfaces"][3]["peer"] = "172.16.1.4";
  j["control"]["state_dir"] = "/var/lib/hafw2";
  j["control"]["realtime_priority"] = 0;
  CHECK(refused(j) == V{
      "error: node.name: requires a restart (running 'fw1', new 'fw9')",
      "error: node.role: requires a restart (running primary, new secondary)",
      "error: dataplane.eal: requires a restart",
      "error: dataplane.max_states: requires a restart (running 1048576, new 4096)",
      "error: interfaces[0].name: requires a restart (running 'wan', new 'wan0')",
      "error: sync.peer: requires a restart (running 172.16.1.3, new 172.16.1.4)",
      "error: control.state_dir: requires a restart (running '/var/lib/hafw', new '/var/lib/hafw2')",
      "error: control.realtime_priority: requires a restart (running 10, new 0)",
  });

  json fewer = primary();
  fewer.erase("sync");
  CHECK(refused(fewer) == V{"error: sync: requires a restart (running with state sync, new without)"});
}

TEST_CASE("control.realtime_priority: 0 (normal scheduling) or a SCHED_FIFO priority 1-99", "[config]") {
  json j = primary();
  j["control"]["realtime_priority"] = 0;
  CHECK(load_ok(j).control.realtime_priority == 0);
  j["control"]["realtime_priority"] = 99;
  CHECK(load_ok(j).control.realtime_priority == 99);
  j["control"]["realtime_priority"] = 100;
  CHECK(errors(j) == V{"error: control.realtime_priority: must be 0-99, got 100"});
  j["control"]["realtime_priority"] = "high";
  CHECK(errors(j).size() == 1);
}

TEST_CASE("carp.demotion_scope: node by default, interface on request, anything else refused", "[config]") {
  CHECK(load_ok(primary()).carp.demotion_scope == DemotionScope::Node);
  json j = primary();
  j["carp"]["demotion_scope"] = "interface";
  CHECK(load_ok(j).carp.demotion_scope == DemotionScope::Interface);
  j["carp"]["demotion_scope"] = "node";
  CHECK(load_ok(j).carp.demotion_scope == DemotionScope::Node);
  j["carp"]["demotion_scope"] = "vhid";
  CHECK(errors(j) == V{"error: carp.demotion_scope: must be node or interface, got 'vhid'"});
  j["carp"]["demotion_scope"] = 1;
  CHECK(errors(j) == V{"error: carp.demotion_scope: expected a string, got 1"});
}

TEST_CASE("address6 is a global or unique-local host address with a segment's prefix length", "[config][interfaces][ipv6]") {
  json j = primary();
  j["interfaces"][1]["address6"] = "2001:db8:1::2/64";
  CHECK(errors(j) == V{});
  REQUIRE(load_ok(j).interfaces[1].address6->str() == "2001:db8:1::2/64");
  j["interfaces"][1]["address6"] = "2001:db8:1::2";
  CHECK(errors(j) == V{"error: interfaces[1].address6: '2001:db8:1::2' has no prefix length; write it as "
                       "2001:db8:1::2/64 (or the segment's length)"});
  j["interfaces"][1]["address6"] = "192.168.1.2/24";
  CHECK(errors(j) == V{"error: interfaces[1].address6: '192.168.1.2/24' is IPv4; put it in address"});
  j["interfaces"][1]["address6"] = "2001:db8:1::g/64";
  CHECK(errors(j) == V{"error: interfaces[1].address6: '2001:db8:1::g/64' is not an IPv6 address with prefix length "
                       "(x:y::z/len)"});
  j["interfaces"][1]["address6"] = "fe80::2/64";
  CHECK(errors(j) == V{"error: interfaces[1].address6: fe80::2 is link-local (the interface's own fe80:: address comes "
                       "from its MAC); address6 is a global or unique-local address"});
  j["interfaces"][1]["address6"] = "ff02::2/64";
  CHECK(errors(j) == V{"error: interfaces[1].address6: ff02::2 is multicast; address6 is a global or unique-local "
                       "address"});
  j["interfaces"][1]["address6"] = "::1/128";
  CHECK(errors(j) == V{"error: interfaces[1].address6: ::1 is the loopback address; address6 is a global or "
                       "unique-local address"});
  j["interfaces"][1]["address6"] = "2001:db8:1::/64";
  CHECK(errors(j) == V{"error: interfaces[1].address6: 2001:db8:1:: is the subnet-router anycast address of "
                       "2001:db8:1::/64, not a host address"});
  j["interfaces"][1]["address6"] = "2001:db8:1::2/128";
  CHECK(errors(j) == V{"error: interfaces[1].address6: prefix length /128 is not a segment's; use the segment's "
                       "length (/64 on Ethernet, /127 on a point-to-point link)"});
  j["interfaces"][1]["address6"] = "2001:db8:1::/127";  // RFC 6164: both addresses of a /127 are hosts'
  CHECK(errors(j) == V{});
}

TEST_CASE("address6 subnets do not overlap and hold the peer's IPv6 address", "[config][interfaces][ipv6]") {
  json j = primary();
  j["interfaces"][0]["address6"] = "2001:db8::2/48";
  j["interfaces"][1]["address6"] = "2001:db8:0:1::2/64";
  CHECK(errors(j) == V{"error: interfaces[1].address6: subnet 2001:db8:0:1::/64 overlaps interfaces[0] (wan) "
                       "2001:db8::/48; each interface needs its own segment"});
  j = primary();
  j["interfaces"][1]["address6"] = "fd00:1::2/64";
  j["interfaces"][1]["peer"] = "fd00:2::3";
  CHECK(errors(j) == V{"error: interfaces[1].peer: fd00:2::3 is outside this interface's subnet fd00:1::/64; peer is "
                       "the other node's address on this segment"});
  j["interfaces"][1]["peer"] = "fd00:1::";
  CHECK(errors(j) == V{"error: interfaces[1].peer: fd00:1:: is the subnet-router anycast address of fd00:1::/64, not "
                       "a host address"});
}

TEST_CASE("an IPv6 route's gateway is a global address inside an interface's address6", "[config][routes][ipv6]") {
  json j = primary();
  j["interfaces"][0]["address6"] = "2001:db8::2/64";
  j["routes"].push_back({{"destination", "::/0"}, {"gateway", "2001:db8::1"}});
  CHECK(errors(j) == V{});
  Config c = load_ok(j);
  CHECK(c.routes.at(1).destination.str() == "::/0");
  j["routes"][1]["gateway"] = "2001:db9::1";
  CHECK(errors(j) == V{"error: routes[1].gateway: 2001:db9::1 is not inside any interface's subnet; a gateway must "
                       "be directly reachable"});
  j["routes"][1]["gateway"] = "fe80::1";
  CHECK(errors(j) == V{"error: routes[1].gateway: fe80::1 is link-local (the interface's own fe80:: address comes "
                       "from its MAC); write the router's global or unique-local address, inside an interface's "
                       "address6"});
  j["routes"][1]["gateway"] = "198.51.100.1";
  CHECK(errors(j) == V{"error: routes[1].gateway: 198.51.100.1 is not the same address family as destination ::/0"});
  j["routes"][1]["gateway"] = "2001:db8::2";
  CHECK(errors(j) == V{"error: routes[1].gateway: 2001:db8::2 is this node's own address on wan; a gateway is the "
                       "next router"});
  j["routes"][1] = {{"destination", "2001:db8:5::1/48"}, {"gateway", "2001:db8::1"}};
  CHECK(all(j) == V{"warning: routes[1].destination: '2001:db8:5::1/48' has host bits set; it is taken "
                                   "as 2001:db8:5::/48"});
  j["routes"].push_back({{"destination", "2001:db8:5::/48"}, {"gateway", "2001:db8::1"}});
  CHECK(errors(j) == V{"error: routes[2].destination: 2001:db8:5::/48 is already routed by routes[1]"});
  j["routes"][2] = {{"destination", "ff00::/8"}, {"gateway", "2001:db8::1"}};
  CHECK(errors(j) == V{"error: routes[2].destination: ff00::/8 is multicast or link-local; such packets are never "
                       "routed"});
  j = primary();  // no address6 anywhere: no interface can reach an IPv6 gateway
  j["routes"].push_back({{"destination", "::/0"}, {"gateway", "2001:db8::1"}});
  CHECK(errors(j) == V{"error: routes[1].gateway: 2001:db8::1 is not inside any interface's subnet; a gateway must "
                       "be directly reachable"});
}

TEST_CASE("an IPv6 rule names one family, with icmp6 for ICMPv6", "[config][rules][ipv6]") {
  json j = primary();
  j["rules"].push_back({{"action", "pass"}, {"interface", "lan"}, {"direction", "in"}, {"protocol", "tcp"},
                        {"source", "2001:db8:1::/64"}, {"destination", "any"}, {"port", 22}});
  j["rules"].push_back({{"action", "pass"}, {"interface", "lan"}, {"direction", "in"}, {"protocol", "icmp6"},
                        {"source", "any"}, {"destination", "2001:db8:2::/64"}});
  CHECK(errors(j) == V{});
  Config c = load_ok(j);
  CHECK(c.rules.at(4).source->str() == "2001:db8:1::/64");
  CHECK(c.rules.at(5).protocol == net::kProtoIcmpv6);
  j["rules"][4]["destination"] = "10.0.1.0/24";
  CHECK(errors(j) == V{"error: rules[4].destination: 10.0.1.0/24 is IPv4 but source 2001:db8:1::/64 is IPv6; a rule "
                       "matches one address family"});
  j["rules"][4]["destination"] = "any";
  j["rules"][5]["protocol"] = "icmp";
  CHECK(errors(j) == V{"error: rules[5].protocol: icmp is ICMP for IPv4, but the rule names IPv6 address "
                       "2001:db8:2::/64; use icmp6"});
  j["rules"][5]["protocol"] = "icmp6";
  j["rules"][5]["destination"] = "10.0.1.0/24";
  CHECK(errors(j) == V{"error: rules[5].protocol: icmp6 is ICMPv6, but the rule names IPv4 address 10.0.1.0/24; use "
                       "icmp"});
  j["rules"][5]["destination"] = "2001:db8:2::1/64";
  CHECK(all(j) == V{"warning: rules[5].destination: '2001:db8:2::1/64' has host bits set; it is taken "
                                   "as 2001:db8:2::/64"});
  j["rules"][5]["protocol"] = "icmpv6";
  CHECK(errors(j) == V{"error: rules[5].protocol: must be tcp, udp, icmp, icmp6 or any, got 'icmpv6'"});
}

TEST_CASE("NAT is IPv4 only: no NAT66", "[config][nat][ipv6]") {
  json j = primary();
  j["interfaces"][0]["address6"] = "2001:db8::2/64";
  j["interfaces"][1]["address6"] = "2001:db8:1::2/64";
  j["nat"]["outbound"][0]["source"] = "2001:db8:1::/64";
  CHECK(errors(j) == V{"error: nat.outbound[0].source: 2001:db8:1::/64 is IPv6; NAT is IPv4 only (no NAT66: IPv6 is "
                       "routed and filtered, never translated)"});
  j = primary();
  j["nat"]["port_forwards"][0]["target"] = "2001:db8:1::10";
  CHECK(errors(j) == V{"error: nat.port_forwards[0].target: 2001:db8:1::10 is IPv6; port forwards are IPv4 only (no "
                       "NAT66)"});
}
