// The pfsync v6 records: every field at pf's byte offset (written out by
// hand from if_pfsync.h and pfvar.h, not from the codec's structs), round
// trips of every kind, and the values decode refuses.
#include <catch2/catch.hpp>

#include <cstring>

#include "tests/unit/pfsync/records.h"

using namespace hafw;
using namespace hafw::pfsync;
using namespace hafw::pfsync::test;

namespace {

Bytes encoded(const StateRecord& r) {
  Bytes b(kStateSize, 0xee);
  encode(r, b.data());
  return b;
}

bool zero(const Bytes& b, size_t from, size_t to) {
  for (size_t i = from; i < to; ++i)
    if (b[i] != 0) return false;
  return true;
}

bool all_ff(const Bytes& b, size_t from, size_t to) {
  for (size_t i = from; i < to; ++i)
    if (b[i] != 0xff) return false;
  return true;
}

StateRecord decoded_state(const Bytes& b) {
  StateRecord r;
  REQUIRE(decode(b.data(), r));
  return r;
}

bool refused(const Bytes& b) {
  StateRecord r;
  return !decode(b.data(), r);
}

}  // namespace

TEST_CASE("pfsync_state: every field at pf's offset (IPv4, created outbound, NAT)", "[pfsync][wire]") {
  const Bytes b = encoded(tcp_v4_nat());
  const uint8_t* p = b.data();

  CHECK(be64_at(p + 0) == 0x0102030405060708);  // id, htobe64
  CHECK(std::memcmp(p + 8, "wan", 4) == 0);      // ifname, NUL-padded
  CHECK(zero(b, 11, 24));
  // Keys: created outbound, so pf's index 1 is the initiator (pd->sidx).
  // key[0] (wire) at 24: addr[0] the server, addr[1] the VIP, then ports.
  const uint8_t server[] = {198, 51, 100, 10}, vip[] = {203, 0, 113, 1}, client[] = {10, 0, 0, 5};
  CHECK(std::memcmp(p + 24, server, 4) == 0);
  CHECK(zero(b, 28, 40));
  CHECK(std::memcmp(p + 40, vip, 4) == 0);
  CHECK(zero(b, 44, 56));
  CHECK(be16_at(p + 56) == 443);
  CHECK(be16_at(p + 58) == 50001);
  CHECK(be16_at(p + 60) == 0);  // rdomain
  CHECK(p[62] == 2);            // af AF_INET
  CHECK(p[63] == 0);
  // key[1] (stack) at 64: the client before translation.
  CHECK(std::memcmp(p + 64, server, 4) == 0);
  CHECK(std::memcmp(p + 80, client, 4) == 0);
  CHECK(be16_at(p + 96) == 443);
  CHECK(be16_at(p + 98) == 40000);
  CHECK(p[102] == 2);
  // src peer at 104: scrub (8 bytes) zero, seqlo, seqhi, seqdiff 0, max_win, mss 0, state, wscale, pad.
  CHECK(zero(b, 104, 112));
  CHECK(be32_at(p + 112) == 0xa1a2a3a4);
  CHECK(be32_at(p + 116) == 0xa5a6a7a8);
  CHECK(be32_at(p + 120) == 0);
  CHECK(be16_at(p + 124) == 0xa9aa);
  CHECK(be16_at(p + 126) == 0);
  CHECK(p[128] == 4);
  CHECK(p[129] == 0x87);
  CHECK(zero(b, 130, 136));
  // dst peer at 136.
  CHECK(zero(b, 136, 144));
  CHECK(be32_at(p + 144) == 0xb1b2b3b4);
  CHECK(be32_at(p + 148) == 0xb5b6b7b8);
  CHECK(be16_at(p + 156) == 0xb9ba);
  CHECK(p[160] == 5);
  CHECK(p[161] == 0x02);
  CHECK(zero(b, 162, 168));
  CHECK(zero(b, 168, 184));  // rt_addr
  CHECK(be32_at(p + 184) == 7);  // rule
  CHECK(all_ff(b, 188, 196));    // anchor, nat_rule: none
  CHECK(be32_at(p + 196) == 0xc1c2c3c4);  // creation
  CHECK(be32_at(p + 200) == 0xc5c6c7c8);  // expire
  // packets[2][2] at 204 and bytes[2][2] at 220: each 64-bit count as hi, lo.
  CHECK(be32_at(p + 204) == 0xd1d2d3d4);
  CHECK(be32_at(p + 208) == 0xd5d6d7d8);
  CHECK(be32_at(p + 212) == 0xe1e2e3e4);
  CHECK(be32_at(p + 216) == 0xe5e6e7e8);
  CHECK(be32_at(p + 220) == 0xf1f2f3f4);
  CHECK(be32_at(p + 224) == 0xf5f6f7f8);
  CHECK(be32_at(p + 228) == 0x91929394);
  CHECK(be32_at(p + 232) == 0x95969798);
  CHECK(be32_at(p + 236) == 0x11223344);  // creatorid
  CHECK(all_ff(b, 240, 248));             // rtableid[2]: -1
  CHECK(be16_at(p + 248) == 0);           // max_mss
  CHECK(p[250] == 2);                     // af
  CHECK(p[251] == 6);                     // proto
  CHECK(p[252] == 2);                     // direction PF_OUT
  CHECK(p[253] == 0);                     // log
  CHECK(p[254] == 0);                     // rt
  CHECK(p[255] == 2);                     // timeout PFTM_TCP_ESTABLISHED
  CHECK(zero(b, 256, 260));               // sync_flags, updates, min_ttl, set_tos
  CHECK(be16_at(p + 260) == 0x1234);      // state_flags
  CHECK(zero(b, 262, 264));               // set_prio
}

