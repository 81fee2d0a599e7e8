// Deterministic fuzzing of the burst pipeline: mutated valid frames and
// random bytes in bursts of 1 to 32, each frame in a buffer of exactly its
// length so ASan catches any access past it. It runs against three nodes:
// the master and the backup with a pass-all policy, and a master with the
// example firewall (rules, outbound NAT, a port forward, IPv6) whose seeds open
// TCP, UDP and ICMP flows, answer them, and send ICMP errors about them — so
// mutations hit the tracking, the NAT rewrites and the ICMP error
// translation. At the end the state table must be coherent: every state is
// found again from both directions, as itself. The firewall reports state
// events to a small ring (it overflows), drained after every burst: each
// event must name a real state, an Insert the state it made.
#include <catch2/catch.hpp>

#include <array>
#include <memory>
#include <random>

#include "dataplane/pipeline.h"
#include "dataplane/net/ipv6.h"
#include "tests/unit/dataplane/frames.h"

using namespace hafw;
using namespace hafw::test;

namespace {

std::vector<Bytes> seeds() {
  const uint32_t host = ip4("192.168.1.50"), lan = ip4("192.168.1.2"), vip = ip4("192.168.1.1");
  Bytes carp(36, 0);
  carp[0] = 0x21;
  Mac carp_mc{{0x01, 0x00, 0x5e, 0x00, 0x00, 0x12}};
  Bytes padded = ipv4_frame(kLanMac, kHostMac, host, lan, 1, icmp_echo(1, 2, 0));
  padded.resize(60, 0);
  return {
      arp_request(host, kHostMac, lan),
      arp_request(host, kHostMac, vip),
      arp_frame(net::kArpReply, kLanMac, kHostMac, host, kLanMac, lan),
      ipv4_frame(kLanMac, kHostMac, host, lan, 1, icmp_echo(1, 2, 56)),
      ipv4_frame(Mac::virtual_for(1), kHostMac, host, vip, 1, icmp_echo(1, 2, 8)),
      padded,
      ipv4_frame(kLanMac, kHostMac, host, ip4("198.51.100.77"), 17, udp_payload(20)),
      ipv4_frame(Mac::virtual_for(1), kHostMac, host, ip4("8.8.8.8"), 6, udp_payload(40), 2),
      ipv4_frame(carp_mc, Mac::virtual_for(1), ip4("192.168.1.3"), ip4("224.0.0.18"), 112, carp, 255),
      ipv4_frame(kLanMac, kHostMac, host, ip4("172.16.1.2"), 240, Bytes(24, 1), 255),
      ipv4_frame(kLanMac, kHostMac, host, ip4("10.1.0.9"), 17, udp_payload(4), 1),
      ipv4_frame(kLanMac, kHostMac, host, lan, 1, icmp_echo(1, 2, 8), 64, 0x2000),
  };
}

// Flows through the example firewall: LAN -> WAN (outbound NAT), replies to
// the VIP on ports NAT may hand out, a port forward, ICMP errors quoting them.
std::vector<std::pair<uint8_t, Bytes>> firewall_seeds() {
  const uint32_t client = ip4("192.168.1.50"), server = ip4("198.51.100.10"), vip = ip4("198.51.100.200");
  const Mac lan_vmac = Mac::virtual_for(1), wan_vmac = Mac::virtual_for(200), srv = mac(0x10);
  std::vector<std::pair<uint8_t, Bytes>> out;
  for (uint16_t port : {40000, 40001, 40002}) {
    out.emplace_back(1, tcp_frame(lan_vmac, kHostMac, client, server, tcp_segment(port, 80, 1000, 0, 0x02, 64240, 0, 7)));
    out.emplace_back(1, tcp_frame(lan_vmac, kHostMac, client, server, tcp_segment(port, 80, 1001, 5001, 0x10, 502, 40)));
    out.emplace_back(1, udp_frame(lan_vmac, kHostMac, client, server, port, 53, 24));
  }
  out.emplace_back(1, ipv4_frame(lan_vmac, kHostMac, client, server, 1, icmp_echo(0x77, 1, 16)));
  // Replies to the VIP: ports NAT could have chosen, and a range of others.
  for (uint16_t port : {1024, 30000, 65535}) {
    out.emplace_back(0, tcp_frame(wan_vmac, srv, server, vip, tcp_segment(80, port, 5000, 1001, 0x12, 65160, 0, 7)));
    out.emplace_back(0, udp_frame(wan_vmac, srv, server, vip, 53, port, 24));
  }
  // A port forward and its reply.
  out.emplace_back(0, tcp_frame(wan_vmac, kGwMac, ip4("203.0.113.7"), vip, tcp_segment(51000, 8080, 7, 0, 0x02)));
  out.emplace_back(1, tcp_frame(lan_vmac, kHostMac, client, ip4("203.0.113.7"), tcp_segment(80, 51000, 9, 8, 0x12)));
  // ICMP errors from the WAN quoting a translated UDP and TCP packet.
  for (const Bytes& q : {udp_frame(wan_vmac, srv, vip, server, 30000, 53, 24),
                         tcp_frame(wan_vmac, srv, vip, server, tcp_segment(30000, 80, 1000, 0, 0x02))}) {
    Bytes m(8 + 28, 0);
    m[0] = net::kIcmpTimeExceeded;
    std::memcpy(m.data() + 8, q.data() + 14, 28);
    const uint16_t c = net::inet_checksum(m);
    std::memcpy(m.data() + 2, &c, 2);
    out.emplace_back(0, ipv4_frame(wan_vmac, kGwMac, ip4("198.51.100.1"), vip, 1, m));
  }
  return out;
}

// IPv6 on the firewall's WAN (2001:db8::2/64, default route via ::1) and
// LAN (2001:db8:1::2/64), and frames for it: a solicitation for the node,
// an echo to it, TCP behind a destination options header, UDP with hop
// limit 1, too long for the WAN, fragments (a later one, a first one with
// its TCP header, an atomic one, one behind a destination options header),
// an ICMPv6 error quoting TCP.
net::Addr6 v6(const char* s) { return net::IpAddr::parse(s)->b; }
Bytes ip6(Mac dst, const net::Addr6& s, const net::Addr6& d, uint8_t next, Bytes payload, uint8_t hops = 64) {
  Bytes f = ip6_frame(dst, kHostMac, s, d, next, payload, hops);
  // A valid checksum, so mutations reach past it.
  return next == net::kProtoIcmpv6 ? with_icmp6_checksum(f) : f;
}
std::vector<std::pair<uint8_t, Bytes>> ipv6_seeds() {
  const auto client = v6("2001:db8:1::50"), lan = v6("2001:db8:1::2"), remote = v6("2001:db8:99::7");
  const Bytes tcp = tcp_segment(40000, 443, 1, 0, 0x02);
  Bytes opts{net::kProtoTcp, 0, 1, 4, 0, 0, 0, 0};
  opts.insert(opts.end(), tcp.begin(), tcp.end());
  Bytes frag{net::kProtoUdp, 0, 0, 9, 0, 0, 0, 1};
  frag.insert(frag.end(), 16, 0);
  Bytes first{net::kProtoTcp, 0, 0, 1, 0, 0, 0, 2};  // offset 0, M
  first.insert(first.end(), tcp.begin(), tcp.end());
  first.insert(first.end(), 4, 't');
  Bytes atomic{net::kProtoTcp, 0, 0, 0, 0, 0, 0, 3};
  atomic.insert(atomic.end(), tcp.begin(), tcp.end());
  Bytes behind{net::kIp6Fragment, 0, 1, 4, 0, 0, 0, 0};
  behind.insert(behind.end(), frag.begin(), frag.end());
  Bytes err{net::kIcmp6Unreachable, 1, 0, 0, 0, 0, 0, 0};
  const Bytes quoted = ip6(kLanMac, client, remote, net::kProtoTcp, tcp);
  err.insert(err.end(), quoted.begin() + 14, quoted.end());
  std::vector<std::pair<uint8_t, Bytes>> out;
  out.emplace_back(1, net::nd_frame(net::NdFrame{.eth_dst = net::multicast_mac(net::solicited_node(lan.data()).data()),
                                                 .eth_src = kHostMac, .src = client,
                                                 .dst = net::solicited_node(lan.data()),
                                                 .type = net::kNdNeighborSolicit, .flags = 0, .target = lan,
                                                 .lla = kHostMac}));
  out.emplace_back(1, ip6(kLanMac, client, lan, net::kProtoIcmpv6, {net::kIcmp6EchoRequest, 0, 0, 0, 0, 7, 0, 1, 1, 2}));
  out.emplace_back(1, ip6(kLanMac, client, remote, net::kProtoTcp, tcp));
  out.emplace_back(1, ip6(kLanMac, client, remote, net::kIp6DestOpts, opts));
  out.emplace_back(1, ip6(kLanMac, client, remote, net::kProtoUdp, udp_payload(12), 1));
  out.emplace_back(1, ip6(kLanMac, client, remote, net::kProtoUdp, udp_payload(1480)));
  out.emplace_back(1, ip6(kLanMac, client, remote, net::kIp6Fragment, frag));
  out.emplace_back(1, ip6(kLanMac, client, remote, net::kIp6Fragment, first));
  out.emplace_back(1, ip6(kLanMac, client, remote, net::kIp6Fragment, atomic));
  out.emplace_back(1, ip6(kLanMac, client, remote, net::kIp6DestOpts, behind));
  out.emplace_back(0, ip6(kWanMac, v6("2001:db8::1"), client, net::kProtoIcmpv6, err));
  out.emplace_back(0, ip6(kWanMac, remote, client, net::kProtoTcp, tcp_segment(443, 40000, 9, 2, 0x12)));
  return out;
}

Tables firewall_view() {
  Tables t = master_view();
  t.topo.ifaces[0].addr6 = v6("2001:db8::2");
  t.topo.ifaces[0].plen6 = 64;
  t.topo.ifaces[0].ll6 = net::link_local_of(kWanMac);
  t.topo.ifaces[1].addr6 = v6("2001:db8:1::2");
  t.topo.ifaces[1].plen6 = 64;
  t.topo.ifaces[1].ll6 = net::link_local_of(kLanMac);
  t.topo.set_routes6({{.net = v6("2001:db8::"), .len = 64, .gateway = {}, .iface = 0},
                      {.net = v6("2001:db8:1::"), .len = 64, .gateway = {}, .iface = 1},
                      {.net = {}, .len = 0, .gateway = v6("2001:db8::1"), .iface = 0}});
  t.states = std::make_shared<dp::StateTable>(64);  // small: inserts also meet a full table
  t.policy = example_policy(*t.states);
  std::tuple<uint8_t, uint32_t, Mac> n[] = {{0, ip4("198.51.100.1"), kGwMac},
                                            {0, ip4("198.51.100.10"), mac(0x10)},
                                            {1, ip4("192.168.1.50"), kHostMac}};
  const dp::NeighborTable::Entry6 n6[] = {{0, v6("2001:db8::1"), kGwMac}, {1, v6("2001:db8:1::50"), kHostMac}};
  t.neighbors = dp::NeighborTable::build(n, n6);
  // Pass the LAN's /64 out, with state.
  t.policy->in[1].push_back(rule(3, dp::RuleAction::Pass, 0, dp::NetMatch::of(*net::IpAddr::parse("2001:db8:1::"), 64)));
  t.policy->rule_count = 4;
  t.policy->allocate_counters(1);
  return t;
}

}  // namespace

