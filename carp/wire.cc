#include "carp/wire.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstring>

namespace hafw::carp {

using net::be16;
using net::be32;

Auth::Auth(std::string_view password, uint8_t vhid, std::span<const net::IpAddr> vips)
    : key_(password.begin(), password.begin() + std::min(password.size(), kCarpKeyMax)) {
  prefix_ = {kCarpVersion, kCarpTypeAdvert, vhid};
  // One code path for both families: v4 then v6, each sorted by its bytes
  // (network order for IPv4 is the numeric order OpenBSD's ntohl compare uses).
  for (net::Family af : {net::Family::V4, net::Family::V6}) {
    std::vector<std::array<uint8_t, 16>> addrs;
    for (const auto& a : vips) {
      if (a.af != af) continue;
      auto b = a.b;
      // KAME embeds the interface index in bytes 2-3 of link-local and other
      // scoped addresses; the BSDs zero it before hashing.
      if (af == net::Family::V6 && b[0] == 0xfe && (b[1] & 0xc0) == 0x80) b[2] = b[3] = 0;
      addrs.push_back(b);
    }
    std::sort(addrs.begin(), addrs.end());
    addrs.erase(std::unique(addrs.begin(), addrs.end()), addrs.end());
    const size_t n = af == net::Family::V4 ? 4 : 16;
    for (const auto& b : addrs) prefix_.insert(prefix_.end(), b.begin(), b.begin() + n);
  }
}

std::array<uint8_t, 20> Auth::digest(const std::array<uint8_t, 8>& counter) const {
  std::vector<uint8_t> msg(prefix_);
  msg.insert(msg.end(), counter.begin(), counter.end());
  std::array<uint8_t, 20> md{};
  unsigned int len = 0;
  static const uint8_t kEmpty = 0;
  HMAC(EVP_sha1(), key_.empty() ? &kEmpty : key_.data(), int(key_.size()), msg.data(), msg.size(),
       md.data(), &len);
  return md;
}

bool Auth::verify(const Advert& a) const {
  auto md = digest(counter_bytes(a.counter));
  return CRYPTO_memcmp(md.data(), a.md.data(), md.size()) == 0;
}

std::array<uint8_t, 8> counter_bytes(uint64_t c) {
  std::array<uint8_t, 8> b;
  for (int i = 0; i < 8; ++i) b[size_t(i)] = uint8_t(c >> (56 - 8 * i));
  return b;
}

static uint64_t counter_value(const std::array<uint8_t, 8>& b) {
  uint64_t c = 0;
  for (uint8_t x : b) c = c << 8 | x;
  return c;
}

net::IpAddr carp_group(net::Family af) {
  if (af == net::Family::V4) return net::IpAddr::v4(kCarpGroupV4);
  return net::IpAddr{net::Family::V6, kCarpGroupV6};
}

namespace {

// The 36-byte header with its HMAC and checksum, written at p.
void write_carp(uint8_t* p, const AdvertFields& f, const Auth& auth) {
  CarpHdr ch{
      .ver_type = uint8_t(kCarpVersion << 4 | kCarpTypeAdvert),
      .vhid = f.vhid,
      .advskew = f.advskew,
      .authlen = kCarpAuthLen,
      .demote = f.demote,
      .advbase = f.advbase,
      .csum = 0,
      .counter = counter_bytes(f.counter),
      .md = {},
  };
  ch.md = auth.digest(ch.counter);
  ch.csum = net::inet_checksum({reinterpret_cast<const uint8_t*>(&ch), sizeof ch});
  std::memcpy(p, &ch, sizeof ch);
}

Frame encode_v4(const AdvertFields& f, const Auth& auth, const AdvertAddressing& to) {
  Frame frame(kAdvertFrameLen);
  uint8_t* p = frame.data();

  net::EthHdr eth{.dst = to.eth_dst, .src = net::Mac::virtual_for(f.vhid), .type = be16(net::kEtherTypeIpv4)};
  std::memcpy(p, &eth, sizeof eth);

  uint32_t src, dst;
  std::memcpy(&src, to.src.b.data(), 4);
  std::memcpy(&dst, to.dst.b.data(), 4);
  net::Ipv4Hdr ip{
      .ver_ihl = 0x45,
      .tos = kCarpTos,
      .total_len = be16(uint16_t(sizeof(net::Ipv4Hdr) + sizeof(CarpHdr))),
      // DF is set, so the ID never reassembles anything (RFC 6864 §4.1); vary
      // it with the counter rather than keep global state.
      .id = be16(uint16_t(f.counter)),
      .frag = be16(net::kIpv4DontFragment),
      .ttl = kCarpTtl,
      .proto = net::kProtoCarp,
      .csum = 0,
      .src = src,
      .dst = dst,
  };
  ip.csum = net::inet_checksum({reinterpret_cast<const uint8_t*>(&ip), sizeof ip});
  std::memcpy(p + sizeof eth, &ip, sizeof ip);
  write_carp(p + sizeof eth + sizeof ip, f, auth);
  return frame;
}

Frame encode_v6(const AdvertFields& f, const Auth& auth, const AdvertAddressing& to) {
  Frame frame(kAdvertFrameLen6);
  uint8_t* p = frame.data();
  net::EthHdr eth{.dst = to.eth_dst, .src = net::Mac::virtual_for(f.vhid), .type = be16(net::kEtherTypeIpv6)};
  std::memcpy(p, &eth, sizeof eth);
  net::Ipv6Hdr ip{};
  ip.ver_tc_flow = be32(uint32_t(6) << 28);
  ip.payload_len = be16(uint16_t(sizeof(CarpHdr)));
  ip.next = net::kProtoCarp;
  ip.hop_limit = kCarpTtl;
  std::memcpy(ip.src, to.src.b.data(), 16);
  std::memcpy(ip.dst, to.dst.b.data(), 16);
  std::memcpy(p + sizeof eth, &ip, sizeof ip);
  write_carp(p + sizeof eth + sizeof ip, f, auth);
  return frame;
}

// The CARP header and its checks, the same for both families once the IP
// layer has given the hop limit and the payload.
Decoded decode_carp(const net::EthHdr& eth, uint8_t ttl, std::span<const uint8_t> l4, Advert a) {
  // RFC 5798 §7.1 / OpenBSD carps_badttl: anything routed to us is forged.
  if (ttl != kCarpTtl) return Drop::BadTtl;
  CarpHdr ch;
  if (l4.size() < sizeof ch) return Drop::BadLength;
  if (net::inet_checksum(l4.first(sizeof ch)) != 0) return Drop::BadChecksum;
  std::memcpy(&ch, l4.data(), sizeof ch);
  if ((ch.ver_type >> 4) != kCarpVersion) return Drop::BadVersion;
  if ((ch.ver_type & 0x0f) != kCarpTypeAdvert) return Drop::BadType;
  if (ch.authlen != kCarpAuthLen) return Drop::BadAuthLen;

  a.eth_src = eth.src;
  a.vhid = ch.vhid;
  a.advbase = ch.advbase;
  a.advskew = ch.advskew;
  a.demote = ch.demote;
  a.counter = counter_value(ch.counter);
  a.md = ch.md;
  return a;
}

Decoded decode_v4(const net::EthHdr& eth, std::span<const uint8_t> l3) {
  net::Ipv4Hdr ip;
  if (l3.size() < sizeof ip) return Drop::BadIpHeader;
  std::memcpy(&ip, l3.data(), sizeof ip);
  if ((ip.ver_ihl >> 4) != 4) return Drop::BadAddressFamily;
  const size_t ihl = ip.ihl_bytes();
  const size_t total = be16(ip.total_len);
  if (ihl < sizeof ip || total < ihl || total > l3.size()) return Drop::BadIpHeader;
  if (net::inet_checksum(l3.first(ihl)) != 0) return Drop::BadIpHeader;
  // Adverts are 56 bytes with DF: a fragment is never one of ours.
  if ((be16(ip.frag) & 0x3fff) != 0) return Drop::BadIpHeader;
  if (ip.proto != net::kProtoCarp) return Drop::NotCarp;
  Advert a;
  a.src = net::IpAddr::v4(be32(ip.src));
  a.dst = net::IpAddr::v4(be32(ip.dst));
  return decode_carp(eth, ip.ttl, l3.subspan(ihl, total - ihl), a);
}

Decoded decode_v6(const net::EthHdr& eth, std::span<const uint8_t> l3) {
  net::Ipv6Hdr ip;
  if (l3.size() < sizeof ip) return Drop::BadIpHeader;
  std::memcpy(&ip, l3.data(), sizeof ip);
  if (ip.version() != 6) return Drop::BadAddressFamily;
  const size_t total = sizeof ip + be16(ip.payload_len);
  if (total == sizeof ip || total > l3.size()) return Drop::BadIpHeader;
  // Extension headers before CARP (hop-by-hop, routing, destination
  // options) are skipped as the BSD input path does; a fragment is never an
  // advert (36 bytes), and the walk is bounded as the workers' is.
  uint8_t next = ip.next;
  size_t off = sizeof ip;
  for (int n = 0; next == net::kIp6HopByHop || next == net::kIp6Routing || next == net::kIp6DestOpts; ++n) {
    if (n >= 8 || off + 8 > total) return Drop::BadIpHeader;
    next = l3[off];
    off += (size_t(l3[off + 1]) + 1) * 8;
    if (off > total) return Drop::BadIpHeader;
  }
  if (next == net::kIp6Fragment) return Drop::BadIpHeader;
  if (next != net::kProtoCarp) return Drop::NotCarp;
  Advert a;
  a.src = net::IpAddr{net::Family::V6, {}};
  a.dst = net::IpAddr{net::Family::V6, {}};
  std::memcpy(a.src.b.data(), ip.src, 16);
  std::memcpy(a.dst.b.data(), ip.dst, 16);
  return decode_carp(eth, ip.hop_limit, l3.subspan(off, total - off), a);
}

}  // namespace

Frame encode_advert(const AdvertFields& f, const Auth& auth, const AdvertAddressing& to) {
  return to.src.is_v4() ? encode_v4(f, auth, to) : encode_v6(f, auth, to);
}

Decoded decode_advert(std::span<const uint8_t> frame) {
  net::EthHdr eth;
  if (frame.size() < sizeof eth) return Drop::BadLength;
  std::memcpy(&eth, frame.data(), sizeof eth);
  const uint16_t type = be16(eth.type);
  if (type == net::kEtherTypeIpv4) return decode_v4(eth, frame.subspan(sizeof eth));
  if (type == net::kEtherTypeIpv6) return decode_v6(eth, frame.subspan(sizeof eth));
  return Drop::NotCarp;
}

bool verify(const Advert& a, const VhidConfig& cfg) {
  return Auth(cfg.password, cfg.vhid, cfg.addresses).verify(a);
}

}  // namespace hafw::carp
