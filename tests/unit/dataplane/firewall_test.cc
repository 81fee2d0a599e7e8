// The stateful firewall through the real pipeline: rules, states, TCP
// tracking, outbound NAT, port forwards, ICMP errors about translated flows,
// a full table. Each test sends frames the way the hosts of the example
// address plan would and checks what leaves the node, byte for byte where it
// matters (addresses, ports, every checksum).
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "dataplane/nat.h"
#include "dataplane/pipeline.h"
#include "dataplane/track.h"
#include "tests/unit/dataplane/frames.h"

using namespace hafw;
using namespace hafw::test;
using dp::DropReason;
using dp::RuleAction;

namespace {

constexpr uint8_t kWan = 0, kLan = 1;
const uint32_t kWanVip = ip4("198.51.100.200"), kLanAddr = ip4("192.168.1.2");
const uint32_t kClient = ip4("192.168.1.50"), kClient2 = ip4("192.168.1.51");
const uint32_t kServer = ip4("198.51.100.10");  // on the WAN segment
const uint32_t kRemote = ip4("203.0.113.7");    // beyond the WAN gateway
const uint32_t kGateway = ip4("198.51.100.1");
const Mac kServerMac = mac(0x10), kClient2Mac = mac(0x51);
const Mac kLanVmac = Mac::virtual_for(1), kWanVmac = Mac::virtual_for(200);
constexpr uint16_t kForwardPort = 8080, kTargetPort = 80;

// The example plan's firewall (frames.h: example_policy), MASTER for both VIPs.
struct Fw {
  Tables t = master_view();
  dp::WorkerCounters counters;
  Time now = std::chrono::seconds(1000);
  unsigned worker = 0;

  explicit Fw(uint32_t capacity = 1024) {
    t.states = std::make_shared<dp::StateTable>(capacity);
    t.policy = example_policy(*t.states);
    dp::NeighborTable::Entry n[] = {{kWan, kGateway, kGwMac}, {kWan, kServer, kServerMac},
                                    {kLan, kClient, kHostMac}, {kLan, kClient2, kClient2Mac}};
    t.neighbors = dp::NeighborTable::build(n);
  }

  struct Out {
    dp::PacketMeta p;
    Bytes frame;
    bool tx() const { return p.next == dp::Next::Tx; }
    bool dropped(DropReason r) const { return p.next == dp::Next::Drop && p.drop == r; }
  };

  Out send(uint8_t in, Bytes f) {
    dp::WorkerCtx ctx{.view = t.view(), .worker = worker, .counters = &counters, .states = t.states.get()};
    ctx.set_time(now);
    const uint16_t len = uint16_t(f.size());
    f.resize(len + 128);  // room for an ICMP error, as an mbuf has
    dp::PacketMeta p = dp::run_one(ctx, in, f.data(), len, uint16_t(f.size()));
    f.resize(p.len);
    return {p, f};
  }

  uint64_t drops(DropReason r) const { return counters.read().drops[size_t(r)]; }
  uint64_t states(dp::StateCounter c) const { return counters.read().states[size_t(c)]; }
  uint64_t nat(dp::NatCounter c) const { return counters.read().nat[size_t(c)]; }
  dp::RuleTotals totals(uint16_t i) const { return t.policy->totals(i); }
};

// LAN client -> anywhere through the LAN VIP's virtual MAC; WAN side -> the WAN VIP's.
Bytes from_client(const Bytes& seg, uint32_t dst = kServer) { return tcp_frame(kLanVmac, kHostMac, kClient, dst, seg); }
Bytes from_server(const Bytes& seg, uint32_t dst = kWanVip) { return tcp_frame(kWanVmac, kServerMac, kServer, dst, seg); }

uint32_t src_of(const Bytes& f) { return net::be32(ip_of(f).src); }
uint32_t dst_of(const Bytes& f) { return net::be32(ip_of(f).dst); }

}  // namespace