TEST_CASE("the pipeline survives 240k mutated and random frames in bursts, stateful and translated", "[dataplane][fuzz]") {
  Tables views[3] = {master_view(), backup_view(), firewall_view()};
  std::tuple<uint8_t, uint32_t, Mac> n[] = {{0, ip4("198.51.100.77"), mac(0x77)}, {0, ip4("198.51.100.1"), kGwMac}};
  for (auto& v : {&views[0], &views[1]}) v->neighbors = dp::NeighborTable::build(n);
  const auto base = seeds();
  auto fw = firewall_seeds();
  for (auto& f : ipv6_seeds()) fw.push_back(std::move(f));

  std::mt19937 rng(20240611);
  auto pick = [&](size_t n) { return size_t(std::uniform_int_distribution<size_t>(0, n - 1)(rng)); };

  // The next frame and the port it arrives on.
  auto make = [&](int it, bool firewall, uint8_t& in) {
    Bytes f;
    in = pick(4) ? 1 : uint8_t(pick(4));  // mostly the seeds' LAN; 3 is an unknown port
    if (firewall && it % 4 != 3) {
      // The firewall's seeds, half of them as they are (flows open, states fill up).
      const auto& [i, seed] = fw[pick(fw.size())];
      f = seed;
      in = i;
      if (pick(2)) return f;
    } else if (it % 4 != 3) {  // three in four: a mutated valid frame
      f = base[pick(base.size())];
    }
    if (it % 4 != 3) {
      const size_t flips = 1 + pick(6);
      for (size_t k = 0; k < flips; ++k) {
        // Bias mutations into the headers, where the parsers look.
        size_t at = pick(4) == 0 ? pick(f.size()) : pick(std::min<size_t>(f.size(), 42));
        f[at] = uint8_t(pick(256));
      }
      // Half the time keep the IP header checksum valid so the mutation
      // reaches the stages behind the checksum check.
      if (pick(2) && f.size() >= 34 && f[12] == 0x08 && f[13] == 0x00) {
        const size_t ihl = size_t(f[14] & 0x0f) * 4;
        if (ihl >= 20 && 14 + ihl <= f.size()) {
          f[24] = f[25] = 0;
          uint16_t c = net::inet_checksum({f.data() + 14, ihl});
          std::memcpy(f.data() + 24, &c, 2);
        }
      }
      if (pick(8) == 0) f.resize(pick(f.size() + 1));
      if (pick(16) == 0) f.resize(f.size() + pick(64), uint8_t(pick(256)));
    } else {  // random bytes, half of them with a plausible Ethernet header
      f.resize(pick(120));
      for (auto& b : f) b = uint8_t(pick(256));
      if (f.size() >= 14 && pick(2)) {
        std::memcpy(f.data(), kLanMac.b.data(), 6);
        f[12] = 0x08;
        f[13] = pick(2) ? 0x00 : 0x06;
      }
    }
    return f;
  };

  std::array<size_t, 4> exits{};  // Tx, Control, Drop, Reassemble
  dp::WorkerCounters counters;
  size_t drops = 0, punts = 0;
  Time now = std::chrono::seconds(1000);
  // The control thread's part: the reaper sweeps a share of the index after
  // each burst, and RCU hands the slots back once this "worker" moves on.
  dp::Qsbr rcu(1);
  rcu.online(0);
  dp::EventRing ring(4);  // fewer than a burst may push: it fills now and then
  std::vector<dp::StateEvent> events(4);
  size_t inserts = 0, fw_created = 0, v6_fragments = 0;
  for (int it = 0; it < 240000;) {
    const size_t which = size_t(it / 32) % 3;
    const Tables& v = views[which];
    dp::WorkerCtx ctx{.view = v.view(), .counters = &counters, .states = v.states.get(),
                      .events = which == 2 ? &ring : nullptr};
    now += std::chrono::milliseconds(20);  // time moves on: states expire under the reaper below
    ctx.set_time(now);
    dp::Burst b;
    std::vector<std::unique_ptr<uint8_t[]>> bufs;
    std::vector<uint16_t> caps;
    const size_t size = 1 + pick(dp::kBurstMax);
    for (size_t k = 0; k < size; ++k, ++it) {
      uint8_t in;
      Bytes f = make(it, which == 2, in);
      const uint16_t cap = uint16_t(f.size());
      bufs.push_back(std::make_unique<uint8_t[]>(cap));  // exactly the frame: no slack for overruns
      if (cap) std::memcpy(bufs.back().get(), f.data(), cap);
      caps.push_back(cap);
      b.set(b.n++, bufs.back().get(), cap, in);
    }
    const uint64_t created_before = counters.read().states[size_t(dp::StateCounter::Created)];
    dp::run_burst(ctx, b);
    if (which == 2) fw_created += counters.read().states[size_t(dp::StateCounter::Created)] - created_before;
    // Drained before the reaper runs: no slot an event names is reused yet.
    const size_t got = ring.pop_burst(events);
    for (size_t k = 0; k < got; ++k) {
      const dp::StateEvent& e = events[k];
      REQUIRE(e.state < views[2].states->capacity());
      REQUIRE(e.kind <= dp::StateEventKind::Delete);
      REQUIRE(e.creator == 0);
      REQUIRE(e.id == views[2].states->at(e.state).id);
      inserts += e.kind == dp::StateEventKind::Insert;
    }
    rcu.quiescent(0);
    views[2].states->sweep(ctx.now_s, 4, rcu);
    rcu.reclaim();

    for (uint16_t k = 0; k < b.n; ++k) {
      const dp::PacketMeta& p = b.pkt[k];
      REQUIRE(p.len <= caps[k]);
      switch (p.next) {
        case dp::Next::Drop:
          ++exits[2];
          ++drops;
          REQUIRE(p.drop < dp::DropReason::Count);
          break;
        case dp::Next::Control:
          ++exits[1];
          ++punts;
          REQUIRE(p.punt < dp::PuntReason::Count);
          REQUIRE(p.out < v.topo.ifaces.size());
          break;
        case dp::Next::Tx: {
          ++exits[0];
          REQUIRE(p.out < v.topo.ifaces.size());
          Bytes out(p.data, p.data + p.len);
          if (net::be16(eth_of(out).type) == net::kEtherTypeIpv4) REQUIRE(ip_checksum_ok(out));
          break;
        }
        case dp::Next::Reassemble:  // a fragment that passed ipv4_input's or ipv6_input's checks
          ++exits[3];
          REQUIRE(p.l4 > p.l3);
          if (p.has(dp::PacketFlag::V6)) {
            // l3_len ends with a fragment header that is not atomic.
            ++v6_fragments;
            REQUIRE(p.l4 >= p.l3 + 48);
            REQUIRE(size_t(p.l4 - p.l3) <= 40 + size_t(net::be16(net::load16(p.data + p.l3 + 4))));
            REQUIRE((net::be16(net::load16(p.data + p.l4 - 6)) & 0xfff9) != 0);
          } else {
            REQUIRE((net::be16(net::load16(p.data + p.l3 + 6)) & 0x3fff) != 0);  // MF or an offset
          }
          break;
        default:
          FAIL("packet left the pipeline at stage " << int(p.next));
      }
    }
  }
  // The corpus reaches every exit, so the loop is exercising the stages.
  for (size_t e : exits) CHECK(e > 0);
  // ...and the firewall's: states were made, translated, tracked and refused.
  const dp::Counters seen = counters.read();
  CHECK(seen.states[size_t(dp::StateCounter::Created)] > 0);
  CHECK(seen.nat[size_t(dp::NatCounter::Outbound)] > 0);
  CHECK(seen.nat[size_t(dp::NatCounter::Forwarded)] > 0);
  CHECK(seen.drops[size_t(dp::DropReason::StateTableFull)] > 0);
  // ...and IPv6 reached its stages: errors sent, fragments and bad ND refused.
  CHECK(seen.icmp[size_t(dp::IcmpCounter::PacketTooBig)] > 0);
  CHECK(v6_fragments > 0);
  CHECK(seen.drops[size_t(dp::DropReason::FragTiny)] + seen.drops[size_t(dp::DropReason::FragMalformed)] > 0);
  CHECK(seen.drops[size_t(dp::DropReason::BadNd)] + seen.drops[size_t(dp::DropReason::Ipv6ExtHeader)] > 0);
  CHECK(seen.drops[size_t(dp::DropReason::TcpOutOfWindow)] + seen.drops[size_t(dp::DropReason::TcpNotSyn)] > 0);
  // Every new state of the firewall pushed its Insert, or lost it to the
  // full ring, counted.
  const uint64_t lost = seen.states[size_t(dp::StateCounter::SyncEventDropped)];
  CHECK(inserts > 0);
  CHECK(lost > 0);
  CHECK(inserts <= fw_created);
  CHECK(inserts + lost >= fw_created);

  // No state confusion: every state of the firewall's table is found from
  // both of its keys, as itself and in the right direction.
  const dp::StateTable& t = *views[2].states;
  size_t live = 0;
  t.for_each([&](dp::StateIndex s) {
    ++live;
    for (uint8_t w = 0; w < 2; ++w) {
      const dp::Hit h = t.lookup(t.key(s, w));
      REQUIRE(h.state == s);
      REQUIRE(h.dir == w);
    }
    return true;
  });
  CHECK(live > 0);
  CHECK(t.in_use() <= t.capacity());
  rcu.offline(0);
  // The pipeline counted every drop and punt by its reason.
  const dp::Counters c = counters.read();
  size_t counted_drops = 0, counted_punts = 0;
  for (auto d : c.drops) counted_drops += d;
  for (auto x : c.punts) counted_punts += x;
  CHECK(counted_drops == drops);
  CHECK(counted_punts == punts);
}
