#include <catch2/catch.hpp>

#include <random>
#include <set>
#include <string>

#include "dataplane/pipeline.h"
#include "tests/unit/dataplane/frames.h"

using namespace hafw;
using namespace hafw::test;
using dp::DropReason;
using dp::PuntReason;

namespace {

constexpr uint8_t kWan = 0, kLan = 1, kSync = 2;
const uint32_t kWanAddr = ip4("198.51.100.201"), kWanVip = ip4("198.51.100.200");
const uint32_t kLanAddr = ip4("192.168.1.2"), kLanVip = ip4("192.168.1.1");
const uint32_t kHost = ip4("192.168.1.50");

net::IcmpHdr icmp_of(const Bytes& f) {
  net::IcmpHdr h;
  std::memcpy(&h, f.data() + sizeof(net::EthHdr) + ip_of(f).ihl_bytes(), sizeof h);
  return h;
}

struct Run {
  Result r;
  Bytes out;
  uint16_t len;
};

Run run(const Tables& v, uint8_t in, Bytes f) {
  uint16_t len = uint16_t(f.size());
  Result r = process(v, in, f.data(), len);
  return {r, f, len};
}

void check_dropped(const Run& x, DropReason why) {
  CHECK(x.r.exit == Exit::Drop);
  CHECK(dp::name(x.r.drop) == std::string(dp::name(why)));
}

void check_punted(const Run& x, PuntReason why) {
  CHECK(x.r.exit == Exit::ToControl);
  CHECK(dp::name(x.r.punt) == std::string(dp::name(why)));
}

}  // namespace

TEST_CASE("ethernet input filters by destination MAC", "[dataplane][eth]") {
  auto master = master_view();
  auto backup = backup_view();
  Bytes udp = udp_payload();
  auto to = [&](Mac dst) { return ipv4_frame(dst, kHostMac, kHost, ip4("198.51.100.77"), net::kProtoUdp, udp); };

  SECTION("runt") {
    Bytes f(13, 0);
    check_dropped(run(master, kLan, f), DropReason::Runt);
  }
  SECTION("unicast to another host's MAC is not ours") {
    check_dropped(run(master, kLan, to(mac(0x77))), DropReason::NotForUs);
  }
  SECTION("the virtual MAC is forwarded by the master and refused by the backup") {
    Bytes f = to(Mac::virtual_for(1));
    CHECK(run(master, kLan, f).r.exit != Exit::Drop);
    check_dropped(run(backup, kLan, f), DropReason::VipNotOwned);
  }
  SECTION("a VHID's MAC on another interface is not ours there") {
    check_dropped(run(master, kLan, to(Mac::virtual_for(200))), DropReason::NotForUs);
  }
  SECTION("IPv6 goes to its own input (a UDP payload is no IPv6 header); VLAN-tagged frames are unknown") {
    check_dropped(run(master, kLan, eth_frame(kLanMac, kHostMac, net::kEtherTypeIpv6, udp)),
                  DropReason::BadIpHeader);
    check_dropped(run(master, kLan, eth_frame(kLanMac, kHostMac, net::kEtherTypeVlan, udp)),
                  DropReason::UnknownEtherType);
  }
  SECTION("our own frames coming back are dropped") {
    check_dropped(run(master, kLan, ipv4_frame(kLanMac, kLanMac, kHost, ip4("198.51.100.77"), 17, udp)),
                  DropReason::Martian);
  }
  SECTION("a frame on a port the view does not know") {
    check_dropped(run(master, 7, to(kLanMac)), DropReason::NotForUs);
  }
}

TEST_CASE("ARP requests for the node address are answered in place", "[dataplane][arp]") {
  auto v = backup_view();
  Bytes req = arp_request(kHost, kHostMac, kLanAddr);
  auto x = run(v, kLan, req);
  REQUIRE(x.r.exit == Exit::Reply);
  CHECK(x.r.out_iface == kLan);
  CHECK(x.len == req.size());
  auto e = eth_of(x.out);
  CHECK(e.dst == kHostMac);
  CHECK(e.src == kLanMac);
  CHECK(net::be16(e.type) == net::kEtherTypeArp);
  auto a = arp_of(x.out);
  CHECK(net::be16(a.op) == net::kArpReply);
  CHECK(a.sha == kLanMac);
  CHECK(net::be32(a.spa) == kLanAddr);
  CHECK(a.tha == kHostMac);
  CHECK(net::be32(a.tpa) == kHost);
}

TEST_CASE("only the master answers ARP for a VIP, with the virtual MAC", "[dataplane][arp][carp]") {
  Bytes req = arp_request(kHost, kHostMac, kLanVip);

  auto m = run(master_view(), kLan, req);
  REQUIRE(m.r.exit == Exit::Reply);
  CHECK(eth_of(m.out).src == Mac::virtual_for(1));
  CHECK(eth_of(m.out).dst == kHostMac);
  CHECK(arp_of(m.out).sha == Mac::virtual_for(1));
  CHECK(net::be32(arp_of(m.out).spa) == kLanVip);

  auto b = run(backup_view(), kLan, req);
  check_dropped(b, DropReason::VipNotOwned);
  CHECK(b.out == req);  // untouched

  // The WAN VIP asked on the LAN segment is not answered there.
  auto w = run(master_view(), kLan, arp_request(kHost, kHostMac, kWanVip));
  CHECK(w.r.exit != Exit::Reply);
}

TEST_CASE("ARP probes for our address are defended", "[dataplane][arp]") {
  // RFC 5227 probe: sender IP 0.0.0.0.
  auto x = run(backup_view(), kLan, arp_request(0, kHostMac, kLanAddr));
  REQUIRE(x.r.exit == Exit::Reply);
  CHECK(net::be32(arp_of(x.out).tpa) == 0);
  CHECK(arp_of(x.out).tha == kHostMac);
}

