#include <catch2/catch.hpp>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>

#include "carp/announce.h"
#include "carp/carp.h"
#include "carp/wire.h"

using namespace hafw;
using namespace hafw::carp;

namespace {

net::IpAddr ip(const char* s) { return *net::IpAddr::parse(s); }

// RFC 1071 written out again here so the codec is not checked against itself.
uint16_t ones_sum_csum(const uint8_t* p, size_t n) {
  uint32_t s = 0;
  for (size_t i = 0; i + 1 < n; i += 2) s += uint32_t(p[i]) << 8 | p[i + 1];
  if (n & 1) s += uint32_t(p[n - 1]) << 8;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return uint16_t(~s);
}

constexpr size_t kIp = 14, kCarp = 34;

void fix_ip_csum(Frame& f) {
  f[kIp + 10] = f[kIp + 11] = 0;
  uint16_t c = ones_sum_csum(&f[kIp], 20);
  f[kIp + 10] = uint8_t(c >> 8);
  f[kIp + 11] = uint8_t(c);
}
// The CARP header's checksum, for a header at `at` (kCarp over IPv4, kCarp6 over IPv6).
void fix_carp_csum(Frame& f, size_t at = kCarp) {
  f[at + 6] = f[at + 7] = 0;
  uint16_t c = ones_sum_csum(&f[at], 36);
  f[at + 6] = uint8_t(c >> 8);
  f[at + 7] = uint8_t(c);
}

// The ucarp example command line (docs/protocols.md): vhid 7, password
// "secret", VIP 10.9.0.100, advbase 1, advskew 100.
const AdvertFields kFields{.vhid = 7, .advbase = 1, .advskew = 100, .demote = 0, .counter = 0x0102030405060708};
const AdvertAddressing kGroup{.src = ip("10.9.0.2"), .dst = ip("224.0.0.18"), .eth_dst = kCarpGroupMac};

Frame kat_frame() {
  const net::IpAddr vip = ip("10.9.0.100");
  return encode_advert(kFields, Auth("secret", 7, {&vip, 1}), kGroup);
}

Drop drop_of(const Frame& f) {
  auto d = decode_advert(f);
  REQUIRE(std::holds_alternative<Drop>(d));
  return std::get<Drop>(d);
}

}  // namespace

TEST_CASE("advert known answer: vhid 7, password secret, VIP 10.9.0.100", "[carp][wire]") {
  // Assembled by hand (Python hmac/struct), independent of the encoder.
  const uint8_t expected[] = {
      0x01, 0x00, 0x5e, 0x00, 0x00, 0x12, 0x00, 0x00, 0x5e, 0x00, 0x01, 0x07, 0x08, 0x00,
      0x45, 0x10, 0x00, 0x38, 0x07, 0x08, 0x40, 0x00, 0xff, 0x70, 0x8a, 0x20, 0x0a, 0x09,
      0x00, 0x02, 0xe0, 0x00, 0x00, 0x12, 0x21, 0x07, 0x64, 0x07, 0x00, 0x01, 0x14, 0xf2,
      0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x48, 0x2b, 0xda, 0x74, 0x7e, 0x9d,
      0xe8, 0xa0, 0x19, 0x8d, 0x99, 0x70, 0x77, 0x97, 0x92, 0xc9, 0x8a, 0x11, 0x84, 0x9b,
  };
  const Frame f = kat_frame();
  REQUIRE(f.size() == sizeof expected);
  CHECK(std::memcmp(f.data(), expected, sizeof expected) == 0);

  // The HMAC again, from a message assembled here: 0x02 0x01 vhid, VIP, counter.
  const uint8_t msg[] = {0x02, 0x01, 0x07, 10, 9, 0, 100, 1, 2, 3, 4, 5, 6, 7, 8};
  uint8_t md[20];
  unsigned len = 0;
  HMAC(EVP_sha1(), "secret", 6, msg, sizeof msg, md, &len);
  REQUIRE(len == 20);
  CHECK(std::memcmp(&f[kCarp + 16], md, 20) == 0);
  // Both checksums verify by the RFC 1071 rule (sum over the block is 0xffff).
  CHECK(ones_sum_csum(&f[kIp], 20) == 0);
  CHECK(ones_sum_csum(&f[kCarp], 36) == 0);
}

