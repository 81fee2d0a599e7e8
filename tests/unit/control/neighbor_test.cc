#include <catch2/catch.hpp>

#include "control/neighbor.h"
#include "dataplane/net/ipv6.h"
#include "tests/unit/dataplane/frames.h"

using namespace hafw;
using namespace hafw::test;
using namespace std::chrono_literals;

namespace {

constexpr uint8_t kWan = 0, kLan = 1;
const uint32_t kGw = ip4("198.51.100.1");
const Time t0 = 1000s;

// A frame as a Resolve punt leaves the worker: eth src set, dst stale; the
// last byte marks which packet it is.
Bytes punted(uint8_t marker) {
  Bytes f = ipv4_frame(kLanMac, kWanMac, ip4("192.168.1.50"), ip4("8.8.8.8"), 17, udp_payload(8), 63);
  f.back() = marker;
  return f;
}

}  // namespace

TEST_CASE("resolve holds the packet and sends one ARP request per second", "[dataplane][neighbor]") {
  control::NeighborManager nm(example_topology().ifaces);
  auto reqs = nm.resolve(kWan, kGw, punted(1), t0);
  REQUIRE(reqs.size() == 1);
  const Bytes& r = reqs[0];
  CHECK(r.size() == 60);
  CHECK(eth_of(r).dst == Mac::broadcast());
  CHECK(eth_of(r).src == kWanMac);
  CHECK(net::be16(eth_of(r).type) == net::kEtherTypeArp);
  auto a = arp_of(r);
  CHECK(net::be16(a.htype) == 1);
  CHECK(net::be16(a.ptype) == 0x0800);
  CHECK(a.hlen == 6);
  CHECK(a.plen == 4);
  CHECK(net::be16(a.op) == net::kArpRequest);
  CHECK(a.sha == kWanMac);
  CHECK(net::be32(a.spa) == ip4("198.51.100.201"));
  CHECK(a.tha == Mac{});
  CHECK(net::be32(a.tpa) == kGw);

  CHECK(nm.resolve(kWan, kGw, punted(2), t0 + 500ms).empty());  // rate limited
  CHECK(nm.resolve(kWan, kGw, punted(3), t0 + 1s).size() == 1);
  CHECK(nm.stats().requests_sent == 2);
  CHECK(nm.take_ready().empty());
  CHECK(nm.entries().empty());
}

TEST_CASE("learning the neighbour releases the held packets rewritten", "[dataplane][neighbor]") {
  control::NeighborManager nm(example_topology().ifaces);
  Bytes p1 = punted(1), p2 = punted(2);
  nm.resolve(kWan, kGw, p1, t0);
  nm.resolve(kWan, kGw, p2, t0 + 1ms);
  uint64_t v0 = nm.version();
  CHECK(nm.learn(kWan, kGw, kGwMac, t0 + 2ms));
  CHECK(nm.version() > v0);

  auto ready = nm.take_ready();
  REQUIRE(ready.size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    const auto& [iface, f] = ready[i];
    const Bytes& orig = i == 0 ? p1 : p2;
    CHECK(iface == kWan);
    CHECK(eth_of(f).dst == kGwMac);
    CHECK(eth_of(f).src == kWanMac);
    CHECK(std::equal(f.begin() + 12, f.end(), orig.begin() + 12, orig.end()));  // only MACs change
  }
  CHECK(nm.take_ready().empty());
  REQUIRE(nm.entries().size() == 1);
  CHECK(nm.entries()[0] == std::tuple<uint8_t, uint32_t, Mac>{kWan, kGw, kGwMac});

  // Once known, a late punt (worker still on the old snapshot) goes straight out.
  CHECK(nm.resolve(kWan, kGw, punted(3), t0 + 3ms).empty());
  CHECK(nm.take_ready().size() == 1);
}

TEST_CASE("at most 3 packets are held per next hop, the oldest dropped", "[dataplane][neighbor]") {
  control::NeighborManager nm(example_topology().ifaces);
  for (uint8_t i = 1; i <= 5; ++i) nm.resolve(kWan, kGw, punted(i), t0);
  CHECK(nm.stats().queue_drops == 2);
  nm.learn(kWan, kGw, kGwMac, t0 + 1ms);
  auto ready = nm.take_ready();
  REQUIRE(ready.size() == 3);
  CHECK(ready[0].second.back() == 3);
  CHECK(ready[2].second.back() == 5);
}