TEST_CASE("ARP the control thread learns from goes to it", "[dataplane][arp]") {
  auto v = master_view();
  SECTION("a reply from a neighbour") {
    auto x = run(v, kWan, arp_frame(net::kArpReply, kWanMac, kGwMac, ip4("198.51.100.1"), kWanMac, kWanAddr));
    check_punted(x, PuntReason::Arp);
    CHECK(x.r.out_iface == kWan);
  }
  SECTION("a gratuitous ARP and another host's request on our subnet") {
    check_punted(run(v, kLan, arp_request(kHost, kHostMac, kHost)), PuntReason::Arp);
    check_punted(run(v, kLan, arp_request(kHost, kHostMac, ip4("192.168.1.60"))), PuntReason::Arp);
  }
  SECTION("someone claiming our address is reported, not answered") {
    check_punted(run(v, kLan, arp_request(kLanAddr, kHostMac, kLanAddr)), PuntReason::Arp);
    check_punted(run(v, kLan, arp_request(kLanVip, kHostMac, kLanVip)), PuntReason::Arp);
  }
  SECTION("ARP from outside the subnet is not for us") {
    check_dropped(run(v, kLan, arp_request(ip4("10.9.9.9"), kHostMac, ip4("10.9.9.1"))), DropReason::NotForUs);
  }
  SECTION("our own gratuitous ARP looped back") {
    Bytes g = arp_request(kLanVip, Mac::virtual_for(1), kLanVip);
    check_dropped(run(v, kLan, g), DropReason::Martian);
  }
}

TEST_CASE("malformed ARP is dropped as bad", "[dataplane][arp]") {
  auto v = master_view();
  Bytes good = arp_request(kHost, kHostMac, kLanAddr);
  Bytes f = good;
  SECTION("truncated") { f.resize(14 + 27); }
  SECTION("wrong hardware length") { f[14 + 4] = 8; }
  SECTION("wrong protocol type") { f[14 + 2] = 0x86; f[14 + 3] = 0xdd; }
  SECTION("unknown opcode") { f[14 + 7] = 3; }
  SECTION("broadcast sender hardware address") {
    std::memset(f.data() + 14 + 8, 0xff, 6);
  }
  check_dropped(run(v, kLan, f), DropReason::BadArp);
}

TEST_CASE("ICMP echo to the node is answered in place", "[dataplane][icmp]") {
  auto v = backup_view();
  Bytes echo = icmp_echo(0x4242, 7, 56);
  Bytes req = ipv4_frame(kLanMac, kHostMac, kHost, kLanAddr, net::kProtoIcmp, echo, 64);
  auto x = run(v, kLan, req);
  REQUIRE(x.r.exit == Exit::Reply);
  CHECK(x.r.out_iface == kLan);
  CHECK(x.len == req.size());
  CHECK(eth_of(x.out).dst == kHostMac);
  CHECK(eth_of(x.out).src == kLanMac);
  auto ip = ip_of(x.out);
  CHECK(net::be32(ip.src) == kLanAddr);
  CHECK(net::be32(ip.dst) == kHost);
  CHECK(ip_checksum_ok(x.out));
  std::span<const uint8_t> icmp(x.out.data() + 34, echo.size());
  CHECK(icmp[0] == net::kIcmpEchoReply);
  CHECK(net::inet_checksum(icmp) == 0);
  // id, sequence and data come back unchanged
  CHECK(std::equal(icmp.begin() + 4, icmp.end(), echo.begin() + 4));
}

TEST_CASE("ICMP echo to a VIP: master answers from the VIP and virtual MAC, backup never", "[dataplane][icmp]") {
  Bytes echo = icmp_echo(1, 1, 8);
  Bytes req = ipv4_frame(Mac::virtual_for(1), kHostMac, kHost, kLanVip, net::kProtoIcmp, echo);
  auto m = run(master_view(), kLan, req);
  REQUIRE(m.r.exit == Exit::Reply);
  CHECK(eth_of(m.out).src == Mac::virtual_for(1));
  CHECK(net::be32(ip_of(m.out).src) == kLanVip);
  CHECK(ip_checksum_ok(m.out));

  check_dropped(run(backup_view(), kLan, req), DropReason::VipNotOwned);
  // Even when it reaches the backup's own MAC (a host's stale ARP entry).
  Bytes stale = ipv4_frame(kLanMac, kHostMac, kHost, kLanVip, net::kProtoIcmp, echo);
  check_dropped(run(backup_view(), kLan, stale), DropReason::VipNotOwned);
}

TEST_CASE("ICMP echo in a padded minimum-size frame keeps its length", "[dataplane][icmp]") {
  Bytes req = ipv4_frame(kLanMac, kHostMac, kHost, kLanAddr, net::kProtoIcmp, icmp_echo(9, 9, 0));
  req.resize(60, 0xee);  // Ethernet padding past total_len
  auto x = run(backup_view(), kLan, req);
  REQUIRE(x.r.exit == Exit::Reply);
  CHECK(x.len == 60);
  CHECK(net::inet_checksum({x.out.data() + 34, 8}) == 0);
}

TEST_CASE("local traffic that is not served is counted", "[dataplane][ipv4]") {
  auto v = master_view();
  Bytes echo = icmp_echo(1, 1, 8);
  SECTION("bad ICMP checksum") {
    echo[8] ^= 1;
    check_dropped(run(v, kLan, ipv4_frame(kLanMac, kHostMac, kHost, kLanAddr, 1, echo)), DropReason::BadIcmp);
  }
  SECTION("echo reply, UDP") {
    check_dropped(run(v, kLan, ipv4_frame(kLanMac, kHostMac, kHost, kLanAddr, 1, icmp_echo(1, 1, 8, 0))),
                  DropReason::LocalUnsupported);
    check_dropped(run(v, kLan, ipv4_frame(kLanMac, kHostMac, kHost, kLanAddr, 17, udp_payload())),
                  DropReason::LocalUnsupported);
  }
  SECTION("a fragment addressed to us goes to reassembly first") {
    CHECK(run(v, kLan, ipv4_frame(kLanMac, kHostMac, kHost, kLanAddr, 1, echo, 64, 0x2000)).r.exit ==
          Exit::Reassemble);
  }
  SECTION("broadcast and other multicast") {
    check_dropped(run(v, kLan, ipv4_frame(Mac::broadcast(), kHostMac, kHost, ip4("192.168.1.255"), 17,
                                          udp_payload())),
                  DropReason::LocalUnsupported);
    check_dropped(run(v, kLan, ipv4_frame(Mac::broadcast(), kHostMac, kHost, 0xffffffff, 17, udp_payload())),
                  DropReason::LocalUnsupported);
    Mac mc{{0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb}};
    check_dropped(run(v, kLan, ipv4_frame(mc, kHostMac, kHost, ip4("224.0.0.251"), 17, udp_payload())),
                  DropReason::LocalUnsupported);
  }
}