TEST_CASE("decode returns what encode wrote and the HMAC verifies", "[carp][wire]") {
  const Frame f = kat_frame();
  auto d = decode_advert(f);
  REQUIRE(std::holds_alternative<Advert>(d));
  const Advert& a = std::get<Advert>(d);
  CHECK(a.vhid == 7);
  CHECK(a.advbase == 1);
  CHECK(a.advskew == 100);
  CHECK(a.demote == 0);
  CHECK(a.counter == 0x0102030405060708u);
  CHECK(a.src == ip("10.9.0.2"));
  CHECK(a.dst == ip("224.0.0.18"));
  CHECK(a.eth_src == net::Mac::virtual_for(7));
  CHECK_FALSE(a.bow_out());

  VhidConfig cfg{.interface = "wan", .vhid = 7, .addresses = {ip("10.9.0.100")}, .password = "secret"};
  CHECK(verify(a, cfg));
  SECTION("wrong password") {
    cfg.password = "secreT";
    CHECK_FALSE(verify(a, cfg));
  }
  SECTION("different VIP set") {
    cfg.addresses.push_back(ip("10.9.0.101"));
    CHECK_FALSE(verify(a, cfg));
  }
  SECTION("different vhid") {
    cfg.vhid = 8;
    CHECK_FALSE(verify(a, cfg));
  }
  SECTION("tampered counter") {
    Advert b = a;
    b.counter++;
    CHECK_FALSE(verify(b, cfg));
  }
}

TEST_CASE("HMAC key: BSD peers use at most 19 password bytes, NUL padded", "[carp][wire]") {
  const net::IpAddr vip = ip("10.9.0.100");
  const std::string long_pw = "0123456789abcdefghijKLMNOP";  // 26 bytes
  const auto counter = counter_bytes(42);
  const auto md = Auth(long_pw, 7, {&vip, 1}).digest(counter);
  CHECK(md == Auth(long_pw.substr(0, 19), 7, {&vip, 1}).digest(counter));
  // The BSD form: a 20-byte key array holding 19 bytes and a NUL.
  uint8_t key[20] = {};
  std::memcpy(key, long_pw.data(), 19);
  std::vector<uint8_t> msg{2, 1, 7, 10, 9, 0, 100};
  msg.insert(msg.end(), counter.begin(), counter.end());
  uint8_t bsd[20];
  unsigned len = 0;
  HMAC(EVP_sha1(), key, sizeof key, msg.data(), msg.size(), bsd, &len);
  CHECK(std::memcmp(md.data(), bsd, 20) == 0);
  // ... and not what a key of all 26 bytes would give.
  HMAC(EVP_sha1(), long_pw.data(), int(long_pw.size()), msg.data(), msg.size(), bsd, &len);
  CHECK(std::memcmp(md.data(), bsd, 20) != 0);
}

TEST_CASE("HMAC message: IPv4 VIPs sorted, then IPv6 VIPs sorted, scope word zeroed", "[carp][wire]") {
  const std::vector<net::IpAddr> a{ip("2001:db8::2"), ip("10.0.0.2"), ip("fe80:5::1"), ip("10.0.0.1"),
                                   ip("2001:db8::1")};
  const std::vector<net::IpAddr> b{ip("10.0.0.1"), ip("2001:db8::1"), ip("10.0.0.2"), ip("fe80::1"),
                                   ip("2001:db8::2")};
  Auth x("pw", 9, a), y("pw", 9, b);
  auto m = x.message_prefix();
  CHECK(std::vector<uint8_t>(m.begin(), m.end()) == std::vector<uint8_t>(y.message_prefix().begin(),
                                                                         y.message_prefix().end()));
  REQUIRE(m.size() == 3 + 2 * 4 + 3 * 16);
  const uint8_t head[] = {2, 1, 9, 10, 0, 0, 1, 10, 0, 0, 2, 0x20, 0x01};
  CHECK(std::memcmp(m.data(), head, sizeof head) == 0);
  CHECK(m[3 + 8 + 15] == 1);           // 2001:db8::1 first
  CHECK(m[3 + 8 + 16 + 15] == 2);      // then 2001:db8::2
  CHECK(m[3 + 8 + 32] == 0xfe);        // then fe80::1, its scope bytes zero
  CHECK(m[3 + 8 + 32 + 3] == 0);
}

