// Known-answer vectors from a real ucarp: adverts Debian's ucarp 1.5.2 sent,
// captured with tcpdump (tests/data/carp/README.md says how), decoded with
// hafw's codec and authenticated with the password ucarp was given. A change
// to the HMAC message, the key handling or the header layout that our own
// encoder would agree with fails here.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <variant>
#include <vector>

#include "carp/carp.h"
#include "carp/wire.h"
#include "tests/unit/carp/source_dir.h"

using namespace hafw;
using namespace hafw::carp;
using namespace std::chrono_literals;

namespace {

net::IpAddr ip(const char* s) { return *net::IpAddr::parse(s); }

struct Captured {
  Frame bytes;
  int64_t ts_us;
};

// A classic pcap file (either byte order, µs or ns timestamps), frame by frame.
std::vector<Captured> read_pcap(const std::string& name) {
  const std::string path = std::string(HAFW_SOURCE_DIR) + "/tests/data/carp/" + name;
  std::ifstream in(path, std::ios::binary);
  INFO(path);
  REQUIRE(in);
  const std::vector<uint8_t> f((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(f.size() >= 24);
  auto u32 = [&](size_t at, bool swap) {
    uint32_t v;
    std::memcpy(&v, &f[at], 4);
    return swap ? __builtin_bswap32(v) : v;
  };
  const uint32_t magic = u32(0, false);
  const bool swap = magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1;
  const uint32_t m = swap ? __builtin_bswap32(magic) : magic;
  REQUIRE((m == 0xa1b2c3d4 || m == 0xa1b23c4d));
  const bool nanos = m == 0xa1b23c4d;
  REQUIRE(u32(20, swap) == 1);  // LINKTYPE_ETHERNET
  std::vector<Captured> out;
  for (size_t at = 24; at + 16 <= f.size();) {
    const uint32_t len = u32(at + 8, swap);
    const int64_t sub = u32(at + 4, swap);
    const int64_t ts = int64_t(u32(at, swap)) * 1'000'000 + (nanos ? sub / 1000 : sub);
    REQUIRE(at + 16 + len <= f.size());
    out.push_back({Frame(f.begin() + long(at) + 16, f.begin() + long(at + 16 + len)), ts});
    at += 16 + len;
  }
  return out;
}

// How ucarp was started for each capture (tests/data/carp/capture.sh).
struct Case {
  const char* file;
  uint8_t vhid;
  const char* password;
  const char* vip;
  const char* src;
  uint8_t advbase, advskew;
};
constexpr Case kCases[] = {
    {"ucarp-vhid1-skew0.pcap", 1, "secret", "10.0.0.100", "10.0.0.2", 1, 0},
    {"ucarp-vhid42-skew100.pcap", 42, "hafw-interop", "192.0.2.10", "192.0.2.3", 1, 100},
    {"ucarp-vhid200-base2-skew250.pcap", 200, "0123456789abcdefghi", "198.51.100.50", "198.51.100.2", 2, 250},
};

VhidConfig config_of(const Case& c, const char* password, const char* vip) {
  return VhidConfig{.interface = "lan", .vhid = c.vhid, .addresses = {ip(vip)}, .password = password,
                    .advbase = c.advbase, .advskew = 0, .preempt = false, .src = ip("10.255.255.1")};
}

}  // namespace

TEST_CASE("ucarp's captured adverts decode as ucarp was configured and authenticate with its password") {
  for (const Case& c : kCases) {
    INFO(c.file);
    const auto frames = read_pcap(c.file);
    REQUIRE(frames.size() == 3);
    const VhidConfig right = config_of(c, c.password, c.vip);
    uint64_t previous = 0;
    for (size_t i = 0; i < frames.size(); ++i) {
      INFO("frame " << i);
      const Decoded d = decode_advert(frames[i].bytes);
      REQUIRE(std::holds_alternative<Advert>(d));
      const Advert& a = std::get<Advert>(d);
      CHECK(a.vhid == c.vhid);
      CHECK(a.advbase == c.advbase);
      CHECK(a.advskew == c.advskew);
      CHECK(a.demote == 0);  // ucarp sends no demotion
      CHECK(a.src == ip(c.src));
      CHECK(a.dst == ip("224.0.0.18"));
      // ucarp's source MAC is 00:00:5e:00:00:VHID, not the BSD :01: one.
      CHECK(a.eth_src == net::Mac{{0x00, 0x00, 0x5e, 0x00, 0x00, c.vhid}});
      CHECK_FALSE(a.bow_out());

      CHECK(verify(a, right));
      CHECK_FALSE(verify(a, config_of(c, "wrong", c.vip)));
      CHECK_FALSE(verify(a, config_of(c, "", c.vip)));
      // The VIP is part of the HMAC message: the right password with another
      // VIP list fails too (what bad_auth reports for a VIP mismatch).
      CHECK_FALSE(verify(a, config_of(c, c.password, "10.255.255.254")));

      // ucarp 1.5.2 draws a new random counter for every advert (its
      // sc_init_counter is never cleared), where the BSDs count up by one:
      // a receiver must not expect growth. They differ, at least.
      if (i > 0) CHECK(a.counter != previous);
      previous = a.counter;
    }
    // ucarp advertises every advbase + advskew/256 s as MASTER; the capture
    // keeps its timestamps (within 50 ms on a loaded machine).
    const int64_t interval_us = int64_t(c.advbase) * 1'000'000 + int64_t(c.advskew) * 1'000'000 / 256;
    for (size_t i = 1; i < frames.size(); ++i)
      CHECK(std::abs(frames[i].ts_us - frames[i - 1].ts_us - interval_us) < 50'000);
  }
}

TEST_CASE("a node configured like ucarp's peer accepts its captured adverts; a wrong password counts bad_auth") {
  for (const Case& c : kCases) {
    INFO(c.file);
    const auto frames = read_pcap(c.file);
    Carp good({config_of(c, c.password, c.vip)});
    Carp bad({config_of(c, "not-the-password", c.vip)});
    Time now = 1000s;
    good.start(now);
    bad.start(now);
    for (const auto& f : frames) {
      now += 1s;
      good.receive(f.bytes, "lan", now);
      bad.receive(f.bytes, "lan", now);
    }
    CHECK(good.stats().adverts_received == 3);
    CHECK(good.stats().drops[size_t(Drop::BadAuth)] == 0);
    CHECK(good.status()[0].state == State::Backup);  // a MASTER advertising: we stay BACKUP
    CHECK(bad.stats().adverts_received == 0);
    CHECK(bad.stats().drops[size_t(Drop::BadAuth)] == 3);
    CHECK(bad.status()[0].bad_auth == 3);
    const net::Mac ucarp_mac{{0x00, 0x00, 0x5e, 0x00, 0x00, c.vhid}};
    CHECK(bad.status()[0].last_bad_auth_from == std::string(c.src) + " (" + ucarp_mac.str() + ")");
  }
}
