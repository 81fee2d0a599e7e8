// Config sync's transform: the primary's file made into the secondary's,
// on the example pair (docs/examples/primary.json, secondary.json).
#include <catch2/catch.hpp>

#include "control/config_sync.h"
#include "tests/unit/control/config_fixture.h"

using namespace hafw;
using namespace hafw::config;
using namespace hafw::config::test;

namespace {

SyncedConfig sync_into(const json& pri, const json& own) {
  return from_primary(pri.dump(), own, load_ok(own));
}

const Vip* vip(const Config& c, const std::string& iface, int vhid) {
  for (const auto& v : c.carp.vips)
    if (v.interface == iface && v.vhid == vhid) return &v;
  return nullptr;
}

}  // namespace

TEST_CASE("config sync: the example primary made into the secondary is the example secondary", "[config][sync]") {
  const auto r = sync_into(primary(), secondary());
  INFO(r.refused);
  REQUIRE(r.ok());
  CHECK(r.local_vips.empty());
  // The example files differ only in what is local and in the skew: the
  // transform of the one is the other.
  CHECK(r.json == secondary());
  CHECK(r.config->node.name == "fw2");
  CHECK(r.config->node.role == Role::Secondary);
  for (const auto& v : r.config->carp.vips) CHECK(int(v.advskew) == 100);
}

TEST_CASE("config sync: a new VIP, rules, NAT, routes and timeouts come over; local keys stay", "[config][sync]") {
  json p = primary();
  p["carp"]["vips"].push_back({{"interface", "lan"}, {"vhid", 2}, {"addresses", {"192.168.1.50"}},
                               {"password", "new"}, {"advskew", 20}, {"description", "new VIP"}});
  p["rules"].push_back({{"action", "block"}, {"interface", "wan"}, {"direction", "in"}, {"protocol", "udp"},
                        {"source", "any"}, {"destination", "any"}, {"port", 161}});
  p["routes"].push_back({{"destination", "10.50.0.0/16"}, {"gateway", "192.168.1.254"}});
  p["nat"]["outbound"].erase(1);
  p["dataplane"]["timeouts"] = {{"tcp.established", 7200}};
  p["carp"]["preempt"] = false;
  // The primary's own hardware: none of it may reach the secondary.
  p["dataplane"]["workers"] = 3;
  p["dataplane"]["max_states"] = 65536;
  p["control"]["socket"] = "/run/fw1.sock";

  const json s = secondary();
  const auto r = sync_into(p, s);
  INFO(r.refused);
  REQUIRE(r.ok());
  const Config& c = *r.config;
  const Vip* added = vip(c, "lan", 2);
  REQUIRE(added);
  CHECK(int(added->advskew) == 120);
  CHECK(added->addresses[0].str() == "192.168.1.50");
  CHECK(c.rules.size() == 5);
  CHECK(c.routes.size() == 2);
  CHECK(c.nat.outbound.size() == 1);
  CHECK(c.dataplane.timeouts[size_t(net::Timeout::TcpEstablished)] == 7200);
  CHECK_FALSE(c.carp.preempt);
  // Local: this node's name and role, addresses, peers, ports, sync link,
  // control socket, EAL, workers, table size.
  CHECK(r.json["node"] == s["node"]);
  CHECK(r.json["interfaces"] == s["interfaces"]);
  CHECK(r.json["sync"] == s["sync"]);
  CHECK(r.json["control"] == s["control"]);
  CHECK(r.json["dataplane"]["eal"] == s["dataplane"]["eal"]);
  CHECK(c.dataplane.workers == 1);
  CHECK(c.dataplane.max_states == 1048576);
  CHECK(c.interfaces[0].address.str() == "198.51.100.202/24");
  CHECK(c.sync->peer.str() == "172.16.1.2");
  CHECK_FALSE(c.sync->config_sync);
}

TEST_CASE("config sync: advskew + 100, at most 254", "[config][sync]") {
  json p = primary();
  p["carp"]["vips"][0]["advskew"] = 0;
  p["carp"]["vips"][1]["advskew"] = 154;
  p["carp"]["vips"][2]["advskew"] = 200;
  const auto r = sync_into(p, secondary());
  REQUIRE(r.ok());
  CHECK(int(r.config->carp.vips[0].advskew) == 100);
  CHECK(int(r.config->carp.vips[1].advskew) == 254);
  CHECK(int(r.config->carp.vips[2].advskew) == 254);

  SECTION("a primary at 254 would tie: refused by the pair check") {
    p["carp"]["vips"][0]["advskew"] = 254;
    const auto t = sync_into(p, secondary());
    CHECK_FALSE(t.ok());
    CHECK(t.refused.find("does not pair") != std::string::npos);
    CHECK(t.refused.find("advskew") != std::string::npos);
  }
}

