// The control side compiles the config into what the workers and CARP take.
#include <catch2/catch.hpp>

#include <cstring>

#include "control/compile.h"
#include "tests/unit/control/config_fixture.h"
#include "tests/unit/dataplane/frames.h"

using namespace hafw;
using namespace hafw::test;
using nlohmann::json;

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

net::IpAddr addr(const char* s) { return *net::IpAddr::parse(s); }

// Does the rule's (or NAT entry's) match take this address?
bool takes(const dp::NetMatch& m, const char* a) {
  const net::IpAddr ip = addr(a);
  return m.contains(ip.b.data(), ip.af);
}

// A 16-bit field as it lies in memory: network order puts the high byte first.
std::array<uint8_t, 2> wire(uint16_t field) {
  std::array<uint8_t, 2> out;
  std::memcpy(out.data(), &field, 2);
  return out;
}

config::Config example_file() { return config::test::load_ok(config::test::primary()); }

// docs/examples/primary.json's interfaces: wan, lan, dmz, sync.
constexpr uint8_t kWan = 0, kLan = 1, kDmz = 2;

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
  REQUIRE(t.routes().size() == want.routes().size());
  for (size_t i = 0; i < t.routes().size(); ++i) {
    INFO("route " << i);
    CHECK(t.routes()[i].net == want.routes()[i].net);
    CHECK(t.routes()[i].len == want.routes()[i].len);
    CHECK(t.routes()[i].gateway == want.routes()[i].gateway);
    CHECK(t.routes()[i].iface == want.routes()[i].iface);  // 10/8 via a LAN gateway leaves on the LAN
  }
  REQUIRE(t.configured_vips.vips.size() == 2);
  CHECK(t.configured_vips.find_on(0, ip4("198.51.100.200"))->vmac == Mac::virtual_for(200));
  CHECK(t.configured_vips.find_on(1, ip4("192.168.1.1"))->vhid == 1);
}