TEST_CASE("unicast advert goes to the peer's address and MAC, over IPv4 or IPv6", "[carp][wire]") {
  const net::Mac peer_mac = *net::Mac::parse("02:00:00:00:00:03");
  // {VIP, our source, the peer}
  for (const auto& [vip, src, peer] : {std::array{ip("10.9.0.100"), ip("10.9.0.2"), ip("10.9.0.3")},
                                       std::array{ip("2001:db8:9::100"), ip("fe80::ff:fe00:2"), ip("2001:db8:9::3")}}) {
    const Frame f = encode_advert(kFields, Auth("secret", 7, {&vip, 1}), {.src = src, .dst = peer, .eth_dst = peer_mac});
    CHECK(std::memcmp(f.data(), peer_mac.b.data(), 6) == 0);
    auto d = decode_advert(f);
    REQUIRE(std::holds_alternative<Advert>(d));
    CHECK(std::get<Advert>(d).dst == peer);
    CHECK(std::get<Advert>(d).src == src);
  }
}

TEST_CASE("decoder drops bad adverts by named reason", "[carp][wire]") {
  Frame f = kat_frame();
  SECTION("TTL below 255 means it was routed") {
    f[kIp + 8] = 254;
    fix_ip_csum(f);
    CHECK(drop_of(f) == Drop::BadTtl);
  }
  SECTION("CARP checksum") {
    f[kCarp + 20] ^= 0x01;
    CHECK(drop_of(f) == Drop::BadChecksum);
  }
  SECTION("version 3") {
    f[kCarp] = 0x31;
    fix_carp_csum(f);
    CHECK(drop_of(f) == Drop::BadVersion);
  }
  SECTION("type 2") {
    f[kCarp] = 0x22;
    fix_carp_csum(f);
    CHECK(drop_of(f) == Drop::BadType);
  }
  SECTION("authlen 6") {
    f[kCarp + 3] = 6;
    fix_carp_csum(f);
    CHECK(drop_of(f) == Drop::BadAuthLen);
  }
  SECTION("CARP payload shorter than 36 bytes") {
    f.resize(f.size() - 1);
    f[kIp + 3] = 55;  // total length 55: consistent IP, short CARP
    fix_ip_csum(f);
    CHECK(drop_of(f) == Drop::BadLength);
  }
  SECTION("frame shorter than its IP total length") {
    f.resize(f.size() - 1);
    CHECK(drop_of(f) == Drop::BadIpHeader);
  }
  SECTION("IP header checksum") {
    f[kIp + 10] ^= 0x80;
    CHECK(drop_of(f) == Drop::BadIpHeader);
  }
  SECTION("fragment") {
    f[kIp + 6] = 0x20;  // MF
    f[kIp + 7] = 0x00;
    fix_ip_csum(f);
    CHECK(drop_of(f) == Drop::BadIpHeader);
  }
  SECTION("not protocol 112") {
    f[kIp + 9] = 17;
    fix_ip_csum(f);
    CHECK(drop_of(f) == Drop::NotCarp);
  }
  SECTION("an IPv6 EtherType over an IPv4 packet") {
    f[12] = 0x86;
    f[13] = 0xdd;
    CHECK(drop_of(f) == Drop::BadAddressFamily);
  }
  SECTION("another EtherType") {
    f[12] = 0x08;
    f[13] = 0x06;
    CHECK(drop_of(f) == Drop::NotCarp);
  }
  SECTION("runt frame") {
    f.resize(10);
    CHECK(drop_of(f) == Drop::BadLength);
  }
  SECTION("Ethernet padding after the IP packet is accepted") {
    f.resize(f.size() + 8, 0);
    CHECK(std::holds_alternative<Advert>(decode_advert(f)));
  }
}

namespace {

constexpr size_t kIp6 = 14, kCarp6 = 54;

// vhid 7, password "secret", IPv6 VIP 2001:db8:9::100, from the link-local
// address of MAC 02:00:00:00:00:02 to ff02::12.
const AdvertAddressing kGroup6{.src = ip("fe80::ff:fe00:2"), .dst = ip("ff02::12"), .eth_dst = kCarpGroupMac6};

Frame kat_frame6() {
  const net::IpAddr vip = ip("2001:db8:9::100");
  return encode_advert(kFields, Auth("secret", 7, {&vip, 1}), kGroup6);
}

}  // namespace

