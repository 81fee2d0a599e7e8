// IPv6 through the real pipeline: Neighbor Discovery and echo to the node,
// forwarding by longest prefix with the hop limit, the ICMPv6 errors the node
// sends (time exceeded, no route, packet too big), the extension header
// walk, and the firewall — the same rules, state table and TCP tracking as
// IPv4 — with the frames a LAN host and a WAN server would send.
#include <catch2/catch.hpp>

#include "dataplane/net/ipv6.h"
#include "dataplane/pipeline.h"
#include "tests/unit/dataplane/frames.h"

using namespace hafw;
using namespace hafw::test;
using dp::DropReason;
using dp::RuleAction;

namespace {

constexpr uint8_t kWan = 0, kLan = 1;
net::Addr6 a6(const char* s) { return net::IpAddr::parse(s)->b; }
const net::Addr6 kWanAddr = a6("2001:db8::2"), kLanAddr = a6("2001:db8:1::2");
const net::Addr6 kClient = a6("2001:db8:1::50"), kGateway = a6("2001:db8::1");
const net::Addr6 kRemote = a6("2001:db8:99::7"), kServer = a6("2001:db8::10");
const Mac kServerMac = mac(0x10);

// The example plan with address6 on WAN and LAN, a default route via the
// WAN router, "pass in on lan keep state" and nothing in on wan.
struct Fw6 {
  Tables t = master_view();
  dp::WorkerCounters counters;
  Time now = std::chrono::seconds(1000);

  Fw6() {
    t.topo.ifaces[kWan].addr6 = kWanAddr;
    t.topo.ifaces[kWan].plen6 = 64;
    t.topo.ifaces[kWan].ll6 = net::link_local_of(kWanMac);
    t.topo.ifaces[kLan].addr6 = kLanAddr;
    t.topo.ifaces[kLan].plen6 = 64;
    t.topo.ifaces[kLan].ll6 = net::link_local_of(kLanMac);
    t.topo.set_routes6({{.net = a6("2001:db8::"), .len = 64, .gateway = {}, .iface = kWan},
                        {.net = a6("2001:db8:1::"), .len = 64, .gateway = {}, .iface = kLan},
                        {.net = {}, .len = 0, .gateway = kGateway, .iface = kWan}});
    t.states = std::make_shared<dp::StateTable>(1024);
    auto pol = std::make_shared<dp::Policy>();
    pol->in[kLan].push_back(rule(0, RuleAction::Pass));
    pol->rule_count = 1;
    pol->allocate_counters(1);
    t.policy = pol;
    const dp::NeighborTable::Entry6 n6[] = {{kWan, kGateway, kGwMac}, {kWan, kServer, kServerMac},
                                            {kLan, kClient, kHostMac}};
    t.neighbors = dp::NeighborTable::build({}, n6);
  }