TEST_CASE("outbound NAT: the server sees the WAN VIP, the reply reaches the client", "[firewall][nat]") {
  Fw fw;
  auto out = fw.send(kLan, udp_frame(kLanVmac, kHostMac, kClient, kServer, 5000, 53));
  REQUIRE(out.tx());
  CHECK(out.p.out == kWan);
  CHECK(src_of(out.frame) == kWanVip);
  CHECK(dst_of(out.frame) == kServer);
  const uint16_t nat_port = sport_of(out.frame);
  CHECK(nat_port >= 1024);
  CHECK(dport_of(out.frame) == 53);
  CHECK(checksums_ok(out.frame));
  CHECK(ip_of(out.frame).ttl == 63);
  CHECK(eth_of(out.frame).dst == kServerMac);
  CHECK(fw.states(dp::StateCounter::Created) == 1);
  CHECK(fw.nat(dp::NatCounter::Outbound) == 1);

  // The reply, to the VIP and the allocated port, goes back to the client.
  auto back = fw.send(kWan, udp_frame(kWanVmac, kServerMac, kServer, kWanVip, 53, nat_port));
  REQUIRE(back.tx());
  CHECK(back.p.out == kLan);
  CHECK(src_of(back.frame) == kServer);
  CHECK(dst_of(back.frame) == kClient);
  CHECK(dport_of(back.frame) == 5000);
  CHECK(sport_of(back.frame) == 53);
  CHECK(checksums_ok(back.frame));
  CHECK(eth_of(back.frame).dst == kHostMac);

  // The flow keeps its mapping; another flow gets a reply key of its own.
  auto again = fw.send(kLan, udp_frame(kLanVmac, kHostMac, kClient, kServer, 5000, 53));
  CHECK(sport_of(again.frame) == nat_port);
  auto other = fw.send(kLan, udp_frame(kLanVmac, kClient2Mac, kClient2, kServer, 5000, 53));
  REQUIRE(other.tx());
  CHECK(src_of(other.frame) == kWanVip);
  CHECK(sport_of(other.frame) != nat_port);
  CHECK(fw.states(dp::StateCounter::Created) == 2);
  CHECK(fw.t.states->in_use() == 2);

  // A reply to a port nobody was given is nobody's: the WAN rules drop it.
  auto stray = fw.send(kWan, udp_frame(kWanVmac, kServerMac, kServer, kWanVip, 53, uint16_t(nat_port ^ 0x5555)));
  CHECK_FALSE(stray.tx());
}

TEST_CASE("outbound NAT never hands out a port in use", "[firewall][nat]") {
  Fw fw(8192);
  std::set<uint16_t> ports;
  // 2,000 clients to the same server port: every reply key must differ.
  for (uint32_t i = 0; i < 2000; ++i) {
    auto out = fw.send(kLan, udp_frame(kLanVmac, kHostMac, kClient + i % 200, kServer, uint16_t(2000 + i), 443));
    REQUIRE(out.tx());
    ports.insert(sport_of(out.frame));
  }
  // 200 sources x 10 ports: 2,000 flows, all on one (VIP, server, 443).
  CHECK(ports.size() == 2000);

  SECTION("a range with no room left drops the new flow, and only it") {
    Fw small;
    auto p = std::make_shared<dp::Policy>();
    p->in = small.t.policy->in;
    p->outbound = small.t.policy->outbound;
    p->rule_count = 3;
    p->nat_port_lo = 40000;
    p->nat_port_hi = 40003;
    p->allocate_counters(1);
    small.t.policy = p;
    for (uint16_t i = 0; i < 4; ++i)
      REQUIRE(small.send(kLan, udp_frame(kLanVmac, kHostMac, kClient, kServer, uint16_t(6000 + i), 443)).tx());
    CHECK(small.send(kLan, udp_frame(kLanVmac, kHostMac, kClient, kServer, 6004, 443))
              .dropped(DropReason::NatPortsExhausted));
    // Another server port is another reply key: the same four ports serve it.
    CHECK(small.send(kLan, udp_frame(kLanVmac, kHostMac, kClient, kServer, 6005, 80)).tx());
    CHECK(small.drops(DropReason::NatPortsExhausted) == 1);
  }
}

