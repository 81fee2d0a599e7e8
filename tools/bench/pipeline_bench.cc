// hafw-bench-pipeline: cycles per packet of the worker pipeline.
//
// Runs dp::run_burst — the function the DPDK worker calls for every RX burst
// — over bursts of 32 frames in memory, without a PMD, so the figure is the
// pipeline's own cost: stages, snapshot lookups, counters. Each burst's
// frames get their Ethernet and IPv4 headers restored first (34 bytes, as a
// NIC writes a new packet), which is counted in. Prints one JSON object and a
// one-line summary. Method and results: docs/benchmarks.md.
//
//   hafw-bench-pipeline [--bursts N] [--flows N]
#include <x86intrin.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "dataplane/net/net.h"
#include "dataplane/pipeline.h"
#include "dataplane/view.h"

using namespace hafw;

namespace {

net::Mac mac(uint8_t last) { return net::Mac{{0x02, 0, 0, 0, 0, last}}; }
uint32_t ip4(const char* s) { return net::IpAddr::parse(s)->v4(); }

// The lab's plan: LAN 192.168.1.0/24 (VIP .1), WAN 198.51.100.0/24 with a
// default gateway .1. This node is MASTER and knows the gateway's MAC.
struct Tables {
  dp::Topology topo;
  dp::VipSet owned;
  dp::NeighborTable neighbors;
};

Tables tables() {
  Tables t;
  t.topo.ifaces = {{.port_id = 0, .mac = mac(0xa1), .addr = ip4("198.51.100.201"), .plen = 24},
                   {.port_id = 1, .mac = mac(0xa2), .addr = ip4("192.168.1.2"), .plen = 24}};
  t.topo.routes = {{.net = ip4("198.51.100.0"), .len = 24, .gateway = 0, .iface = 0},
                   {.net = ip4("192.168.1.0"), .len = 24, .gateway = 0, .iface = 1},
                   {.net = 0, .len = 0, .gateway = ip4("198.51.100.1"), .iface = 0}};
  t.topo.configured_vips.vips = {
      {.addr = ip4("198.51.100.200"), .iface = 0, .vhid = 200, .vmac = net::Mac::virtual_for(200)},
      {.addr = ip4("192.168.1.1"), .iface = 1, .vhid = 1, .vmac = net::Mac::virtual_for(1)}};
  t.owned = t.topo.configured_vips;
  dp::NeighborTable::Entry gw[] = {{0, ip4("198.51.100.1"), mac(0x01)}};
  t.neighbors = dp::NeighborTable::build(gw);
  return t;
}

// A 64-byte UDP frame from a LAN host to the virtual MAC, bound for the
// internet through the default route; source port varies per flow.
std::vector<uint8_t> frame(uint32_t flow) {
  std::vector<uint8_t> f(60, 0);
  net::EthHdr eth{.dst = net::Mac::virtual_for(1), .src = mac(0x50), .type = net::be16(net::kEtherTypeIpv4)};
  net::Ipv4Hdr ip{.ver_ihl = 0x45, .tos = 0, .total_len = net::be16(46), .id = 0, .frag = 0, .ttl = 64,
                  .proto = net::kProtoUdp, .csum = 0, .src = net::be32(ip4("192.168.1.50") + flow % 200),
                  .dst = net::be32(ip4("203.0.113.10"))};
  ip.csum = net::inet_checksum({reinterpret_cast<const uint8_t*>(&ip), sizeof ip});
  std::memcpy(f.data(), &eth, sizeof eth);
  std::memcpy(f.data() + sizeof eth, &ip, sizeof ip);
  const uint16_t sport = net::be16(uint16_t(1024 + flow)), dport = net::be16(53), ulen = net::be16(26);
  std::memcpy(f.data() + 34, &sport, 2);
  std::memcpy(f.data() + 36, &dport, 2);
  std::memcpy(f.data() + 38, &ulen, 2);
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  long bursts = 2'000'000;
  unsigned flows = 1024;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--bursts") bursts = std::stol(argv[i + 1]);
    else if (a == "--flows") flows = unsigned(std::stoul(argv[i + 1]));
  }
  const Tables t = tables();
  std::vector<std::vector<uint8_t>> templates;
  for (unsigned f = 0; f < flows; ++f) templates.push_back(frame(f));
  std::vector<std::vector<uint8_t>> bufs(dp::kBurstMax, std::vector<uint8_t>(60));

  dp::WorkerCounters counters;
  dp::WorkerCtx ctx{.view = {&t.topo, &t.owned, &t.neighbors}, .counters = &counters};
  dp::Burst b;
  uint64_t forwarded = 0;
  unsigned next_flow = 0;

  auto run = [&](long n) {
    for (long it = 0; it < n; ++it) {
      b.n = 0;
      for (unsigned i = 0; i < dp::kBurstMax; ++i) {
        const auto& src = templates[next_flow];
        next_flow = next_flow + 1 == flows ? 0 : next_flow + 1;
        std::memcpy(bufs[i].data(), src.data(), 40);  // headers and ports: what the NIC rewrites
        b.set(b.n++, bufs[i].data(), uint16_t(bufs[i].size()), 1);
      }
      dp::run_burst(ctx, b);
      for (unsigned i = 0; i < b.n; ++i) forwarded += b.pkt[i].next == dp::Next::Tx;
    }
  };
  run(bursts / 20);  // warm the caches and the branch predictors
  forwarded = 0;
  const auto t0 = std::chrono::steady_clock::now();
  const uint64_t c0 = __rdtsc();
  run(bursts);
  const uint64_t c1 = __rdtsc();
  const auto t1 = std::chrono::steady_clock::now();

  const double packets = double(bursts) * dp::kBurstMax;
  const double secs = std::chrono::duration<double>(t1 - t0).count();
  const double tsc_per_pkt = double(c1 - c0) / packets;
  const double mpps = packets / secs / 1e6;
  const double ghz = double(c1 - c0) / secs / 1e9;
  std::printf(
      "{\"bench\": \"pipeline\", \"path\": \"forward\", \"burst\": %u, \"flows\": %u, \"packets\": %.0f, "
      "\"forwarded\": %lu, \"tsc_per_packet\": %.1f, \"tsc_ghz\": %.2f, \"mpps_one_core\": %.2f}\n",
      dp::kBurstMax, flows, packets, (unsigned long)forwarded, tsc_per_pkt, ghz, mpps);
  std::printf("pipeline forward: %.1f cycles/packet, %.2f Mpps on one core (%s)\n", tsc_per_pkt, mpps,
              forwarded == uint64_t(packets) ? "every packet forwarded" : "NOT every packet forwarded");
  return forwarded == uint64_t(packets) ? 0 : 1;
}