  struct Out {
    dp::PacketMeta p;
    Bytes frame;
    bool dropped(DropReason r) const { return p.next == dp::Next::Drop && p.drop == r; }
  };
  Out send(uint8_t in, Bytes f) {
    dp::WorkerCtx ctx{.view = t.view(), .counters = &counters, .states = t.states.get()};
    ctx.set_time(now);
    const uint16_t len = uint16_t(f.size());
    f.resize(len + 256);
    dp::PacketMeta p = dp::run_one(ctx, in, f.data(), len, uint16_t(f.size()));
    f.resize(p.len);
    return {p, f};
  }
  uint64_t drops(DropReason r) const { return counters.read().drops[size_t(r)]; }
  uint64_t icmp(dp::IcmpCounter c) const { return counters.read().icmp[size_t(c)]; }
};

Bytes echo6(const net::Addr6& s, const net::Addr6& d, Mac to, Mac from, uint8_t hops = 64) {
  Bytes m{net::kIcmp6EchoRequest, 0, 0, 0, 0x12, 0x34, 0, 1, 'p', 'i', 'n', 'g'};
  Bytes f = ip6_frame(to, from, s, d, net::kProtoIcmpv6, m, hops);
  return with_icmp6_checksum(f);
}

Bytes ns(const net::Addr6& s, const net::Addr6& d, const net::Addr6& target, Mac from) {
  Bytes f = net::nd_frame(net::NdFrame{.eth_dst = net::multicast_mac(d.data()), .eth_src = from, .src = s, .dst = d,
                                       .type = net::kNdNeighborSolicit, .flags = 0, .target = target, .lla = from});
  return f;
}

Bytes tcp6(Mac to, Mac from, const net::Addr6& s, const net::Addr6& d, uint16_t sport, uint16_t dport, uint8_t flags,
           uint8_t hops = 64, size_t data = 0) {
  Bytes seg(20 + data, 0);
  seg[0] = uint8_t(sport >> 8), seg[1] = uint8_t(sport);
  seg[2] = uint8_t(dport >> 8), seg[3] = uint8_t(dport);
  seg[7] = 1;  // seq 1
  if (flags & 0x10) seg[11] = 1;
  seg[12] = 0x50;
  seg[13] = flags;
  seg[14] = 0xff, seg[15] = 0xff;
  return ip6_frame(to, from, s, d, net::kProtoTcp, seg, hops);
}

net::Addr6 addr_at(const Bytes& f, size_t off) {
  net::Addr6 a;
  std::memcpy(a.data(), f.data() + off, 16);
  return a;
}
bool icmp6_ok(const Bytes& f) {
  const uint8_t* ip = f.data() + 14;
  return net::icmp6_checksum(ip, ip + 40, size_t(ip[4]) << 8 | ip[5]) == 0;
}

// The client's solicitation for `target` answered in place: an NA on the
// LAN from `target` and MAC `as` to the client, Router/Solicited/Override,
// `as` as the target link-layer address, hop limit 255, a valid checksum.
void check_solicited_na(const Fw6::Out& o, const net::Addr6& target, Mac as) {
  REQUIRE(o.p.next == dp::Next::Tx);
  CHECK(o.p.out == kLan);
  REQUIRE(o.frame.size() == net::kNdFrameLen);
  CHECK(eth_of(o.frame).dst == kHostMac);
  CHECK(eth_of(o.frame).src == as);
  CHECK(addr_at(o.frame, 22) == target);   // from the target
  CHECK(addr_at(o.frame, 38) == kClient);  // to the asker
  CHECK(o.frame[14 + 7] == 255);
  CHECK(o.frame[54] == net::kNdNeighborAdvert);
  CHECK(o.frame[58] == (net::kNaRouter | net::kNaSolicited | net::kNaOverride));
  CHECK(addr_at(o.frame, 62) == target);
  CHECK(o.frame[78] == net::kNdOptTargetLla);
  CHECK(std::memcmp(&o.frame[80], as.b.data(), 6) == 0);
  CHECK(icmp6_ok(o.frame));
}

}  // namespace

TEST_CASE("IPv6 ND: a solicitation for a node address is answered with an advertisement in place", "[ipv6][nd]") {
  Fw6 fw;
  SECTION("to the solicited-node group, for the global address") {
    auto o = fw.send(kLan, ns(kClient, net::solicited_node(kLanAddr.data()), kLanAddr, kHostMac));
    check_solicited_na(o, kLanAddr, kLanMac);
  }
  SECTION("for the link-local address") {
    const auto ll = net::link_local_of(kLanMac);
    auto o = fw.send(kLan, ns(net::link_local_of(kHostMac), net::solicited_node(ll.data()), ll, kHostMac));
    REQUIRE(o.p.next == dp::Next::Tx);
    CHECK(addr_at(o.frame, 22) == ll);
    CHECK(icmp6_ok(o.frame));
  }
  SECTION("a probe for our address (unspecified source) is defended to all nodes") {
    auto o = fw.send(kLan, ns(net::Addr6{}, net::solicited_node(kLanAddr.data()), kLanAddr, kHostMac));
    // A DAD probe carries no source link-layer option: this one does, so it is invalid.
    CHECK(o.dropped(DropReason::BadNd));
    Bytes f = ns(net::Addr6{}, net::solicited_node(kLanAddr.data()), kLanAddr, kHostMac);
    f.resize(14 + 40 + 24);  // no option
    f[14 + 5] = 24;
    with_icmp6_checksum(f);
    o = fw.send(kLan, f);
    REQUIRE(o.p.next == dp::Next::Tx);
    CHECK(addr_at(o.frame, 38) == net::kAllNodes);
    CHECK(eth_of(o.frame).dst == net::multicast_mac(net::kAllNodes.data()));
    CHECK(o.frame[58] == (net::kNaRouter | net::kNaOverride));  // not solicited
  }
  SECTION("hop limit other than 255 or a bad checksum is refused") {
    Bytes f = ns(kClient, net::solicited_node(kLanAddr.data()), kLanAddr, kHostMac);
    f[14 + 7] = 64;
    with_icmp6_checksum(f);
    CHECK(fw.send(kLan, f).dropped(DropReason::BadNd));
    f = ns(kClient, net::solicited_node(kLanAddr.data()), kLanAddr, kHostMac);
    f[70] ^= 1;
    CHECK(fw.send(kLan, f).dropped(DropReason::BadNd));
    CHECK(fw.drops(DropReason::BadNd) == 2);
  }
  SECTION("a solicitation for another address on a group we do not listen to is not ours") {
    const auto other = a6("2001:db8:1::77");
    CHECK(fw.send(kLan, ns(kClient, net::solicited_node(other.data()), other, kHostMac))
              .dropped(DropReason::LocalUnsupported));
  }
  SECTION("an advertisement goes to the control thread") {
    Bytes f = net::nd_frame(net::NdFrame{.eth_dst = kLanMac, .eth_src = kHostMac, .src = kClient, .dst = kLanAddr,
                                         .type = net::kNdNeighborAdvert, .flags = net::kNaSolicited,
                                         .target = kClient, .lla = kHostMac});
    auto o = fw.send(kLan, f);
    CHECK(o.p.next == dp::Next::Control);
    CHECK(o.p.punt == dp::PuntReason::Nd);
  }
}

