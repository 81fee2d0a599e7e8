// Addresses, wire headers and checksums shared by every layer.
//
// Pure code: no DPDK, no sockets. The dataplane stages, the CARP codec and the
// config model all speak these types, so an address parsed from the config is
// the same value a worker compares against a packet.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace hafw::net {

// ---------------------------------------------------------------- addresses

struct Mac {
  std::array<uint8_t, 6> b;  // no initializer: Mac must stay POD to overlay wire headers

  static constexpr Mac broadcast() { return Mac{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}; }
  // CARP/VRRP virtual MAC for a VHID: 00:00:5e:00:01:VHID (RFC 5798 §7.3).
  static constexpr Mac virtual_for(uint8_t vhid) { return Mac{{0x00, 0x00, 0x5e, 0x00, 0x01, vhid}}; }
  static std::optional<Mac> parse(std::string_view s);

  bool is_multicast() const { return b[0] & 0x01; }
  bool is_broadcast() const { return *this == broadcast(); }
  std::string str() const;
  // Two loads and compares inline: the defaulted == calls memcmp, and the
  // workers compare MACs several times per packet.
  friend bool operator==(const Mac& x, const Mac& y) {
    uint32_t x4, y4;
    uint16_t x2, y2;
    std::memcpy(&x4, x.b.data(), 4);
    std::memcpy(&y4, y.b.data(), 4);
    std::memcpy(&x2, x.b.data() + 4, 2);
    std::memcpy(&y2, y.b.data() + 4, 2);
    return ((x4 ^ y4) | uint32_t(x2 ^ y2)) == 0;
  }
};

enum class Family : uint8_t { V4 = 4, V6 = 6 };

// An IPv4 or IPv6 address. IPv4 sits in the first 4 bytes in network order.
struct IpAddr {
  Family af = Family::V4;
  std::array<uint8_t, 16> b{};

  static IpAddr v4(uint32_t host_order);
  static std::optional<IpAddr> parse(std::string_view s);

  bool is_v4() const { return af == Family::V4; }
  // Host-order value of an IPv4 address (the hot path compares these).
  uint32_t v4() const { return uint32_t(b[0]) << 24 | uint32_t(b[1]) << 16 | uint32_t(b[2]) << 8 | b[3]; }
  std::span<const uint8_t> bytes() const { return {b.data(), is_v4() ? 4u : 16u}; }
  std::string str() const;
  friend bool operator==(const IpAddr&, const IpAddr&) = default;
  friend auto operator<=>(const IpAddr&, const IpAddr&) = default;
};

// "a.b.c.d/len" or "x::y/len". For an interface address the host part is kept
// (it is the node's own address); network() masks it off.
struct Prefix {
  IpAddr addr;
  uint8_t len = 0;

  static std::optional<Prefix> parse(std::string_view s);
  uint8_t max_len() const { return addr.is_v4() ? 32 : 128; }
  bool contains(const IpAddr& a) const;
  IpAddr network() const;
  std::string str() const;
  friend bool operator==(const Prefix&, const Prefix&) = default;
};

// IPv4 helpers on host-order values, for the hot path.
constexpr uint32_t v4_mask(uint8_t len) { return len == 0 ? 0 : ~uint32_t(0) << (32 - len); }
constexpr bool v4_in(uint32_t addr, uint32_t net, uint8_t len) {
  return ((addr ^ net) & v4_mask(len)) == 0;
}

// ---------------------------------------------------------------- wire headers
// Network byte order on the wire; packed so they can overlay a frame.

inline uint16_t be16(uint16_t v) { return __builtin_bswap16(v); }
inline uint32_t be32(uint32_t v) { return __builtin_bswap32(v); }

constexpr uint16_t kEtherTypeIpv4 = 0x0800;
constexpr uint16_t kEtherTypeArp = 0x0806;
constexpr uint16_t kEtherTypeVlan = 0x8100;
constexpr uint16_t kEtherTypeIpv6 = 0x86dd;

constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kProtoIcmpv6 = 58;
constexpr uint8_t kProtoCarp = 112;
constexpr uint8_t kProtoPfsync = 240;

// Ethernet minimum frame without FCS; frames we originate are padded to it.
constexpr size_t kEthMinFrame = 60;

struct [[gnu::packed]] EthHdr {
  Mac dst;
  Mac src;
  uint16_t type;  // network order
};
static_assert(sizeof(EthHdr) == 14);

constexpr uint16_t kArpRequest = 1;
constexpr uint16_t kArpReply = 2;

