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

Frame encode_advert(const AdvertFields& f, const Auth& auth, const AdvertAddressing& to) {
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
  std::memcpy(p + sizeof eth + sizeof ip, &ch, sizeof ch);
  return frame;
}

Decoded decode_advert(std::span<const uint8_t> frame) {
  net::EthHdr eth;
  if (frame.size() < sizeof eth) return Drop::BadLength;
  std::memcpy(&eth, frame.data(), sizeof eth);
  const uint16_t type = be16(eth.type);
  if (type == net::kEtherTypeIpv6) return Drop::BadAddressFamily;
  if (type != net::kEtherTypeIpv4) return Drop::NotCarp;

  auto l3 = frame.subspan(sizeof eth);
  net::Ipv4Hdr ip;
  if (l3.size() < sizeof ip) return Drop::BadIpHeader;
  std::memcpy(&ip, l3.data(), sizeof ip);
  const size_t ihl = ip.ihl_bytes();
  const size_t total = be16(ip.total_len);
  if ((ip.ver_ihl >> 4) != 4 || ihl < sizeof ip || total < ihl || total > l3.size())
    return Drop::BadIpHeader;
  if (net::inet_checksum(l3.first(ihl)) != 0) return Drop::BadIpHeader;
  // Adverts are 56 bytes with DF: a fragment is never one of ours.
  if ((be16(ip.frag) & 0x3fff) != 0) return Drop::BadIpHeader;
  if (ip.proto != net::kProtoCarp) return Drop::NotCarp;

  // RFC 5798 §7.1 / OpenBSD carps_badttl: anything routed to us is forged.
  if (ip.ttl != kCarpTtl) return Drop::BadTtl;
  auto l4 = l3.subspan(ihl, total - ihl);
  CarpHdr ch;
  if (l4.size() < sizeof ch) return Drop::BadLength;
  if (net::inet_checksum(l4.first(sizeof ch)) != 0) return Drop::BadChecksum;
  std::memcpy(&ch, l4.data(), sizeof ch);
  if ((ch.ver_type >> 4) != kCarpVersion) return Drop::BadVersion;
  if ((ch.ver_type & 0x0f) != kCarpTypeAdvert) return Drop::BadType;
  if (ch.authlen != kCarpAuthLen) return Drop::BadAuthLen;

  Advert a;
  a.src = net::IpAddr::v4(be32(ip.src));
  a.dst = net::IpAddr::v4(be32(ip.dst));
  a.eth_src = eth.src;
  a.vhid = ch.vhid;
  a.advbase = ch.advbase;
  a.advskew = ch.advskew;
  a.demote = ch.demote;
  a.counter = counter_value(ch.counter);
  a.md = ch.md;
  return a;
}

bool verify(const Advert& a, const VhidConfig& cfg) {
  return Auth(cfg.password, cfg.vhid, cfg.addresses).verify(a);
}

}  // namespace hafw::carp