TEST_CASE("IPv6 echo to a node address is answered; to another segment's address as well", "[ipv6][icmp]") {
  Fw6 fw;
  auto o = fw.send(kLan, echo6(kClient, kLanAddr, kLanMac, kHostMac));
  REQUIRE(o.p.next == dp::Next::Tx);
  CHECK(o.p.out == kLan);
  CHECK(o.frame[54] == net::kIcmp6EchoReply);
  CHECK(addr_at(o.frame, 22) == kLanAddr);
  CHECK(addr_at(o.frame, 38) == kClient);
  CHECK(eth_of(o.frame).dst == kHostMac);
  CHECK(icmp6_ok(o.frame));
  o = fw.send(kLan, echo6(kClient, kWanAddr, kLanMac, kHostMac));
  REQUIRE(o.p.next == dp::Next::Tx);
  CHECK(addr_at(o.frame, 22) == kWanAddr);
  Bytes bad = echo6(kClient, kLanAddr, kLanMac, kHostMac);
  bad[60] ^= 0xff;
  CHECK(fw.send(kLan, bad).dropped(DropReason::BadIcmp));
}

TEST_CASE("IPv6 forwarding: longest prefix, hop limit decremented, the next hop's MAC", "[ipv6][route]") {
  Fw6 fw;
  auto o = fw.send(kLan, tcp6(kLanMac, kHostMac, kClient, kRemote, 40000, 443, 0x02));
  REQUIRE(o.p.next == dp::Next::Tx);
  CHECK(o.p.out == kWan);
  CHECK(eth_of(o.frame).dst == kGwMac);  // the default route's gateway
  CHECK(eth_of(o.frame).src == kWanMac);
  CHECK(o.frame[14 + 7] == 63);
  o = fw.send(kLan, tcp6(kLanMac, kHostMac, kClient, kServer, 40001, 443, 0x02));
  REQUIRE(o.p.next == dp::Next::Tx);
  CHECK(eth_of(o.frame).dst == kServerMac);  // connected: the destination itself
  SECTION("a next hop without a neighbour entry is punted to be resolved") {
    o = fw.send(kLan, tcp6(kLanMac, kHostMac, kClient, a6("2001:db8::33"), 40002, 443, 0x02));
    CHECK(o.p.next == dp::Next::Control);
    CHECK(o.p.punt == dp::PuntReason::Resolve);
    CHECK(o.p.out == kWan);
    CHECK(o.frame[14 + 7] == 63);
  }
}

