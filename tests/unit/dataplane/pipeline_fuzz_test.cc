// Deterministic fuzzing of the burst pipeline: mutated valid frames and
// random bytes in bursts of 1 to 32, each frame in a buffer of exactly its
// length so ASan catches any access past it.
#include <catch2/catch.hpp>

#include <array>
#include <memory>
#include <random>

#include "dataplane/pipeline.h"
#include "tests/unit/dataplane/frames.h"

using namespace hafw;
using namespace hafw::test;

namespace {

std::vector<Bytes> seeds() {
  const uint32_t host = ip4("192.168.1.50"), lan = ip4("192.168.1.2"), vip = ip4("192.168.1.1");
  Bytes carp(36, 0);
  carp[0] = 0x21;
  Mac carp_mc{{0x01, 0x00, 0x5e, 0x00, 0x00, 0x12}};
  Bytes padded = ipv4_frame(kLanMac, kHostMac, host, lan, 1, icmp_echo(1, 2, 0));
  padded.resize(60, 0);
  return {
      arp_request(host, kHostMac, lan),
      arp_request(host, kHostMac, vip),
      arp_frame(net::kArpReply, kLanMac, kHostMac, host, kLanMac, lan),
      ipv4_frame(kLanMac, kHostMac, host, lan, 1, icmp_echo(1, 2, 56)),
      ipv4_frame(Mac::virtual_for(1), kHostMac, host, vip, 1, icmp_echo(1, 2, 8)),
      padded,
      ipv4_frame(kLanMac, kHostMac, host, ip4("198.51.100.77"), 17, udp_payload(20)),
      ipv4_frame(Mac::virtual_for(1), kHostMac, host, ip4("8.8.8.8"), 6, udp_payload(40), 2),
      ipv4_frame(carp_mc, Mac::virtual_for(1), ip4("192.168.1.3"), ip4("224.0.0.18"), 112, carp, 255),
      ipv4_frame(kLanMac, kHostMac, host, ip4("172.16.1.2"), 240, Bytes(24, 1), 255),
      ipv4_frame(kLanMac, kHostMac, host, ip4("10.1.0.9"), 17, udp_payload(4), 1),
      ipv4_frame(kLanMac, kHostMac, host, lan, 1, icmp_echo(1, 2, 8), 64, 0x2000),
  };
}

}  // namespace

TEST_CASE("the pipeline survives 50k mutated and random frames in bursts", "[dataplane][fuzz]") {
  Tables views[2] = {master_view(), backup_view()};
  std::tuple<uint8_t, uint32_t, Mac> n[] = {{0, ip4("198.51.100.77"), mac(0x77)}, {0, ip4("198.51.100.1"), kGwMac}};
  for (auto& v : views) v.neighbors = dp::NeighborTable::build(n);
  const auto base = seeds();

  std::mt19937 rng(20240611);
  auto pick = [&](size_t n) { return size_t(std::uniform_int_distribution<size_t>(0, n - 1)(rng)); };

  auto make = [&](int it) {
    Bytes f;
    if (it % 4 != 3) {  // three in four: a mutated valid frame
      f = base[pick(base.size())];
      const size_t flips = 1 + pick(6);
      for (size_t k = 0; k < flips; ++k) {
        // Bias mutations into the headers, where the parsers look.
        size_t at = pick(4) == 0 ? pick(f.size()) : pick(std::min<size_t>(f.size(), 42));
        f[at] = uint8_t(pick(256));
      }
      // Half the time keep the IP header checksum valid so the mutation
      // reaches the stages behind the checksum check.
      if (pick(2) && f.size() >= 34 && f[12] == 0x08 && f[13] == 0x00) {
        const size_t ihl = size_t(f[14] & 0x0f) * 4;
        if (ihl >= 20 && 14 + ihl <= f.size()) {
          f[24] = f[25] = 0;
          uint16_t c = net::inet_checksum({f.data() + 14, ihl});
          std::memcpy(f.data() + 24, &c, 2);
        }
      }
      if (pick(8) == 0) f.resize(pick(f.size() + 1));
      if (pick(16) == 0) f.resize(f.size() + pick(64), uint8_t(pick(256)));
    } else {  // random bytes, half of them with a plausible Ethernet header
      f.resize(pick(120));
      for (auto& b : f) b = uint8_t(pick(256));
      if (f.size() >= 14 && pick(2)) {
        std::memcpy(f.data(), kLanMac.b.data(), 6);
        f[12] = 0x08;
        f[13] = pick(2) ? 0x00 : 0x06;
      }
    }
    return f;
  };

  std::array<size_t, 3> exits{};  // Tx, Control, Drop
  dp::WorkerCounters counters;
  size_t drops = 0, punts = 0;
  for (int it = 0; it < 50000;) {
    const Tables& v = views[it & 1];
    dp::WorkerCtx ctx{.view = v.view(), .counters = &counters, .states = v.states.get()};
    dp::Burst b;
    std::vector<std::unique_ptr<uint8_t[]>> bufs;
    std::vector<uint16_t> caps;
    const size_t size = 1 + pick(dp::kBurstMax);
    for (size_t k = 0; k < size; ++k, ++it) {
      Bytes f = make(it);
      const uint16_t cap = uint16_t(f.size());
      bufs.push_back(std::make_unique<uint8_t[]>(cap));  // exactly the frame: no slack for overruns
      if (cap) std::memcpy(bufs.back().get(), f.data(), cap);
      caps.push_back(cap);
      const uint8_t in = pick(4) ? 1 : uint8_t(pick(4));  // mostly the seeds' LAN; 3 is an unknown port
      b.set(b.n++, bufs.back().get(), cap, in);
    }
    dp::run_burst(ctx, b);

    for (uint16_t k = 0; k < b.n; ++k) {
      const dp::PacketMeta& p = b.pkt[k];
      REQUIRE(p.len <= caps[k]);
      switch (p.next) {
        case dp::Next::Drop:
          ++exits[2];
          ++drops;
          REQUIRE(p.drop < dp::DropReason::Count);
          break;
        case dp::Next::Control:
          ++exits[1];
          ++punts;
          REQUIRE(p.punt < dp::PuntReason::Count);
          REQUIRE(p.out < v.topo.ifaces.size());
          break;
        case dp::Next::Tx: {
          ++exits[0];
          REQUIRE(p.out < v.topo.ifaces.size());
          Bytes out(p.data, p.data + p.len);
          if (net::be16(eth_of(out).type) == net::kEtherTypeIpv4) REQUIRE(ip_checksum_ok(out));
          break;
        }
        default:
          FAIL("packet left the pipeline at stage " << int(p.next));
      }
    }
  }
  // The corpus reaches every exit, so the loop is exercising the stages.
  for (size_t e : exits) CHECK(e > 0);
  // The pipeline counted every drop and punt by its reason.
  const dp::Counters c = counters.read();
  size_t counted_drops = 0, counted_punts = 0;
  for (auto d : c.drops) counted_drops += d;
  for (auto x : c.punts) counted_punts += x;
  CHECK(counted_drops == drops);
  CHECK(counted_punts == punts);
}