TEST_CASE("an unanswered next hop gives up after 3 s and drops its packets", "[dataplane][neighbor]") {
  control::NeighborManager nm(example_topology().ifaces);
  nm.resolve(kWan, kGw, punted(1), t0);
  nm.resolve(kWan, kGw, punted(2), t0);
  // Retries come from due_requests() while nothing new arrives.
  CHECK(nm.due_requests(t0 + 999ms).empty());
  CHECK(nm.due_requests(t0 + 1s).size() == 1);
  CHECK(nm.due_requests(t0 + 2s).size() == 1);
  nm.expire(t0 + 2999ms);
  CHECK(nm.due_requests(t0 + 3s).empty());
  nm.expire(t0 + 3s);
  CHECK(nm.stats().unresolved_drops == 2);
  // A late answer finds nothing held, and its unsolicited form is not learned by update().
  CHECK_FALSE(nm.update(kWan, kGw, kGwMac, t0 + 4s));
  CHECK(nm.take_ready().empty());
  CHECK(nm.entries().empty());
}

TEST_CASE("entries age out unless refreshed, and are probed before they do", "[dataplane][neighbor]") {
  control::NeighborManager nm(example_topology().ifaces);
  CHECK(nm.learn(kWan, kGw, kGwMac, t0));
  CHECK_FALSE(nm.learn(kWan, kGw, kGwMac, t0 + 1s));  // same MAC: no republish needed
  CHECK(nm.due_requests(t0 + 19min).empty());
  auto probes = nm.due_requests(t0 + 1s + 19min + 31s);
  REQUIRE(probes.size() == 1);
  CHECK(eth_of(probes[0].second).dst == kGwMac);  // unicast probe to the known MAC

  SECTION("no answer: gone at 20 min") {
    nm.expire(t0 + 1s + 20min);
    CHECK(nm.entries().empty());
    CHECK(nm.stats().expired == 1);
  }
  SECTION("answer: stays") {
    nm.update(kWan, kGw, kGwMac, t0 + 1s + 19min + 32s);
    nm.expire(t0 + 1s + 20min);
    CHECK(nm.entries().size() == 1);
  }
}

TEST_CASE("only on-link senders with real MACs are learned", "[dataplane][neighbor]") {
  control::NeighborManager nm(example_topology().ifaces);
  CHECK_FALSE(nm.learn(kWan, ip4("192.168.1.50"), kHostMac, t0));     // LAN host claimed on WAN
  CHECK_FALSE(nm.learn(kWan, ip4("198.51.100.201"), kHostMac, t0));   // our own address
  CHECK_FALSE(nm.learn(kWan, ip4("198.51.100.255"), kHostMac, t0));   // the subnet broadcast
  CHECK_FALSE(nm.learn(kWan, kGw, Mac::broadcast(), t0));
  CHECK_FALSE(nm.learn(9, kGw, kGwMac, t0));                          // no such interface
  CHECK(nm.stats().ignored == 5);
  CHECK(nm.entries().empty());
  // update() never creates, learn() does; a new MAC counts as a change.
  CHECK_FALSE(nm.update(kLan, ip4("192.168.1.50"), kHostMac, t0));
  CHECK(nm.learn(kLan, ip4("192.168.1.50"), kHostMac, t0));
  CHECK(nm.update(kLan, ip4("192.168.1.50"), mac(0x51), t0));
  CHECK(nm.stats().changed == 1);
}

TEST_CASE("resolve finds the on-link interface when handed the receiving one", "[dataplane][neighbor]") {
  control::NeighborManager nm(example_topology().ifaces);
  auto reqs = nm.resolve(kLan, kGw, punted(1), t0);  // kGw is on the WAN
  REQUIRE(reqs.size() == 1);
  CHECK(eth_of(reqs[0]).src == kWanMac);
  CHECK(nm.resolve(kLan, ip4("10.9.9.9"), punted(2), t0).empty());  // on no subnet
  CHECK(nm.stats().bad_resolve == 1);
  nm.learn(kWan, kGw, kGwMac, t0);
  auto ready = nm.take_ready();
  REQUIRE(ready.size() == 1);
  CHECK(ready[0].first == kWan);
}

TEST_CASE("entries feed the workers' table", "[dataplane][neighbor]") {
  control::NeighborManager nm(example_topology().ifaces);
  nm.learn(kWan, kGw, kGwMac, t0);
  nm.learn(kLan, ip4("192.168.1.50"), kHostMac, t0);
  auto e = nm.entries();
  auto t = dp::NeighborTable::build(e);
  REQUIRE(t.find(kLan, ip4("192.168.1.50")));
  CHECK(*t.find(kLan, ip4("192.168.1.50")) == kHostMac);
}