TEST_CASE("config sync: a unicast VIP's peer becomes the primary's address on that interface", "[config][sync]") {
  json p = primary();
  p["carp"]["vips"][0]["peer"] = "198.51.100.202";  // the primary sends to the secondary
  const auto r = sync_into(p, secondary());
  INFO(r.refused);
  REQUIRE(r.ok());
  REQUIRE(r.config->carp.vips[0].peer);
  CHECK(r.config->carp.vips[0].peer->str() == "198.51.100.201");
  CHECK_FALSE(r.config->carp.vips[1].peer);
}

TEST_CASE("config sync: another interface order is refused and says both orders", "[config][sync]") {
  json s = secondary();
  std::swap(s["interfaces"][1], s["interfaces"][2]);  // lan and dmz swapped
  const auto r = sync_into(primary(), s);
  CHECK_FALSE(r.ok());
  CHECK(r.refused ==
        "interface order differs: the primary fw1 has [wan, lan, dmz, sync], this node [wan, dmz, lan, sync]; config "
        "sync maps every setting by interface, so give both nodes the same interfaces in the same order");
  CHECK(r.interface_order);

  SECTION("and so is a missing interface") {
    json p = primary();
    json t = secondary();
    t["interfaces"].erase(2);  // dmz
    json own = t;
    for (auto& v : own["carp"]["vips"])
      if (v["interface"] == "dmz") v["interface"] = "lan";
    own["carp"]["vips"].erase(2);
    own["rules"].erase(3);
    own["rules"].erase(2);
    own["nat"]["outbound"].erase(1);
    const auto m = sync_into(p, own);
    CHECK_FALSE(m.ok());
    CHECK(m.refused.find("[wan, lan, dmz, sync], this node [wan, lan, sync]") != std::string::npos);
  }
}

TEST_CASE("config sync: VIPs made by hand on the secondary are reported and replaced", "[config][sync]") {
  json s = secondary();
  s["carp"]["vips"].push_back({{"interface", "dmz"}, {"vhid", 11}, {"addresses", {"10.0.1.11"}},
                               {"password", "local"}, {"advskew", 100}});
  s["carp"]["vips"][1]["addresses"] = {"192.168.1.9"};  // lan vhid 1 made here with another address
  const auto r = sync_into(primary(), s);
  INFO(r.refused);
  REQUIRE(r.ok());
  CHECK(r.local_vips == std::vector<std::string>{
                            "lan vhid 1: made here with other settings (addresses 192.168.1.9 here, 192.168.1.1 on the "
                            "primary), replaced by the primary's",
                            "dmz vhid 11 (10.0.1.11): only on this node, removed"});
  CHECK_FALSE(vip(*r.config, "dmz", 11));
  CHECK(vip(*r.config, "lan", 1)->addresses[0].str() == "192.168.1.1");
}

TEST_CASE("config sync: refused when the pushed file is not a primary's or does not check", "[config][sync]") {
  json p = primary();
  p["carp"]["vips"][0]["vhid"] = 0;
  auto r = sync_into(p, secondary());
  CHECK_FALSE(r.ok());
  CHECK(r.refused == "the primary's configuration does not check here: error: carp.vips[0].vhid: must be 1-255, got 0");

  r = sync_into(secondary(), secondary());
  CHECK(r.refused == "the configuration is from fw2, which is not a primary");

  r = from_primary("{not json", secondary(), load_ok(secondary()));
  CHECK_FALSE(r.ok());
  CHECK(r.refused.rfind("the primary's configuration does not check here: ", 0) == 0);

  // Valid on the primary, but a VIP outside the secondary's subnet.
  json q = primary();
  json s = secondary();
  s["interfaces"][1]["address"] = "192.168.2.3/24";
  s["interfaces"][1]["peer"] = "192.168.2.2";
  s["carp"]["vips"][1]["addresses"] = {"192.168.2.1"};
  s["rules"][0]["source"] = "192.168.2.0/24";
  r = sync_into(q, s);
  CHECK_FALSE(r.ok());
  CHECK(r.refused.find("does not check on this node: error: carp.vips[1].addresses[0]") != std::string::npos);

  r = from_primary(primary().dump(), primary(), load_ok(primary()));
  CHECK(r.refused == "this node is not the secondary: it takes no configuration");
}