TEST_CASE("IPv6 advert known answer: vhid 7, password secret, VIP 2001:db8:9::100", "[carp][wire]") {
  // Assembled by hand (Python hmac/struct), independent of the encoder:
  // 33:33:00:00:00:12, hop limit 255, next header 112, from fe80::ff:fe00:2
  // to ff02::12, the CARP checksum over the 36 bytes alone.
  const uint8_t expected[] = {
      0x33, 0x33, 0x00, 0x00, 0x00, 0x12, 0x00, 0x00, 0x5e, 0x00, 0x01, 0x07, 0x86, 0xdd,
      0x60, 0x00, 0x00, 0x00, 0x00, 0x24, 0x70, 0xff, 0xfe, 0x80, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xfe, 0x00, 0x00, 0x02, 0xff, 0x02, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x12, 0x21, 0x07,
      0x64, 0x07, 0x00, 0x01, 0xb4, 0xaf, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
      0x38, 0x10, 0x3c, 0xc3, 0xf1, 0xe6, 0x0e, 0xeb, 0xa7, 0x4d, 0x63, 0xab, 0xe5, 0x66,
      0x4c, 0xcc, 0x0d, 0x77, 0xf5, 0xe3,
  };
  const Frame f = kat_frame6();
  REQUIRE(f.size() == sizeof expected);
  CHECK(std::memcmp(f.data(), expected, sizeof expected) == 0);
  CHECK(ones_sum_csum(&f[kCarp6], 36) == 0);
  // The source is the link-local address the dataplane derives from the MAC.
  const net::Addr6 ll = net::link_local_of(*net::Mac::parse("02:00:00:00:00:02"));
  CHECK(std::memcmp(&f[kIp6 + 8], ll.data(), 16) == 0);

  auto d = decode_advert(f);
  REQUIRE(std::holds_alternative<Advert>(d));
  const Advert& a = std::get<Advert>(d);
  CHECK(a.src == ip("fe80::ff:fe00:2"));
  CHECK(a.dst == ip("ff02::12"));
  CHECK(a.vhid == 7);
  CHECK(a.advskew == 100);
  CHECK(a.counter == 0x0102030405060708u);
  CHECK(a.eth_src == net::Mac::virtual_for(7));
  CHECK(verify(a, VhidConfig{.interface = "lan", .vhid = 7, .addresses = {ip("2001:db8:9::100")}, .password = "secret"}));
}

TEST_CASE("HMAC over IPv4 and IPv6 VIPs matches an independently computed vector", "[carp][wire]") {
  // Python: hmac.new(b"secret", bytes([2, 1, 7]) + 10.9.0.100 + 2001:db8:9::100
  // + 2001:db8:9::101 + counter 01..08, sha1): the same digest whichever
  // family carries the advert, so one VHID's IPv4 and IPv6 adverts agree.
  const uint8_t want[20] = {0xa5, 0xef, 0xf7, 0x52, 0xb9, 0xc4, 0x4e, 0x9e, 0x48, 0x45,
                            0x25, 0xbe, 0x09, 0x01, 0x75, 0x4d, 0x97, 0xf3, 0x99, 0x1a};
  const std::vector<net::IpAddr> vips{ip("2001:db8:9::101"), ip("10.9.0.100"), ip("2001:db8:9::100")};
  const Auth auth("secret", 7, vips);
  const Frame v4 = encode_advert(kFields, auth, kGroup);
  const Frame v6 = encode_advert(kFields, auth, kGroup6);
  CHECK(std::memcmp(&v4[kCarp + 16], want, 20) == 0);
  CHECK(std::memcmp(&v6[kCarp6 + 16], want, 20) == 0);
  for (const Frame* f : {&v4, &v6}) {
    auto d = decode_advert(*f);
    REQUIRE(std::holds_alternative<Advert>(d));
    CHECK(auth.verify(std::get<Advert>(d)));
    // A peer without the second IPv6 VIP refuses both.
    const std::vector<net::IpAddr> fewer{ip("10.9.0.100"), ip("2001:db8:9::100")};
    CHECK_FALSE(Auth("secret", 7, fewer).verify(std::get<Advert>(d)));
  }
}