TEST_CASE("TCP through outbound NAT: handshake, data both ways, close", "[firewall][tcp]") {
  Fw fw;
  const uint32_t c_isn = 1000, s_isn = 5000000;
  using namespace dp::tcpf;
  auto syn = fw.send(kLan, from_client(tcp_segment(40000, 80, c_isn, 0, Syn, 64240, 0, 7)));
  REQUIRE(syn.tx());
  const uint16_t nat_port = sport_of(syn.frame);
  CHECK(checksums_ok(syn.frame));

  auto synack = fw.send(kWan, from_server(tcp_segment(80, nat_port, s_isn, c_isn + 1, Syn | Ack, 65160, 0, 7)));
  REQUIRE(synack.tx());
  CHECK(dst_of(synack.frame) == kClient);
  CHECK(dport_of(synack.frame) == 40000);
  CHECK(checksums_ok(synack.frame));

  REQUIRE(fw.send(kLan, from_client(tcp_segment(40000, 80, c_isn + 1, s_isn + 1, Ack, 502))).tx());
  auto data = fw.send(kLan, from_client(tcp_segment(40000, 80, c_isn + 1, s_isn + 1, Ack | Psh, 502, 100)));
  REQUIRE(data.tx());
  CHECK(checksums_ok(data.frame));
  auto reply = fw.send(kWan, from_server(tcp_segment(80, nat_port, s_isn + 1, c_isn + 101, Ack | Psh, 509, 1000)));
  REQUIRE(reply.tx());
  CHECK(checksums_ok(reply.frame));

  SECTION("a segment far outside the window is dropped and the connection goes on") {
    auto bad = fw.send(kWan, from_server(tcp_segment(80, nat_port, s_isn + 50000000, c_isn + 101, Ack, 509, 10)));
    CHECK(bad.dropped(DropReason::TcpOutOfWindow));
    CHECK(fw.send(kWan, from_server(tcp_segment(80, nat_port, s_isn + 1001, c_isn + 101, Ack, 509, 10))).tx());
  }
  SECTION("a blind RST inside the window but not at the expected sequence number is refused") {
    CHECK(fw.send(kWan, from_server(tcp_segment(80, nat_port, s_isn + 1001 + 300, 0, Rst))).dropped(
        DropReason::TcpOutOfWindow));
    CHECK(fw.send(kWan, from_server(tcp_segment(80, nat_port, s_isn + 1001, 0, Rst))).tx());
  }
  SECTION("FIN both ways, the state closes, and a new SYN on the same ports reopens it") {
    REQUIRE(fw.send(kLan, from_client(tcp_segment(40000, 80, c_isn + 101, s_isn + 1001, Fin | Ack, 502))).tx());
    REQUIRE(fw.send(kWan, from_server(tcp_segment(80, nat_port, s_isn + 1001, c_isn + 102, Fin | Ack, 509))).tx());
    REQUIRE(fw.send(kLan, from_client(tcp_segment(40000, 80, c_isn + 102, s_isn + 1002, Ack, 502))).tx());
    auto reopen = fw.send(kLan, from_client(tcp_segment(40000, 80, c_isn + 900000, 0, Syn, 64240)));
    REQUIRE(reopen.tx());
    CHECK(fw.states(dp::StateCounter::Reopened) == 1);
    CHECK(fw.states(dp::StateCounter::Created) == 2);
  }
}

TEST_CASE("TCP without a state must start with a SYN", "[firewall][tcp]") {
  Fw fw;
  using namespace dp::tcpf;
  // An ACK of a connection this node never saw (an older one, or a scan).
  CHECK(fw.send(kLan, from_client(tcp_segment(41000, 80, 77, 88, Ack))).dropped(DropReason::TcpNotSyn));
  CHECK(fw.t.states->in_use() == 0);
  // Impossible flags are dropped before anything else looks at them.
  CHECK(fw.send(kLan, from_client(tcp_segment(41001, 80, 77, 0, Syn | Fin))).dropped(DropReason::TcpBadFlags));
  CHECK(fw.send(kLan, from_client(tcp_segment(41002, 80, 77, 0, 0))).dropped(DropReason::TcpBadFlags));
  // A SYN-ACK opens nothing either (pf's flags S/SA).
  CHECK(fw.send(kLan, from_client(tcp_segment(41003, 80, 77, 1, Syn | Ack))).dropped(DropReason::TcpNotSyn));
}

