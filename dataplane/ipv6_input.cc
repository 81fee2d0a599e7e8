// Stage ipv6_input: validate the IPv6 header (RFC 8200), walk its extension
// headers to the transport header with a bound, refuse impossible and own
// sources and type 0 routing headers, check fragments and send them to
// reassembly (an atomic fragment is a whole packet: RFC 6946), check
// the transport header as ipv4_input does, and write the flow key the state
// table and the rules share with IPv4 (16-byte addresses, family V6).
#include "dataplane/stages.h"

#include <bit>
#include <cstddef>

namespace hafw::dp::stage {

namespace {

// The bound on the extension header walk: at most this many headers, and the
// transport header within this many bytes of the IPv6 header (PacketMeta's
// offsets are bytes of the frame). RFC 8200 §4.1 wants a chain short enough
// to hold the upper-layer header in the first fragment; RFC 7112 that it be
// in the first 1280 bytes. A firewall that cannot find the ports must drop.
constexpr unsigned kMaxExtHeaders = 8;
constexpr size_t kMaxExtBytes = 200;

struct Walk {
  DropReason drop = DropReason::Count;  // Count: the walk reached the transport header
  uint8_t proto = 0;
  size_t off = 0;      // from the IPv6 header
  bool later_fragment = false;  // a fragment past the first (no ports: the walk ends at its fragment header)
  size_t frag = 0;     // from the IPv6 header: the fragment header of a packet to reassemble, 0 if none
  uint16_t frag_field = 0;  // its offset and M flag, host order
};

// Walk the extension headers of the IPv6 packet at ip (len bytes). A
// fragment header (RFC 8200 §4.5) in a packet:
// - an atomic fragment (offset 0, M clear) is a whole packet (RFC 6946): its
//   fragment header is passed over and the walk goes on;
// - a later fragment ends the walk: what follows is data (`later_fragment`);
// - a first fragment's walk goes on to the transport header, which the
//   fragment must hold, with every header before it (RFC 7112): a chain cut
//   short is frag_tiny;
// - a second fragment header is frag_malformed (nothing fragments twice).
// In a quoted packet (`quote`) its next header is the protocol, with ports
// only in the first fragment.
Walk walk(const uint8_t* ip, size_t len, bool quote) {
  Walk w;
  w.proto = ip[6];
  w.off = sizeof(net::Ipv6Hdr);
  bool fragment = false;  // a fragment header seen
  // A first fragment that ends inside its header chain is tiny, not broken.
  const auto short_chain = [&] { return w.frag != 0 ? DropReason::FragTiny : DropReason::Ipv6ExtHeader; };
  for (unsigned n = 0;; ++n) {
    const uint8_t nh = w.proto;
    if (nh != net::kIp6HopByHop && nh != net::kIp6Routing && nh != net::kIp6DestOpts && nh != net::kIp6Fragment) {
      // The transport header too must start within the bound (a long last
      // option header would put it past what PacketMeta's offsets hold).
      if (w.off > kMaxExtBytes + sizeof(net::Ipv6Hdr)) w.drop = DropReason::Ipv6ExtHeader;
      return w;
    }
    if (n >= kMaxExtHeaders || w.off + 8 > kMaxExtBytes + sizeof(net::Ipv6Hdr)) {
      w.drop = DropReason::Ipv6ExtHeader;
      return w;
    }
    if (w.off + 8 > len) {
      w.drop = short_chain();
      return w;
    }
    const uint8_t* h = ip + w.off;
    if (nh == net::kIp6Fragment) {
      const uint16_t field = net::be16(net::load16(h + 2));
      if (quote) {
        w.later_fragment = (field & 0xfff8) != 0;
        w.proto = h[0];
        w.off += 8;
        return w;
      }
      if (fragment) {
        w.drop = DropReason::FragMalformed;
        return w;
      }
      fragment = true;
      w.proto = h[0];
      if ((field & 0xfff9) != 0) {  // not atomic: an offset, or more to come
        w.frag = w.off;
        w.frag_field = field;
        if ((field & 0xfff8) != 0) {
          w.later_fragment = true;
          w.off += 8;
          return w;
        }
      }
      w.off += 8;
      continue;
    }
    // Hop-by-hop options come first or not at all (RFC 8200 §4.3); a type 0
    // routing header is deprecated for the amplification it allows (RFC 5095).
    if ((nh == net::kIp6HopByHop && n != 0) || (nh == net::kIp6Routing && h[2] == 0)) {
      w.drop = DropReason::Ipv6ExtHeader;
      return w;
    }
    w.proto = h[0];
    w.off += (size_t(h[1]) + 1) * 8;
    if (w.off > len) {
      w.drop = short_chain();
      return w;
    }
  }
}

// A fragment the walk found (RFC 8200 §4.5), checked as ipv4_input checks
// IPv4's before the reassembly table holds it: its bounds, and a first
// fragment's transport header. The headers before the fragment header are
// the unfragmentable part; the reassembled packet keeps the first
// fragment's.
void fragment(PacketMeta& p, const uint8_t* ip, size_t total, const Walk& w) {
  const size_t offset = w.frag_field & 0xfff8;
  const bool more = (w.frag_field & 1) != 0;
  const size_t payload = total - w.frag - 8;  // the fragmentable bytes this one carries
  if (const DropReason r = check_fragment_bounds(w.frag - sizeof(net::Ipv6Hdr), offset, payload, more);
      r != DropReason::Count)
    return p.to_drop(r);
  if (offset == 0 && !transport_header_whole(w.proto, ip + w.off, total - w.off))
    return p.to_drop(DropReason::FragTiny);
  p.set(PacketFlag::V6);
  p.proto = w.proto;
  // The reassembly's l3_len: to the end of the fragment header.
  p.l4 = uint8_t(p.l3 + w.frag + 8);
  p.next = Next::Reassemble;
}

void addresses6(net::FlowKey& k, const uint8_t* ip, uint8_t proto) {
  k = net::FlowKey{};
  k.af = net::Family::V6;
  k.proto = proto;
  std::memcpy(k.src.data(), ip + 8, 16);
  std::memcpy(k.dst.data(), ip + 24, 16);
}

// The flow key of an IPv6 packet that is not an ICMPv6 error, as v4_key in
// ipv4_input.cc writes IPv4's: plain 8-byte stores of the addresses as they
// lie in the header, then the ports, protocol and family, and the hash from
// the words in registers (loading them back from the stores would stall).
uint64_t v6_key(net::FlowKey& k, const uint8_t* ip, uint8_t proto, uint32_t ports) {
  static_assert(offsetof(net::FlowKey, sport) == 32 && offsetof(net::FlowKey, proto) == 36 &&
                offsetof(net::FlowKey, af) == 37 && sizeof(net::FlowKey) == 38);
  auto* kp = reinterpret_cast<uint8_t*>(&k);
  std::memcpy(kp, ip + 8, 32);  // source and destination
  std::memcpy(kp + 32, &ports, 4);
  kp[36] = proto;
  kp[37] = uint8_t(net::Family::V6);
  if constexpr (std::endian::native == std::endian::little) {
    const uint64_t w0 = net::load64(ip + 8), w1 = net::load64(ip + 16), w2 = net::load64(ip + 24),
                   w3 = net::load64(ip + 32);
    // Bytes 30..37: the last two of the destination, the ports, protocol, family.
    const uint64_t w4 = uint64_t(net::load16(ip + 38)) | uint64_t(ports) << 16 | uint64_t(proto) << 48 |
                        uint64_t(uint8_t(net::Family::V6)) << 56;
    return StateTable::hash_words(w0, w1, w2, w3, w4);
  } else {
    return StateTable::hash(k);
  }
}

bool is_echo6(uint8_t type) { return type == net::kIcmp6EchoRequest || type == net::kIcmp6EchoReply; }

// An ICMPv6 error quotes as much of the offending packet as fits (RFC 4443
// §2.4(c)): its flow, reversed, is the state the error belongs to. The
// quote must hold the IPv6 header; ports are read when they are there.
bool quoted_flow6(net::FlowKey& key, const uint8_t* icmp, size_t len) {
  if (len < 8 + sizeof(net::Ipv6Hdr)) return false;
  const uint8_t* q = icmp + 8;
  const size_t qlen = len - 8;
  if ((q[0] >> 4) != 6) return false;
  const Walk w = walk(q, qlen, true);
  if (w.drop != DropReason::Count) return false;
  net::FlowKey inner;
  addresses6(inner, q, w.proto);
  const uint8_t* l4 = q + w.off;
  const size_t l4_len = qlen - w.off;
  if (!w.later_fragment) {
    if ((w.proto == net::kProtoTcp || w.proto == net::kProtoUdp) && l4_len >= 4) {
      std::memcpy(&inner.sport, l4, 2);
      std::memcpy(&inner.dport, l4 + 2, 2);
    } else if (w.proto == net::kProtoIcmpv6 && l4_len >= 6 && is_echo6(l4[0])) {
      std::memcpy(&inner.sport, l4 + 4, 2);
      inner.dport = inner.sport;
    }
  }
  key = net::reversed(inner);
  return true;
}

// Sources that never appear on the wire (RFC 4291 §2.5.2, 2.5.3, 2.7; RFC
// 4291 §2.5.5.2): multicast, loopback, IPv4-mapped. The unspecified
// address is a host's before it has one (duplicate address detection):
// ipv6_classify lets only that through, to ipv6_local.
bool impossible_source6(const uint8_t* a) {
  return net::is_multicast6(a) || net::is_loopback6(a) || net::is_v4_mapped6(a);
}

void input(const View& v, const StateTable& t, PacketMeta& p) {
  const size_t avail = p.len - p.l3;
  if (avail < sizeof(net::Ipv6Hdr)) return p.to_drop(DropReason::BadIpHeader);
  const uint8_t* ip = p.data + p.l3;
  // Payload length 0 is a jumbogram's (RFC 2675), which Ethernet never carries.
  const size_t total = sizeof(net::Ipv6Hdr) + net::be16(ipv6_of(p)->payload_len);
  if ((ip[0] >> 4) != 6 || total == sizeof(net::Ipv6Hdr) || total > avail) return p.to_drop(DropReason::BadIpHeader);
  const uint8_t* src = ip + 8;
  // Nobody else may use our addresses or the VIPs we are MASTER for (our own
  // NA or echo reply come back on an af_packet port, or a loop).
  if (impossible_source6(src) || v.topo->is_node_addr6(src) || v.owned->find6(src))
    return p.to_drop(DropReason::Martian);
  // The sync link carries state sync only (IPv4 pfsync).
  if (p.in == v.topo->sync_iface) return p.to_drop(DropReason::NotSync);

  const Walk w = walk(ip, total, false);
  if (w.drop != DropReason::Count) return p.to_drop(w.drop);
  // A fragment has no ports to match a state or a rule with (a later one)
  // or may be rewritten by one (the first): only the whole packet meets
  // them, after the worker's reassembly.
  if (w.frag != 0) return fragment(p, ip, total, w);
  p.set(PacketFlag::V6);
  p.proto = w.proto;
  p.l4 = uint8_t(p.l3 + w.off);
  const uint8_t* l4 = ip + w.off;
  const size_t l4_len = total - w.off;
  uint32_t ports = 0;
  switch (w.proto) {
    case net::kProtoTcp:
    case net::kProtoUdp:
      if (const DropReason r = check_ports(w.proto, l4, l4_len, ports); r != DropReason::Count) return p.to_drop(r);
      break;
    case net::kProtoIcmpv6:
      if (l4_len < 8) return p.to_drop(DropReason::BadIcmp);
      if (net::is_icmp6_error(l4[0])) {
        if (!quoted_flow6(p.key, l4, l4_len)) return p.to_drop(DropReason::BadL4Header);
        p.key_hash = StateTable::hash(p.key);
        t.prefetch_bucket(p.key_hash);
        p.set(PacketFlag::IcmpError);
        p.next = Next::StateLookup;
        return;
      }
      // An echo's id in both ports, as for ICMP.
      if (is_echo6(l4[0])) ports = uint32_t(net::load16(l4 + 4)) * 0x10001u;
      break;
    default:
      break;
  }
  p.key_hash = v6_key(p.key, ip, w.proto, ports);
  t.prefetch_bucket(p.key_hash);
  p.next = Next::StateLookup;
}

}  // namespace

void ipv6_input(WorkerCtx& ctx, Burst& b) {
  each(b, Next::Ipv6Input, [&](PacketMeta& p) { input(ctx.view, *ctx.states, p); });
}

}  // namespace hafw::dp::stage