TEST_CASE("IPv6 decoder drops bad adverts by named reason", "[carp][wire]") {
  Frame f = kat_frame6();
  SECTION("hop limit below 255 means it was routed, counted as the IPv4 TTL") {
    f[kIp6 + 7] = 254;
    CHECK(drop_of(f) == Drop::BadTtl);
  }
  SECTION("CARP checksum (no pseudo-header: changing an address keeps it valid)") {
    f[kCarp6 + 20] ^= 0x01;
    CHECK(drop_of(f) == Drop::BadChecksum);
    f[kCarp6 + 20] ^= 0x01;
    f[kIp6 + 8 + 15] ^= 0x01;
    CHECK(std::holds_alternative<Advert>(decode_advert(f)));
  }
  SECTION("version 3, type 2, authlen 6: the same header checks as over IPv4") {
    struct Bad {
      size_t at;
      uint8_t value;
      Drop why;
    };
    for (const Bad& b : {Bad{0, 0x31, Drop::BadVersion}, Bad{0, 0x22, Drop::BadType}, Bad{3, 6, Drop::BadAuthLen}}) {
      Frame g = f;
      g[kCarp6 + b.at] = b.value;
      fix_carp_csum(g, kCarp6);
      CHECK(drop_of(g) == b.why);
    }
  }
  SECTION("CARP payload shorter than 36 bytes") {
    f.resize(f.size() - 1);
    f[kIp6 + 5] = 35;  // payload length 35: consistent IPv6, short CARP
    CHECK(drop_of(f) == Drop::BadLength);
  }
  SECTION("frame shorter than the payload length") {
    f.resize(f.size() - 1);
    CHECK(drop_of(f) == Drop::BadIpHeader);
  }
  SECTION("truncated IPv6 header") {
    f.resize(kIp6 + 39);
    CHECK(drop_of(f) == Drop::BadIpHeader);
  }
  SECTION("payload length 0") {
    f[kIp6 + 4] = f[kIp6 + 5] = 0;
    CHECK(drop_of(f) == Drop::BadIpHeader);
  }
  SECTION("version 4 in an IPv6 frame") {
    f[kIp6] = 0x45;
    CHECK(drop_of(f) == Drop::BadAddressFamily);
  }
  SECTION("not next header 112") {
    f[kIp6 + 6] = 17;
    CHECK(drop_of(f) == Drop::NotCarp);
  }
  SECTION("a fragment header") {
    Frame g(f.begin(), f.begin() + kCarp6);
    g[kIp6 + 6] = net::kIp6Fragment;
    g[kIp6 + 5] = 36 + 8;
    const uint8_t frag[8] = {net::kProtoCarp, 0, 0, 1, 0, 0, 0, 1};  // offset 0, more fragments
    g.insert(g.end(), frag, frag + 8);
    g.insert(g.end(), f.begin() + kCarp6, f.end());
    CHECK(drop_of(g) == Drop::BadIpHeader);
  }
  SECTION("a destination options header before CARP is walked") {
    Frame g(f.begin(), f.begin() + kCarp6);
    g[kIp6 + 6] = net::kIp6DestOpts;
    g[kIp6 + 5] = 36 + 8;
    const uint8_t opts[8] = {net::kProtoCarp, 0, 1, 4, 0, 0, 0, 0};  // PadN
    g.insert(g.end(), opts, opts + 8);
    g.insert(g.end(), f.begin() + kCarp6, f.end());
    auto d = decode_advert(g);
    REQUIRE(std::holds_alternative<Advert>(d));
    CHECK(std::get<Advert>(d).vhid == 7);
  }
  SECTION("an extension header running past the payload") {
    f[kIp6 + 6] = net::kIp6HopByHop;
    f[kCarp6 + 1] = 200;  // the CARP bytes now read as a 1608-byte option header
    CHECK(drop_of(f) == Drop::BadIpHeader);
  }
  SECTION("Ethernet padding after the IPv6 packet is accepted") {
    f.resize(f.size() + 8, 0);
    CHECK(std::holds_alternative<Advert>(decode_advert(f)));
  }
}

TEST_CASE("gratuitous ARP announces the VIP from the virtual MAC", "[carp][announce]") {
  const Frame f = gratuitous_arp(ip("10.9.0.100"), net::Mac::virtual_for(7));
  const uint8_t expected[] = {
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x5e, 0x00, 0x01, 0x07, 0x08, 0x06,  // Ethernet
      0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01,                                      // request
      0x00, 0x00, 0x5e, 0x00, 0x01, 0x07, 10, 9, 0, 100,                                   // sender
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 10, 9, 0, 100,                                   // target
  };
  REQUIRE(f.size() == 60);  // padded to the Ethernet minimum
  CHECK(std::memcmp(f.data(), expected, sizeof expected) == 0);
  for (size_t i = sizeof expected; i < f.size(); ++i) CHECK(f[i] == 0);
}