namespace {

net::IpAddr v6(const char* s) { return *net::IpAddr::parse(s); }

std::vector<dp::IfaceView> ifaces6() {
  auto ifs = example_topology().ifaces;
  ifs[kWan].addr6 = v6("2001:db8::2").b;
  ifs[kWan].plen6 = 64;
  ifs[kWan].ll6 = net::link_local_of(kWanMac);
  return ifs;
}

Bytes punted6() {
  Bytes ip(40 + 8, 0);
  ip[0] = 0x60;
  ip[5] = 8;
  ip[6] = 17;
  ip[7] = 63;
  return eth_frame(kLanMac, kWanMac, net::kEtherTypeIpv6, ip);
}

}  // namespace

TEST_CASE("IPv6 next hops: a Neighbor Solicitation to the solicited-node group, held packets, the same ageing",
          "[dataplane][neighbor][ipv6]") {
  control::NeighborManager nm(ifaces6());
  const net::IpAddr gw = v6("2001:db8::1");
  auto reqs = nm.resolve(kWan, gw, punted6(), t0);
  REQUIRE(reqs.size() == 1);
  const Bytes& r = reqs[0];
  REQUIRE(r.size() == net::kNdFrameLen);
  const auto group = net::solicited_node(gw.b.data());
  CHECK(eth_of(r).dst == net::multicast_mac(group.data()));  // 33:33:ff:00:00:01
  CHECK(eth_of(r).src == kWanMac);
  CHECK(net::be16(eth_of(r).type) == net::kEtherTypeIpv6);
  CHECK(r[14 + 7] == 255);
  CHECK(std::memcmp(&r[22], v6("2001:db8::2").b.data(), 16) == 0);  // from our address6
  CHECK(std::memcmp(&r[38], group.data(), 16) == 0);
  CHECK(r[54] == net::kNdNeighborSolicit);
  CHECK(std::memcmp(&r[62], gw.b.data(), 16) == 0);
  CHECK(r[78] == net::kNdOptSourceLla);
  CHECK(std::memcmp(&r[80], kWanMac.b.data(), 6) == 0);
  CHECK(net::icmp6_checksum(&r[14], &r[54], 32) == 0);
  CHECK(nm.resolve(kWan, gw, punted6(), t0 + 500ms).empty());  // one a second, as ARP

  // The advertisement releases both held packets; the IPv6 entry is
  // published in the table's IPv6 half.
  CHECK(nm.learn(kWan, gw, kGwMac, t0 + 600ms));
  auto ready = nm.take_ready();
  REQUIRE(ready.size() == 2);
  CHECK(eth_of(ready[0].second).dst == kGwMac);
  CHECK(nm.entries().empty());
  REQUIRE(nm.entries6().size() == 1);
  auto t = dp::NeighborTable::build(nm.entries(), nm.entries6());
  REQUIRE(t.find6(kWan, gw.b.data()));
  CHECK(*t.find6(kWan, gw.b.data()) == kGwMac);
  CHECK(t.find6(kLan, gw.b.data()) == nullptr);

  // NUD: a unicast probe to the known MAC before the entry lapses, then expiry.
  const control::NeighborConfig cfg;
  auto due = nm.due_requests(t0 + cfg.reachable - cfg.refresh + 1s);
  REQUIRE(due.size() == 1);
  CHECK(eth_of(due[0].second).dst == kGwMac);
  CHECK(std::memcmp(&due[0].second[38], gw.b.data(), 16) == 0);  // to the neighbour itself
  nm.expire(t0 + cfg.reachable + 1s);
  CHECK(nm.entries6().empty());
}

TEST_CASE("IPv6 neighbours are on-link in address6 or link-local, never ours", "[dataplane][neighbor][ipv6]") {
  control::NeighborManager nm(ifaces6());
  CHECK_FALSE(nm.learn(kWan, v6("2001:db9::1"), kGwMac, t0));   // outside the prefix
  CHECK_FALSE(nm.learn(kWan, v6("2001:db8::2"), kGwMac, t0));   // our address
  CHECK_FALSE(nm.learn(kWan, v6("2001:db8::"), kGwMac, t0));    // subnet-router anycast
  CHECK_FALSE(nm.learn(kLan, v6("2001:db8::1"), kGwMac, t0));   // lan has no address6
  CHECK(nm.learn(kWan, v6("fe80::1"), kGwMac, t0));
  CHECK(nm.resolve(kLan, v6("2001:db8::9"), punted6(), t0).size() == 1);  // found on wan's prefix
  CHECK(nm.stats().ignored == 4);
  // A link-local target is asked from our link-local address.
  auto reqs = nm.resolve(kWan, v6("fe80::9"), punted6(), t0);
  REQUIRE(reqs.size() == 1);
  CHECK(std::memcmp(&reqs[0][22], net::link_local_of(kWanMac).data(), 16) == 0);
}
