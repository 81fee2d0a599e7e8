#include "dataplane/nat.h"

#include <cstring>

#include "dataplane/net/net.h"

namespace hafw::dp::nat {

namespace {

// Where a family's IP header keeps its addresses, and whether it has a
// header checksum of its own.
struct IpLayout {
  uint8_t src, dst, len;
  bool header_csum;
};
constexpr IpLayout kV4{12, 16, 4, true};
constexpr IpLayout kV6{8, 24, 16, false};
inline const IpLayout& layout(net::Family f) { return f == net::Family::V4 ? kV4 : kV6; }

constexpr uint8_t kProtoIcmp6 = 58;
constexpr uint8_t kIcmp6EchoRequest = 128, kIcmp6EchoReply = 129;

inline uint16_t load16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline void store16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }

// The transport header's checksum and the port (or query id) one endpoint
// owns, for a header at `l4` with `avail` bytes present.
struct Transport {
  uint8_t* csum = nullptr;  // null: none (UDP over IPv4 with checksum 0, or too short)
  bool pseudo = true;       // covers the addresses (TCP, UDP, ICMPv6; not ICMP)
  uint8_t* port = nullptr;  // null: no port
  bool udp = false;
};

bool is_query(uint8_t proto, uint8_t type) {
  if (proto == net::kProtoIcmp) return type == net::kIcmpEchoRequest || type == net::kIcmpEchoReply;
  return type == kIcmp6EchoRequest || type == kIcmp6EchoReply;
}

Transport transport(uint8_t proto, uint8_t* l4, size_t avail, bool src, net::Family af) {
  Transport t;
  switch (proto) {
    case net::kProtoTcp:
      if (avail >= 4) t.port = l4 + (src ? 0 : 2);
      if (avail >= 18) t.csum = l4 + 16;
      break;
    case net::kProtoUdp:
      if (avail >= 4) t.port = l4 + (src ? 0 : 2);
      // RFC 768: 0 means "no checksum" over IPv4 and must stay 0.
      if (avail >= 8 && !(af == net::Family::V4 && load16(l4 + 6) == 0)) t.csum = l4 + 6;
      t.udp = true;
      break;
    case net::kProtoIcmp:
    case kProtoIcmp6:
      if (avail >= 6 && is_query(proto, l4[0])) t.port = l4 + 4;
      if (avail >= 4) t.csum = l4 + 2;
      t.pseudo = proto == kProtoIcmp6;
      break;
    default:
      break;
  }
  return t;
}

// A UDP checksum that comes out as 0 is sent as all ones (RFC 768): 0 would
// mean "none".
inline uint16_t udp_fix(uint16_t c) { return c == 0 ? 0xffff : c; }

// Rewrite one endpoint of the IP header at `ip` and its transport header at
// `l4`. `extra` (optional) is a checksum that covers these bytes as data (the
// outer ICMP checksum when the packet is the quote inside an ICMP error).
void rewrite(uint8_t* ip, uint8_t proto, uint8_t* l4, size_t l4_avail, net::Family af, bool src, Endpoint e,
             bool with_port, uint8_t* extra) {
  const IpLayout& L = layout(af);
  uint8_t* a = ip + (src ? L.src : L.dst);
  Transport t = transport(proto, l4, l4_avail, src, af);
  auto patch = [&](uint8_t* at, const uint8_t* to, size_t n) {
    if (extra) store16(extra, net::checksum_adjust(load16(extra), at, to, n));
    std::memcpy(at, to, n);
  };
  if (std::memcmp(a, e.addr, L.len) != 0) {
    if (L.header_csum) {
      uint16_t c = net::checksum_adjust(load16(ip + 10), a, e.addr, L.len);
      patch(ip + 10, reinterpret_cast<const uint8_t*>(&c), 2);
    }
    if (t.csum && t.pseudo) {
      uint16_t c = net::checksum_adjust(load16(t.csum), a, e.addr, L.len);
      if (t.udp) c = udp_fix(c);
      patch(t.csum, reinterpret_cast<const uint8_t*>(&c), 2);
    }
    patch(a, e.addr, L.len);
  }
  if (with_port && t.port && load16(t.port) != e.port) {
    if (t.csum) {
      uint16_t c = net::checksum_adjust(load16(t.csum), load16(t.port), e.port);
      if (t.udp) c = udp_fix(c);
      patch(t.csum, reinterpret_cast<const uint8_t*>(&c), 2);
    }
    patch(t.port, reinterpret_cast<const uint8_t*>(&e.port), 2);
  }
}

inline uint8_t proto_of(const PacketMeta& p) {
  // The transport protocol in the header (for an ICMP error `key` names the
  // quoted flow's protocol, not the packet's).
  return p.key.af == net::Family::V4 ? p.data[p.l3 + 9] : p.key.proto;
}

inline size_t l4_avail(const PacketMeta& p) { return p.len > p.l4 ? size_t(p.len - p.l4) : 0; }

void set_endpoint(PacketMeta& p, bool src, Endpoint e) {
  rewrite(p.data + p.l3, proto_of(p), p.data + p.l4, l4_avail(p), p.key.af, src, e, true, nullptr);
}

}  // namespace

