// Stage ipv4_output: decrement the TTL and address the frame to the next hop
// (RFC 1812 §5.3). Fragments are forwarded as they are: a router needs no
// reassembly.
#include "dataplane/stages.h"

namespace hafw::dp::stage {

namespace {

void output(const View& v, PacketMeta& p) {
  net::Ipv4Hdr* ip = ipv4_of(p);
  const IfaceView& out = v.topo->ifaces[p.out];
  const uint16_t old_word = word_at(&ip->ttl);  // TTL and protocol share a word
  --ip->ttl;
  if (out.tx_ip_csum) {
    // The port sums the header on transmit; it wants the field zero.
    ip->csum = 0;
    p.set(PacketFlag::TxIpCsum);
  } else {
    // RFC 1624: update the checksum for the one changed word instead of
    // summing the header again.
    ip->csum = net::checksum_adjust(ip->csum, old_word, word_at(&ip->ttl));
  }

  net::EthHdr* eth = eth_of(p);
  eth->src = out.mac;
  const net::Mac* mac = v.neighbors->find(p.out, p.nexthop);
  // The control thread ARPs for the next hop, holds the packet and sends it
  // once the neighbour answers; the frame is ready but for eth dst.
  if (!mac) return p.to_control(PuntReason::Resolve);
  eth->dst = *mac;
  p.to_tx(p.out);
}

}  // namespace

void ipv4_output(WorkerCtx& ctx, Burst& b) {
  each(b, Next::Ipv4Output, [&](PacketMeta& p) { output(ctx.view, p); });
}

}  // namespace hafw::dp::stage
