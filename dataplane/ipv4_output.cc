// Stage ipv4_output: decrement the TTL and address the frame to the next hop
// (RFC 1812 §5.3). Fragments are forwarded as they are: a router needs no
// reassembly.
#include "dataplane/stages.h"

namespace hafw::dp::stage {

namespace {

void output(const View& v, PacketMeta& p) {
  net::Ipv4Hdr* ip = ipv4_of(p);
  const IfaceView& out = v.topo->ifaces[p.out];
  // TTL and protocol share a word: the new one is made in a register and
  // stored whole. (Decrementing the TTL byte in memory and loading the word
  // back for the checksum stalls: a load wider than the store before it
  // cannot be forwarded from it, ~20 cycles a packet.)
  uint8_t ttl_proto[2];
  std::memcpy(ttl_proto, &ip->ttl, 2);
  const uint16_t old_word = net::load16(ttl_proto);
  --ttl_proto[0];
  const uint16_t new_word = net::load16(ttl_proto);
  std::memcpy(&ip->ttl, &new_word, 2);
  if (out.tx_ip_csum) {
    // The port sums the header on transmit; it wants the field zero.
    ip->csum = 0;
    p.set(PacketFlag::TxIpCsum);
  } else {
    // RFC 1624: update the checksum for the one changed word instead of
    // summing the header again.
    ip->csum = net::checksum_adjust(ip->csum, old_word, new_word);
  }

  // The control thread ARPs for the next hop it misses, holds the packet
  // and sends it once the neighbour answers.
  send_to_neighbor(out, v.neighbors->find(p.out, p.nexthop), p);
}

}  // namespace

void ipv4_output(WorkerCtx& ctx, Burst& b) {
  each(b, Next::Ipv4Output, [&](PacketMeta& p) { output(ctx.view, p); });
}

}  // namespace hafw::dp::stage
