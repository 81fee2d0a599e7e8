// Internal: the pipeline's stages, one per file, each returning its exit.
//
//   eth_input ─┬─ arp_input
//              └─ ipv4_input ─┬─ ipv4_local ── icmp_input
//                             └─ ipv4_forward
//
// Only pipeline.cc and the stage files include this.
#pragma once

#include <cstdint>
#include <cstring>

#include "dataplane/net.h"
#include "dataplane/pipeline.h"
#include "dataplane/view.h"

namespace hafw::dp::stage {

// What every stage needs about the frame in hand. `iface` is the receiving
// interface (checked to exist before any stage runs).
struct Packet {
  const View& v;
  uint8_t in;
  const IfaceView& iface;
  uint8_t* frame;
  uint16_t len;
  bool l2_unicast;  // eth dst was our MAC or an owned virtual MAC, not broadcast/multicast
};

Result eth_input(Packet& p);
Result arp_input(Packet& p);
Result ipv4_input(Packet& p);
Result ipv4_local(Packet& p, net::Ipv4Hdr* ip);
Result icmp_input(Packet& p, net::Ipv4Hdr* ip);
Result ipv4_forward(Packet& p, net::Ipv4Hdr* ip);

// Header overlays. Wire headers are packed (alignment 1), so any offset into
// the frame is a valid address for them.
inline net::EthHdr* eth_of(uint8_t* frame) { return reinterpret_cast<net::EthHdr*>(frame); }
inline net::ArpHdr* arp_of(uint8_t* frame) { return reinterpret_cast<net::ArpHdr*>(frame + sizeof(net::EthHdr)); }
inline net::Ipv4Hdr* ipv4_of(uint8_t* frame) {
  return reinterpret_cast<net::Ipv4Hdr*>(frame + sizeof(net::EthHdr));
}

// A single network-order 16-bit word at `p` (for RFC 1624 updates).
inline uint16_t word_at(const void* p) {
  uint16_t w;
  std::memcpy(&w, p, sizeof w);
  return w;
}

// 224.0.0.18, CARP's group (and VRRP's); 224.0.0.240, pfsync's default group.
constexpr uint32_t kCarpGroup = 0xe0000012;
constexpr uint32_t kPfsyncGroup = 0xe00000f0;

constexpr bool is_multicast(uint32_t a) { return (a >> 28) == 0xe; }

}  // namespace hafw::dp::stage