TEST_CASE("IPv6 errors the node sends: time exceeded, no route, packet too big", "[ipv6][icmp]") {
  Fw6 fw;
  SECTION("hop limit 1") {
    const Bytes in = tcp6(kLanMac, kHostMac, kClient, kRemote, 40000, 443, 0x02, 1);
    auto o = fw.send(kLan, in);
    REQUIRE(o.p.next == dp::Next::Tx);
    CHECK(o.p.out == kLan);
    CHECK(eth_of(o.frame).dst == kHostMac);
    CHECK(addr_at(o.frame, 22) == kLanAddr);
    CHECK(addr_at(o.frame, 38) == kClient);
    CHECK(o.frame[54] == net::kIcmp6TimeExceeded);
    CHECK(o.frame[55] == 0);
    CHECK(icmp6_ok(o.frame));
    // The whole packet is quoted, as it arrived.
    REQUIRE(o.frame.size() == 14 + 48 + (in.size() - 14));
    CHECK(std::equal(in.begin() + 14, in.end(), o.frame.begin() + 62));
    CHECK(fw.icmp(dp::IcmpCounter::TimeExceeded) == 1);
  }
  SECTION("no route: remove the default route") {
    fw.t.topo.set_routes6({{.net = a6("2001:db8:1::"), .len = 64, .gateway = {}, .iface = kLan}});
    auto o = fw.send(kLan, tcp6(kLanMac, kHostMac, kClient, kRemote, 40000, 443, 0x02));
    REQUIRE(o.p.next == dp::Next::Tx);
    CHECK(o.frame[54] == net::kIcmp6Unreachable);
    CHECK(o.frame[55] == 0);
    CHECK(icmp6_ok(o.frame));
  }
  SECTION("longer than the egress MTU: packet too big with the MTU") {
    fw.t.topo.ifaces[kWan].mtu = 1280;
    auto o = fw.send(kLan, tcp6(kLanMac, kHostMac, kClient, kRemote, 40000, 443, 0x10, 64, 1300));
    REQUIRE(o.p.next == dp::Next::Tx);
    CHECK(o.frame[54] == net::kIcmp6PacketTooBig);
    CHECK((uint32_t(o.frame[58]) << 24 | uint32_t(o.frame[59]) << 16 | uint32_t(o.frame[60]) << 8 | o.frame[61]) ==
          1280);
    CHECK(o.frame.size() == 14 + net::kIpv6MinMtu);  // the quote stops at the minimum MTU
    CHECK(icmp6_ok(o.frame));
    CHECK(fw.icmp(dp::IcmpCounter::PacketTooBig) == 1);
  }
  SECTION("never about an ICMPv6 error") {
    Bytes m{net::kIcmp6Unreachable, 0, 0, 0, 0, 0, 0, 0};
    Bytes quoted(40, 0);
    quoted[0] = 0x60;
    quoted[6] = net::kProtoUdp;
    m.insert(m.end(), quoted.begin(), quoted.end());
    Bytes f = ip6_frame(kLanMac, kHostMac, kClient, kRemote, net::kProtoIcmpv6, m, 1);
    with_icmp6_checksum(f);
    CHECK(fw.send(kLan, f).dropped(DropReason::TtlExceeded));
    CHECK(fw.icmp(dp::IcmpCounter::NotEligible) == 1);
  }
}

TEST_CASE("IPv6 extension headers are walked with a bound; type 0 routing is dropped", "[ipv6]") {
  Fw6 fw;
  Bytes seg = tcp6(kLanMac, kHostMac, kClient, kRemote, 40000, 443, 0x02);
  const Bytes tcp(seg.begin() + 54, seg.end());
  auto with = [&](uint8_t first, Bytes ext) {
    ext.insert(ext.end(), tcp.begin(), tcp.end());
    return ip6_frame(kLanMac, kHostMac, kClient, kRemote, first, ext);
  };
  // Hop-by-hop (PadN), then destination options, then TCP: the rules see the TCP ports.
  auto o = fw.send(kLan, with(net::kIp6HopByHop, {net::kIp6DestOpts, 0, 1, 4, 0, 0, 0, 0,
                                                  net::kProtoTcp, 0, 1, 4, 0, 0, 0, 0}));
  REQUIRE(o.p.next == dp::Next::Tx);
  CHECK(o.p.key.proto == net::kProtoTcp);
  CHECK(net::be16(o.p.key.dport) == 443);
  CHECK(fw.send(kLan, with(net::kIp6Routing, {net::kProtoTcp, 0, 0, 0, 0, 0, 0, 0})).dropped(DropReason::Ipv6ExtHeader));
  CHECK(fw.send(kLan, with(net::kIp6DestOpts, {net::kIp6HopByHop, 0, 1, 4, 0, 0, 0, 0, net::kProtoTcp, 0, 1, 4, 0, 0, 0,
                                               0}))
            .dropped(DropReason::Ipv6ExtHeader));  // hop-by-hop not first
  Bytes chain;
  for (int i = 0; i < 9; ++i) chain.insert(chain.end(), {net::kIp6DestOpts, 0, 1, 4, 0, 0, 0, 0});
  CHECK(fw.send(kLan, with(net::kIp6DestOpts, chain)).dropped(DropReason::Ipv6ExtHeader));
  // One long header that puts the transport header past the first 200 bytes.
  Bytes big(8 + 8 * 30, 0);
  big[0] = net::kProtoTcp;
  big[1] = 30;
  big[2] = 1;
  big[3] = uint8_t(big.size() - 4);
  CHECK(fw.send(kLan, with(net::kIp6DestOpts, big)).dropped(DropReason::Ipv6ExtHeader));
  CHECK(fw.drops(DropReason::Ipv6ExtHeader) == 4);
}

