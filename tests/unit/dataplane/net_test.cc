#include <catch2/catch.hpp>

#include "dataplane/net/net.h"

using namespace hafw::net;

TEST_CASE("addresses parse and print", "[net]") {
  auto a = IpAddr::parse("198.51.100.200");
  REQUIRE(a);
  CHECK(a->v4() == 0xc63364c8u);
  CHECK(a->str() == "198.51.100.200");
  CHECK_FALSE(IpAddr::parse("198.51.100.256"));
  CHECK_FALSE(IpAddr::parse(""));
  auto p = Prefix::parse("192.168.1.2/24");
  REQUIRE(p);
  CHECK(p->contains(*IpAddr::parse("192.168.1.254")));
  CHECK_FALSE(p->contains(*IpAddr::parse("192.168.2.1")));
  CHECK(p->network().str() == "192.168.1.0");
  CHECK_FALSE(Prefix::parse("192.168.1.2/33"));
  CHECK_FALSE(Prefix::parse("192.168.1.2"));
  auto p6 = Prefix::parse("2001:db8::1/64");
  REQUIRE(p6);
  CHECK(p6->contains(*IpAddr::parse("2001:db8::ffff")));
  CHECK_FALSE(p6->contains(*IpAddr::parse("192.168.1.2")));
  CHECK(Mac::virtual_for(200).str() == "00:00:5e:00:01:c8");
  CHECK(Mac::parse("00:00:5E:00:01:C8") == Mac::virtual_for(200));
  CHECK_FALSE(Mac::parse("00:00:5e:00:01"));
}

TEST_CASE("internet checksum and incremental update agree", "[net]") {
  // RFC 1071 example bytes.
  uint8_t d[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  CHECK(be16(inet_checksum(d)) == uint16_t(~0xddf2));
  // Changing a word and adjusting gives the same checksum as recomputing.
  uint16_t c = inet_checksum(d);
  uint16_t oldw, neww = be16(0x1234);
  std::memcpy(&oldw, d + 2, 2);
  std::memcpy(d + 2, &neww, 2);
  CHECK(checksum_adjust(c, oldw, neww) == inet_checksum(d));
}

TEST_CASE("the one-word checksum update folds like RFC 1624's two shift-and-add folds", "[net]") {
  auto reference = [](uint16_t csum, uint16_t o, uint16_t n) {
    uint32_t sum = uint16_t(~csum) + uint32_t(uint16_t(~o)) + n;
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return uint16_t(~sum);
  };
  const uint16_t edges[] = {0x0000, 0x0001, 0x7fff, 0x8000, 0xfffe, 0xffff};
  for (uint16_t c : edges)
    for (uint16_t o : edges)
      for (uint16_t n : edges) CHECK(checksum_adjust(c, o, n) == reference(c, o, n));
  uint32_t x = 99;
  for (int i = 0; i < 100000; ++i) {
    const uint16_t c = uint16_t(x = x * 1103515245 + 12345), o = uint16_t(x >> 16), n = uint16_t(x * 7 >> 9);
    REQUIRE(checksum_adjust(c, o, n) == reference(c, o, n));
  }
}

TEST_CASE("the inline IPv4 header checksum agrees with the generic one", "[net]") {
  uint8_t h[24];
  uint32_t x = 12345;
  for (int round = 0; round < 1000; ++round) {
    for (auto& b : h) b = uint8_t(x = x * 1103515245 + 12345 >> 7);
    CHECK(ipv4_header_checksum(h, 20) == inet_checksum({h, 20}));
    CHECK(ipv4_header_checksum(h, 24) == inet_checksum({h, 24}));
    // Stored into the checksum field, it makes the header check out as intact.
    h[10] = h[11] = 0;
    uint16_t c = ipv4_header_checksum(h, 20);
    std::memcpy(h + 10, &c, 2);
    CHECK(ipv4_header_checksum(h, 20) == 0);
  }
  // The folds' edges: nothing to carry, every carry, a sum of exactly 0xffff.
  for (uint8_t fill : {0x00, 0xff, 0x80, 0x01}) {
    std::memset(h, fill, sizeof h);
    CHECK(ipv4_header_checksum(h, 20) == inet_checksum({h, 20}));
  }
  std::memset(h, 0, sizeof h);
  h[0] = 0xff;
  h[1] = 0xff;
  CHECK(ipv4_header_checksum(h, 20) == inet_checksum({h, 20}));
}

TEST_CASE("MAC equality compares all six bytes", "[net]") {
  Mac a{{1, 2, 3, 4, 5, 6}};
  for (size_t i = 0; i < 6; ++i) {
    Mac b = a;
    b.b[i] ^= 0x10;
    CHECK_FALSE(a == b);
  }
  CHECK(a == Mac{{1, 2, 3, 4, 5, 6}});
}