TEST_CASE("pfsync_state: IPv6 addresses take 16 bytes, af 24, created inbound keeps the initiator first",
          "[pfsync][wire]") {
  const Bytes b = encoded(udp_v6());
  const uint8_t* p = b.data();
  const auto src = addr("2001:db8:1::10"), dst = addr("2001:db8:2::20");
  for (size_t k : {24u, 64u}) {
    CHECK(std::memcmp(p + k, src.data(), 16) == 0);
    CHECK(std::memcmp(p + k + 16, dst.data(), 16) == 0);
    CHECK(be16_at(p + k + 32) == 5353);
    CHECK(be16_at(p + k + 34) == 53);
    CHECK(p[k + 38] == 24);
  }
  CHECK(p[250] == 24);
  CHECK(p[251] == 17);
  CHECK(p[252] == 1);
  CHECK(p[255] == 8);  // PFTM_UDP_MULTIPLE
}

TEST_CASE("pfsync_upd_c, ins_ack/upd_req/del_c, bus and clr at pf's offsets", "[pfsync][wire]") {
  SECTION("upd_c: 84 bytes") {
    Bytes b(kUpdCSize, 0xee);
    encode(update(), b.data());
    const uint8_t* p = b.data();
    CHECK(be64_at(p) == 0x0102030405060708);
    CHECK(zero(b, 8, 16));  // src scrub
    CHECK(be32_at(p + 16) == 0x61626364);
    CHECK(be32_at(p + 20) == 0x65666768);
    CHECK(be32_at(p + 24) == 0);  // seqdiff
    CHECK(be16_at(p + 28) == 0x696a);
    CHECK(p[32] == 4);
    CHECK(p[33] == 0x87);
    CHECK(zero(b, 34, 48));  // src pad, dst scrub
    CHECK(be32_at(p + 48) == 0x71727374);
    CHECK(be32_at(p + 52) == 0x75767778);
    CHECK(be16_at(p + 60) == 0x797a);
    CHECK(p[64] == 6);
    CHECK(p[65] == 0x80);
    CHECK(zero(b, 66, 72));
    CHECK(be32_at(p + 72) == 0x11223344);
    CHECK(be32_at(p + 76) == 0x7b7c7d7e);
    CHECK(p[80] == 3);  // PFTM_TCP_CLOSING
    CHECK(p[81] == 0x5a);
    CHECK(zero(b, 82, 84));
  }
  SECTION("ins_ack / upd_req / del_c: 12 bytes") {
    Bytes b(kIdSize, 0xee);
    encode(id_record(), b.data());
    CHECK(be64_at(b.data()) == 0x0a0b0c0d0e0f1011);
    CHECK(be32_at(b.data() + 8) == 0x12131415);
  }
  SECTION("bus: 12 bytes") {
    Bytes b(kBusSize, 0xee);
    encode(bus(kBusEnd), b.data());
    CHECK(be32_at(b.data()) == 0x21222324);
    CHECK(be32_at(b.data() + 4) == 0x25262728);
    CHECK(b[8] == 2);
    CHECK(zero(b, 9, 12));
  }
  SECTION("clr: 20 bytes") {
    Bytes b(kClrSize, 0xee);
    encode(clr(), b.data());
    CHECK(std::memcmp(b.data(), "dmz", 4) == 0);
    CHECK(zero(b, 4, 16));
    CHECK(be32_at(b.data() + 16) == 0x31323334);
  }
}