TEST_CASE("the WAN cannot open a connection into the LAN; the rule that blocks it counts", "[firewall][rules]") {
  Fw fw;
  using namespace dp::tcpf;
  auto in = fw.send(kWan, from_server(tcp_segment(33000, 22, 1, 0, Syn), kClient));
  CHECK(in.dropped(DropReason::RuleBlock));
  CHECK(fw.t.states->in_use() == 0);
  const dp::RuleTotals blocked = fw.totals(2);
  CHECK(blocked.matches == 1);
  CHECK(blocked.packets == 1);
  CHECK(blocked.bytes == net::be16(ip_of(in.frame).total_len));
  // Rule 1 was checked first and did not match.
  CHECK(fw.totals(1).evaluations == 1);
  CHECK(fw.totals(1).matches == 0);

  // Nothing passes it in: no rule of the WAN names 10.0.0.0/8 (default block).
  auto other = fw.send(kWan, from_server(tcp_segment(33000, 22, 1, 0, Syn), ip4("10.0.0.5")));
  CHECK(other.dropped(DropReason::DefaultBlock));

  // After the client opened a connection, the server's replies pass on its
  // state without the rules.
  auto syn = fw.send(kLan, from_client(tcp_segment(40000, 80, 1000, 0, Syn, 64240)));
  const uint16_t nat_port = sport_of(syn.frame);
  CHECK(fw.send(kWan, from_server(tcp_segment(80, nat_port, 9000, 1001, Syn | Ack, 65160))).tx());
  CHECK(fw.totals(2).evaluations == 2);  // only the two packets without a state
  // The state's packets count on the rule that created it.
  CHECK(fw.totals(0).packets == 2);
}

TEST_CASE("a port forward on the WAN VIP reaches its LAN target and replies leave as the VIP", "[firewall][nat]") {
  Fw fw;
  using namespace dp::tcpf;
  // A remote client beyond the WAN gateway connects to VIP:8080.
  auto syn = fw.send(kWan, tcp_frame(kWanVmac, kGwMac, kRemote, kWanVip, tcp_segment(51000, kForwardPort, 7, 0, Syn)));
  REQUIRE(syn.tx());
  CHECK(syn.p.out == kLan);
  CHECK(dst_of(syn.frame) == kClient);
  CHECK(dport_of(syn.frame) == kTargetPort);
  CHECK(src_of(syn.frame) == kRemote);
  CHECK(sport_of(syn.frame) == 51000);
  CHECK(checksums_ok(syn.frame));
  CHECK(fw.nat(dp::NatCounter::Forwarded) == 1);
  CHECK(fw.totals(1).matches == 1);  // the rule names the internal target

  auto synack = fw.send(kLan, tcp_frame(kLanVmac, kHostMac, kClient, kRemote, tcp_segment(kTargetPort, 51000, 900, 8, Syn | Ack)));
  REQUIRE(synack.tx());
  CHECK(synack.p.out == kWan);
  CHECK(src_of(synack.frame) == kWanVip);
  CHECK(sport_of(synack.frame) == kForwardPort);
  CHECK(dst_of(synack.frame) == kRemote);
  CHECK(eth_of(synack.frame).dst == kGwMac);
  CHECK(checksums_ok(synack.frame));

  SECTION("the backup forwards nothing for the VIP") {
    Fw backup;
    backup.t.owned = {};
    auto b = backup.send(kWan, tcp_frame(kWanMac, kGwMac, kRemote, kWanVip, tcp_segment(51000, kForwardPort, 7, 0, Syn)));
    CHECK(b.dropped(DropReason::VipNotOwned));
  }
  SECTION("another port of the VIP is not forwarded") {
    CHECK(fw.send(kWan, tcp_frame(kWanVmac, kGwMac, kRemote, kWanVip, tcp_segment(51000, 8081, 7, 0, Syn)))
              .dropped(DropReason::LocalUnsupported));
  }
}