TEST_CASE("CARP and pfsync go to the control thread", "[dataplane][ipv4]") {
  auto v = backup_view();
  Bytes carp(36, 0);
  carp[0] = 0x21;
  Mac carp_mc{{0x01, 0x00, 0x5e, 0x00, 0x00, 0x12}};
  auto c = run(v, kWan, ipv4_frame(carp_mc, Mac::virtual_for(200), ip4("198.51.100.202"), ip4("224.0.0.18"),
                                   net::kProtoCarp, carp, 255));
  check_punted(c, PuntReason::Carp);
  CHECK(c.r.out_iface == kWan);
  // Unicast CARP to our node address.
  check_punted(run(v, kWan, ipv4_frame(kWanMac, mac(0x99), ip4("198.51.100.202"), kWanAddr, net::kProtoCarp,
                                       carp, 255)),
               PuntReason::Carp);
  auto s = run(v, kSync, ipv4_frame(kSyncMac, mac(0x98), ip4("172.16.1.3"), ip4("172.16.1.2"),
                                    net::kProtoPfsync, Bytes(20, 0), 255));
  check_punted(s, PuntReason::Pfsync);
  CHECK(s.r.out_iface == kSync);
}

TEST_CASE("bad IPv4 headers are dropped by reason", "[dataplane][ipv4]") {
  auto v = master_view();
  Bytes f = ipv4_frame(kLanMac, kHostMac, kHost, ip4("198.51.100.77"), 17, udp_payload());
  DropReason want = DropReason::BadIpHeader;
  SECTION("version 6 in an IPv4 frame") { f[14] = 0x65; }
  SECTION("IHL below 5") { f[14] = 0x44; }
  SECTION("total length beyond the frame") { f[14 + 3] = 0xff; }
  SECTION("header truncated") { f.resize(14 + 19); }
  SECTION("checksum") {
    f[14 + 10] ^= 0x01;
    want = DropReason::BadIpChecksum;
  }
  check_dropped(run(v, kLan, f), want);
}

TEST_CASE("impossible and spoofed sources are martians", "[dataplane][ipv4]") {
  auto v = master_view();
  for (uint32_t src : {kLanAddr, kWanVip, ip4("127.0.0.1"), ip4("0.0.0.0"), ip4("224.1.1.1"), 0xffffffffu})
    check_dropped(run(v, kLan, ipv4_frame(kLanMac, kHostMac, src, ip4("198.51.100.77"), 17, udp_payload())),
                  DropReason::Martian);
  check_dropped(run(v, kLan, ipv4_frame(kLanMac, kHostMac, kHost, ip4("127.0.0.1"), 17, udp_payload())),
                DropReason::Martian);
}

// ipv4_input tests a source against a per-burst filter of the node's own
// addresses before it scans them: with 64 owned VIPs a quarter of all
// addresses share a bit with one of them, and the answer must still be
// exact both ways.
TEST_CASE("own addresses are martians, and only they, however many VIPs the node owns", "[dataplane][ipv4]") {
  auto v = master_view();
  std::mt19937 rng(3);
  std::set<uint32_t> own = {ip4("198.51.100.201"), ip4("192.168.1.2"), ip4("172.16.1.2")};
  for (int i = 0; i < 64; ++i) {
    const uint32_t a = 0x0b000000 | (uint32_t(rng()) & 0xffffff);  // 11/8
    v.owned.vips.push_back({.addr = a, .iface = 1, .vhid = uint8_t(i + 2), .vmac = Mac::virtual_for(uint8_t(i + 2))});
    own.insert(a);
  }
  auto martian = [&](uint32_t src) {
    auto x = run(v, kLan, ipv4_frame(kLanMac, kHostMac, src, ip4("198.51.100.77"), 17, udp_payload()));
    return x.r.exit == Exit::Drop && x.r.drop == DropReason::Martian;
  };
  for (uint32_t a : own) {
    INFO("own " << std::hex << a);
    CHECK(martian(a));
  }
  for (int i = 0; i < 2000; ++i) {
    const uint32_t a = 0x0b000000 | (uint32_t(rng()) & 0xffffff);
    if (own.count(a)) continue;
    INFO("not own " << std::hex << a);
    CHECK_FALSE(martian(a));
  }
}

TEST_CASE("a source is impossible by its first byte alone: 0, 127, 224 and up", "[dataplane][ipv4]") {
  auto v = master_view();
  for (uint32_t top = 0; top < 256; ++top) {
    const uint32_t src = top << 24 | 0x010203;
    auto x = run(v, kLan, ipv4_frame(kLanMac, kHostMac, src, ip4("198.51.100.77"), 17, udp_payload()));
    INFO("first byte " << top);
    CHECK((x.r.exit == Exit::Drop && x.r.drop == DropReason::Martian) == (top == 0 || top == 127 || top >= 224));
  }
}