void set_src(PacketMeta& p, Endpoint e) { set_endpoint(p, true, e); }
void set_dst(PacketMeta& p, Endpoint e) { set_endpoint(p, false, e); }

Rewrite rewrite_for(const StateTable& t, const State& s, uint8_t dir) {
  const auto side = NatSide((s.flags.load(std::memory_order_relaxed) & sflag::NatMask) >> 1);
  switch (side) {
    case NatSide::Src:
      if (dir == 0) return {true, true, {t.pool_addr(s.nat_addr).data(), s.nat_port}};
      return {true, false, {s.src.data(), s.sport}};
    case NatSide::Dst:
      if (dir == 0) return {true, false, {t.pool_addr(s.nat_addr).data(), s.nat_port}};
      return {true, true, {s.dst.data(), s.dport}};
    case NatSide::None:
      break;
  }
  return {};
}

bool apply(PacketMeta& p, const StateTable& t, const State& s, uint8_t dir) {
  const Rewrite r = rewrite_for(t, s, dir);
  if (!r.active) return false;
  set_endpoint(p, r.source, r.to);
  p.set(PacketFlag::Translated);
  return true;
}

bool apply_icmp_error(PacketMeta& p, const StateTable& t, const State& s, uint8_t dir) {
  const Rewrite r = rewrite_for(t, s, dir);
  if (!r.active) return false;
  const net::Family af = p.key.af;
  const IpLayout& L = layout(af);
  uint8_t* ip = p.data + p.l3;
  uint8_t* icmp = p.data + p.l4;
  const size_t icmp_len = l4_avail(p);
  // ipv4_input checked the quote: an IP header and at least 8 bytes of its payload.
  uint8_t* inner = icmp + 8;
  const size_t inner_ihl = af == net::Family::V4 ? size_t(inner[0] & 0x0f) * 4 : 40;
  uint8_t* inner_l4 = inner + inner_ihl;
  const size_t inner_avail = icmp_len - 8 - inner_ihl;
  const uint8_t inner_proto = af == net::Family::V4 ? inner[9] : p.key.proto;

  // The quoted packet travelled the other way: the endpoint the outer header
  // gets as its destination was the quote's source, and the reverse.
  rewrite(inner, inner_proto, inner_l4, inner_avail, af, !r.source, r.to, true, icmp + 2);

  // The outer header: its address only (the error has no port). ICMP's own
  // checksum does not cover the IPv4 header; ICMPv6's pseudo header does.
  uint8_t* a = ip + (r.source ? L.src : L.dst);
  if (std::memcmp(a, r.to.addr, L.len) != 0) {
    if (L.header_csum) store16(ip + 10, net::checksum_adjust(load16(ip + 10), a, r.to.addr, L.len));
    else store16(icmp + 2, net::checksum_adjust(load16(icmp + 2), a, r.to.addr, L.len));
    std::memcpy(a, r.to.addr, L.len);
  }
  p.set(PacketFlag::Translated);
  return true;
}

void restore(PacketMeta& p) {
  if (!p.has(PacketFlag::Translated)) return;
  set_src(p, {p.key.src.data(), p.key.sport});
  set_dst(p, {p.key.dst.data(), p.key.dport});
}

uint16_t port_candidate(const NatPorts& np, const net::FlowKey& k, uint16_t lo, uint16_t hi, unsigned n) {
  // splitmix64's finaliser over the flow's hash and the seed.
  uint64_t h = StateTable::hash(k) ^ np.seed;
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
  h ^= h >> 31;
  const unsigned workers = np.workers ? np.workers : 1;
  const unsigned range = unsigned(hi) - lo + 1;
  const unsigned per = range / workers ? range / workers : 1;
  const unsigned slot = unsigned((h % per + n) % per);
  return uint16_t(lo + slot * workers + (np.worker % workers));
}

}  // namespace hafw::dp::nat