TEST_CASE("ICMP echo through outbound NAT translates the id", "[firewall][nat][icmp]") {
  Fw fw;
  auto out = fw.send(kLan, ipv4_frame(kLanVmac, kHostMac, kClient, kServer, net::kProtoIcmp, icmp_echo(0x1234, 1, 32)));
  REQUIRE(out.tx());
  CHECK(src_of(out.frame) == kWanVip);
  CHECK(checksums_ok(out.frame));
  const size_t icmp_at = 14 + 20;
  const uint16_t nat_id = uint16_t(out.frame[icmp_at + 4] << 8 | out.frame[icmp_at + 5]);
  auto reply = fw.send(kWan, ipv4_frame(kWanVmac, kServerMac, kServer, kWanVip, net::kProtoIcmp,
                                        icmp_echo(nat_id, 1, 32, net::kIcmpEchoReply)));
  REQUIRE(reply.tx());
  CHECK(dst_of(reply.frame) == kClient);
  CHECK((reply.frame[icmp_at + 4] << 8 | reply.frame[icmp_at + 5]) == 0x1234);
  CHECK(checksums_ok(reply.frame));
}

namespace {

// An ICMP error from `from` to `to`, quoting the first 28 bytes of `quoted`'s IP packet.
Bytes icmp_error_about(Mac dst, Mac src, uint32_t from, uint32_t to, const Bytes& quoted, uint8_t type, uint8_t code) {
  Bytes m(8 + 28, 0);
  m[0] = type;
  m[1] = code;
  std::memcpy(m.data() + 8, quoted.data() + 14, 28);
  const uint16_t c = net::inet_checksum(m);
  std::memcpy(m.data() + 2, &c, 2);
  return ipv4_frame(dst, src, from, to, net::kProtoIcmp, m);
}

}  // namespace

TEST_CASE("an ICMP error about a translated flow is translated, quote included", "[firewall][nat][icmp]") {
  Fw fw;
  const Bytes sent = udp_frame(kLanVmac, kHostMac, kClient, kRemote, 5000, 33434, 16, 2);
  auto out = fw.send(kLan, sent);
  REQUIRE(out.tx());
  // The gateway's TTL runs out and it says so to the VIP, quoting what it got.
  auto err = fw.send(kWan, icmp_error_about(kWanVmac, kGwMac, kGateway, kWanVip, out.frame, net::kIcmpTimeExceeded, 0));
  REQUIRE(err.tx());
  CHECK(err.p.out == kLan);
  CHECK(dst_of(err.frame) == kClient);
  CHECK(src_of(err.frame) == kGateway);
  CHECK(checksums_ok(err.frame));  // outer IP and the whole ICMP message
  // The quote is the client's own packet again (as it left the client, but
  // the TTL): addresses, ports and the UDP checksum.
  const uint8_t* inner = err.frame.data() + 14 + 20 + 8;
  CHECK(net::inet_checksum({inner, 20}) == 0);
  CHECK(std::memcmp(inner + 12, sent.data() + 14 + 12, 8) == 0);
  CHECK(std::memcmp(inner + 20, sent.data() + 14 + 20, 8) == 0);
  CHECK(fw.nat(dp::NatCounter::IcmpTranslated) == 1);
  CHECK(fw.states(dp::StateCounter::IcmpErrorMatched) == 1);

  SECTION("an ICMP error about no known flow gets no free pass") {
    Bytes unknown = udp_frame(kLanVmac, kHostMac, kWanVip, kRemote, 1, 2, 16, 2);
    CHECK_FALSE(fw.send(kWan, icmp_error_about(kWanVmac, kGwMac, kGateway, kClient, unknown, net::kIcmpUnreachable, 3)).tx());
  }
  SECTION("a quote too short to name the flow is refused") {
    Bytes m(8 + 20, 0);
    m[0] = net::kIcmpUnreachable;
    std::memcpy(m.data() + 8, out.frame.data() + 14, 20);
    CHECK(fw.send(kWan, ipv4_frame(kWanVmac, kGwMac, kGateway, kWanVip, net::kProtoIcmp, m))
              .dropped(DropReason::BadL4Header));
  }
}

