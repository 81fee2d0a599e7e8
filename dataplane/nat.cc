#include "dataplane/nat.h"

#include <cstring>

#include "dataplane/net/net.h"

namespace hafw::dp::nat {

namespace {

using detail::add1c;
using detail::load16;
using detail::load32;
using detail::store16;

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

// RFC 1624 in two steps: the ones' complement change of bytes going from
// `before` to `after` (the sum of ~old + new over 32-bit words, which folds
// to the same as over 16-bit words, RFC 1071 §2), then that change applied
// to a checksum. A rewrite sums its changes once and applies them to each
// checksum that covers them. Only changed fields contribute: adding the
// change of an unchanged field would turn a checksum of 0 into 0xffff.
template <size_t A>
inline uint32_t change(const uint8_t* before, const uint8_t* after) {
  uint32_t d = 0;
  for (size_t i = 0; i < A; i += 4) d = add1c(d, add1c(~load32(before + i), load32(after + i)));
  return d;
}
inline uint32_t change16(uint16_t before, uint16_t after) { return uint32_t(uint16_t(~before)) + after; }
inline uint16_t apply_change(uint16_t csum, uint32_t d) {
  uint32_t sum = add1c(uint16_t(~csum), d);
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum);
}

template <size_t A>
inline bool same(const uint8_t* x, const uint8_t* y) {
  if constexpr (A == 4) {
    return load32(x) == load32(y);
  } else {
    uint64_t a[2], b[2];
    std::memcpy(a, x, 16);
    std::memcpy(b, y, 16);
    return ((a[0] ^ b[0]) | (a[1] ^ b[1])) == 0;
  }
}

// Rewrite one endpoint (A address bytes: 4 or 16) of the IP header at `ip`
// and of its transport header at `l4`. With `extra`, a checksum that covers
// all these bytes as data (the outer ICMP checksum when the packet is the
// quote inside an ICMP error) absorbs every change too.
template <size_t A>
void rewrite(uint8_t* ip, uint8_t proto, uint8_t* l4, size_t l4_avail, bool src, Endpoint e, uint8_t* extra) {
  constexpr bool v4 = A == 4;
  const IpLayout& L = v4 ? kV4 : kV6;
  uint8_t* a = ip + (src ? L.src : L.dst);
  const Transport t = transport(proto, l4, l4_avail, src, v4 ? net::Family::V4 : net::Family::V6);
  const bool new_addr = !same<A>(a, e.addr);
  const bool new_port = t.port && load16(t.port) != e.port;
  if (!new_addr && !new_port) return;
  const uint32_t d_addr = new_addr ? change<A>(a, e.addr) : 0;
  const uint32_t d_port = new_port ? change16(load16(t.port), e.port) : 0;
  uint32_t d_extra = add1c(d_addr, d_port);
  if (v4 && new_addr) {
    const uint16_t before = load16(ip + 10), after = apply_change(before, d_addr);
    store16(ip + 10, after);
    if (extra) d_extra = add1c(d_extra, change16(before, after));
  }
  if (t.csum && ((t.pseudo && new_addr) || new_port)) {
    const uint16_t before = load16(t.csum);
    uint16_t after = apply_change(before, add1c(t.pseudo ? d_addr : 0, d_port));
    if (t.udp) after = udp_fix(after);
    store16(t.csum, after);
    if (extra) d_extra = add1c(d_extra, change16(before, after));
  }
  if (new_addr) std::memcpy(a, e.addr, A);
  if (new_port) store16(t.port, e.port);
  if (extra) store16(extra, apply_change(load16(extra), d_extra));
}

void rewrite(uint8_t* ip, uint8_t proto, uint8_t* l4, size_t l4_avail, net::Family af, bool src, Endpoint e,
             uint8_t* extra) {
  if (af == net::Family::V4) rewrite<4>(ip, proto, l4, l4_avail, src, e, extra);
  else rewrite<16>(ip, proto, l4, l4_avail, src, e, extra);
}

inline uint8_t proto_of(const PacketMeta& p) {
  // The transport protocol in the header (for an ICMP error `key` names the
  // quoted flow's protocol, not the packet's).
  return p.key.af == net::Family::V4 ? p.data[p.l3 + 9] : p.key.proto;
}

inline size_t l4_avail(const PacketMeta& p) { return p.len > p.l4 ? size_t(p.len - p.l4) : 0; }

}  // namespace

void detail::set_endpoint(PacketMeta& p, bool src, Endpoint e) {
  rewrite(p.data + p.l3, proto_of(p), p.data + p.l4, l4_avail(p), p.key.af, src, e, nullptr);
}

void set_src(PacketMeta& p, Endpoint e) { detail::set_endpoint(p, true, e); }
void set_dst(PacketMeta& p, Endpoint e) { detail::set_endpoint(p, false, e); }

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
  rewrite(inner, inner_proto, inner_l4, inner_avail, af, !r.source, r.to, icmp + 2);

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
