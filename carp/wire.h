// CARP wire codec: the BSD 36-byte advertisement inside IPv4 or IPv6, and its
// HMAC.
//
// Layout and rules from OpenBSD/FreeBSD sys/netinet/ip_carp.h (FreeBSD asserts
// sizeof == 36), summarised in docs/protocols.md. Decoding never allocates; the
// HMAC needs the VHID's password and VIPs, so it is checked separately
// (Auth::verify) once the VHID is known, as OpenBSD's carp_proto_input_c does.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <variant>
#include <vector>

#include "carp/types.h"
#include "dataplane/net/ipv6.h"
#include "dataplane/net/net.h"

namespace hafw::carp {

constexpr uint8_t kCarpVersion = 2;
constexpr uint8_t kCarpTypeAdvert = 1;
// Counter (8 bytes) + HMAC (20 bytes) in 32-bit words; every BSD sends 7.
constexpr uint8_t kCarpAuthLen = 7;
// RFC 5798 §5.1.1.3 / BSD CARP_DFLTTL: a TTL of 255 proves the sender is on-link.
constexpr uint8_t kCarpTtl = 255;
// BSD and ucarp put adverts in the low-delay class (IPTOS_LOWDELAY).
constexpr uint8_t kCarpTos = 0x10;
// BSD CARP_KEY_LEN is 20 bytes with a terminating NUL (strlcpy): 19 usable.
constexpr size_t kCarpKeyMax = 19;
// A leaving master advertises advbase = advskew = 255 (OpenBSD sc_bow_out).
constexpr uint8_t kBowOut = 255;

constexpr uint32_t kCarpGroupV4 = 0xe0000012;  // 224.0.0.18
constexpr net::Mac kCarpGroupMac{{0x01, 0x00, 0x5e, 0x00, 0x00, 0x12}};
// ff02::12 and its Ethernet group 33:33:00:00:00:12 (RFC 2464 §7).
constexpr net::Addr6 kCarpGroupV6{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12};
constexpr net::Mac kCarpGroupMac6{{0x33, 0x33, 0x00, 0x00, 0x00, 0x12}};
net::IpAddr carp_group(net::Family af);  // 224.0.0.18 or ff02::12

struct [[gnu::packed]] CarpHdr {
  uint8_t ver_type;   // version << 4 | type
  uint8_t vhid;
  uint8_t advskew;
  uint8_t authlen;
  uint8_t demote;     // OpenBSD: demotion count; FreeBSD/ucarp: pad, 0
  uint8_t advbase;
  uint16_t csum;      // network order, Internet checksum over these 36 bytes
  std::array<uint8_t, 8> counter;  // big-endian 64-bit (two htonl words on FreeBSD/ucarp)
  std::array<uint8_t, 20> md;      // HMAC-SHA1
};
static_assert(sizeof(CarpHdr) == 36);

constexpr size_t kAdvertFrameLen = sizeof(net::EthHdr) + sizeof(net::Ipv4Hdr) + sizeof(CarpHdr);
static_assert(kAdvertFrameLen == 70);
constexpr size_t kAdvertFrameLen6 = sizeof(net::EthHdr) + sizeof(net::Ipv6Hdr) + sizeof(CarpHdr);
static_assert(kAdvertFrameLen6 == 90);

// The fields of an advertisement that the election looks at, plus what the
// HMAC and loop detection need.
struct Advert {
  net::IpAddr src;   // IP source: the sending node's own address (IPv6: its link-local)
  net::IpAddr dst;   // 224.0.0.18, ff02::12 or our unicast address
  net::Mac eth_src;  // the virtual MAC for a BSD peer, 00:00:5e:00:00:VHID for ucarp
  uint8_t vhid = 0;
  uint8_t advbase = 0;
  uint8_t advskew = 0;
  uint8_t demote = 0;
  uint64_t counter = 0;
  std::array<uint8_t, 20> md{};

  bool bow_out() const { return advbase == kBowOut && advskew == kBowOut; }
};

// The header fields a sender chooses.
struct AdvertFields {
  uint8_t vhid = 0;
  uint8_t advbase = 1;
  uint8_t advskew = 0;
  uint8_t demote = 0;
  uint64_t counter = 0;
};

// Where an advert goes: IP source/destination, both IPv4 or both IPv6 (the
// family of the advert), and the Ethernet destination (kCarpGroupMac for
// 224.0.0.18, kCarpGroupMac6 for ff02::12; the peer's MAC, or broadcast while
// unknown, for unicast CARP).
struct AdvertAddressing {
  net::IpAddr src;
  net::IpAddr dst;
  net::Mac eth_dst;
};

// HMAC-SHA1 state of one VHID. BSD key: the password zero-padded to 20 bytes,
// at most 19 of them used. HMAC (RFC 2104) zero-pads any key shorter than its
// 64-byte block, so "19 bytes" and "19 bytes + NUL padding" give the same MAC.
// Message: 0x02 0x01 vhid, IPv4 VIPs sorted ascending, IPv6 VIPs sorted by
// memcmp with the scope word (bytes 2-3) zeroed, then the 8 counter bytes as
// sent. This is the order of OpenBSD carp_hmac_prepare_ctx and ucarp's
// carp_hmac_prepare (which hashes its single VIP).
class Auth {
 public:
  Auth(std::string_view password, uint8_t vhid, std::span<const net::IpAddr> vips);

  std::array<uint8_t, 20> digest(const std::array<uint8_t, 8>& counter) const;
  // Constant-time compare, so a forger learns nothing from timing.
  bool verify(const Advert& a) const;
  // The message without the counter, for tests and diagnostics.
  std::span<const uint8_t> message_prefix() const { return prefix_; }

 private:
  std::vector<uint8_t> key_;
  std::vector<uint8_t> prefix_;
};

std::array<uint8_t, 8> counter_bytes(uint64_t counter);

// A complete Ethernet + IP + CARP advertisement in the family of `to`:
// IPv4 (70 bytes: TTL 255, DF, TOS low delay, protocol 112) or IPv6 (90
// bytes: hop limit 255, next header 112, traffic class and flow label 0 as
// OpenBSD sends). The Ethernet source is the virtual MAC 00:00:5e:00:01:VHID
// so that switches learn where the master is from its adverts alone. The
// CARP checksum covers the 36-byte header alone in both families (no IPv6
// pseudo-header: OpenBSD carp6_proto_input_if, FreeBSD carp6_input).
Frame encode_advert(const AdvertFields& f, const Auth& auth, const AdvertAddressing& to);

// Decode a whole Ethernet frame, IPv4 or IPv6. Checks in OpenBSD's order
// where it has one (TTL or hop limit, length, checksum, then version), then
// type and authlen as FreeBSD and tshark do. The HMAC is not checked here.
using Decoded = std::variant<Advert, Drop>;
Decoded decode_advert(std::span<const uint8_t> frame);

// HMAC check against a VHID's configuration (builds an Auth: use Auth::verify
// where the VHID is long-lived).
bool verify(const Advert& a, const VhidConfig& cfg);

}  // namespace hafw::carp