TEST_CASE("a translated packet whose TTL runs out here is quoted as it arrived", "[firewall][nat][icmp_error]") {
  Fw fw;
  auto out = fw.send(kLan, udp_frame(kLanVmac, kHostMac, kClient, kServer, 5000, 53));
  const uint16_t nat_port = sport_of(out.frame);
  // The server's reply arrives with TTL 1: the state translates it, then it cannot be forwarded.
  const Bytes late = udp_frame(kWanVmac, kServerMac, kServer, kWanVip, 53, nat_port, 16, 1);
  auto err = fw.send(kWan, late);
  REQUIRE(err.tx());
  CHECK(err.p.out == kWan);
  CHECK(dst_of(err.frame) == kServer);
  const uint8_t* inner = err.frame.data() + 14 + 20 + 8;
  // Not the client's private address: the packet as the server sent it.
  CHECK(std::memcmp(inner + 12, late.data() + 14 + 12, 8) == 0);
  CHECK(std::memcmp(inner + 20, late.data() + 14 + 20, 8) == 0);
  CHECK(checksums_ok(err.frame));
}

TEST_CASE("a full state table keeps serving its connections and refuses new ones", "[firewall][states]") {
  Fw fw(4);
  std::vector<uint16_t> ports;
  for (uint16_t i = 0; i < 4; ++i) {
    auto out = fw.send(kLan, udp_frame(kLanVmac, kHostMac, kClient, kServer, uint16_t(7000 + i), 53));
    REQUIRE(out.tx());
    ports.push_back(sport_of(out.frame));
  }
  CHECK(fw.send(kLan, udp_frame(kLanVmac, kHostMac, kClient, kServer, 7004, 53)).dropped(DropReason::StateTableFull));
  CHECK(fw.drops(DropReason::StateTableFull) == 1);
  for (uint16_t i = 0; i < 4; ++i) {
    CHECK(fw.send(kLan, udp_frame(kLanVmac, kHostMac, kClient, kServer, uint16_t(7000 + i), 53)).tx());
    auto back = fw.send(kWan, udp_frame(kWanVmac, kServerMac, kServer, kWanVip, 53, ports[i]));
    REQUIRE(back.tx());
    CHECK(dport_of(back.frame) == 7000 + i);
  }
  CHECK(fw.t.states->in_use() == 4);
}

TEST_CASE("keep_state false passes the packet but not its reply; out rules filter on the way out",
          "[firewall][rules]") {
  Fw fw;
  auto p = std::make_shared<dp::Policy>();
  // in on lan: UDP to the server port 53 without state, the rest with state
  p->in[kLan].push_back(rule(0, RuleAction::Pass, net::kProtoUdp, dp::NetMatch::any(), net4("198.51.100.10", 32), 53, false));
  p->in[kLan].push_back(rule(1, RuleAction::Pass));
  // out on wan: SMTP is blocked, the rest passes; nothing else is allowed out
  p->out[kWan].push_back(rule(2, RuleAction::Block, net::kProtoTcp, dp::NetMatch::any(), dp::NetMatch::any(), 25));
  p->out[kWan].push_back(rule(3, RuleAction::Pass, 0, net4("192.168.1.0", 24)));
  p->rule_count = 4;
  p->allocate_counters(1);
  fw.t.policy = p;

  auto dns = fw.send(kLan, udp_frame(kLanVmac, kHostMac, kClient, kServer, 5000, 53));
  REQUIRE(dns.tx());
  CHECK(src_of(dns.frame) == kClient);  // no NAT in this policy
  CHECK(fw.t.states->in_use() == 0);
  CHECK(fw.send(kWan, udp_frame(kWanVmac, kServerMac, kServer, kClient, 53, 5000)).dropped(DropReason::DefaultBlock));

  using namespace dp::tcpf;
  CHECK(fw.send(kLan, from_client(tcp_segment(40000, 25, 1, 0, Syn))).dropped(DropReason::RuleBlock));
  CHECK(fw.totals(2).matches == 1);
  CHECK(fw.send(kLan, from_client(tcp_segment(40000, 443, 1, 0, Syn))).tx());
  CHECK(fw.totals(3).matches == 2);  // the DNS packet above went out through it too
  // From a source no out rule passes: the out list's default is block.
  Bytes odd = udp_frame(kLanVmac, kHostMac, kClient, kServer, 5000, 54);
  std::memcpy(odd.data() + 14 + 12, "\x0a\x00\x00\x09", 4);  // 10.0.0.9, a LAN-side host behind a router
  odd[14 + 10] = odd[14 + 11] = 0;
  const uint16_t c = net::inet_checksum({odd.data() + 14, 20});
  std::memcpy(odd.data() + 14 + 10, &c, 2);
  CHECK(fw.send(kLan, odd).dropped(DropReason::DefaultBlock));
}