TEST_CASE("IPv6 fragments are checked, then sent to reassembly; an atomic fragment is a whole packet",
          "[ipv6][fragments]") {
  Fw6 fw;
  const Bytes tcp = [] {
    Bytes f = tcp6(kLanMac, kHostMac, kClient, kRemote, 40000, 443, 0x02);
    return Bytes(f.begin() + 54, f.end());
  }();
  // A fragment header (offset in bytes, M) with `next`, then `payload`.
  auto frag = [](uint8_t next, size_t offset, bool more, const Bytes& payload) {
    Bytes h{next, 0, uint8_t(offset >> 8), uint8_t((offset & 0xf8) | (more ? 1 : 0)), 0, 0, 0x12, 0x34};
    h.insert(h.end(), payload.begin(), payload.end());
    return h;
  };
  auto send = [&](uint8_t first, const Bytes& ext) {
    return fw.send(kLan, ip6_frame(kLanMac, kHostMac, kClient, kRemote, first, ext));
  };
  SECTION("first, middle and last fragments go to reassembly, the fragment header its l3_len") {
    Bytes first = tcp;
    first.resize(32, 't');
    for (const auto& [f, last] : {std::pair{frag(net::kProtoTcp, 0, true, first), false},
                                  std::pair{frag(net::kProtoTcp, 32, true, Bytes(16, 'm')), false},
                                  std::pair{frag(net::kProtoTcp, 48, false, Bytes(5, 'l')), true}}) {
      auto o = send(net::kIp6Fragment, f);
      REQUIRE(o.p.next == dp::Next::Reassemble);
      CHECK(o.p.has(dp::PacketFlag::V6));
      CHECK(o.p.l4 - o.p.l3 == 48);
      CHECK(o.p.proto == net::kProtoTcp);
    }
    CHECK(fw.drops(DropReason::DefaultBlock) == 0);  // no rule saw a fragment
  }
  SECTION("an atomic fragment (offset 0, M clear) is filtered as the whole packet it is (RFC 6946)") {
    auto o = send(net::kIp6Fragment, frag(net::kProtoTcp, 0, false, tcp));
    REQUIRE(o.p.next == dp::Next::Tx);
    CHECK(o.p.key.proto == net::kProtoTcp);
    CHECK(net::be16(o.p.key.dport) == 443);
    CHECK(fw.counters.read().states[size_t(dp::StateCounter::Created)] == 1);
  }
  SECTION("a first fragment must hold its header chain and the whole transport header (RFC 7112)") {
    CHECK(send(net::kIp6Fragment, frag(net::kProtoTcp, 0, true, Bytes(tcp.begin(), tcp.begin() + 16)))
              .dropped(DropReason::FragTiny));
    Bytes opts{net::kProtoTcp, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};  // 16 bytes of options
    CHECK(send(net::kIp6Fragment, frag(net::kIp6DestOpts, 0, true, Bytes(opts.begin(), opts.begin() + 8)))
              .dropped(DropReason::FragTiny));  // ends inside the destination options
    opts.insert(opts.end(), tcp.begin(), tcp.begin() + 8);
    CHECK(send(net::kIp6Fragment, frag(net::kIp6DestOpts, 0, true, opts)).dropped(DropReason::FragTiny));
    opts.insert(opts.end(), tcp.begin() + 8, tcp.end());
    opts.resize(40, 'x');
    auto o = send(net::kIp6Fragment, frag(net::kIp6DestOpts, 0, true, opts));
    REQUIRE(o.p.next == dp::Next::Reassemble);
    CHECK(o.p.proto == net::kProtoTcp);  // the walk went on to the transport header
    CHECK(fw.drops(DropReason::FragTiny) == 3);
  }
  SECTION("malformed: no payload, or a fragment before the last not ending on 8 bytes") {
    CHECK(send(net::kIp6Fragment, frag(net::kProtoUdp, 8, true, Bytes(12, 0))).dropped(DropReason::FragMalformed));
    CHECK(send(net::kIp6Fragment, frag(net::kProtoUdp, 8, false, {})).dropped(DropReason::FragMalformed));
    CHECK(send(net::kIp6Fragment, frag(net::kProtoUdp, 8, false, Bytes(3, 0))).p.next == dp::Next::Reassemble);
  }
  SECTION("a fragment whose reassembled payload would pass 65,535 bytes") {
    CHECK(send(net::kIp6Fragment, frag(net::kProtoUdp, 65528, false, Bytes(16, 0))).dropped(DropReason::FragOversize));
    CHECK(send(net::kIp6Fragment, frag(net::kProtoUdp, 65528, false, Bytes(7, 0))).p.next == dp::Next::Reassemble);
  }
  SECTION("a second fragment header, after an atomic or a first fragment's") {
    Bytes inner = frag(net::kProtoTcp, 0, true, tcp);
    inner.resize(8 + 24, 0);
    CHECK(send(net::kIp6Fragment, frag(net::kIp6Fragment, 0, false, inner)).dropped(DropReason::FragMalformed));
    CHECK(send(net::kIp6Fragment, frag(net::kIp6Fragment, 0, true, inner)).dropped(DropReason::FragMalformed));
  }
  SECTION("a fragment header behind other extension headers: l3_len covers them") {
    Bytes ext{net::kIp6Fragment, 0, 1, 4, 0, 0, 0, 0};
    const Bytes f = frag(net::kProtoUdp, 8, false, Bytes(16, 0));
    ext.insert(ext.end(), f.begin(), f.end());
    auto o = send(net::kIp6DestOpts, ext);
    REQUIRE(o.p.next == dp::Next::Reassemble);
    CHECK(o.p.l4 - o.p.l3 == 56);
    // The unfragmentable headers count toward the 65,535 bytes.
    Bytes big{net::kIp6Fragment, 0, 1, 4, 0, 0, 0, 0};
    const Bytes g = frag(net::kProtoUdp, 65520, false, Bytes(8, 0));
    big.insert(big.end(), g.begin(), g.end());
    CHECK(send(net::kIp6DestOpts, big).dropped(DropReason::FragOversize));  // 8 + 65520 + 8
    // An atomic one there is still a whole packet.
    Bytes atomic{net::kIp6Fragment, 0, 1, 4, 0, 0, 0, 0};
    const Bytes a = frag(net::kProtoTcp, 0, false, tcp);
    atomic.insert(atomic.end(), a.begin(), a.end());
    CHECK(send(net::kIp6DestOpts, atomic).p.next == dp::Next::Tx);
  }
}

