// Stage icmp_local: answer echo requests to our addresses and owned VIPs in
// place (RFC 792), so operators can ping the node and the VIP as usual.
#include "dataplane/stages.h"

#include <span>

namespace hafw::dp::stage {

namespace {

// A fresh TTL for datagrams we originate; Linux and the BSDs default to 64.
constexpr uint8_t kDefaultTtl = 64;

void echo(const IfaceView& ifc, PacketMeta& p) {
  net::Ipv4Hdr* ip = ipv4_of(p);
  const size_t ihl = ip->ihl_bytes();
  const size_t icmp_len = net::be16(ip->total_len) - ihl;  // total_len >= ihl checked by ipv4_input
  if (icmp_len < sizeof(net::IcmpHdr)) return p.to_drop(DropReason::BadIcmp);
  uint8_t* l4 = p.data + p.l4;
  // RFC 1122 §3.2.2: silently discard ICMP with a bad checksum; verifying it
  // also keeps us from laundering a corrupted request into a valid reply.
  if (net::inet_checksum(std::span<const uint8_t>(l4, icmp_len)) != 0) return p.to_drop(DropReason::BadIcmp);
  auto* icmp = reinterpret_cast<net::IcmpHdr*>(l4);
  if (icmp->type != net::kIcmpEchoRequest || icmp->code != 0) return p.to_drop(DropReason::LocalUnsupported);

  // ICMP: type 8 -> 0; id, sequence and data are echoed unchanged (RFC 792).
  const uint16_t old_word = net::load16(icmp);
  icmp->type = net::kIcmpEchoReply;
  icmp->csum = net::checksum_adjust(icmp->csum, old_word, net::load16(icmp));

  // IP: the address that was asked answers (a VIP answers as the VIP).
  const uint32_t asked = ip->dst;
  ip->dst = ip->src;
  ip->src = asked;
  ip->ttl = kDefaultTtl;
  ip->csum = 0;
  ip->csum = net::ipv4_header_checksum(p.data + p.l3, ihl);

  // Ethernet: back to the sender, from the MAC the request came to (the
  // virtual MAC for a VIP), or our interface MAC if it came as multicast.
  net::EthHdr* eth = eth_of(p);
  const net::Mac to = eth->src;
  eth->src = p.has(PacketFlag::L2Unicast) ? eth->dst : ifc.mac;
  eth->dst = to;
  p.to_tx(p.in);
}

}  // namespace

void icmp_local(WorkerCtx& ctx, Burst& b) {
  each(b, Next::IcmpLocal, [&](PacketMeta& p) { echo(in_iface(ctx, p), p); });
}

}  // namespace hafw::dp::stage
