// The control side compiles the config into what the workers and CARP take.
#include <catch2/catch.hpp>

#include "control/compile.h"
#include "tests/unit/dataplane/frames.h"

using namespace hafw;
using namespace hafw::test;

namespace {

// The example plan of frames.h, as an operator writes it.
config::Config example_config() {
  config::Config c;
  auto ifc = [](const char* name, const char* port, const char* addr) {
    config::Interface i;
    i.name = name;
    i.port = port;
    i.address = *net::Prefix::parse(addr);
    return i;
  };
  c.interfaces = {ifc("wan", "0", "198.51.100.201/24"), ifc("lan", "net_af_packet1", "192.168.1.2/24"),
                  ifc("sync", "2", "172.16.1.2/24")};
  config::Vip wan_vip;
  wan_vip.interface = "wan";
  wan_vip.vhid = 200;
  wan_vip.addresses = {*net::IpAddr::parse("198.51.100.200")};
  wan_vip.password = "wan-secret";
  wan_vip.advskew = 0;
  config::Vip lan_vip;
  lan_vip.interface = "lan";
  lan_vip.vhid = 1;
  lan_vip.addresses = {*net::IpAddr::parse("192.168.1.1")};
  lan_vip.password = "lan-secret";
  c.carp.vips = {wan_vip, lan_vip};
  c.routes = {
      {*net::Prefix::parse("0.0.0.0/0"), *net::IpAddr::parse("198.51.100.1")},
      {*net::Prefix::parse("10.0.0.0/8"), *net::IpAddr::parse("192.168.1.254")},
      {*net::Prefix::parse("10.1.0.0/16"), *net::IpAddr::parse("198.51.100.254")},
  };
  return c;
}

const Mac kMacs[] = {kWanMac, kLanMac, kSyncMac};

}  // namespace

TEST_CASE("the topology takes interfaces, connected and static routes, and every configured VIP", "[compile]") {
  const dp::Topology t = control::compile_topology(example_config(), kMacs);
  const dp::Topology want = example_topology();
  REQUIRE(t.ifaces.size() == want.ifaces.size());
  for (size_t i = 0; i < t.ifaces.size(); ++i) {
    INFO("interface " << i);
    CHECK(t.ifaces[i].port_id == want.ifaces[i].port_id);  // "net_af_packet1": the index
    CHECK(t.ifaces[i].mac == want.ifaces[i].mac);
    CHECK(t.ifaces[i].addr == want.ifaces[i].addr);
    CHECK(t.ifaces[i].plen == want.ifaces[i].plen);
  }
  REQUIRE(t.routes.size() == want.routes.size());
  for (size_t i = 0; i < t.routes.size(); ++i) {
    INFO("route " << i);
    CHECK(t.routes[i].net == want.routes[i].net);
    CHECK(t.routes[i].len == want.routes[i].len);
    CHECK(t.routes[i].gateway == want.routes[i].gateway);
    CHECK(t.routes[i].iface == want.routes[i].iface);  // 10/8 via a LAN gateway leaves on the LAN
  }
  REQUIRE(t.configured_vips.vips.size() == 2);
  CHECK(t.configured_vips.find_on(0, ip4("198.51.100.200"))->vmac == Mac::virtual_for(200));
  CHECK(t.configured_vips.find_on(1, ip4("192.168.1.1"))->vhid == 1);
}

TEST_CASE("a static route whose gateway is on no connected subnet is left out", "[compile]") {
  auto cfg = example_config();
  cfg.routes.push_back({*net::Prefix::parse("172.20.0.0/16"), *net::IpAddr::parse("10.99.0.1")});
  CHECK(control::compile_topology(cfg, kMacs).routes.size() == 6);
}

TEST_CASE("each VHID gets this node's address and MAC on its interface", "[compile]") {
  auto vhids = control::compile_vhids(example_config(), kMacs);
  REQUIRE(vhids.size() == 2);
  CHECK(vhids[0].interface == "wan");
  CHECK(vhids[0].vhid == 200);
  CHECK(vhids[0].src == *net::IpAddr::parse("198.51.100.201"));
  CHECK(vhids[0].iface_mac == kWanMac);
  CHECK(vhids[0].password == "wan-secret");
  CHECK(vhids[1].src == *net::IpAddr::parse("192.168.1.2"));
  CHECK(vhids[1].iface_mac == kLanMac);
}