TEST_CASE("forwarding decrements TTL, keeps the checksum valid and rewrites MACs", "[dataplane][forward]") {
  auto v = master_view();
  const Mac server = mac(0x77);
  std::tuple<uint8_t, uint32_t, Mac> n[] = {{kWan, ip4("198.51.100.77"), server}, {kWan, ip4("198.51.100.1"), kGwMac}};
  v.neighbors = dp::NeighborTable::build(n);
  Bytes udp = udp_payload(32);

  SECTION("connected destination, neighbour known") {
    Bytes f = ipv4_frame(Mac::virtual_for(1), kHostMac, kHost, ip4("198.51.100.77"), 17, udp, 64);
    auto x = run(v, kLan, f);
    REQUIRE(x.r.exit == Exit::Forward);
    CHECK(x.r.out_iface == kWan);
    CHECK(x.len == f.size());
    CHECK(eth_of(x.out).dst == server);
    CHECK(eth_of(x.out).src == kWanMac);
    CHECK(ip_of(x.out).ttl == 63);
    CHECK(ip_checksum_ok(x.out));
    CHECK(std::equal(x.out.begin() + 34, x.out.end(), f.begin() + 34));  // payload untouched
  }
  SECTION("default route goes to the gateway's MAC") {
    auto x = run(v, kLan, ipv4_frame(kLanMac, kHostMac, kHost, ip4("8.8.8.8"), 17, udp));
    REQUIRE(x.r.exit == Exit::Forward);
    CHECK(eth_of(x.out).dst == kGwMac);
  }
  SECTION("unknown neighbour: punted for resolution with the next hop") {
    auto x = run(v, kWan, ipv4_frame(kWanMac, kGwMac, ip4("8.8.8.8"), ip4("10.1.2.3"), 17, udp, 10));
    check_punted(x, PuntReason::Resolve);
    CHECK(x.r.out_iface == kWan);  // 10.1/16 via WAN beats 10/8 via LAN
    CHECK(x.r.nexthop == ip4("198.51.100.254"));
    CHECK(ip_of(x.out).ttl == 9);
    CHECK(ip_checksum_ok(x.out));
    CHECK(eth_of(x.out).src == kWanMac);

    auto y = run(v, kWan, ipv4_frame(kWanMac, kGwMac, ip4("8.8.8.8"), ip4("10.2.0.1"), 17, udp));
    CHECK(y.r.out_iface == kLan);
    CHECK(y.r.nexthop == ip4("192.168.1.254"));
    auto z = run(v, kWan, ipv4_frame(kWanMac, kGwMac, ip4("8.8.8.8"), ip4("192.168.1.60"), 17, udp));
    CHECK(z.r.nexthop == ip4("192.168.1.60"));  // connected: the destination itself
  }
  SECTION("TTL 1 expires, TTL 0 too: not forwarded, answered") {
    for (uint8_t ttl : {1, 0}) {
      auto x = run(v, kLan, ipv4_frame(kLanMac, kHostMac, kHost, ip4("8.8.8.8"), 17, udp, ttl));
      CHECK(x.r.exit == Exit::Reply);
      CHECK(icmp_of(x.out).type == net::kIcmpTimeExceeded);
    }
  }
  SECTION("no route without a default: not forwarded, answered") {
    auto routes = v.topo.routes();
    routes.erase(routes.begin() + 3);  // the default route (after the 3 connected)
    v.topo.set_routes(routes);
    REQUIRE(v.topo.route(ip4("8.8.8.8")) == nullptr);
    auto x = run(v, kLan, ipv4_frame(kLanMac, kHostMac, kHost, ip4("8.8.8.8"), 17, udp));
    CHECK(x.r.exit == Exit::Reply);
    CHECK(icmp_of(x.out).type == net::kIcmpUnreachable);
    CHECK(icmp_of(x.out).code == 0);  // network unreachable
  }
  SECTION("a transit packet sent to the broadcast MAC is not forwarded") {
    check_dropped(run(v, kLan, ipv4_frame(Mac::broadcast(), kHostMac, kHost, ip4("8.8.8.8"), 17, udp)),
                  DropReason::NotForUs);
  }
  SECTION("transit fragments go to reassembly: they have no ports to match a state with") {
    CHECK(run(v, kLan, ipv4_frame(kLanMac, kHostMac, kHost, ip4("8.8.8.8"), 17, udp, 64, 185)).r.exit ==
          Exit::Reassemble);
  }
  SECTION("a packet for the peer's VIP is not forwarded by the backup") {
    auto b = backup_view();
    check_dropped(run(b, kWan, ipv4_frame(kWanMac, kGwMac, ip4("8.8.8.8"), kLanVip, 17, udp)),
                  DropReason::VipNotOwned);
  }
}

TEST_CASE("the incremental TTL checksum matches a full recompute for every TTL", "[dataplane][forward]") {
  auto v = master_view();
  std::tuple<uint8_t, uint32_t, Mac> n[] = {{kWan, ip4("198.51.100.1"), kGwMac}};
  v.neighbors = dp::NeighborTable::build(n);
  for (unsigned ttl = 2; ttl <= 255; ++ttl) {
    for (uint8_t proto : {uint8_t(1), uint8_t(6), uint8_t(17), uint8_t(255)}) {
      const Bytes l4 = proto == net::kProtoTcp ? tcp_segment(1000, 80, 1, 0, 0x02) : udp_payload(4);
      Bytes f = ipv4_frame(kLanMac, kHostMac, kHost + ttl, ip4("8.8.4.4") + proto, proto, l4, uint8_t(ttl));
      auto x = run(v, kLan, f);
      REQUIRE(x.r.exit == Exit::Forward);
      REQUIRE(ip_of(x.out).ttl == ttl - 1);
      REQUIRE(ip_checksum_ok(x.out));
    }
  }
}

TEST_CASE("every drop and punt reason has a distinct name", "[dataplane]") {
  std::set<std::string> names;
  for (size_t i = 0; i < size_t(DropReason::Count); ++i) names.insert(dp::name(DropReason(i)));
  CHECK(names.size() == size_t(DropReason::Count));
  CHECK(names.count("unknown") == 0);
  names.clear();
  for (size_t i = 0; i < size_t(PuntReason::Count); ++i) names.insert(dp::name(PuntReason(i)));
  CHECK(names.size() == size_t(PuntReason::Count));
}

