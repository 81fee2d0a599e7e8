// Stage ipv4_input: validate the header (RFC 1812 §5.2.2) and the transport
// header a stateful firewall reads (TCP data offset and flags, UDP length, an
// ICMP error's quote), refuse impossible sources, check fragments and send
// them to reassembly, and record where the transport header starts and
// which flow the packet belongs to.
#include "dataplane/stages.h"

#include "dataplane/track.h"

#include <algorithm>
#include <bit>
#include <cstddef>
#include <span>

namespace hafw::dp::stage {

namespace {

// RFC 1812 §5.3.7 and §4.2.2.11: addresses that must never appear as a source
// on the wire. 0.0.0.0 is allowed only for a host learning its address (DHCP),
// which a router neither forwards nor serves here.
bool impossible_source(uint32_t a) {
  // this-net (0), loopback (127), multicast, class E and broadcast (224 up):
  // one bit per first byte.
  static constexpr uint64_t kTop[4] = {1, uint64_t(1) << 63, 0, ~uint64_t(0) << 32};
  const uint32_t top = a >> 24;
  return (kTop[top >> 6] >> (top & 63)) & 1;
}

// A transport endpoint pair of the packet at `l4` (`len` bytes): the ports
// of TCP and UDP, the id of an ICMP query in both ports (pf's convention: a
// reply then matches the reversed request), zero for anything else.
void ports(net::FlowKey& k, const uint8_t* l4, size_t len) {
  if (k.proto == net::kProtoTcp || k.proto == net::kProtoUdp) {
    if (len < 4) return;
    std::memcpy(&k.sport, l4, 2);
    std::memcpy(&k.dport, l4 + 2, 2);
  } else if (k.proto == net::kProtoIcmp && len >= 6 &&
             (l4[0] == net::kIcmpEchoRequest || l4[0] == net::kIcmpEchoReply)) {
    std::memcpy(&k.sport, l4 + 4, 2);
    k.dport = k.sport;
  }
}

void addresses(net::FlowKey& k, const uint8_t* ip) {
  k = net::FlowKey{};
  k.af = net::Family::V4;
  k.proto = ip[9];
  std::memcpy(k.src.data(), ip + 12, 4);
  std::memcpy(k.dst.data(), ip + 16, 4);
}

// An ICMP error quotes the IP header and at least 8 bytes of a packet that
// went the other way (RFC 792): its flow, reversed, is the state the error
// belongs to. A quote too short to name the flow is refused.
bool quoted_flow(net::FlowKey& key, const uint8_t* icmp, size_t len) {
  if (len < 8 + sizeof(net::Ipv4Hdr)) return false;
  const uint8_t* q = icmp + 8;
  const size_t qihl = size_t(q[0] & 0x0f) * 4;
  if ((q[0] >> 4) != 4 || qihl < sizeof(net::Ipv4Hdr) || len < 8 + qihl + 8) return false;
  net::FlowKey inner;
  addresses(inner, q);
  uint16_t frag;
  std::memcpy(&frag, q + 6, 2);
  if ((net::be16(frag) & 0x1fff) == 0) ports(inner, q + qihl, len - 8 - qihl);
  key = net::reversed(inner);
  return true;
}

// The flow key of an IPv4 packet that is not an ICMP error, written whole
// in plain stores rather than zeroed and then filled field by field: each
// address as an 8-byte store of the zero-extended address and 8 zero bytes,
// then the ports as they lie in the header (sport, dport: one 4-byte word,
// as in FlowKey), protocol and family. Returns StateTable::hash(k), computed
// from the words in registers: loading them back from the stores just made
// would stall (the last word spans three stores, which no store buffer
// forwards).
uint64_t v4_key(net::FlowKey& k, const uint8_t* ip, uint8_t proto, uint32_t ports) {
  static_assert(offsetof(net::FlowKey, sport) == 32 && offsetof(net::FlowKey, proto) == 36 &&
                offsetof(net::FlowKey, af) == 37 && sizeof(net::FlowKey) == 38);
  auto* kp = reinterpret_cast<uint8_t*>(&k);
  const uint64_t zero = 0;
  std::memcpy(kp + 8, &zero, 8);
  std::memcpy(kp + 24, &zero, 8);
  std::memcpy(kp + 32, &ports, 4);
  if constexpr (std::endian::native == std::endian::little) {
    const uint16_t tail = uint16_t(proto | uint8_t(net::Family::V4) << 8);  // proto, then af
    std::memcpy(kp + 36, &tail, 2);
    uint32_t src, dst;
    std::memcpy(&src, ip + 12, 4);
    std::memcpy(&dst, ip + 16, 4);
    const uint64_t w0 = src, w2 = dst;  // the address's 4 bytes first in memory, then zeros
    std::memcpy(kp, &w0, 8);
    std::memcpy(kp + 16, &w2, 8);
    // Bytes 30..37: the end of dst (zero), the ports, protocol, family.
    const uint64_t w4 = uint64_t(ports) << 16 | uint64_t(proto) << 48 | uint64_t(uint8_t(net::Family::V4)) << 56;
    return StateTable::hash_words(w0, 0, w2, 0, w4);
  } else {
    const uint8_t tail[2] = {proto, uint8_t(net::Family::V4)};
    std::memcpy(kp + 36, tail, 2);
    std::memcpy(kp, &zero, 8);
    std::memcpy(kp + 16, &zero, 8);
    std::memcpy(kp, ip + 12, 4);
    std::memcpy(kp + 16, ip + 16, 4);
    return StateTable::hash(k);
  }
}

using net::load16;

// The packet's key hash, and its home bucket on its way: the state lookup,
// the next stage, reads the buckets of the whole burst at once, and the rest
// of this stage's work on the burst hides much of a bucket's memory latency
// (at a million states nearly every bucket is a miss).
inline void set_hash(const StateTable& t, PacketMeta& p, uint64_t hash) {
  p.key_hash = hash;
  t.prefetch_bucket(hash);
}

// The node's own addresses (interface addresses and the VIPs it is MASTER
// for), as a 256-bit filter made once per burst from the pass's snapshots:
// a source whose bit is clear is none of them, and only a set bit (an own
// address, or one that shares its bit: 1 in 64 at the lab's four
// addresses) pays for the exact scans. Made from the same snapshots the
// scans read, so it is never stale; making it costs a pass over at most 16
// interfaces and 64 VIPs per burst, where the scans cost one per packet.
class OwnAddrs {
 public:
  explicit OwnAddrs(const View& v) {
    for (const auto& i : v.topo->ifaces)
      if (i.addr != 0) add(i.addr);
    for (const auto& vip : v.owned->vips) add(vip.addr);
  }
  bool maybe(uint32_t a) const { return (bits_[bit(a) >> 6] >> (bit(a) & 63)) & 1; }