TEST_CASE("IPv4 fragments meet no rule and no state: they go to reassembly, and only the whole packet is filtered",
          "[firewall][fragments]") {
  Fw fw;
  Bytes first = ipv4_frame(kLanVmac, kHostMac, kClient, kServer, net::kProtoUdp, udp_payload(40), 64, 0x2000);
  Bytes later = ipv4_frame(kLanVmac, kHostMac, kClient, kServer, net::kProtoUdp, udp_payload(40), 64, 0x0010);
  CHECK(fw.send(kLan, first).p.next == dp::Next::Reassemble);
  CHECK(fw.send(kLan, later).p.next == dp::Next::Reassemble);
  CHECK(fw.states(dp::StateCounter::Created) == 0);
  CHECK(fw.t.states->in_use() == 0);
}

TEST_CASE("states expire after their protocol's timeout and the reaper frees them", "[firewall][states]") {
  Fw fw;
  auto out = fw.send(kLan, udp_frame(kLanVmac, kHostMac, kClient, kServer, 5000, 53));
  const uint16_t nat_port = sport_of(out.frame);
  const dp::StateIndex s = out.p.state;
  REQUIRE(s != dp::kNoState);
  const uint32_t t0 = uint32_t(std::chrono::duration_cast<std::chrono::seconds>(fw.now).count());
  // udp.first: 60 s from the first packet.
  CHECK(fw.t.states->at(s).expire.load() == t0 + 60);
  fw.now += std::chrono::seconds(10);
  fw.send(kWan, udp_frame(kWanVmac, kServerMac, kServer, kWanVip, 53, nat_port));
  // A reply: udp.single (30 s) from now, pf's order: the initiator MULTIPLE, the responder SINGLE.
  CHECK(fw.t.states->at(s).expire.load() == t0 + 10 + 30);
  fw.send(kLan, udp_frame(kLanVmac, kHostMac, kClient, kServer, 5000, 53));
  CHECK(fw.t.states->at(s).expire.load() == t0 + 10 + 60);  // udp.multiple

  dp::Qsbr rcu(1);
  rcu.online(0);
  CHECK(fw.t.states->sweep(t0 + 10 + 59, fw.t.states->bucket_count(), rcu) == 0);
  CHECK(fw.t.states->sweep(t0 + 10 + 60, fw.t.states->bucket_count(), rcu) == 1);
  // Gone for lookups at once: the reply is a stranger now.
  CHECK_FALSE(fw.send(kWan, udp_frame(kWanVmac, kServerMac, kServer, kWanVip, 53, nat_port)).tx());
  rcu.quiescent(0);
  rcu.reclaim();
  CHECK(fw.t.states->in_use() == 0);
}

TEST_CASE("a port that sums IPv4 headers itself gets the checksum field zero", "[firewall][offload]") {
  Fw fw;
  fw.t.topo.ifaces[kWan].tx_ip_csum = true;
  auto out = fw.send(kLan, udp_frame(kLanVmac, kHostMac, kClient, kServer, 5000, 53));
  REQUIRE(out.tx());
  CHECK(out.p.has(dp::PacketFlag::TxIpCsum));
  CHECK(ip_of(out.frame).csum == 0);
  // The transport checksum, which the port does not touch, is right.
  CHECK(l4_checksum(out.frame.data() + 14) == 0);
}