TEST_CASE("a mixed burst ends each packet where it would end alone, and counts each drop and punt",
          "[dataplane][burst]") {
  auto v = master_view();
  std::tuple<uint8_t, uint32_t, Mac> n[] = {{kWan, ip4("198.51.100.1"), kGwMac}};
  v.neighbors = dp::NeighborTable::build(n);
  Bytes udp = udp_payload(16);
  // Every kind of exit, several times over, interleaved: 32 frames.
  const std::vector<Bytes> kinds = {
      ipv4_frame(Mac::virtual_for(1), kHostMac, kHost, ip4("203.0.113.9"), 17, udp),   // forward via gateway
      arp_request(kHost, kHostMac, kLanVip),                                           // ARP reply
      ipv4_frame(kLanMac, kHostMac, kHost, kLanAddr, 1, icmp_echo(7, 1, 8)),           // echo reply
      ipv4_frame(Mac::virtual_for(1), kHostMac, kHost, ip4("198.51.100.99"), 17, udp), // resolve punt
      ipv4_frame(kLanMac, kHostMac, kHost, ip4("198.51.100.9"), 17, udp, 1),           // ttl_exceeded
      Bytes(10, 0),                                                                     // runt
      ipv4_frame(kLanMac, kHostMac, kHost, kLanAddr, 6, tcp_segment(999, 22, 1, 0, 0x02)),  // local_unsupported
      ipv4_frame(mac(0x77), kHostMac, kHost, ip4("203.0.113.9"), 17, udp),              // not_for_us
  };
  std::vector<Bytes> frames;
  for (size_t i = 0; i < dp::kBurstMax; ++i) frames.push_back(kinds[(i * 5) % kinds.size()]);

  std::vector<Result> alone;
  for (auto f : frames) {
    uint16_t len = uint16_t(f.size());
    alone.push_back(process(v, kLan, f.data(), len));
  }

  dp::WorkerCounters counters;
  dp::WorkerCtx ctx{.view = v.view(), .counters = &counters, .states = v.states.get()};
  dp::Burst b;
  for (auto& f : frames) b.set(b.n++, f.data(), uint16_t(f.size()), kLan);
  dp::run_burst(ctx, b);

  size_t drops = 0, punts = 0;
  for (size_t i = 0; i < frames.size(); ++i) {
    INFO("packet " << i);
    const dp::PacketMeta& p = b.pkt[i];
    switch (alone[i].exit) {
      case Exit::Forward:
      case Exit::Reply:
        CHECK(p.next == dp::Next::Tx);
        CHECK(p.out == alone[i].out_iface);
        break;
      case Exit::ToControl:
        CHECK(p.next == dp::Next::Control);
        CHECK(p.punt == alone[i].punt);
        ++punts;
        break;
      case Exit::Drop:
        CHECK(p.next == dp::Next::Drop);
        CHECK(p.drop == alone[i].drop);
        ++drops;
        break;
      case Exit::Reassemble:
        CHECK(p.next == dp::Next::Reassemble);
        break;
    }
  }
  const dp::Counters c = counters.read();
  CHECK(c.drops[size_t(DropReason::TtlExceeded)] == 4);
  CHECK(c.drops[size_t(DropReason::Runt)] == 4);
  CHECK(c.drops[size_t(DropReason::LocalUnsupported)] == 4);
  CHECK(c.drops[size_t(DropReason::NotForUs)] == 4);
  CHECK(c.punts[size_t(PuntReason::Resolve)] == 4);
  CHECK(drops == 16);
  CHECK(punts == 4);
}