struct [[gnu::packed]] ArpHdr {
  uint16_t htype;  // 1 = Ethernet
  uint16_t ptype;  // 0x0800
  uint8_t hlen;    // 6
  uint8_t plen;    // 4
  uint16_t op;
  Mac sha;
  uint32_t spa;  // network order
  Mac tha;
  uint32_t tpa;  // network order
};
static_assert(sizeof(ArpHdr) == 28);

struct [[gnu::packed]] Ipv4Hdr {
  uint8_t ver_ihl;
  uint8_t tos;
  uint16_t total_len;
  uint16_t id;
  uint16_t frag;  // flags + fragment offset
  uint8_t ttl;
  uint8_t proto;
  uint16_t csum;
  uint32_t src;  // network order
  uint32_t dst;  // network order

  uint8_t ihl_bytes() const { return uint8_t((ver_ihl & 0x0f) * 4); }
};
static_assert(sizeof(Ipv4Hdr) == 20);
constexpr uint16_t kIpv4DontFragment = 0x4000;

struct [[gnu::packed]] IcmpHdr {
  uint8_t type;
  uint8_t code;
  uint16_t csum;
  uint16_t id;
  uint16_t seq;
};
static_assert(sizeof(IcmpHdr) == 8);
constexpr uint8_t kIcmpEchoReply = 0;
constexpr uint8_t kIcmpUnreachable = 3;
constexpr uint8_t kIcmpEchoRequest = 8;
constexpr uint8_t kIcmpTimeExceeded = 11;
// ICMP messages that report an error (RFC 1812 §4.3.2.7: never answered with
// another error): unreachable, source quench, redirect, time exceeded,
// parameter problem.
constexpr bool is_icmp_error(uint8_t type) {
  return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
}

// Raw words at any address of a frame or a packed record, in the byte order
// they have there (network order on the wire): memcpy, which the compiler
// turns into one move, since such an address may be unaligned.
inline uint16_t load16(const void* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline uint32_t load32(const void* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline uint64_t load64(const void* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline void store16(void* p, uint16_t v) { std::memcpy(p, &v, 2); }

// ---------------------------------------------------------------- checksums

// Internet checksum (RFC 1071) of a byte range, returned in network order so it
// can be stored straight into a header field.
uint16_t inet_checksum(std::span<const uint8_t> data);

// The checksum of an IPv4 header as it is on the wire: zero when the header
// is intact. Inline and unrolled for the usual 20-byte header (every packet
// pays for this check); options fall back to inet_checksum.
inline uint16_t ipv4_header_checksum(const uint8_t* hdr, size_t ihl) {
  if (ihl != 20) return inet_checksum({hdr, ihl});
  uint64_t sum = 0;
  for (size_t i = 0; i < 20; i += 4) {
    uint32_t w;
    std::memcpy(&w, hdr + i, 4);
    sum += w;  // ones' complement sums are byte-order independent (RFC 1071 §2(B))
  }
  // Folds by rotation: the high half of x + rotl(x, half) is hi + lo plus
  // the carry out of lo + hi, the end-around carry. 64 -> 32, then 32 -> 16.
  const uint32_t s = uint32_t((sum + std::rotl(sum, 32)) >> 32);
  return uint16_t(~((s + std::rotl(s, 16)) >> 16));
}

// RFC 1624 incremental update of a network-order checksum when a 16-bit word
// (network order) changes from old_word to new_word.
inline uint16_t checksum_adjust(uint16_t csum, uint16_t old_word, uint16_t new_word) {
  const uint32_t sum = uint16_t(~csum) + uint32_t(uint16_t(~old_word)) + new_word;
  return uint16_t(~((sum + std::rotl(sum, 16)) >> 16));  // the fold by rotation (ipv4_header_checksum)
}

// The same for `len` bytes (even, at an even offset of the checksummed data)
// changing from `before` to `after`: an IPv4 or IPv6 address in a pseudo
// header, say. Both are read before the caller writes either.
inline uint16_t checksum_adjust(uint16_t csum, const uint8_t* before, const uint8_t* after, size_t len) {
  uint32_t sum = uint16_t(~csum);
  for (size_t i = 0; i < len; i += 2) {
    uint16_t o, n;
    std::memcpy(&o, before + i, 2);
    std::memcpy(&n, after + i, 2);
    sum += uint32_t(uint16_t(~o)) + n;
  }
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum);
}

}  // namespace hafw::net
