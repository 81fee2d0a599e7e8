// IPv6 on the wire (RFC 8200), ICMPv6 (RFC 4443) and Neighbor Discovery
// (RFC 4861): headers, the addresses ND derives, the ICMPv6 checksum, and the
// one writer of NS and NA frames. The workers answer a solicitation in place,
// the neighbour manager builds solicitations: both write here, so the layout
// lives in one place (as the ARP writer, dataplane/net/arp.h).
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

#include "dataplane/net/net.h"

namespace hafw::net {

using Addr6 = std::array<uint8_t, 16>;

struct [[gnu::packed]] Ipv6Hdr {
  uint32_t ver_tc_flow;  // version 6, traffic class, flow label
  uint16_t payload_len;  // network order: bytes after this header
  uint8_t next;          // next header
  uint8_t hop_limit;
  uint8_t src[16];
  uint8_t dst[16];

  uint8_t version() const { return uint8_t(reinterpret_cast<const uint8_t*>(this)[0] >> 4); }
};
static_assert(sizeof(Ipv6Hdr) == 40);

// Next header values the firewall walks (RFC 8200 §4) or stops at.
constexpr uint8_t kIp6HopByHop = 0;
constexpr uint8_t kIp6Routing = 43;
constexpr uint8_t kIp6Fragment = 44;
constexpr uint8_t kIp6DestOpts = 60;
constexpr uint8_t kIp6NoNext = 59;

// ICMPv6 types (RFC 4443, RFC 4861). Types below 128 are errors.
constexpr uint8_t kIcmp6Unreachable = 1;
constexpr uint8_t kIcmp6PacketTooBig = 2;
constexpr uint8_t kIcmp6TimeExceeded = 3;
constexpr uint8_t kIcmp6ParamProblem = 4;
constexpr uint8_t kIcmp6EchoRequest = 128;
constexpr uint8_t kIcmp6EchoReply = 129;
constexpr uint8_t kNdRouterSolicit = 133;
constexpr uint8_t kNdRouterAdvert = 134;
constexpr uint8_t kNdNeighborSolicit = 135;
constexpr uint8_t kNdNeighborAdvert = 136;
constexpr uint8_t kNdRedirect = 137;
constexpr bool is_icmp6_error(uint8_t type) { return type < 128; }

// ND options (RFC 4861 §4.6): source and target link-layer address.
constexpr uint8_t kNdOptSourceLla = 1;
constexpr uint8_t kNdOptTargetLla = 2;
// NA flags, in the first byte of the word after the checksum.
constexpr uint8_t kNaRouter = 0x80;
constexpr uint8_t kNaSolicited = 0x40;
constexpr uint8_t kNaOverride = 0x20;

// IPv6 minimum MTU (RFC 8200 §5): an ICMPv6 error is at most this long.
constexpr size_t kIpv6MinMtu = 1280;
// ND messages are sent with hop limit 255 and refused with any other
// (RFC 4861 §7.1): proof that they come from the link.
constexpr uint8_t kNdHopLimit = 255;

// NS/NA: ICMPv6 header (4), reserved/flags (4), target (16), one LLA option (8).
constexpr size_t kNdMsgLen = 32;
constexpr size_t kNdFrameLen = sizeof(EthHdr) + sizeof(Ipv6Hdr) + kNdMsgLen;  // 86

inline bool is_multicast6(const uint8_t* a) { return a[0] == 0xff; }
inline bool is_link_local6(const uint8_t* a) { return a[0] == 0xfe && (a[1] & 0xc0) == 0x80; }
inline bool is_unspecified6(const uint8_t* a) {
  uint64_t w[2];
  std::memcpy(w, a, 16);
  return (w[0] | w[1]) == 0;
}
inline bool is_loopback6(const uint8_t* a) {
  static constexpr uint8_t kLoop[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return std::memcmp(a, kLoop, 16) == 0;
}
// ::ffff:a.b.c.d (RFC 4291 §2.5.5.2): an IPv4 host's address in IPv6 form, never on the wire.
inline bool is_v4_mapped6(const uint8_t* a) {
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(a, kMapped, 12) == 0;
}
// Whether a and b share their first `len` bits.
bool same_prefix6(const uint8_t* a, const uint8_t* b, uint8_t len);

// ff02::1, all nodes on the link.
constexpr Addr6 kAllNodes{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
// ff02::1:ffXX:XXXX: the solicited-node group of a (RFC 4291 §2.7.1), where
// an NS for a is sent.
Addr6 solicited_node(const uint8_t* a);
inline bool is_solicited_node_of(const uint8_t* group, const uint8_t* a) {
  const Addr6 s = solicited_node(a);
  return std::memcmp(group, s.data(), 16) == 0;
}
// 33:33 and the group's low 32 bits (RFC 2464 §7): the Ethernet address of an IPv6 group.
Mac multicast_mac(const uint8_t* group);
// fe80::/64 with the modified EUI-64 of mac (RFC 4291 appendix A): the
// interface's link-local address.
Addr6 link_local_of(const Mac& mac);

// The ICMPv6 checksum of `len` bytes at `l4` (checksum field included, so
// zero when intact), with the pseudo header of the IPv6 header at `ip6`
// (RFC 8200 §8.1: source, destination, upper-layer length, next header 58).
uint16_t icmp6_checksum(const uint8_t* ip6, const uint8_t* l4, size_t len);

struct NdFrame {
  Mac eth_dst;
  Mac eth_src;
  Addr6 src;
  Addr6 dst;
  uint8_t type = kNdNeighborSolicit;
  uint8_t flags = 0;  // NA only: kNaRouter, kNaSolicited, kNaOverride
  Addr6 target;
  Mac lla;            // the option: source LLA in an NS, target LLA in an NA
};

// Writes the kNdFrameLen bytes of Ethernet + IPv6 + NS/NA with its
// link-layer option at `out` (which may hold the frame being answered:
// every field is read from `f` first); hop limit 255, checksum computed.
void write_nd(uint8_t* out, const NdFrame& f);
std::vector<uint8_t> nd_frame(const NdFrame& f);

}  // namespace hafw::net