TEST_CASE("IPv4 input records the transport offset and the flow key", "[dataplane][burst]") {
  auto v = master_view();
  dp::WorkerCounters counters;
  dp::WorkerCtx ctx{.view = v.view(), .counters = &counters, .states = v.states.get()};

  SECTION("UDP: addresses, protocol and ports") {
    Bytes f = ipv4_frame(Mac::virtual_for(1), kHostMac, kHost, ip4("203.0.113.9"), 17, udp_payload(8));
    const dp::PacketMeta p = dp::run_one(ctx, kLan, f.data(), uint16_t(f.size()));
    CHECK(p.l3 == 14);
    CHECK(p.l4 == 34);
    CHECK(p.key.af == net::Family::V4);
    CHECK(p.key.proto == 17);
    CHECK(net::IpAddr{net::Family::V4, p.key.src}.v4() == kHost);
    CHECK(net::IpAddr{net::Family::V4, p.key.dst}.v4() == ip4("203.0.113.9"));
    CHECK(net::be16(p.key.sport) == 12345);
    CHECK(net::be16(p.key.dport) == 53);
  }
  SECTION("ICMP echo: the identifier stands in for both ports (pf's convention: the reply matches reversed)") {
    Bytes f = ipv4_frame(Mac::virtual_for(1), kHostMac, kHost, ip4("203.0.113.9"), 1, icmp_echo(0x4242, 1, 8));
    const dp::PacketMeta p = dp::run_one(ctx, kLan, f.data(), uint16_t(f.size()));
    CHECK(p.key.proto == 1);
    CHECK(net::be16(p.key.sport) == 0x4242);
    CHECK(net::be16(p.key.dport) == 0x4242);
  }
  SECTION("an ICMP error's key is the flow it quotes, reversed") {
    const Bytes quoted = ipv4_frame(kWanMac, kGwMac, ip4("198.51.100.200"), ip4("203.0.113.9"), 17, udp_payload(8));
    Bytes err(8 + 28, 0);
    err[0] = net::kIcmpTimeExceeded;
    std::memcpy(err.data() + 8, quoted.data() + 14, 28);
    Bytes f = ipv4_frame(Mac::virtual_for(1), kHostMac, kHost, ip4("203.0.113.9"), 1, err);
    const dp::PacketMeta p = dp::run_one(ctx, kLan, f.data(), uint16_t(f.size()));
    CHECK(p.has(dp::PacketFlag::IcmpError));
    CHECK(p.key.proto == 17);
    CHECK(net::IpAddr{net::Family::V4, p.key.src}.v4() == ip4("203.0.113.9"));
    CHECK(net::IpAddr{net::Family::V4, p.key.dst}.v4() == ip4("198.51.100.200"));
    CHECK(net::be16(p.key.sport) == 53);
    CHECK(net::be16(p.key.dport) == 12345);
  }
  SECTION("the key's hash is written with it, for every protocol and for ICMP errors") {
    const Bytes quoted = tcp_frame(kWanMac, kGwMac, ip4("198.51.100.200"), ip4("203.0.113.9"),
                                   tcp_segment(40000, 443, 1, 2, 0x10));  // ACK
    Bytes err(8 + 28, 0);
    err[0] = net::kIcmpUnreachable;
    std::memcpy(err.data() + 8, quoted.data() + 14, 28);
    const Bytes frames[] = {
        ipv4_frame(Mac::virtual_for(1), kHostMac, kHost, ip4("203.0.113.9"), 17, udp_payload(8)),
        tcp_frame(Mac::virtual_for(1), kHostMac, kHost, ip4("203.0.113.9"), tcp_segment(1234, 80, 7, 0, 0x02)),  // SYN
        ipv4_frame(Mac::virtual_for(1), kHostMac, kHost, ip4("203.0.113.9"), 1, icmp_echo(0x4242, 1, 8)),
        ipv4_frame(Mac::virtual_for(1), kHostMac, kHost, ip4("203.0.113.9"), 1, icmp_echo(7, 1, 8, 13)),
        ipv4_frame(Mac::virtual_for(1), kHostMac, kHost, ip4("203.0.113.9"), 47, udp_payload(8)),
        ipv4_frame(Mac::virtual_for(1), kHostMac, kHost, ip4("203.0.113.9"), 1, err),
    };
    for (const Bytes& frame : frames) {
      Bytes f = frame;
      const dp::PacketMeta p = dp::run_one(ctx, kLan, f.data(), uint16_t(f.size()));
      INFO("protocol " << int(frame[14 + 9]));
      CHECK(p.next != dp::Next::Drop);
      CHECK(p.key_hash == dp::StateTable::hash(p.key));
    }
  }
  SECTION("a fragment gets no key: it goes to reassembly, and the whole packet gets one") {
    Bytes f = ipv4_frame(Mac::virtual_for(1), kHostMac, kHost, ip4("203.0.113.9"), 17, udp_payload(8), 64, 0x0010);
    const dp::PacketMeta p = dp::run_one(ctx, kLan, f.data(), uint16_t(f.size()));
    CHECK(p.next == dp::Next::Reassemble);
    CHECK(p.l4 == 14 + 20);
  }
}

TEST_CASE("a packet whose TTL runs out is answered with ICMP time exceeded quoting it", "[dataplane][icmp_error]") {
  auto v = master_view();
  const Bytes orig = ipv4_frame(Mac::virtual_for(1), kHostMac, kHost, ip4("203.0.113.9"), 17, udp_payload(100), 1);
  Bytes buf = orig;
  buf.resize(2048);  // an mbuf's room
  dp::WorkerCounters counters;
  dp::WorkerCtx ctx{.view = v.view(), .counters = &counters, .states = v.states.get()};
  const dp::PacketMeta p = dp::run_one(ctx, kLan, buf.data(), uint16_t(orig.size()), uint16_t(buf.size()));
  REQUIRE(p.next == dp::Next::Tx);
  CHECK(p.out == kLan);  // back where it came from
  const Bytes out(buf.begin(), buf.begin() + p.len);
  // Ethernet: to the hop it came from, from our port.
  CHECK(eth_of(out).dst == kHostMac);
  CHECK(eth_of(out).src == kLanMac);
  // IP: from our LAN address to the sender, a valid header.
  const net::Ipv4Hdr ip = ip_of(out);
  CHECK(net::be32(ip.src) == kLanAddr);
  CHECK(net::be32(ip.dst) == kHost);
  CHECK(ip.proto == net::kProtoIcmp);
  CHECK(ip.ttl == 64);
  CHECK(ip_checksum_ok(out));
  // ICMP: time exceeded in transit, checksum good, quoting the original IP
  // header and the first 8 bytes of its payload (RFC 792).
  const size_t icmp_at = sizeof(net::EthHdr) + sizeof(net::Ipv4Hdr);
  CHECK(out[icmp_at] == net::kIcmpTimeExceeded);
  CHECK(out[icmp_at + 1] == 0);
  CHECK(net::be16(ip.total_len) == 20 + 8 + 20 + 8);
  CHECK(net::inet_checksum({out.data() + icmp_at, size_t(8 + 28)}) == 0);
  CHECK(std::equal(out.begin() + icmp_at + 8, out.begin() + icmp_at + 8 + 28, orig.begin() + 14));
  CHECK(p.len == 14 + 20 + 8 + 28);
  const dp::Counters c = counters.read();
  CHECK(c.icmp[size_t(dp::IcmpCounter::TimeExceeded)] == 1);
  CHECK(c.drops[size_t(DropReason::TtlExceeded)] == 0);  // answered, not dropped
}