TEST_CASE("IPv6 through the firewall: the same rules, states and TCP tracking as IPv4", "[ipv6][firewall]") {
  Fw6 fw;
  // Nothing passes in on wan without a state.
  CHECK(fw.send(kWan, tcp6(kWanMac, kGwMac, kRemote, kClient, 443, 40000, 0x02)).dropped(DropReason::DefaultBlock));
  // The client's SYN passes and keeps state; the server's SYN-ACK and the rest pass on it.
  auto o = fw.send(kLan, tcp6(kLanMac, kHostMac, kClient, kRemote, 40000, 443, 0x02));
  REQUIRE(o.p.next == dp::Next::Tx);
  CHECK(fw.counters.read().states[size_t(dp::StateCounter::Created)] == 1);
  o = fw.send(kWan, tcp6(kWanMac, kGwMac, kRemote, kClient, 443, 40000, 0x12));
  REQUIRE(o.p.next == dp::Next::Tx);
  CHECK(o.p.out == kLan);
  CHECK(eth_of(o.frame).dst == kHostMac);
  CHECK(o.p.dir == 1);
  // A mid-stream segment of no state is not a connection's start.
  CHECK(fw.send(kLan, tcp6(kLanMac, kHostMac, kClient, kRemote, 40001, 443, 0x10)).dropped(DropReason::TcpNotSyn));
  // An IPv6 state never matches an IPv4 packet of the same ports.
  const auto st = fw.t.states->lookup(o.p.key);
  CHECK(st.found());
  SECTION("an ICMPv6 error quoting the flow passes on its state") {
    Bytes quoted = tcp6(kLanMac, kHostMac, kClient, kRemote, 40000, 443, 0x10);
    Bytes m{net::kIcmp6Unreachable, 1, 0, 0, 0, 0, 0, 0};
    m.insert(m.end(), quoted.begin() + 14, quoted.end());
    Bytes f = ip6_frame(kWanMac, kGwMac, a6("2001:db8:50::1"), kClient, net::kProtoIcmpv6, m);
    with_icmp6_checksum(f);
    o = fw.send(kWan, f);
    REQUIRE(o.p.next == dp::Next::Tx);
    CHECK(o.p.out == kLan);
    CHECK(fw.counters.read().states[size_t(dp::StateCounter::IcmpErrorMatched)] == 1);
    // One about a flow without a state is blocked.
    m[8 + 40 + 1] ^= 1;  // another source port
    f = ip6_frame(kWanMac, kGwMac, a6("2001:db8:50::1"), kClient, net::kProtoIcmpv6, m);
    with_icmp6_checksum(f);
    CHECK(fw.send(kWan, f).dropped(DropReason::DefaultBlock));
  }
  SECTION("an IPv6 rule matches IPv6 prefixes only") {
    auto pol = std::make_shared<dp::Policy>();
    pol->in[kWan].push_back(rule(0, RuleAction::Pass, net::kProtoTcp, dp::NetMatch::any(),
                                 dp::NetMatch::of(*net::IpAddr::parse("2001:db8:1::50"), 128), 22));
    pol->rule_count = 1;
    pol->allocate_counters(1);
    fw.t.policy = pol;
    CHECK(fw.send(kWan, tcp6(kWanMac, kGwMac, kRemote, kClient, 50000, 22, 0x02)).p.next == dp::Next::Tx);
    CHECK(fw.send(kWan, tcp6(kWanMac, kGwMac, kRemote, kClient, 50000, 23, 0x02)).dropped(DropReason::DefaultBlock));
    CHECK(pol->totals(0).matches == 1);
  }
}