TEST_CASE("every record kind decodes to what was encoded", "[pfsync][wire]") {
  SECTION("full states: IPv4 with NAT, IPv6, both directions, counters past 32 bits") {
    for (StateRecord r : {tcp_v4_nat(), udp_v6()}) {
      for (uint8_t dir : {kDirIn, kDirOut}) {
        r.direction = dir;
        CHECK(decoded_state(encoded(r)) == r);
      }
    }
  }
  SECTION("a record with every default") {
    StateRecord r;
    r.proto = 1;
    r.key[0].proto = r.key[1].proto = 1;
    CHECK(decoded_state(encoded(r)) == r);
  }
  SECTION("upd_c") {
    Bytes b(kUpdCSize);
    encode(update(), b.data());
    UpdateRecord u;
    REQUIRE(decode(b.data(), u));
    CHECK(u == update());
  }
  SECTION("id records, bus START and END, clr (one interface and every interface)") {
    Bytes b(kIdSize);
    encode(id_record(), b.data());
    IdRecord i;
    REQUIRE(decode(b.data(), i));
    CHECK(i == id_record());
    for (uint8_t s : {kBusStart, kBusEnd}) {
      encode(bus(s), b.data());
      BusRecord x;
      REQUIRE(decode(b.data(), x));
      CHECK(x == bus(s));
    }
    Bytes c(kClrSize);
    for (ClrRecord r : {clr(), ClrRecord{.ifname = {}, .creatorid = 9}}) {
      encode(r, c.data());
      ClrRecord x;
      REQUIRE(decode(c.data(), x));
      CHECK(x == r);
    }
  }
}

TEST_CASE("decode: a record as another pf writes it", "[pfsync][wire]") {
  Bytes b = encoded(tcp_v4_nat());
  SECTION("junk after an IPv4 address and after the interface name's NUL is not part of the key") {
    b[24 + 4] = 0x99;   // key[0].addr[0], past its 4 bytes
    b[80 + 15] = 0x77;  // key[1].addr[1]
    b[8 + 5] = 'x';     // ifname, past "wan\0"
    CHECK(decoded_state(b) == tcp_v4_nat());
  }
  SECTION("a key af of 0 (a sender before af-to) is the state's") {
    b[62] = 0;
    b[102] = 0;
    CHECK(decoded_state(b) == tcp_v4_nat());
  }
  SECTION("scrub, seqdiff, mss, rt_addr, anchors, rtableid, log and friends are ignored") {
    for (size_t i : {104u, 120u, 126u, 168u, 188u, 192u, 240u, 248u, 253u, 254u, 256u, 257u, 258u, 259u, 262u})
      b[i] = 0x01;
    CHECK(decoded_state(b) == tcp_v4_nat());
  }
  SECTION("an interface name of 15 bytes is the longest") {
    StateRecord r = tcp_v4_nat();
    r.ifname = ifname("abcdefghijklmno");
    CHECK(decoded_state(encoded(r)) == r);
    // 16 bytes do not fit pf's IFNAMSIZ with its NUL: the last one is not sent.
    r.ifname = ifname("abcdefghijklmnop");
    CHECK(decoded_state(encoded(r)).ifname == ifname("abcdefghijklmno"));
  }
}