TEST_CASE("no ICMP error about an ICMP error, a later fragment, or beyond the rate limit", "[dataplane][icmp_error]") {
  auto v = master_view();
  dp::WorkerCounters counters;
  dp::WorkerCtx ctx{.view = v.view(), .counters = &counters, .states = v.states.get()};
  auto send = [&](Bytes f) {
    const uint16_t len = uint16_t(f.size());
    f.resize(2048);
    return dp::run_one(ctx, kLan, f.data(), len, uint16_t(f.size()));
  };
  // An unreachable quoting a packet of some other flow, whose TTL runs out here.
  Bytes err(8 + 28, 0);
  err[0] = net::kIcmpUnreachable;
  const Bytes quoted = ipv4_frame(kLanMac, kHostMac, ip4("203.0.113.9"), kHost, 17, udp_payload(8));
  std::memcpy(err.data() + 8, quoted.data() + 14, 28);
  auto a = send(ipv4_frame(Mac::virtual_for(1), kHostMac, kHost, ip4("203.0.113.9"), 1, err, 1));
  CHECK(a.next == dp::Next::Drop);
  CHECK(a.drop == DropReason::TtlExceeded);
  CHECK(counters.read().icmp[size_t(dp::IcmpCounter::NotEligible)] == 1);
  // An echo request whose TTL runs out is answered (traceroute -I).
  auto e = send(ipv4_frame(Mac::virtual_for(1), kHostMac, kHost, ip4("203.0.113.9"), 1, icmp_echo(1, 1, 8), 1));
  CHECK(e.next == dp::Next::Tx);

  // A flood of expiring packets: the burst allowance, then one error per
  // 5 ms (200 a second).
  size_t sent = 1;
  for (int i = 0; i < 100; ++i)
    sent += send(ipv4_frame(Mac::virtual_for(1), kHostMac, kHost, ip4("203.0.113.9"), 17, udp_payload(8), 1)).next ==
            dp::Next::Tx;
  CHECK(sent == dp::IcmpLimiter::kBurst);
  CHECK(counters.read().icmp[size_t(dp::IcmpCounter::RateLimited)] == 101 - dp::IcmpLimiter::kBurst);
  ctx.now += std::chrono::milliseconds(10);
  CHECK(send(ipv4_frame(Mac::virtual_for(1), kHostMac, kHost, ip4("203.0.113.9"), 17, udp_payload(8), 1)).next ==
        dp::Next::Tx);
}

TEST_CASE("an ICMP error that does not fit the buffer is not sent; the packet is dropped", "[dataplane][icmp_error]") {
  auto v = master_view();
  // 42-byte frame (UDP, no payload) with no room beyond it: the error needs 70.
  Bytes f = ipv4_frame(Mac::virtual_for(1), kHostMac, kHost, ip4("203.0.113.9"), 17, udp_payload(0), 1);
  auto x = run(v, kLan, f);
  check_dropped(x, DropReason::TtlExceeded);
}

TEST_CASE("the sync interface takes state sync frames and ARP, nothing else", "[dataplane][sync]") {
  auto v = master_view();
  v.topo.sync_iface = kSync;
  const uint32_t kSyncAddr = ip4("172.16.1.2"), kPeer = ip4("172.16.1.3");
  const Mac kPeerMac = mac(0x33);
  // A pfsync frame from the peer reaches the control thread (which checks it).
  Bytes pfsync(20, 0);
  pfsync[0] = 6;
  check_punted(run(v, kSync, ipv4_frame(kSyncMac, kPeerMac, kPeer, kSyncAddr, net::kProtoPfsync, pfsync, 255)),
               PuntReason::Pfsync);
  // ARP still works: the node resolves its peer over this link.
  CHECK(run(v, kSync, arp_request(kPeer, kPeerMac, kSyncAddr)).r.exit == Exit::Reply);
  // A ping of the node, a packet to route through it, UDP to the LAN: dropped and counted.
  check_dropped(run(v, 2, ipv4_frame(kSyncMac, kPeerMac, kPeer, kSyncAddr, net::kProtoIcmp, icmp_echo(1, 1, 8))),
                DropReason::NotSync);
  check_dropped(run(v, kSync, udp_frame(kSyncMac, kPeerMac, kPeer, kHost, 4000, 53)), DropReason::NotSync);
  check_dropped(run(v, 2, ipv4_frame(kSyncMac, kPeerMac, kPeer, kWanVip, net::kProtoCarp, Bytes(36, 0), 255)),
                DropReason::NotSync);
  // The same ping on the LAN is answered: only the sync interface is closed.
  CHECK(run(v, kLan, ipv4_frame(kLanMac, kHostMac, kHost, kLanAddr, net::kProtoIcmp, icmp_echo(1, 1, 8))).r.exit ==
        Exit::Reply);
  // Without a sync interface (sync_iface none), the interface is like any other.
  v.topo.sync_iface = dp::Topology::kNoSyncIface;
  CHECK(run(v, kSync, ipv4_frame(kSyncMac, kPeerMac, kPeer, kSyncAddr, net::kProtoIcmp, icmp_echo(1, 1, 8))).r.exit ==
        Exit::Reply);
}

