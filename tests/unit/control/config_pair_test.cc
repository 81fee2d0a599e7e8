// Two nodes' files against each other. Paths point into the second file
// ("peer:..."); the first file is "the other node".
#include <catch2/catch.hpp>

#include "tests/unit/control/config_fixture.h"

using namespace hafw;
using namespace hafw::config;
using namespace hafw::config::test;
using V = std::vector<std::string>;

namespace {

V pair_lines(const json& a, const json& b, bool errors_only = true) {
  return lines(check_pair(load_ok(a), load_ok(b)), errors_only);
}

}  // namespace

TEST_CASE("the example configs pass as a pair, either way round", "[config][pair]") {
  CHECK(pair_lines(primary(), secondary(), false) == V{});
  CHECK(pair_lines(secondary(), primary(), false) == V{});
}

TEST_CASE("pair: same interfaces in the same order", "[config][pair]") {
  json b = secondary();
  std::swap(b["interfaces"][1], b["interfaces"][2]);
  CHECK(pair_lines(primary(), b) ==
        V{"error: peer:interfaces[1].name: 'dmz' where the other node has 'lan'; both nodes need the same "
          "interfaces in the same order",
          "error: peer:interfaces[2].name: 'lan' where the other node has 'dmz'; both nodes need the same "
          "interfaces in the same order"});
  b = secondary();
  b["interfaces"].push_back({{"name", "mgmt"}, {"port", "net_af_packet9"}, {"address", "10.99.0.3/24"}});
  CHECK(pair_lines(primary(), b) ==
        V{"error: peer:interfaces: has 5 interfaces, the other node 4; both nodes need the same interfaces in the "
          "same order"});
}

TEST_CASE("pair: same subnets, distinct node addresses", "[config][pair]") {
  json b = secondary();
  b["interfaces"][1]["address"] = "192.168.1.2/24";
  b["interfaces"][1]["peer"] = "192.168.1.3";
  CHECK(pair_lines(primary(), b) ==
        V{"error: peer:interfaces[1].address: 192.168.1.2 is also the other node's address on lan; node addresses "
          "must differ"});
  b = secondary();
  b["interfaces"][2]["address"] = "10.0.1.3/25";
  b["carp"]["vips"][2]["addresses"][0] = "10.0.1.1";
  CHECK(pair_lines(primary(), b) ==
        V{"error: peer:interfaces[2].address: subnet 10.0.1.0/25 differs from the other node's 10.0.1.0/24 on dmz"});
}

TEST_CASE("pair: each side's peer is the other's address", "[config][pair]") {
  json b = secondary();
  b["interfaces"][1]["peer"] = "192.168.1.9";
  CHECK(pair_lines(primary(), b) ==
        V{"error: peer:interfaces[1].peer: 192.168.1.9 is not the other node's address on lan (192.168.1.2)"});
  json a = primary();
  a["interfaces"][1]["peer"] = "192.168.1.9";
  CHECK(pair_lines(a, secondary()) ==
        V{"error: peer:interfaces[1].address: the other node's peer on lan is 192.168.1.9, but this node's address "
          "is 192.168.1.3"});
  b = secondary();
  b["interfaces"][3].erase("peer");  // the sync interface carries no VIP: no single-file warning
  CHECK(pair_lines(primary(), b, false) ==
        V{"warning: peer:interfaces[3].peer: not set; the other node's address on sync is 172.16.1.2"});
}

TEST_CASE("pair: same VHIDs, VIPs, passwords and advbase", "[config][pair]") {
  json b = secondary();
  b["carp"]["vips"][2]["vhid"] = 11;
  CHECK(pair_lines(primary(), b) ==
        V{"error: peer:carp.vips[2].vhid: vhid 11 on dmz does not exist on the other node",
          "error: peer:carp.vips: vhid 10 on dmz (the other node's carp.vips[2]) is missing here"});
  b = secondary();
  b["carp"]["vips"][1]["addresses"][0] = "192.168.1.254";
  CHECK(pair_lines(primary(), b) ==
        V{"error: peer:carp.vips[1].addresses: [192.168.1.254] differ from the other node's [192.168.1.1] for "
          "vhid 1; the VIPs are in the advert's HMAC"});
  b = secondary();
  b["carp"]["vips"][1]["password"] = "LAN-secret";
  CHECK(pair_lines(primary(), b) ==
        V{"error: peer:carp.vips[1].password: differs from the other node's for vhid 1; each node drops the other's "
          "adverts and both become MASTER"});
  b = secondary();
  b["carp"]["vips"][1]["advbase"] = 2;
  CHECK(pair_lines(primary(), b) ==
        V{"error: peer:carp.vips[1].advbase: 2 differs from the other node's 1 for vhid 1"});
  // Order of the VIP list does not matter: the HMAC sorts them.
  json a = primary();
  a["carp"]["vips"][1]["addresses"] = {"192.168.1.1", "192.168.1.10"};
  b = secondary();
  b["carp"]["vips"][1]["addresses"] = {"192.168.1.10", "192.168.1.1"};
  CHECK(pair_lines(a, b) == V{});
}

TEST_CASE("pair: one primary, one secondary", "[config][pair]") {
  json b = secondary();
  b["node"]["role"] = "primary";
  for (auto& v : b["carp"]["vips"]) v["advskew"] = 100;
  auto e = pair_lines(primary(), b);
  REQUIRE(!e.empty());
  CHECK(e == V{"error: peer:node.role: both nodes are primary; one must be primary and the other secondary"});
}

TEST_CASE("pair: the secondary's advskew is above the primary's", "[config][pair]") {
  json b = secondary();
  b["carp"]["vips"][0]["advskew"] = 0;
  CHECK(pair_lines(primary(), b) ==
        V{"error: peer:carp.vips[0].advskew: vhid 200: the secondary's advskew (0) must be above the primary's (0), "
          "or the secondary wins or ties the election"});
  // Checked whichever file comes first: here the primary is second.
  json a = secondary();
  a["carp"]["vips"][2]["advskew"] = 5;
  json p = primary();
  p["carp"]["vips"][2]["advskew"] = 10;
  CHECK(pair_lines(a, p) ==
        V{"error: peer:carp.vips[2].advskew: vhid 10: the secondary's advskew (5) must be above the primary's (10), "
          "or the secondary wins or ties the election"});
}

TEST_CASE("pair: sync sections agree", "[config][pair]") {
  json b = secondary();
  b["sync"]["key"] = "another-key";
  CHECK(pair_lines(primary(), b) ==
        V{"error: peer:sync.key: differs from the other node's; each node rejects the other's sync frames"});
  b = secondary();
  b.erase("sync");
  CHECK(pair_lines(primary(), b) ==
        V{"error: peer:sync: missing, but the other node syncs state; both nodes need a sync section"});
}

TEST_CASE("pair: differing policy is a warning", "[config][pair]") {
  json b = secondary();
  b["rules"].erase(3);
  auto ds = check_pair(load_ok(primary()), load_ok(b));
  CHECK(lines(ds, false) ==
        V{"warning: peer:rules: differ from the other node's; after a failover traffic is filtered differently"});
}

TEST_CASE("pair: a different demotion scope is a warning", "[config][pair]") {
  json b = secondary();
  b["carp"]["demotion_scope"] = "interface";
  CHECK(lines(check_pair(load_ok(primary()), load_ok(b)), false) ==
        V{"warning: peer:carp.demotion_scope: differs from the other node's; a failed link then moves every VIP "
          "from one node and only that interface's from the other"});
}