TEST_CASE("decode refuses values hafw cannot hold", "[pfsync][wire]") {
  Bytes b = encoded(tcp_v4_nat());
  REQUIRE_FALSE(refused(b));
  SECTION("address family: neither 2 nor 24 (FreeBSD's AF_INET6 is 28)") {
    for (uint8_t af : {0, 1, 10, 28, 255}) {
      b[250] = af;
      CHECK(refused(b));
    }
  }
  SECTION("a key of another family than the state (pf's af-to)") {
    b[102] = 24;
    CHECK(refused(b));
  }
  SECTION("protocol 0") {
    b[251] = 0;
    CHECK(refused(b));
  }
  SECTION("direction neither in nor out") {
    for (uint8_t d : {0, 3}) {
      b[252] = d;
      CHECK(refused(b));
    }
  }
  SECTION("timeout class past other.multiple") {
    b[255] = 13;
    CHECK_FALSE(refused(b));
    for (uint8_t t : {14, 20, 255}) {
      b[255] = t;
      CHECK(refused(b));
    }
  }
  SECTION("TCP peer state past TIME_WAIT (pf's synproxy states)") {
    b[128] = 10;
    CHECK_FALSE(refused(b));
    b[128] = 11;
    CHECK(refused(b));
    b[128] = 4;
    b[160] = 12;
    CHECK(refused(b));
  }
  SECTION("UDP peer state past MULTIPLE") {
    Bytes u = encoded(udp_v6());
    u[128] = 3;
    CHECK(refused(u));
  }
  SECTION("window scale over 14, or bits besides the value and the flag") {
    b[129] = 0x8e;
    CHECK_FALSE(refused(b));
    for (uint8_t w : {0x8f, 0x0f, 0x40, 0x90}) {
      b[129] = w;
      CHECK(refused(b));
    }
  }
  SECTION("an interface name without NUL") {
    std::memset(b.data() + 8, 'a', 16);
    CHECK(refused(b));
  }
  SECTION("upd_c: a timeout class or peer state out of range") {
    Bytes u(kUpdCSize);
    UpdateRecord r;
    encode(update(), u.data());
    u[80] = 14;
    CHECK_FALSE(decode(u.data(), r));
    encode(update(), u.data());
    u[64] = 11;
    CHECK_FALSE(decode(u.data(), r));
    encode(update(), u.data());
    u[33] = 0x9f;
    CHECK_FALSE(decode(u.data(), r));
  }
  SECTION("bus: a status neither START nor END") {
    Bytes x(kBusSize);
    BusRecord r;
    for (uint8_t s : {0, 3, 255}) {
      encode(bus(s), x.data());
      CHECK_FALSE(decode(x.data(), r));
    }
  }
  SECTION("clr: an interface name without NUL") {
    Bytes x(kClrSize);
    encode(clr(), x.data());
    std::memset(x.data(), 'z', 16);
    ClrRecord r;
    CHECK_FALSE(decode(x.data(), r));
  }
}

TEST_CASE("pf's timeout classes are net::Timeout in its order", "[pfsync][wire]") {
  // PFTM_TCP_FIRST_PACKET .. PFTM_OTHER_MULTIPLE, named as pf.conf names them.
  const char* pf[] = {"tcp.first",   "tcp.opening", "tcp.established", "tcp.closing", "tcp.finwait",
                      "tcp.closed",  "udp.first",   "udp.single",      "udp.multiple", "icmp.first",
                      "icmp.error",  "other.first", "other.single",    "other.multiple"};
  REQUIRE(std::size(pf) == kTimeoutClasses);
  for (size_t i = 0; i < kTimeoutClasses; ++i) CHECK(std::string(net::kTimeouts[i].name) == pf[i]);
}

TEST_CASE("action numbers, sizes and names", "[pfsync][wire]") {
  const std::pair<uint8_t, size_t> known[] = {{0, 20}, {2, 12}, {4, 84}, {5, 12}, {6, 264},
                                              {7, 12}, {10, 12}, {13, 264}, {14, 264}};
  for (auto [a, size] : known) CHECK(record_size(a) == size);
  for (uint8_t a : {1, 3, 8, 9, 11, 12, 15, 16, 255}) CHECK(record_size(a) == 0);
  CHECK(std::string(name(Action::UpdC)) == "upd_c");
  CHECK(std::string(name(Action::Eof)) == "unknown");
}
