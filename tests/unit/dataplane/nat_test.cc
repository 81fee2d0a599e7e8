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

uint32_t raw32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
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

// nat::apply() takes a short path for TCP and UDP over IPv4 (dataplane/nat.h,
// rewrite_v4_ports). It must give exactly the bytes of the generic rewrite
// (set_src/set_dst with the endpoint rewrite_for names), whatever the
// checksums hold: 0 and 0xffff included, a UDP checksum of 0 ("none"),
// translations to what the packet already has, frames cut short, and the
// protocols the short path leaves to the generic one.
TEST_CASE("NAT apply's IPv4 path gives the generic rewrite's bytes", "[nat]") {
  std::mt19937 rng(11);
  auto r32 = [&] { return uint32_t(rng()); };
  dp::StateTable t(64);
  // Addresses from a small set, interned up front: a translation to the
  // packet's own address needs it in the table's pool, which is bounded.
  uint32_t addrs[16];
  for (auto& a : addrs) {
    a = r32();
    t.intern_addr(net::IpAddr::v4(a));
  }
  uint16_t refs[4];
  for (auto& ref : refs) ref = t.intern_addr(net::IpAddr::v4(addrs[r32() % 16]));
  unsigned short_path = 0;
  for (int i = 0; i < 20000; ++i) {
    const uint32_t src = addrs[r32() % 16], dst = addrs[r32() % 16];
    Bytes f;
    uint8_t proto;
    switch (i % 6) {
      case 0:
        f = tcp_frame(mac(1), mac(2), src, dst, tcp_segment(uint16_t(r32()), uint16_t(r32()), r32(), r32(), dp::tcpf::Ack, 100, r32() % 40));
        proto = net::kProtoTcp;
        break;
      case 1:
        f = udp_frame(mac(1), mac(2), src, dst, uint16_t(r32()), uint16_t(r32()), r32() % 40);
        proto = net::kProtoUdp;
        break;
      case 2:
        f = ipv4_frame(mac(1), mac(2), src, dst, net::kProtoUdp, udp_payload(r32() % 40));  // checksum 0: none
        proto = net::kProtoUdp;
        break;
      case 3:
        f = ipv4_frame(mac(1), mac(2), src, dst, net::kProtoIcmp, icmp_echo(uint16_t(r32()), 1, r32() % 16));
        proto = net::kProtoIcmp;
        break;
      case 4:
        f = ipv4_frame(mac(1), mac(2), src, dst, net::kProtoIcmp,
                       icmp_echo(uint16_t(r32()), 1, r32() % 16, 13));  // timestamp: not a query
        proto = net::kProtoIcmp;
        break;
      default:
        f = ipv4_frame(mac(1), mac(2), src, dst, 47, udp_payload(r32() % 40));  // no ports
        proto = 47;
        break;
    }
    // Checksum fields as they may come off the wire, right or not: the
    // rewrite must treat them alike in both paths.
    const size_t l4 = 34;
    auto set16 = [&](size_t at, uint16_t v) { std::memcpy(f.data() + at, &v, 2); };
    const uint16_t odd[] = {0x0000, 0xffff, uint16_t(r32())};
    if (r32() % 4 == 0) set16(24, odd[r32() % 3]);
    const size_t l4_csum = proto == net::kProtoTcp ? 16 : proto == net::kProtoUdp ? 6 : 2;
    if (r32() % 4 == 0 && f.size() >= l4 + l4_csum + 2) set16(l4 + l4_csum, odd[r32() % 3]);
    // Sometimes the frame is cut inside the transport header.
    if (r32() % 8 == 0) f.resize(l4 + r32() % 20);

    dp::State s{};
    std::memcpy(s.src.data(), f.data() + 26, 4);
    std::memcpy(s.dst.data(), f.data() + 30, 4);
    s.sport = uint16_t(r32());
    s.dport = uint16_t(r32());
    s.proto = proto;
    const auto side = i % 2 ? dp::NatSide::Src : dp::NatSide::Dst;
    s.flags.store(uint8_t(uint8_t(side) << 1), std::memory_order_relaxed);
    s.nat_addr = refs[r32() % 4];
    s.nat_port = uint16_t(r32());
    const uint8_t dir = uint8_t(r32() % 2);
    const dp::nat::Rewrite r = dp::nat::rewrite_for(t, s, dir);
    REQUIRE(r.active);
    // Translations to what the packet already holds: the address, the port, or both.
    const size_t a_at = 14 + (r.source ? 12 : 16), p_at = l4 + (r.source ? 0 : 2);
    std::array<uint8_t, 16> same_addr{};
    std::memcpy(same_addr.data(), f.data() + a_at, 4);
    const unsigned same = r32() % 4;
    if (same & 1) {
      if (dir == 0) s.nat_addr = t.intern_addr(net::IpAddr::v4(net::be32(raw32(f.data() + a_at))));
      else std::memcpy(side == dp::NatSide::Src ? s.src.data() : s.dst.data(), same_addr.data(), 4);
    }
    if ((same & 2) && f.size() >= p_at + 2) {
      uint16_t cur;
      std::memcpy(&cur, f.data() + p_at, 2);
      if (dir == 0) s.nat_port = cur;
      else if (side == dp::NatSide::Src) s.sport = cur;
      else s.dport = cur;
    }
    const dp::nat::Rewrite want = dp::nat::rewrite_for(t, s, dir);

    Bytes generic = f;
    dp::PacketMeta pg = meta_of(generic);
    if (want.source) dp::nat::set_src(pg, want.to);
    else dp::nat::set_dst(pg, want.to);
    dp::PacketMeta pa = meta_of(f);
    CHECK(dp::nat::apply(pa, t, s, dir));
    CHECK(pa.has(dp::PacketFlag::Translated));
    INFO("case " << i << " proto " << int(proto) << " len " << f.size() << " dir " << int(dir) << " same " << same);
    REQUIRE(f == generic);
    short_path += (proto == net::kProtoTcp && f.size() >= l4 + 18) || (proto == net::kProtoUdp && f.size() >= l4 + 8);
  }
  CHECK(short_path > 5000);
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
