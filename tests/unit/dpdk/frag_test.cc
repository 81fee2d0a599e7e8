// The DPDK glue's IPv4 and IPv6 reassembly and IPv4 fragmentation (dataplane/dpdk/frag.h)
// on real mbufs: DPDK's EAL without hugepages or devices. Built with the
// DPDK glue only, and run with the golden suite.
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <random>
#include <vector>

#include "dataplane/dpdk/frag.h"

using hafw::dp::DropReason;
using hafw::dp::IoCounter;
using Bytes = std::vector<uint8_t>;

namespace {

struct Eal {
  rte_mempool* pool = nullptr;   // RX buffers, as the worker's
  rte_mempool* whole = nullptr;  // reassembled packets too long for one of them
  std::string runtime;
  Eal() {
    std::vector<std::string> args = {"frag_test", "--no-huge", "-m", "256", "--no-pci", "--no-telemetry",
                                     "--file-prefix=hafw-frag-test-" + std::to_string(getpid()), "-l", "0",
                                     "--log-level=warning"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    if (rte_eal_init(int(argv.size()), argv.data()) < 0) FAIL("EAL: " << rte_strerror(rte_errno));
    runtime = rte_eal_get_runtime_dir();
    pool = rte_pktmbuf_pool_create("frag_rx", 16383, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    whole = rte_pktmbuf_pool_create("frag_whole", 63, 0, 0,
                                    uint16_t(RTE_PKTMBUF_HEADROOM + 8 * RTE_MBUF_DEFAULT_DATAROOM), SOCKET_ID_ANY);
    REQUIRE(pool);
    REQUIRE(whole);
  }
  ~Eal() {
    rte_mempool_free(pool);
    rte_mempool_free(whole);
    rte_eal_cleanup();
    std::error_code ignored;
    std::filesystem::remove_all(runtime, ignored);
  }
};

Eal& eal() {
  static Eal e;
  return e;
}

uint16_t sum(const uint8_t* p, size_t n) {
  uint32_t s = 0;
  for (size_t i = 0; i < n; i += 2) s += uint32_t(p[i]) << 8 | (i + 1 < n ? p[i + 1] : 0);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return uint16_t(~s);
}

// A UDP datagram of `payload` bytes from 192.168.1.50 to 198.51.100.10, as
// an Ethernet frame (the UDP checksum left 0: none).
Bytes datagram(uint16_t id, size_t payload) {
  Bytes f(14 + 20 + 8 + payload);
  f[12] = 0x08;
  uint8_t* ip = f.data() + 14;
  ip[0] = 0x45;
  const size_t total = 20 + 8 + payload;
  ip[2] = uint8_t(total >> 8), ip[3] = uint8_t(total);
  ip[4] = uint8_t(id >> 8), ip[5] = uint8_t(id);
  ip[8] = 64;
  ip[9] = 17;
  const uint8_t addrs[8] = {192, 168, 1, 50, 198, 51, 100, 10};
  std::memcpy(ip + 12, addrs, 8);
  const size_t ulen = 8 + payload;
  ip[20] = 0x13, ip[21] = 0x88, ip[22] = 0x23, ip[23] = 0x28;
  ip[24] = uint8_t(ulen >> 8), ip[25] = uint8_t(ulen);
  for (size_t i = 0; i < payload; ++i) ip[28 + i] = uint8_t('a' + i % 26);
  const uint16_t c = sum(ip, 20);
  ip[10] = uint8_t(c >> 8), ip[11] = uint8_t(c);
  return f;
}

// Fragment of `whole` (a frame from datagram()): IP payload bytes [offset,
// offset + len), MF as given.
Bytes piece(const Bytes& whole, size_t offset, size_t len, bool mf) {
  Bytes f(whole.begin(), whole.begin() + 34);
  f.insert(f.end(), whole.begin() + 34 + long(offset), whole.begin() + 34 + long(offset + len));
  uint8_t* ip = f.data() + 14;
  const size_t total = 20 + len;
  ip[2] = uint8_t(total >> 8), ip[3] = uint8_t(total);
  const uint16_t fo = uint16_t((mf ? 0x2000 : 0) | offset / 8);
  ip[6] = uint8_t(fo >> 8), ip[7] = uint8_t(fo);
  ip[10] = ip[11] = 0;
  const uint16_t c = sum(ip, 20);
  ip[10] = uint8_t(c >> 8), ip[11] = uint8_t(c);
  return f;
}

// A UDP datagram of `payload` bytes from 2001:db8:1::50 to 2001:db8::10,
// as an Ethernet frame.
Bytes datagram6(size_t payload) {
  Bytes f(14 + 40 + 8 + payload);
  f[12] = 0x86, f[13] = 0xdd;
  uint8_t* ip = f.data() + 14;
  ip[0] = 0x60;
  const size_t plen = 8 + payload;
  ip[4] = uint8_t(plen >> 8), ip[5] = uint8_t(plen);
  ip[6] = 17;
  ip[7] = 64;
  const uint8_t src[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x50};
  const uint8_t dst[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10};
  std::memcpy(ip + 8, src, 16);
  std::memcpy(ip + 24, dst, 16);
  uint8_t* u = ip + 40;
  u[0] = 0x13, u[1] = 0x88, u[2] = 0x23, u[3] = 0x28;
  u[4] = uint8_t(plen >> 8), u[5] = uint8_t(plen);
  for (size_t i = 0; i < payload; ++i) u[8 + i] = uint8_t('a' + i % 26);
  return f;
}

// Fragment of `whole` (a frame from datagram6()): the IPv6 header, a
// fragment header with identification `id`, and payload bytes [offset,
// offset + len), M as given.
Bytes piece6(const Bytes& whole, uint32_t id, size_t offset, size_t len, bool more) {
  Bytes f(whole.begin(), whole.begin() + 54);
  const uint8_t fh[8] = {17, 0, uint8_t(offset >> 8), uint8_t((offset & 0xf8) | (more ? 1 : 0)),
                         uint8_t(id >> 24), uint8_t(id >> 16), uint8_t(id >> 8), uint8_t(id)};
  f.insert(f.end(), fh, fh + 8);
  f.insert(f.end(), whole.begin() + 54 + long(offset), whole.begin() + 54 + long(offset + len));
  uint8_t* ip = f.data() + 14;
  ip[6] = 44;
  const size_t plen = 8 + len;
  ip[4] = uint8_t(plen >> 8), ip[5] = uint8_t(plen);
  return f;
}

// datagram6() behind a hop-by-hop and a destination options header (8
// bytes each, PadN), and a fragment of it: the IPv6 header and both
// headers repeated, the fragment header after them.
Bytes datagram6_ext(size_t payload) {
  Bytes d = datagram6(payload);
  const uint8_t ext[16] = {60, 0, 1, 4, 0, 0, 0, 0, 17, 0, 1, 4, 0, 0, 0, 0};
  d.insert(d.begin() + 54, ext, ext + 16);
  d[14 + 6] = 0;
  const size_t plen = 16 + 8 + payload;
  d[14 + 4] = uint8_t(plen >> 8), d[14 + 5] = uint8_t(plen);
  return d;
}
Bytes piece6_ext(const Bytes& whole, uint32_t id, size_t offset, size_t len, bool more) {
  Bytes f(whole.begin(), whole.begin() + 70);
  f[14 + 48] = 44;  // the destination options header names the fragment header
  const uint8_t fh[8] = {17, 0, uint8_t(offset >> 8), uint8_t((offset & 0xf8) | (more ? 1 : 0)),
                         uint8_t(id >> 24), uint8_t(id >> 16), uint8_t(id >> 8), uint8_t(id)};
  f.insert(f.end(), fh, fh + 8);
  f.insert(f.end(), whole.begin() + 70 + long(offset), whole.begin() + 70 + long(offset + len));
  const size_t plen = 16 + 8 + len;
  f[14 + 4] = uint8_t(plen >> 8), f[14 + 5] = uint8_t(plen);
  return f;
}

rte_mbuf* mbuf(const Bytes& f) {
  rte_mbuf* m = rte_pktmbuf_alloc(eal().pool);
  REQUIRE(m);
  char* p = rte_pktmbuf_append(m, uint16_t(f.size()));
  REQUIRE(p);
  std::memcpy(p, f.data(), f.size());
  m->l2_len = 14;
  m->l3_len = 20;
  if ((f[14] >> 4) == 6) {  // IPv6: to the end of the fragment header, as ipv6_input sets it
    m->l3_len = 48;
    if (f[14 + 6] != 44) m->l3_len += 16;  // behind datagram6_ext()'s two headers
  }
  return m;
}

Bytes bytes(const rte_mbuf* m) {
  REQUIRE(m->nb_segs == 1);
  const auto* p = rte_pktmbuf_mtod(m, const uint8_t*);
  return Bytes(p, p + m->data_len);
}

struct Table {
  std::unique_ptr<hafw::dp::Reassembly> r;
  hafw::dp::WorkerCounters c;
  explicit Table(uint32_t max_packets = 64, uint32_t timeout_ms = 1000) {
    std::string error;
    r = hafw::dp::Reassembly::create({.max_packets = max_packets, .timeout_ms = timeout_ms}, eal().whole, SOCKET_ID_ANY,
                                     error);
    REQUIRE(r);
  }
  ~Table() {
    r.reset();
    // Nothing the table held or let go of is lost.
    CHECK(rte_mempool_in_use_count(eal().pool) == 0);
    CHECK(rte_mempool_in_use_count(eal().whole) == 0);
  }
  // The packet m completes (its bytes), or empty.
  Bytes add(const Bytes& f, uint64_t now_ms = 0) {
    rte_mbuf* w = r->add(mbuf(f), now_ms, c);
    r->flush();
    if (!w) return {};
    Bytes b = bytes(w);
    rte_pktmbuf_free(w);
    return b;
  }
  uint64_t drops(DropReason d) const { return c.read().drops[size_t(d)]; }
  uint64_t io(IoCounter i) const { return c.read()[i]; }
};

// What a reassembled packet must be: the original datagram, its header's
// checksum valid.
void same_packet(const Bytes& got, const Bytes& want) {
  REQUIRE(got.size() == want.size());
  CHECK(sum(got.data() + 14, 20) == 0);
  Bytes g = got, w = want;
  g[24] = g[25] = w[24] = w[25] = 0;  // the checksums, compared above
  CHECK(g == w);
}

}  // namespace

TEST_CASE("fragments in and out of order make the whole packet", "[dpdk][fragments]") {
  Table t;
  const Bytes d = datagram(1, 2992);  // IP payload 3000: 1480 + 1480 + 40
  SECTION("in order") {
    CHECK(t.add(piece(d, 0, 1480, true)).empty());
    CHECK(t.add(piece(d, 1480, 1480, true)).empty());
    CHECK(t.r->held() == 2);
    same_packet(t.add(piece(d, 2960, 40, false)), d);
  }
  SECTION("last first, then the middle, then the first") {
    CHECK(t.add(piece(d, 2960, 40, false)).empty());
    CHECK(t.add(piece(d, 1480, 1480, true)).empty());
    same_packet(t.add(piece(d, 0, 1480, true)), d);
  }
  SECTION("a small packet is rebuilt in the first fragment's own buffer") {
    const Bytes s = datagram(2, 92);
    CHECK(t.add(piece(s, 0, 48, true)).empty());
    same_packet(t.add(piece(s, 48, 52, false)), s);
  }
  CHECK(t.r->held() == 0);
  CHECK(t.io(IoCounter::Reassembled) == 1);
  CHECK(t.c.read().drops == decltype(t.c.read().drops){});
}

TEST_CASE("overlapping, repeated and too many fragments drop every fragment held for the packet",
          "[dpdk][fragments]") {
  Table t;
  const Bytes d = datagram(3, 2992);
  SECTION("overlap") {
    CHECK(t.add(piece(d, 0, 1480, true)).empty());
    CHECK(t.add(piece(d, 1472, 1488, true)).empty());  // 1472..2960 overlaps the first
    CHECK(t.add(piece(d, 2960, 40, false)).empty());
    CHECK(t.drops(DropReason::FragOverlap) == 3);
  }
  SECTION("a repeated first fragment") {
    CHECK(t.add(piece(d, 0, 1480, true)).empty());
    CHECK(t.add(piece(d, 0, 1480, true)).empty());
    CHECK(t.drops(DropReason::FragOverlap) == 2);
  }
  SECTION("more fragments than the library holds") {
    // It keeps the first, the last and six between: the seventh between
    // drops the lot.
    const Bytes big = datagram(4, 2992);
    const size_t n = hafw::dp::max_fragments();
    for (size_t k = 0; k < n; ++k) CHECK(t.add(piece(big, k * 160, 160, true)).empty());
    CHECK(t.drops(DropReason::FragTooMany) == n);
  }
  CHECK(t.r->held() == 0);
  CHECK(t.io(IoCounter::Reassembled) == 0);
  // The table is usable afterwards: the packet sent again completes.
  CHECK(t.add(piece(d, 0, 1480, true)).empty());
  CHECK(t.add(piece(d, 1480, 1480, true)).empty());
  same_packet(t.add(piece(d, 2960, 40, false)), d);
}

TEST_CASE("an incomplete packet is dropped at the timeout, by the expiry walk or when its entry is met again",
          "[dpdk][fragments]") {
  Table t(64, 1000);
  const Bytes d = datagram(5, 2992);
  CHECK(t.add(piece(d, 0, 1480, true), 0).empty());
  CHECK(t.add(piece(datagram(6, 2992), 0, 1480, true), 500).empty());
  t.r->expire(1000, t.c);  // the first is 1000 ms old: not yet (strictly older)
  CHECK(t.drops(DropReason::FragTimeout) == 0);
  t.r->expire(1001, t.c);
  CHECK(t.drops(DropReason::FragTimeout) == 1);
  CHECK(t.r->held() == 1);
  // The same packet's fragment after the timeout starts it afresh.
  const Bytes six = datagram(6, 2992);
  CHECK(t.add(piece(six, 1480, 1480, true), 1600).empty());
  CHECK(t.drops(DropReason::FragTimeout) == 2);
  CHECK(t.add(piece(six, 0, 1480, true), 1601).empty());
  same_packet(t.add(piece(six, 2960, 40, false), 1602), six);
  t.r->flush();
}

TEST_CASE("a flood of fragments that never complete fills the table, is counted, and holds bounded memory",
          "[dpdk][fragments]") {
  constexpr uint32_t kMax = 64;
  Table t(kMax, 30000);
  for (uint16_t id = 0; id < 20000; ++id) {
    CHECK(t.add(piece(datagram(id, 2992), 0, 1480, true), 10).empty());
    REQUIRE(t.r->held() <= kMax);
    REQUIRE(rte_mempool_in_use_count(eal().pool) == t.r->held());
  }
  const uint64_t refused = t.drops(DropReason::FragTableFull);
  CHECK(refused >= 20000 - kMax);
  CHECK(t.io(IoCounter::FragmentsIn) == 20000);
  CHECK(t.io(IoCounter::FragmentsIn) == refused + t.r->held());
  // A packet that fits waits for the flood's entries to time out: they are
  // refused, not evicted, while they are young ...
  const Bytes d = datagram(60000, 92);
  CHECK(t.add(piece(d, 0, 48, true), 20).empty());
  // ... and once they are old, the walk frees them all and new packets pass.
  t.r->expire(30011, t.c);
  t.r->flush();
  CHECK(t.r->held() == 0);
  CHECK(t.drops(DropReason::FragTimeout) == 20000 - refused);
  CHECK(t.add(piece(d, 0, 48, true), 30012).empty());
  same_packet(t.add(piece(d, 48, 52, false), 30013), d);
}

TEST_CASE("random and mutated fragments: no crash, every fragment accounted for, every packet made whole valid",
          "[dpdk][fragments]") {
  Table t(32, 100);
  std::mt19937_64 rng(7);
  uint64_t now = 0, made = 0;
  for (int i = 0; i < 60000; ++i) {
    const uint16_t id = uint16_t(rng() % 48);  // few ids: entries collide, repeat and overlap
    const size_t payload = 8 + rng() % 3000;
    const Bytes d = datagram(id, payload);
    const size_t ip_payload = payload + 8;
    size_t off = (rng() % (ip_payload / 8 + 1)) * 8;
    if (off >= ip_payload) off = ip_payload - 8;
    size_t len = 8 * (1 + rng() % 190);
    bool mf = true;
    if (off + len >= ip_payload || rng() % 4 == 0) {
      len = ip_payload - off;
      mf = false;
    }
    if (rng() % 8 == 0) off = 0;  // many first fragments
    if (off + len > ip_payload) len = ip_payload - off;
    if (len > 1480) {  // what one RX buffer holds
      len = 1480;
      mf = true;
    }
    Bytes f = piece(d, off, len, mf);
    if (rng() % 16 == 0) f[14 + 20 + rng() % len] ^= uint8_t(rng());  // a payload bit flipped
    now += rng() % 3;
    const Bytes w = t.add(f, now);
    if (!w.empty()) {
      ++made;
      // Whatever mix made it: a well-formed IPv4 packet, not a fragment.
      REQUIRE(w.size() >= 34);
      CHECK(sum(w.data() + 14, 20) == 0);
      CHECK((w[14 + 6] & 0x3f) == 0);
      CHECK(w[14 + 7] == 0);
      CHECK(size_t(w[14 + 2] << 8 | w[14 + 3]) + 14 == w.size());
    }
    if (i % 97 == 0) {
      t.r->expire(now, t.c);
      t.r->flush();
    }
    REQUIRE(rte_mempool_in_use_count(eal().pool) == t.r->held());
  }
  CHECK(made > 0);
  CHECK(t.io(IoCounter::Reassembled) == made);
  const auto k = t.c.read();
  CHECK(k.drops[size_t(DropReason::FragOverlap)] > 0);
  CHECK(k.drops[size_t(DropReason::FragTimeout)] > 0);
  t.r->expire(now + 1000, t.c);
  t.r->flush();
  CHECK(t.r->held() == 0);
}

TEST_CASE("a packet longer than the MTU is cut into fragments that make it whole again", "[dpdk][fragments]") {
  Table t;
  const Bytes d = datagram(9, 2992);
  // A reassembled 3,000-byte packet, as the worker has it.
  CHECK(t.add(piece(d, 0, 1480, true)).empty());
  CHECK(t.add(piece(d, 1480, 1480, true)).empty());
  rte_mbuf* w = t.r->add(mbuf(piece(d, 2960, 40, false)), 0, t.c);
  REQUIRE(w);
  rte_mbuf* out[32];
  SECTION("at 1500") {
    const unsigned n = hafw::dp::fragment(w, 14, 1500, eal().pool, out, 32);
    REQUIRE(n == 3);
    const size_t want_len[] = {1500, 1500, 60}, want_off[] = {0, 1480, 2960};
    for (unsigned i = 0; i < n; ++i) {
      const Bytes f = bytes(out[i]);
      CHECK(f.size() == 14 + want_len[i]);
      CHECK(std::equal(f.begin(), f.begin() + 14, d.begin()));  // the Ethernet header
      CHECK(sum(f.data() + 14, 20) == 0);
      CHECK(size_t(f[14 + 2] << 8 | f[14 + 3]) == want_len[i]);
      CHECK(size_t((f[14 + 6] & 0x1f) << 8 | f[14 + 7]) * 8 == want_off[i]);
      CHECK(bool(f[14 + 6] & 0x20) == (i < 2));
      // Reassembled again, they are the packet.
      const Bytes again = t.add(f);
      if (i == 2) same_packet(again, d);
      rte_pktmbuf_free(out[i]);
    }
  }
  SECTION("too many fragments for the room given: nothing made, the packet untouched") {
    const Bytes before = bytes(w);
    CHECK(hafw::dp::fragment(w, 14, 576, eal().pool, out, 2) == 0);
    CHECK(bytes(w) == before);
    rte_pktmbuf_free(w);
  }
}

TEST_CASE("IPv6 fragments in and out of order make the whole packet, without the fragment header",
          "[dpdk][fragments][ipv6]") {
  Table t;
  const Bytes d = datagram6(2992);  // payload 3000: 1448 + 1448 + 104
  SECTION("in order, three fragments") {
    CHECK(t.add(piece6(d, 1, 0, 1448, true)).empty());
    CHECK(t.add(piece6(d, 1, 1448, 1448, true)).empty());
    CHECK(t.r->held() == 2);
    CHECK(t.add(piece6(d, 1, 2896, 104, false)) == d);
  }
  SECTION("last first, then the middle, then the first") {
    CHECK(t.add(piece6(d, 2, 2896, 104, false)).empty());
    CHECK(t.add(piece6(d, 2, 1448, 1448, true)).empty());
    CHECK(t.add(piece6(d, 2, 0, 1448, true)) == d);
  }
  SECTION("two fragments, rebuilt in the first fragment's own buffer") {
    const Bytes s = datagram6(1192);
    CHECK(t.add(piece6(s, 3, 600, 600, false)).empty());
    CHECK(t.add(piece6(s, 3, 0, 600, true)) == s);
  }
  CHECK(t.r->held() == 0);
  CHECK(t.io(IoCounter::Reassembled) == 1);
  CHECK(t.io(IoCounter::FragmentsIn) >= 2);
  CHECK(t.c.read().drops == decltype(t.c.read().drops){});
}

TEST_CASE("one table serves both families: an IPv4 and an IPv6 packet with one id never mix",
          "[dpdk][fragments][ipv6]") {
  Table t;
  const Bytes d4 = datagram(7, 2992), d6 = datagram6(2992);
  CHECK(t.add(piece(d4, 0, 1480, true)).empty());
  CHECK(t.add(piece6(d6, 7, 0, 1448, true)).empty());
  CHECK(t.add(piece6(d6, 7, 1448, 1448, true)).empty());
  CHECK(t.add(piece(d4, 1480, 1480, true)).empty());
  CHECK(t.r->held() == 4);
  CHECK(t.add(piece6(d6, 7, 2896, 104, false)) == d6);
  same_packet(t.add(piece(d4, 2960, 40, false)), d4);
  CHECK(t.io(IoCounter::Reassembled) == 2);
  CHECK(t.r->held() == 0);
}

TEST_CASE("overlapping IPv6 fragments drop every fragment held for the packet (RFC 5722)",
          "[dpdk][fragments][ipv6]") {
  Table t;
  const Bytes d = datagram6(2992);
  SECTION("overlap") {
    CHECK(t.add(piece6(d, 4, 0, 1448, true)).empty());
    CHECK(t.add(piece6(d, 4, 1440, 1448, true)).empty());  // 1440..2888 overlaps the first
    CHECK(t.add(piece6(d, 4, 2896, 104, false)).empty());
    CHECK(t.drops(DropReason::FragOverlap) == 3);
  }
  SECTION("a repeated last fragment") {
    CHECK(t.add(piece6(d, 4, 2896, 104, false)).empty());
    CHECK(t.add(piece6(d, 4, 2896, 104, false)).empty());
    CHECK(t.drops(DropReason::FragOverlap) == 2);
  }
  CHECK(t.r->held() == 0);
  CHECK(t.io(IoCounter::Reassembled) == 0);
  // Sent again, whole, the packet completes.
  CHECK(t.add(piece6(d, 4, 0, 1448, true)).empty());
  CHECK(t.add(piece6(d, 4, 1448, 1448, true)).empty());
  CHECK(t.add(piece6(d, 4, 2896, 104, false)) == d);
}

TEST_CASE("an incomplete IPv6 packet is dropped at the timeout", "[dpdk][fragments][ipv6]") {
  Table t(64, 1000);
  const Bytes d = datagram6(2992);
  CHECK(t.add(piece6(d, 5, 0, 1448, true), 0).empty());
  CHECK(t.add(piece6(d, 5, 1448, 1448, true), 10).empty());
  t.r->expire(1000, t.c);
  CHECK(t.drops(DropReason::FragTimeout) == 0);
  t.r->expire(1001, t.c);
  t.r->flush();
  CHECK(t.drops(DropReason::FragTimeout) == 2);
  CHECK(t.r->held() == 0);
  // Its last fragment, late, starts a new entry that waits in turn.
  CHECK(t.add(piece6(d, 5, 2896, 104, false), 1100).empty());
  CHECK(t.r->held() == 1);
  t.r->expire(2101, t.c);
  t.r->flush();
  CHECK(t.drops(DropReason::FragTimeout) == 3);
}

TEST_CASE("a flood of IPv6 fragments that never complete holds bounded buffers, all freed",
          "[dpdk][fragments][ipv6]") {
  constexpr uint32_t kMax = 64;
  Table t(kMax, 30000);
  const Bytes d = datagram6(2992);
  for (uint32_t id = 0; id < 20000; ++id) {
    CHECK(t.add(piece6(d, id, 0, 1448, true), 10).empty());
    REQUIRE(t.r->held() <= kMax);
    REQUIRE(rte_mempool_in_use_count(eal().pool) == t.r->held());
  }
  const uint64_t refused = t.drops(DropReason::FragTableFull);
  CHECK(refused >= 20000 - kMax);
  CHECK(t.io(IoCounter::FragmentsIn) == refused + t.r->held());
  t.r->expire(30011, t.c);
  t.r->flush();
  CHECK(t.r->held() == 0);
  CHECK(t.drops(DropReason::FragTimeout) == 20000 - refused);
  // The table takes packets again; ~Table checks that no buffer is left.
  CHECK(t.add(piece6(d, 1, 0, 1448, true), 30012).empty());
  CHECK(t.add(piece6(d, 1, 1448, 1448, true), 30012).empty());
  CHECK(t.add(piece6(d, 1, 2896, 104, false), 30013) == d);
}

TEST_CASE("IPv6 fragments behind other extension headers keep the first fragment's headers",
          "[dpdk][fragments][ipv6]") {
  Table t;
  const Bytes d = datagram6_ext(2992);
  SECTION("three fragments, copied into a whole buffer") {
    CHECK(t.add(piece6_ext(d, 8, 1448, 1448, true)).empty());
    CHECK(t.add(piece6_ext(d, 8, 2896, 104, false)).empty());
    CHECK(t.add(piece6_ext(d, 8, 0, 1448, true)) == d);
  }
  SECTION("two, made whole in place") {
    const Bytes s = datagram6_ext(1192);
    CHECK(t.add(piece6_ext(s, 9, 0, 600, true)).empty());
    CHECK(t.add(piece6_ext(s, 9, 600, 600, false)) == s);
  }
  SECTION("later fragments without the headers: the first fragment's count") {
    const Bytes plain = datagram6(2992);
    CHECK(t.add(piece6(plain, 10, 1448, 1448, true)).empty());
    CHECK(t.add(piece6(plain, 10, 2896, 104, false)).empty());
    CHECK(t.add(piece6_ext(d, 10, 0, 1448, true)) == d);
  }
  CHECK(t.io(IoCounter::Reassembled) == 1);
  CHECK(t.c.read().drops == decltype(t.c.read().drops){});
}

TEST_CASE("a reassembled IPv6 packet is cut again at the sender's largest fragment, and makes itself again",
          "[dpdk][fragments][ipv6]") {
  Table t;
  rte_mbuf* out[32];
  SECTION("plain: three pieces of the sender's sizes, each with a fragment header") {
    const Bytes d = datagram6(2992);  // 1448 + 1448 + 104 of payload
    CHECK(t.add(piece6(d, 11, 1448, 1448, true)).empty());
    CHECK(t.add(piece6(d, 11, 2896, 104, false)).empty());
    rte_mbuf* w = t.r->add(mbuf(piece6(d, 11, 0, 1448, true)), 0, t.c);
    REQUIRE(w);
    CHECK(t.r->largest_fragment() == 40 + 8 + 1448);
    const unsigned n = hafw::dp::fragment6(w, 14, t.r->largest_fragment(), 0xabcd1234, eal().pool, out, 32);
    REQUIRE(n == 3);
    const size_t want_len[] = {1448, 1448, 104}, want_off[] = {0, 1448, 2896};
    for (unsigned i = 0; i < n; ++i) {
      const Bytes f = bytes(out[i]);
      REQUIRE(f.size() == 14 + 40 + 8 + want_len[i]);
      CHECK(std::equal(f.begin(), f.begin() + 14, d.begin()));  // the Ethernet header
      const uint8_t* ip = f.data() + 14;
      CHECK(ip[6] == 44);                                        // next: the fragment header
      CHECK(size_t(ip[4] << 8 | ip[5]) == 8 + want_len[i]);      // payload length
      CHECK(ip[40] == 17);                                       // then UDP
      CHECK(size_t(ip[42] << 8 | (ip[43] & 0xf8)) == want_off[i]);
      CHECK(bool(ip[43] & 1) == (i < 2));
      CHECK((uint32_t(ip[44]) << 24 | ip[45] << 16 | ip[46] << 8 | ip[47]) == 0xabcd1234);
      rte_pktmbuf_free(out[i]);
      // The same bytes as the sender's own fragments, but for the identification.
      Bytes sent = piece6(d, 0xabcd1234, want_off[i], want_len[i], i < 2);
      CHECK(f == sent);
      const Bytes again = t.add(f);
      if (i == 2) CHECK(again == d);
    }
  }
  SECTION("behind a hop-by-hop header: it stays in every piece, the rest is cut") {
    // A hop-by-hop header (PadN), then UDP; 3,000 bytes cut by the sender
    // into pieces of 1,456 behind a 56-byte unfragmentable part.
    Bytes d = datagram6(2992);
    const uint8_t hbh[8] = {17, 0, 1, 4, 0, 0, 0, 0};
    d.insert(d.begin() + 54, hbh, hbh + 8);
    d[14 + 6] = 0;
    d[14 + 4] = uint8_t((8 + 3000) >> 8), d[14 + 5] = uint8_t(8 + 3000);
    auto sender = [&](size_t off, size_t len, bool more, uint32_t id) {
      Bytes f(d.begin(), d.begin() + 62);
      f[14 + 40] = 44;
      const uint8_t fh[8] = {17, 0, uint8_t(off >> 8), uint8_t((off & 0xf8) | (more ? 1 : 0)),
                             uint8_t(id >> 24), uint8_t(id >> 16), uint8_t(id >> 8), uint8_t(id)};
      f.insert(f.end(), fh, fh + 8);
      f.insert(f.end(), d.begin() + 62 + long(off), d.begin() + 62 + long(off + len));
      f[14 + 4] = uint8_t((16 + len) >> 8), f[14 + 5] = uint8_t(16 + len);
      return f;
    };
    auto add = [&](const Bytes& f) {
      rte_mbuf* m = mbuf(f);
      m->l3_len = 40 + 8 + 8;  // to the end of the fragment header, as ipv6_input sets it
      return t.r->add(m, 0, t.c);
    };
    CHECK(add(sender(0, 1456, true, 12)) == nullptr);
    CHECK(add(sender(1456, 1456, true, 12)) == nullptr);
    rte_mbuf* w = add(sender(2912, 88, false, 12));
    REQUIRE(w);
    CHECK(t.r->largest_fragment() == 40 + 8 + 8 + 1456);
    CHECK(bytes(w) == d);
    const unsigned n = hafw::dp::fragment6(w, 14, t.r->largest_fragment(), 77, eal().pool, out, 32);
    REQUIRE(n == 3);
    const size_t want_len[] = {1456, 1456, 88}, want_off[] = {0, 1456, 2912};
    for (unsigned i = 0; i < n; ++i) {
      CHECK(bytes(out[i]) == sender(want_off[i], want_len[i], i < 2, 77));
      rte_pktmbuf_free(out[i]);
    }
  }
  SECTION("a size too small for the headers, or too many pieces: nothing made, the packet untouched") {
    const Bytes d = datagram6(1192);
    CHECK(t.add(piece6(d, 13, 600, 600, false)).empty());
    rte_mbuf* w = t.r->add(mbuf(piece6(d, 13, 0, 600, true)), 0, t.c);
    REQUIRE(w);
    const Bytes before = bytes(w);
    CHECK(hafw::dp::fragment6(w, 14, 55, 1, eal().pool, out, 32) == 0);
    CHECK(hafw::dp::fragment6(w, 14, 100, 1, eal().pool, out, 2) == 0);
    CHECK(bytes(w) == before);
    rte_pktmbuf_free(w);
  }
  t.r->flush();
}
