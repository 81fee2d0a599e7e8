// NAT's in-place rewrites: every incremental checksum update equals a full
// recompute, for TCP, UDP (with and without a checksum) and ICMP queries, on
// random packets; and the port choice stays in its range and its worker's
// share.
#include <catch2/catch.hpp>

#include <random>
#include <set>

#include "dataplane/nat.h"
#include "dataplane/track.h"
#include "tests/unit/dataplane/frames.h"

using namespace hafw;
using namespace hafw::test;

namespace {

dp::PacketMeta meta_of(Bytes& f) {
  dp::PacketMeta p{};
  p.data = f.data();
  p.len = uint16_t(f.size());
  p.l3 = 14;
  p.l4 = uint8_t(14 + ip_of(f).ihl_bytes());
  p.key.af = net::Family::V4;
  return p;
}

// A full recompute of every checksum of the frame: what an incremental update must equal.
Bytes recomputed(Bytes f) {
  uint8_t* ip = f.data() + 14;
  ip[10] = ip[11] = 0;
  const uint16_t c = net::inet_checksum({ip, 20});
  std::memcpy(ip + 10, &c, 2);
  if (ip[9] == net::kProtoTcp || (ip[9] == net::kProtoUdp && (ip[26] | ip[27]) != 0)) {
    with_l4_checksum(f);
  } else if (ip[9] == net::kProtoIcmp) {
    const size_t n = f.size() - 34;
    ip[22] = ip[23] = 0;
    const uint16_t ic = net::inet_checksum({ip + 20, n});
    std::memcpy(ip + 22, &ic, 2);
  }
  return f;
}

}  // namespace

TEST_CASE("NAT rewrites keep every checksum exactly as a full recompute would", "[nat]") {
  std::mt19937 rng(7);
  auto r32 = [&] { return uint32_t(rng()); };
  for (int i = 0; i < 3000; ++i) {
    const uint32_t src = 0x0a000000 | (r32() & 0xffffff), dst = 0xcb000000 | (r32() & 0xffffff);
    Bytes f;
    switch (i % 4) {
      case 0:
        f = tcp_frame(mac(1), mac(2), src, dst,
                      tcp_segment(uint16_t(r32()), uint16_t(r32()), r32(), r32(), dp::tcpf::Ack | dp::tcpf::Psh, 100, r32() % 200));
        break;
      case 1:
        f = udp_frame(mac(1), mac(2), src, dst, uint16_t(r32()), uint16_t(r32()), r32() % 300);
        break;
      case 2:
        f = ipv4_frame(mac(1), mac(2), src, dst, net::kProtoUdp, udp_payload(r32() % 100));  // checksum 0: none
        break;
      default:
        f = ipv4_frame(mac(1), mac(2), src, dst, net::kProtoIcmp, icmp_echo(uint16_t(r32()), 1, r32() % 64));
        break;
    }
    std::array<uint8_t, 16> to{};
    const uint32_t a = r32();
    std::memcpy(to.data(), &a, 4);
    const uint16_t port = uint16_t(r32());
    dp::PacketMeta p = meta_of(f);
    const bool source = i % 3 == 0;
    if (source) dp::nat::set_src(p, {to.data(), port});
    else dp::nat::set_dst(p, {to.data(), port});
    INFO("case " << i);
    REQUIRE(std::memcmp(f.data() + 14 + (source ? 12 : 16), to.data(), 4) == 0);
    if (i % 4 != 3) {
      REQUIRE((source ? sport_of(f) : dport_of(f)) == net::be16(port));
    } else {
      // An ICMP query's id is its port, whichever side is translated.
      REQUIRE((f[34 + 4] << 8 | f[34 + 5]) == net::be16(port));
    }
    if ((i % 4) == 2) {
      // No checksum stays no checksum.
      CHECK(f[14 + 26] == 0);
      CHECK(f[14 + 27] == 0);
    }
    CHECK(f == recomputed(f));
  }
}

TEST_CASE("NAT port candidates stay in range, in the worker's share, and differ by flow", "[nat]") {
  net::FlowKey k;
  k.proto = net::kProtoTcp;
  std::set<uint16_t> firsts;
  for (unsigned w = 0; w < 3; ++w) {
    dp::NatPorts np{.seed = 42, .worker = w, .workers = 3};
    for (uint16_t f = 0; f < 500; ++f) {
      k.sport = f;
      for (unsigned n = 0; n < 4; ++n) {
        const uint16_t port = dp::nat::port_candidate(np, k, 1024, 65535, n);
        CHECK(port >= 1024);
        CHECK(unsigned(port - 1024) % 3 == w);
        if (n == 0 && w == 0) firsts.insert(port);
      }
    }
  }
  // A keyed hash of the flow: 500 flows start at (nearly) 500 places.
  CHECK(firsts.size() > 480);
  // Consecutive tries walk the worker's share without repeating.
  dp::NatPorts np{.seed = 1, .worker = 1, .workers = 2};
  std::set<uint16_t> tries;
  for (unsigned n = 0; n < 64; ++n) tries.insert(dp::nat::port_candidate(np, k, 40000, 40127, n));
  CHECK(tries.size() == 64);
}