TEST_CASE("a static route whose gateway is on no connected subnet is left out", "[compile]") {
  auto cfg = example_config();
  cfg.routes.push_back({*net::Prefix::parse("172.20.0.0/16"), *net::IpAddr::parse("10.99.0.1")});
  CHECK(control::compile_topology(cfg, kMacs).routes().size() == 6);
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

TEST_CASE("the policy lists each rule under its interface and direction, in config order", "[compile][policy]") {
  dp::StateTable table(64);
  auto p = control::compile_policy(example_file(), table, 1);
  REQUIRE(p);
  CHECK(p->rule_count == 4);
  for (size_t i = 0; i < net::kMaxIfaces; ++i) {
    INFO("interface " << i);
    CHECK(p->out[i].empty());  // the example has no out rules: every interface passes out
    if (i != kWan && i != kLan && i != kDmz) CHECK(p->in[i].empty());
  }

  // rules[0]: pass in on lan, any protocol, from 192.168.1.0/24 to any.
  REQUIRE(p->in[kLan].size() == 1);
  const dp::RuleView& lan = p->in[kLan][0];
  CHECK(lan.index == 0);
  CHECK(lan.action == dp::RuleAction::Pass);
  CHECK(lan.keep_state);
  CHECK(lan.proto == 0);
  CHECK(lan.port == 0);
  CHECK(takes(lan.src, "192.168.1.77"));
  CHECK_FALSE(takes(lan.src, "192.168.2.77"));
  CHECK(takes(lan.dst, "8.8.8.8"));
  CHECK(takes(lan.dst, "2001:db8::1"));  // "any" is any family

  // rules[1]: pass in on wan, tcp to the port forward's target 10.0.1.10 port 443.
  REQUIRE(p->in[kWan].size() == 1);
  const dp::RuleView& wan = p->in[kWan][0];
  CHECK(wan.index == 1);
  CHECK(wan.action == dp::RuleAction::Pass);
  CHECK(wan.proto == net::kProtoTcp);
  CHECK(wire(wan.port) == std::array<uint8_t, 2>{0x01, 0xbb});  // 443
  CHECK(takes(wan.src, "203.0.113.9"));
  CHECK(takes(wan.dst, "10.0.1.10"));
  CHECK_FALSE(takes(wan.dst, "10.0.1.11"));  // a bare address is one host

  // rules[2] and [3] on dmz, in that order: pass udp/53, then block to lan without state.
  REQUIRE(p->in[kDmz].size() == 2);
  const dp::RuleView& dns = p->in[kDmz][0];
  CHECK(dns.index == 2);
  CHECK(dns.action == dp::RuleAction::Pass);
  CHECK(dns.proto == net::kProtoUdp);
  CHECK(wire(dns.port) == std::array<uint8_t, 2>{0x00, 0x35});  // 53
  CHECK(takes(dns.src, "10.0.1.10"));
  CHECK_FALSE(takes(dns.src, "192.168.1.10"));
  const dp::RuleView& block = p->in[kDmz][1];
  CHECK(block.index == 3);
  CHECK(block.action == dp::RuleAction::Block);
  CHECK_FALSE(block.keep_state);
  CHECK(block.proto == 0);
  CHECK(block.port == 0);
  CHECK(takes(block.dst, "192.168.1.10"));
  CHECK_FALSE(takes(block.dst, "198.51.100.1"));
  CHECK_FALSE(takes(block.dst, "::ffff:192.168.1.10"));  // a v4 prefix takes no IPv6 address
}

TEST_CASE("an out rule goes to its interface's out list with its config index", "[compile][policy]") {
  json j = config::test::primary();
  j["rules"].push_back({{"action", "block"}, {"interface", "wan"}, {"direction", "out"}, {"protocol", "icmp"},
                        {"source", "any"}, {"destination", "any"}});
  dp::StateTable table(64);
  auto p = control::compile_policy(config::test::load_ok(j), table, 1);
  CHECK(p->rule_count == 5);
  REQUIRE(p->out[kWan].size() == 1);
  CHECK(p->out[kWan][0].index == 4);
  CHECK(p->out[kWan][0].action == dp::RuleAction::Block);
  CHECK(p->out[kWan][0].proto == net::kProtoIcmp);
  CHECK(p->in[kWan].size() == 1);  // the in rule is unchanged
  CHECK(p->out[kLan].empty());
}

TEST_CASE("outbound NAT and port forwards carry their addresses interned in the state table", "[compile][policy]") {
  dp::StateTable table(64);
  auto p = control::compile_policy(example_file(), table, 1);
  const net::IpAddr vip = addr("198.51.100.200"), target = addr("10.0.1.10");

  // Both outbound entries, in config order: lan's and dmz's subnet to the wan VIP.
  REQUIRE(p->outbound.size() == 2);
  const auto& lan = p->outbound[0];
  const auto& dmz = p->outbound[1];
  CHECK(lan.iface == kWan);
  CHECK(dmz.iface == kWan);
  CHECK(takes(lan.source, "192.168.1.77"));
  CHECK_FALSE(takes(lan.source, "10.0.1.77"));
  CHECK(takes(dmz.source, "10.0.1.77"));
  CHECK_FALSE(takes(dmz.source, "192.168.1.77"));
  CHECK(lan.translation == vip);
  CHECK(dmz.translation == vip);
  CHECK(table.pool_addr(lan.addr_ref) == vip.b);
  CHECK(dmz.addr_ref == lan.addr_ref);  // one address, one ref

  // The port forward: tcp to the VIP's 443 on wan goes to 10.0.1.10:443.
  REQUIRE(p->forwards.size() == 1);
  const auto& f = p->forwards[0];
  CHECK(f.iface == kWan);
  CHECK(f.proto == net::kProtoTcp);
  CHECK(f.destination == vip);
  CHECK(wire(f.port) == std::array<uint8_t, 2>{0x01, 0xbb});
  CHECK(f.target == target);
  CHECK(wire(f.target_port) == std::array<uint8_t, 2>{0x01, 0xbb});
  CHECK(table.pool_addr(f.target_ref) == target.b);
  CHECK(f.target_ref != lan.addr_ref);

  // A recompile (config reload) into the same table keeps the refs: the
  // states that name them stay right.
  auto again = control::compile_policy(example_file(), table, 1);
  CHECK(again->outbound.at(0).addr_ref == lan.addr_ref);
  CHECK(again->forwards.at(0).target_ref == f.target_ref);
}

TEST_CASE("a NAT entry whose address the table cannot intern is left out", "[compile][policy]") {
  // Fill the pool with addresses of 100.64.0.0/10, none of them the example's.
  dp::StateTable table(64);
  bool interned = true;
  for (uint32_t i = 0; i < dp::StateTable::kAddrPool; ++i)
    interned &= table.intern_addr(net::IpAddr::v4(0x64400000 + i)) != dp::StateTable::kNoAddr;
  REQUIRE(interned);
  REQUIRE(table.intern_addr(addr("198.51.100.200")) == dp::StateTable::kNoAddr);
  auto p = control::compile_policy(example_file(), table, 1);
  CHECK(p->outbound.empty());
  CHECK(p->forwards.empty());
  CHECK(p->rule_count == 4);  // the rules need no address ref
  CHECK(p->in[kDmz].size() == 2);
}

TEST_CASE("the policy takes the config's state timeouts", "[compile][policy]") {
  dp::StateTable table(64);
  CHECK(control::compile_policy(example_file(), table, 1)->timeouts == net::default_timeouts());
  json j = config::test::primary();
  j["dataplane"]["timeouts"] = {{"tcp.established", 7200}, {"icmp.error", 5}};
  auto p = control::compile_policy(config::test::load_ok(j), table, 1);
  net::Timeouts want = net::default_timeouts();
  want[size_t(net::Timeout::TcpEstablished)] = 7200;
  want[size_t(net::Timeout::IcmpError)] = 5;
  CHECK(p->timeouts == want);
}

TEST_CASE("every worker gets counters for every rule", "[compile][policy]") {
  dp::StateTable table(64);
  auto p = control::compile_policy(example_file(), table, 3);
  CHECK(p->workers == 3);
  for (unsigned w = 0; w < 3; ++w) {
    for (uint16_t i = 0; i < 4; ++i) {
      INFO("worker " << w << " rule " << i);
      const dp::RuleCounters* c = p->rule_counters(w, i);
      REQUIRE(c);
      CHECK(c->matches.load() == 0);
      if (w > 0) CHECK(c != p->rule_counters(0, i));  // each worker writes its own
    }
    CHECK(p->rule_counters(w, 4) == nullptr);  // past the last rule
  }
  CHECK(p->rule_counters(3, 0) == nullptr);  // past the last worker
  // Counting on one worker shows in the rule's total.
  dp::RuleCounters::bump(p->rule_counters(2, 1)->matches, 5);
  CHECK(p->totals(1).matches == 5);
  CHECK(p->totals(0).matches == 0);
}

TEST_CASE("address6 gives an interface its IPv6 addresses and connected prefix; IPv6 routes follow their gateway",
          "[compile][ipv6]") {
  auto cfg = example_config();
  cfg.interfaces[kWan].address6 = *net::Prefix::parse("2001:db8::2/64");
  cfg.interfaces[kLan].address6 = *net::Prefix::parse("2001:db8:1::2/64");
  cfg.routes.push_back({*net::Prefix::parse("::/0"), *net::IpAddr::parse("2001:db8::1")});
  cfg.routes.push_back({*net::Prefix::parse("2001:db8:5::/48"), *net::IpAddr::parse("2001:db8:1::fe")});
  cfg.routes.push_back({*net::Prefix::parse("2001:db8:6::/48"), *net::IpAddr::parse("2001:db8:7::1")});  // unreachable
  const dp::Topology t = control::compile_topology(cfg, kMacs);
  CHECK(t.ifaces[kWan].has6());
  CHECK(t.ifaces[kWan].addr6 == net::IpAddr::parse("2001:db8::2")->b);
  CHECK(t.ifaces[kWan].ll6 == net::link_local_of(kMacs[kWan]));
  CHECK_FALSE(t.ifaces[kDmz].has6());
  CHECK(t.routes().size() == 6);  // IPv4's unchanged
  REQUIRE(t.routes6().size() == 4);  // two connected, two static; the unreachable one left out
  auto via = [&](const char* dst) { return t.route6(net::IpAddr::parse(dst)->b.data()); };
  REQUIRE(via("2001:db8:1::50"));
  CHECK(via("2001:db8:1::50")->iface == kLan);
  CHECK(net::is_unspecified6(via("2001:db8:1::50")->gateway.data()));
  CHECK(via("2001:db8:5::1")->gateway == net::IpAddr::parse("2001:db8:1::fe")->b);
  CHECK(via("2001:db8:5::1")->iface == kLan);
  CHECK(via("2001:db8:6::1")->iface == kWan);  // the default route
  CHECK(via("2001:db8:6::1")->gateway == net::IpAddr::parse("2001:db8::1")->b);
  CHECK(t.is_node_addr6(net::IpAddr::parse("2001:db8:1::2")->b.data()));
  CHECK_FALSE(t.is_node_addr6(net::IpAddr::parse("2001:db8:1::3")->b.data()));
}

TEST_CASE("IPv6 longest-prefix match: the longest length wins, then the lower index", "[compile][ipv6]") {
  dp::Topology t;
  auto a = [](const char* s) { return net::IpAddr::parse(s)->b; };
  t.set_routes6({{.net = a("2001:db8::"), .len = 32, .gateway = {}, .iface = 1},
                 {.net = a("2001:db8:1::"), .len = 48, .gateway = {}, .iface = 2},
                 {.net = a("2001:db8:1::"), .len = 48, .gateway = {}, .iface = 3},
                 {.net = a("2001:db8:1:2::1"), .len = 64, .gateway = {}, .iface = 4},  // host bits ignored
                 {.net = {}, .len = 0, .gateway = a("2001:db8::1"), .iface = 5},
                 {.net = a("2001:db8:1:2::7"), .len = 128, .gateway = {}, .iface = 6}});
  auto out = [&](const char* d) { return t.route6(a(d).data()) ? int(t.route6(a(d).data())->iface) : -1; };
  CHECK(out("2001:db8:9::1") == 1);
  CHECK(out("2001:db8:1:9::1") == 2);
  CHECK(out("2001:db8:1:2::8") == 4);
  CHECK(out("2001:db8:1:2::7") == 6);
  CHECK(out("2001:db9::1") == 5);
  dp::Topology none;
  CHECK(none.route6(a("2001:db8::1").data()) == nullptr);
}

TEST_CASE("IPv6 VIPs go to the topology's VIP set, and their VHID advertises from the link-local address",
          "[compile][ipv6]") {
  auto cfg = example_config();
  cfg.interfaces[kLan].address6 = *net::Prefix::parse("2001:db8:1::2/64");
  cfg.carp.vips[1].addresses.push_back(*net::IpAddr::parse("2001:db8:1::1"));
  const dp::Topology t = control::compile_topology(cfg, kMacs);
  REQUIRE(t.configured_vips.vips.size() == 2);
  REQUIRE(t.configured_vips.vips6.size() == 1);
  const dp::VipView6* v = t.configured_vips.find6_on(kLan, net::IpAddr::parse("2001:db8:1::1")->b.data());
  REQUIRE(v);
  CHECK(v->vhid == 1);
  CHECK(v->vmac == Mac::virtual_for(1));
  CHECK(t.configured_vips.has_vmac(kLan, Mac::virtual_for(1)));
  CHECK(t.configured_vips.has_solicited_node6(kLan, net::IpAddr::parse("ff02::1:ff00:1")->b.data()));
  CHECK_FALSE(t.configured_vips.find6_on(kWan, v->addr.data()));

  auto vhids = control::compile_vhids(cfg, kMacs);
  REQUIRE(vhids.size() == 2);
  CHECK_FALSE(vhids[0].src6);  // wan has no address6
  REQUIRE(vhids[1].src6);
  CHECK(vhids[1].src6->b == net::link_local_of(kLanMac));
  CHECK(vhids[1].src6->b == t.ifaces[kLan].ll6);  // the address the workers answer for
}