namespace {

// The LAN VIP 2001:db8:1::1 of vhid 1 (which also holds 192.168.1.1): the
// MASTER answers for it with the virtual MAC, the BACKUP not at all.
const net::Addr6 kVip6 = a6("2001:db8:1::1");
const Mac kVmac = Mac::virtual_for(1);

struct Vip6 : Fw6 {
  explicit Vip6(bool master) {
    t.topo.configured_vips.vips6 = {{.addr = kVip6, .iface = kLan, .vhid = 1, .vmac = kVmac}};
    t.owned = master ? t.topo.configured_vips : dp::VipSet{};
  }
};

// A CARP advert's IPv6 envelope (the control thread decodes the rest).
Bytes carp6(const net::Addr6& s, const net::Addr6& d, Mac to, uint8_t hops = 255) {
  Bytes carp(36, 0);
  carp[0] = 0x21;
  carp[1] = 1;
  return ip6_frame(to, kVmac, s, d, net::kProtoCarp, carp, hops);
}
const net::Addr6 kCarpGroup6 = a6("ff02::12");
const Mac kCarpMac6{{0x33, 0x33, 0, 0, 0, 0x12}};

}  // namespace

TEST_CASE("IPv6 VIP: the MASTER answers ND with the virtual MAC, the BACKUP is silent and counts it",
          "[ipv6][nd][vip]") {
  const Bytes solicit = ns(kClient, net::solicited_node(kVip6.data()), kVip6, kHostMac);
  SECTION("MASTER") {
    Vip6 fw(true);
    auto o = fw.send(kLan, solicit);
    check_solicited_na(o, kVip6, kVmac);  // from the VIP and the virtual MAC
    // A unicast probe (the host's NUD) to the VIP at the virtual MAC too.
    Bytes probe = ns(kClient, kVip6, kVip6, kHostMac);
    std::memcpy(probe.data(), kVmac.b.data(), 6);
    o = fw.send(kLan, probe);
    REQUIRE(o.p.next == dp::Next::Tx);
    CHECK(eth_of(o.frame).src == kVmac);
    // The node's own address still answers with the interface MAC.
    o = fw.send(kLan, ns(kClient, net::solicited_node(kLanAddr.data()), kLanAddr, kHostMac));
    REQUIRE(o.p.next == dp::Next::Tx);
    CHECK(eth_of(o.frame).src == kLanMac);
    // On another interface the VIP is nobody's.
    auto w = fw.send(kWan, ns(kServer, net::solicited_node(kVip6.data()), kVip6, kServerMac));
    CHECK(w.p.next == dp::Next::Drop);
    CHECK(fw.drops(DropReason::VipNotOwned) == 0);
  }
  SECTION("BACKUP") {
    Vip6 fw(false);
    CHECK(fw.send(kLan, solicit).dropped(DropReason::VipNotOwned));
    Bytes probe = ns(kClient, kVip6, kVip6, kHostMac);
    std::memcpy(probe.data(), kLanMac.b.data(), 6);
    CHECK(fw.send(kLan, probe).dropped(DropReason::VipNotOwned));
    CHECK(fw.drops(DropReason::VipNotOwned) == 2);
    // Its own address is answered as ever.
    CHECK(fw.send(kLan, ns(kClient, net::solicited_node(kLanAddr.data()), kLanAddr, kHostMac)).p.next ==
          dp::Next::Tx);
  }
}