TEST_CASE("unsolicited NA announces an IPv6 VIP from the virtual MAC", "[carp][announce]") {
  // Assembled by hand (Python struct, the ICMPv6 checksum over RFC 8200's
  // pseudo-header): to ff02::1 from 33:33:00:00:00:01's sender the virtual
  // MAC, hop limit 255, source = target = the VIP, flags Router|Override
  // (0xa0: not Solicited), target link-layer option = the virtual MAC.
  const uint8_t expected[] = {
      0x33, 0x33, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x5e, 0x00, 0x01, 0x07, 0x86, 0xdd,
      0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x09,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0xff, 0x02, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x88, 0x00,
      0x1a, 0x14, 0xa0, 0x00, 0x00, 0x00, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x09, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x02, 0x01, 0x00, 0x00, 0x5e, 0x00,
      0x01, 0x07,
  };
  const Frame f = unsolicited_na(ip("2001:db8:9::100"), net::Mac::virtual_for(7));
  REQUIRE(f.size() == sizeof expected);
  CHECK(std::memcmp(f.data(), expected, sizeof expected) == 0);
  // Not an advert: the CARP decoder counts it as another protocol.
  CHECK(drop_of(f) == Drop::NotCarp);
}

TEST_CASE("decoder survives random and mutated frames", "[carp][wire][fuzz]") {
  std::mt19937_64 rng(0xc4a9);
  const Frame good4 = kat_frame();
  const Frame good6 = kat_frame6();
  VhidConfig cfg{.interface = "wan", .vhid = 7, .addresses = {ip("10.9.0.100")}, .password = "secret",
                 .src = ip("10.9.0.3")};
  Carp node({cfg});
  (void)node.start(Time{0});
  size_t accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    Frame f;
    const bool v6 = rng() % 2;
    const Frame& good = v6 ? good6 : good4;
    const size_t at = v6 ? kCarp6 : kCarp;
    switch (rng() % 4) {
      case 0:  // random bytes of random length
        f.resize(rng() % 128);
        for (auto& b : f) b = uint8_t(rng());
        break;
      case 1:  // a valid frame with a few bytes flipped
        f = good;
        for (int k = 0, n = 1 + int(rng() % 4); k < n; ++k) f[rng() % f.size()] ^= uint8_t(1 + rng() % 255);
        break;
      case 2:  // truncated or extended
        f = good;
        f.resize(rng() % (good.size() + 16), uint8_t(rng()));
        break;
      case 3:  // valid checksums, random header fields: reaches the later checks
        f = good;
        for (size_t k = at; k < at + 8; ++k)
          if (rng() % 3 == 0) f[k] = uint8_t(rng());
        if (v6) {
          if (rng() % 4 == 0) f[kIp6 + 7] = uint8_t(rng());  // hop limit
          fix_carp_csum(f, kCarp6);
        } else {
          if (rng() % 4 == 0) f[kIp] = uint8_t(0x40 | (rng() % 16));
          fix_carp_csum(f);
          fix_ip_csum(f);
        }
        break;
    }
    auto d = decode_advert(f);
    if (auto* a = std::get_if<Advert>(&d)) {
      ++accepted;
      CHECK(f.size() >= (v6 ? kAdvertFrameLen6 : kAdvertFrameLen));
      (void)a;
    }
    (void)node.receive(f, "wan", Time{i});
  }
  CHECK(accepted > 0);
  uint64_t dropped = 0;
  for (auto n : node.stats().drops) dropped += n;
  CHECK(dropped + node.stats().adverts_received == node.stats().packets_received);
}

// Not a test: writes encode()'s frame as a pcap for offline checking with
//   HAFW_PCAP=/tmp/carp.pcap ./test_carp_wire '[.pcap]'
//   tshark -r /tmp/carp.pcap -d ip.proto==112,carp -V
TEST_CASE("write advert pcap for tshark", "[.pcap]") {
  const char* path = std::getenv("HAFW_PCAP");
  REQUIRE(path);
  FILE* out = std::fopen(path, "wb");
  REQUIRE(out);
  const uint32_t ghdr[] = {0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1};  // LE host, LINKTYPE_ETHERNET
  std::fwrite(ghdr, 1, 24, out);
  std::vector<Frame> frames{kat_frame(), gratuitous_arp(ip("10.9.0.100"), net::Mac::virtual_for(7)), kat_frame6(),
                            unsolicited_na(ip("2001:db8:9::100"), net::Mac::virtual_for(7))};
  uint32_t sec = 1;
  for (const auto& f : frames) {
    const uint32_t rec[] = {sec++, 0, uint32_t(f.size()), uint32_t(f.size())};
    std::fwrite(rec, 1, sizeof rec, out);
    std::fwrite(f.data(), 1, f.size(), out);
  }
  std::fclose(out);
}