TEST_CASE("fragments are checked before reassembly: tiny, oversize and malformed ones are dropped by reason",
          "[dataplane][ipv4][fragments]") {
  auto v = master_view();
  const uint32_t dst = ip4("203.0.113.9");
  auto frag = [&](uint8_t proto, std::span<const uint8_t> payload, uint16_t frag_field) {
    return run(v, kLan, ipv4_frame(Mac::virtual_for(1), kHostMac, kHost, dst, proto, payload, 64, frag_field));
  };
  constexpr uint16_t kMf = 0x2000;
  SECTION("first, middle and last fragments of every protocol pass to reassembly") {
    CHECK(frag(17, Bytes(16, 'u'), kMf).r.exit == Exit::Reassemble);
    Bytes tcp(24, 't');
    tcp[12] = 0x50;  // data offset 20
    CHECK(frag(6, tcp, kMf).r.exit == Exit::Reassemble);
    CHECK(frag(1, Bytes(8, 'i'), kMf).r.exit == Exit::Reassemble);
    CHECK(frag(47, Bytes(8, 'g'), kMf).r.exit == Exit::Reassemble);
    CHECK(frag(17, Bytes(16, 'u'), kMf | 2).r.exit == Exit::Reassemble);
    CHECK(frag(6, Bytes(16, 't'), kMf | 3).r.exit == Exit::Reassemble);
    CHECK(frag(17, Bytes(5, 'u'), 4).r.exit == Exit::Reassemble);  // the last may end anywhere
  }
  SECTION("a first fragment must hold the whole transport header (RFC 1858, RFC 3128)") {
    check_dropped(frag(6, Bytes(16, 0), kMf), DropReason::FragTiny);  // TCP's flags at 13, its header 20
    Bytes tcp(24, 0);
    tcp[12] = 0x80;  // data offset 32: options the first fragment does not hold
    check_dropped(frag(6, tcp, kMf), DropReason::FragTiny);
    tcp[12] = 0x60;  // 24: it does
    CHECK(frag(6, tcp, kMf).r.exit == Exit::Reassemble);
    CHECK(frag(17, Bytes(8, 0), kMf).r.exit == Exit::Reassemble);
  }
  SECTION("TCP at offset 8 would overwrite the header's flags (RFC 1858 §3.2)") {
    check_dropped(frag(6, Bytes(16, 0), kMf | 1), DropReason::FragTiny);
    check_dropped(frag(6, Bytes(3, 0), 1), DropReason::FragTiny);
    CHECK(frag(17, Bytes(16, 0), kMf | 1).r.exit == Exit::Reassemble);  // UDP's header is 8 bytes
  }
  SECTION("a fragment ending past 65,535 bytes is the ping of death") {
    check_dropped(frag(1, Bytes(40, 0), 8189), DropReason::FragOversize);  // 20 + 65512 + 40
    CHECK(frag(1, Bytes(3, 0), 8189).r.exit == Exit::Reassemble);          // 20 + 65512 + 3 = 65535
  }
  SECTION("no payload, or a fragment before the last not ending on 8 bytes") {
    check_dropped(frag(17, Bytes(12, 0), kMf), DropReason::FragMalformed);
    check_dropped(frag(17, Bytes(0, 0), 10), DropReason::FragMalformed);
  }
  SECTION("a fragment on the sync interface is not a sync frame") {
    v.topo.sync_iface = 2;
    check_dropped(run(v, 2, ipv4_frame(kSyncMac, kHostMac, kHost, dst, 17, Bytes(16, 0), 64, kMf)),
                  DropReason::NotSync);
  }
  SECTION("the header is checked first") {
    Bytes f = ipv4_frame(Mac::virtual_for(1), kHostMac, kHost, dst, 17, Bytes(16, 0), 64, kMf);
    f[14 + 10] ^= 1;
    check_dropped(run(v, kLan, f), DropReason::BadIpChecksum);
  }
}

TEST_CASE("our virtual MAC from another station is counted, never dropped for it; our own frames are not counted",
          "[dataplane][eth][carp]") {
  auto master = master_view();
  auto backup = backup_view();
  const Mac vmac200 = Mac::virtual_for(200), vmac1 = Mac::virtual_for(1);
  const Mac carp_mc{{0x01, 0x00, 0x5e, 0x00, 0x00, 0x12}};
  Bytes carp(36, 0);
  carp[0] = 0x21;
  auto counted = [](const dp::WorkerCounters& c, uint8_t vhid) { return c.read().vmac_from_other[vhid]; };
  auto total = [](const dp::WorkerCounters& c) {
    return c.read().carp[size_t(dp::CarpCounter::VmacFromOther)];
  };
  auto through = [](const Tables& t, uint8_t in, Bytes f, dp::WorkerCounters& c) {
    uint16_t len = uint16_t(f.size());
    return process(t, in, f.data(), len, &c);
  };

  SECTION("another MASTER's advert from our virtual MAC: counted, and still punted to CARP") {
    dp::WorkerCounters c;
    Result r = through(master, kWan,
                       ipv4_frame(carp_mc, vmac200, ip4("198.51.100.202"), ip4("224.0.0.18"), net::kProtoCarp, carp, 255),
                       c);
    CHECK(r.exit == Exit::ToControl);
    CHECK(r.punt == PuntReason::Carp);
    CHECK(counted(c, 200) == 1);
    CHECK(total(c) == 1);
  }
  SECTION("a host using our virtual MAC: counted, whatever the frame's destination") {
    dp::WorkerCounters c;
    (void)through(master, kLan, ipv4_frame(kLanMac, vmac1, kHost, ip4("198.51.100.77"), net::kProtoUdp, udp_payload()),
                  c);
    (void)through(master, kLan, ipv4_frame(mac(0x77), vmac1, kHost, ip4("192.168.1.51"), net::kProtoUdp, udp_payload()),
                  c);
    (void)through(master, kLan, arp_request(kHost, vmac1, kLanAddr), c);
    CHECK(counted(c, 1) == 3);
    CHECK(total(c) == 3);
  }
  SECTION("our own frames come back (af_packet): adverts, gratuitous ARP, echo replies from a VIP are not counted") {
    dp::WorkerCounters c;
    (void)through(master, kWan,
                  ipv4_frame(carp_mc, vmac200, kWanAddr, ip4("224.0.0.18"), net::kProtoCarp, carp, 255), c);
    (void)through(master, kLan, arp_request(kLanVip, vmac1, kLanVip), c);
    (void)through(master, kLan,
                  ipv4_frame(kHostMac, vmac1, kLanVip, kHost, net::kProtoIcmp, icmp_echo(7, 1, 8, net::kIcmpEchoReply)), c);
    CHECK(total(c) == 0);
  }
  SECTION("a VHID we are BACKUP of, another interface's VHID, or ucarp's MAC: not ours, not counted") {
    dp::WorkerCounters c;
    const Bytes frame = ipv4_frame(carp_mc, vmac200, ip4("198.51.100.202"), ip4("224.0.0.18"), net::kProtoCarp, carp, 255);
    Result r = through(backup, kWan, frame, c);
    CHECK(r.punt == PuntReason::Carp);  // the master's adverts: a BACKUP hears them as always
    (void)through(master, kLan, ipv4_frame(kLanMac, vmac200, kHost, ip4("198.51.100.77"), net::kProtoUdp, udp_payload()),
                  c);
    const Mac ucarp{{0x00, 0x00, 0x5e, 0x00, 0x00, 200}};
    (void)through(master, kWan,
                  ipv4_frame(carp_mc, ucarp, ip4("198.51.100.202"), ip4("224.0.0.18"), net::kProtoCarp, carp, 255), c);
    CHECK(total(c) == 0);
  }
}