TEST_CASE("IPv6 VIP: echo and transit follow the IPv4 VIP rules", "[ipv6][icmp][vip]") {
  SECTION("MASTER answers a ping of the VIP from the VIP and the virtual MAC") {
    Vip6 fw(true);
    auto o = fw.send(kLan, echo6(kClient, kVip6, kVmac, kHostMac));
    REQUIRE(o.p.next == dp::Next::Tx);
    CHECK(o.frame[54] == net::kIcmp6EchoReply);
    CHECK(addr_at(o.frame, 22) == kVip6);
    CHECK(addr_at(o.frame, 38) == kClient);
    CHECK(eth_of(o.frame).src == kVmac);
    CHECK(eth_of(o.frame).dst == kHostMac);
    CHECK(icmp6_ok(o.frame));
    // The VIP as the hosts' gateway: traffic to the virtual MAC is routed.
    auto f = fw.send(kLan, echo6(kClient, kRemote, kVmac, kHostMac));
    REQUIRE(f.p.next == dp::Next::Tx);
    CHECK(f.p.out == kWan);
    CHECK(eth_of(f.frame).dst == kGwMac);
    // Our own NA or echo reply from the VIP come back (af_packet) is no
    // neighbour's, and not another station using our virtual MAC.
    CHECK(fw.send(kLan, o.frame).dropped(DropReason::NotForUs));
    Bytes na = net::nd_frame(net::NdFrame{.eth_dst = net::multicast_mac(net::kAllNodes.data()), .eth_src = kVmac,
                                          .src = kVip6, .dst = net::kAllNodes, .type = net::kNdNeighborAdvert,
                                          .flags = net::kNaRouter | net::kNaOverride, .target = kVip6,
                                          .lla = kVmac});
    CHECK(fw.send(kLan, na).dropped(DropReason::Martian));
    // ... nor our own IPv6 advert (from our link-local address).
    CHECK(fw.send(kLan, carp6(net::link_local_of(kLanMac), kCarpGroup6, kCarpMac6)).dropped(DropReason::Martian));
    CHECK(fw.counters.read().vmac_from_other[1] == 0);
    // A frame from our virtual MAC another station sent is counted.
    CHECK(fw.send(kLan, echo6(kClient, kLanAddr, kLanMac, kVmac)).p.next == dp::Next::Tx);
    CHECK(fw.counters.read().vmac_from_other[1] == 1);
  }
  SECTION("BACKUP answers no ping of the VIP and forwards nothing for the virtual MAC") {
    Vip6 fw(false);
    CHECK(fw.send(kLan, echo6(kClient, kVip6, kLanMac, kHostMac)).dropped(DropReason::VipNotOwned));
    CHECK(fw.send(kLan, echo6(kClient, kVip6, kVmac, kHostMac)).dropped(DropReason::VipNotOwned));
    CHECK(fw.send(kLan, echo6(kClient, kRemote, kVmac, kHostMac)).dropped(DropReason::VipNotOwned));
    CHECK(fw.drops(DropReason::VipNotOwned) == 3);
    // The MASTER's unsolicited NA (from the VIP, to all nodes) is heard.
    Bytes na = net::nd_frame(net::NdFrame{.eth_dst = net::multicast_mac(net::kAllNodes.data()), .eth_src = kVmac,
                                          .src = kVip6, .dst = net::kAllNodes, .type = net::kNdNeighborAdvert,
                                          .flags = net::kNaRouter | net::kNaOverride, .target = kVip6,
                                          .lla = kVmac});
    auto o = fw.send(kLan, na);
    CHECK(o.p.next == dp::Next::Control);
    CHECK(o.p.punt == dp::PuntReason::Nd);
  }
}

TEST_CASE("IPv6 CARP goes to the control thread like IPv4 CARP", "[ipv6][carp]") {
  Vip6 fw(false);
  const net::Addr6 peer_ll = net::link_local_of(mac(0xb2));
  SECTION("to ff02::12") {
    auto o = fw.send(kLan, carp6(peer_ll, kCarpGroup6, kCarpMac6));
    REQUIRE(o.p.next == dp::Next::Control);
    CHECK(o.p.punt == dp::PuntReason::Carp);
    CHECK(fw.counters.read().punts[size_t(dp::PuntReason::Carp)] == 1);
  }
  SECTION("unicast to a node address (an IPv6 peer)") {
    auto o = fw.send(kLan, carp6(a6("2001:db8:1::3"), kLanAddr, kLanMac));
    REQUIRE(o.p.next == dp::Next::Control);
    CHECK(o.p.punt == dp::PuntReason::Carp);
  }
  SECTION("a routed advert is the control thread's to count (bad_ttl), as for IPv4") {
    auto o = fw.send(kLan, carp6(peer_ll, kCarpGroup6, kCarpMac6, 254));
    CHECK(o.p.next == dp::Next::Control);
  }
  SECTION("an interface without IPv6 takes none") {
    fw.t.topo.ifaces[kLan].plen6 = 0;
    CHECK(fw.send(kLan, carp6(peer_ll, kCarpGroup6, kCarpMac6)).dropped(DropReason::LocalUnsupported));
  }
  SECTION("another protocol to ff02::12 is not for us") {
    Bytes f = carp6(peer_ll, kCarpGroup6, kCarpMac6);
    f[14 + 6] = net::kProtoUdp;
    CHECK(fw.send(kLan, f).p.next == dp::Next::Drop);
  }
}