 private:
  static unsigned bit(uint32_t a) { return (a * 0x9e3779b1u) >> 24; }  // Fibonacci hashing, 8 bits
  void add(uint32_t a) { bits_[bit(a) >> 6] |= uint64_t(1) << (bit(a) & 63); }
  uint64_t bits_[4] = {};
};

// A fragment, checked before the reassembly table holds it (RFC 791's
// offsets in units of 8 bytes; RFC 1858 and RFC 3128 on tiny fragments).
// The checks a table cannot make from one fragment are the table's.
void fragment(PacketMeta& p, uint8_t proto, size_t ihl, size_t total) {
  const uint16_t frag = net::be16(ipv4_of(p)->frag);
  const size_t offset = size_t(frag & 0x1fff) * 8;
  const size_t payload = total - ihl;
  if (const DropReason r = check_fragment_bounds(ihl, offset, payload, (frag & 0x2000) != 0); r != DropReason::Count)
    return p.to_drop(r);
  if (offset == 0 && !transport_header_whole(proto, p.data + p.l3 + ihl, payload))
    return p.to_drop(DropReason::FragTiny);
  // RFC 1858 §3.2: TCP at offset 8 overlaps the header's flags.
  if (offset == 8 && proto == net::kProtoTcp) return p.to_drop(DropReason::FragTiny);
  p.l4 = uint8_t(p.l3 + ihl);
  p.next = Next::Reassemble;
}

void input(const View& v, const OwnAddrs& own, const StateTable& t, PacketMeta& p) {
  const size_t avail = p.len - p.l3;
  if (avail < sizeof(net::Ipv4Hdr)) return p.to_drop(DropReason::BadIpHeader);
  const net::Ipv4Hdr* ip = ipv4_of(p);
  const size_t total = net::be16(ip->total_len);
  size_t ihl;
  if (ip->ver_ihl == 0x45) {  // version 4, no options: nearly every packet
    ihl = sizeof(net::Ipv4Hdr);
    // The frame may carry Ethernet padding past total_len; it may not be shorter.
    if (total < ihl || total > avail) return p.to_drop(DropReason::BadIpHeader);
  } else {
    ihl = ip->ihl_bytes();
    if ((ip->ver_ihl >> 4) != 4 || ihl < sizeof(net::Ipv4Hdr) || total < ihl || total > avail)
      return p.to_drop(DropReason::BadIpHeader);
  }
  if (net::ipv4_header_checksum(p.data + p.l3, ihl) != 0)
    return p.to_drop(DropReason::BadIpChecksum);

  const uint32_t src = net::be32(ip->src);
  // Nobody else may use our addresses; seeing one means a loop or spoofing.
  if (impossible_source(src) || (own.maybe(src) && (v.topo->is_node_addr(src) || v.owned->find(src))))
    return p.to_drop(DropReason::Martian);
  // The sync link is dedicated: whoever reaches it may send state sync
  // frames (which the control thread authenticates) and nothing else — no
  // transit through the node, no ping of it.
  if (p.in == v.topo->sync_iface && ip->proto != net::kProtoPfsync) return p.to_drop(DropReason::NotSync);
  // A fragment other than the first has no ports to match a state or a rule
  // with, and passing it unmatched would let anything through: fragments go
  // to the worker's reassembly, and only the whole packet meets the rules.
  if ((net::be16(ip->frag) & 0x3fff) != 0) return fragment(p, ip->proto, ihl, total);

  p.l4 = uint8_t(p.l3 + ihl);
  const uint8_t* l4 = p.data + p.l4;
  const size_t l4_len = total - ihl;
  // The key is written once the packet passes: a dropped packet's is never read.
  uint32_t ports = 0;  // sport and dport as they lie in the header
  p.proto = ip->proto;
  switch (ip->proto) {
    case net::kProtoTcp:
    case net::kProtoUdp:
      if (const DropReason r = check_ports(ip->proto, l4, l4_len, ports); r != DropReason::Count) return p.to_drop(r);
      break;
    case net::kProtoIcmp:
      if (l4_len < sizeof(net::IcmpHdr)) return p.to_drop(DropReason::BadIcmp);
      if (net::is_icmp_error(l4[0])) {
        if (!quoted_flow(p.key, l4, l4_len)) return p.to_drop(DropReason::BadL4Header);
        set_hash(t, p, StateTable::hash(p.key));
        p.set(PacketFlag::IcmpError);
        p.next = Next::StateLookup;
        return;
      }
      // A query's id in both ports (ports()); the header is at least 8 bytes.
      if (l4[0] == net::kIcmpEchoRequest || l4[0] == net::kIcmpEchoReply) ports = uint32_t(load16(l4 + 4)) * 0x10001u;
      break;
    default:
      break;
  }
  set_hash(t, p, v4_key(p.key, p.data + p.l3, ip->proto, ports));
  p.next = Next::StateLookup;
}

}  // namespace

void ipv4_input(WorkerCtx& ctx, Burst& b) {
  if (!(b.waiting & bit(Next::Ipv4Input))) return;
  const OwnAddrs own(ctx.view);
  each(b, Next::Ipv4Input, [&](PacketMeta& p) { input(ctx.view, own, *ctx.states, p); });
}

}  // namespace hafw::dp::stage
