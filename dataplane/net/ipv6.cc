#include "dataplane/net/ipv6.h"

#include <span>

namespace hafw::net {

bool same_prefix6(const uint8_t* a, const uint8_t* b, uint8_t len) {
  const unsigned full = len / 8, rest = len % 8;
  if (std::memcmp(a, b, full) != 0) return false;
  if (rest == 0) return true;
  const uint8_t mask = uint8_t(0xff << (8 - rest));
  return ((a[full] ^ b[full]) & mask) == 0;
}

Addr6 solicited_node(const uint8_t* a) {
  Addr6 s{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, a[13], a[14], a[15]};
  return s;
}

Mac multicast_mac(const uint8_t* group) { return Mac{{0x33, 0x33, group[12], group[13], group[14], group[15]}}; }

Addr6 link_local_of(const Mac& mac) {
  const auto& m = mac.b;
  return Addr6{0xfe, 0x80, 0, 0, 0, 0, 0, 0, uint8_t(m[0] ^ 0x02), m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]};
}

uint16_t icmp6_checksum(const uint8_t* ip6, const uint8_t* l4, size_t len) {
  // The pseudo header's words and the message's, summed once (RFC 1071:
  // the sum is byte-order independent, so the words are added as loaded).
  uint64_t sum = 0;
  for (size_t i = 8; i < 40; i += 2) sum += load16(ip6 + i);  // source and destination
  sum += be16(uint16_t(len >> 16)) + be16(uint16_t(len)) + be16(uint16_t(kProtoIcmpv6));
  size_t i = 0;
  for (; i + 1 < len; i += 2) sum += load16(l4 + i);
  if (i < len) {
    uint8_t last[2] = {l4[i], 0};
    sum += load16(last);
  }
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum);
}

void write_nd(uint8_t* out, const NdFrame& f) {
  const NdFrame c = f;  // `out` may overlap what f's fields were copied from
  const EthHdr eth{.dst = c.eth_dst, .src = c.eth_src, .type = be16(kEtherTypeIpv6)};
  std::memcpy(out, &eth, sizeof eth);
  uint8_t* ip = out + sizeof eth;
  Ipv6Hdr h{};
  h.ver_tc_flow = be32(uint32_t(6) << 28);
  h.payload_len = be16(uint16_t(kNdMsgLen));
  h.next = kProtoIcmpv6;
  h.hop_limit = kNdHopLimit;
  std::memcpy(h.src, c.src.data(), 16);
  std::memcpy(h.dst, c.dst.data(), 16);
  std::memcpy(ip, &h, sizeof h);
  uint8_t* m = ip + sizeof h;
  std::memset(m, 0, kNdMsgLen);
  m[0] = c.type;
  if (c.type == kNdNeighborAdvert) m[4] = c.flags;
  std::memcpy(m + 8, c.target.data(), 16);
  m[24] = c.type == kNdNeighborAdvert ? kNdOptTargetLla : kNdOptSourceLla;
  m[25] = 1;  // in units of 8 bytes
  std::memcpy(m + 26, c.lla.b.data(), 6);
  const uint16_t csum = icmp6_checksum(ip, m, kNdMsgLen);
  std::memcpy(m + 2, &csum, 2);
}

std::vector<uint8_t> nd_frame(const NdFrame& f) {
  std::vector<uint8_t> frame(kNdFrameLen, 0);
  write_nd(frame.data(), f);
  return frame;
}

}  // namespace hafw::net
