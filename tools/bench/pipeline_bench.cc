// hafw-bench-pipeline: cycles per packet of the worker pipeline.
//
// Runs dp::run_burst — the function the DPDK worker calls for every RX burst
// — over bursts of 32 frames in memory, without a PMD, so the figure is the
// pipeline's own cost: stages, snapshot lookups, the state table, NAT,
// counters. The firewall is the lab's (tools/bench/lab_flows.h: pass in on
// lan keep state, outbound NAT to the WAN VIP); the warm-up pass creates
// every flow's state, so the measured packets are established flows. Each
// burst's frames get their Ethernet, IPv4 and UDP headers restored first (42
// bytes, as a NIC writes a new packet; NAT rewrote them), which is counted
// in. Prints one JSON object and a one-line summary. Method and results:
// docs/benchmarks.md.
//
// --family 6 runs the IPv6 twin of the flow set (lab_frame6: the same
// rule for the LAN's /64, routed and filtered, no NAT: there is no NAT66).
//
//   hafw-bench-pipeline [--bursts N] [--flows N] [--family 4|6]
#include <x86intrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/net/net.h"
#include "dataplane/pipeline.h"
#include "dataplane/state_table.h"
#include "dataplane/view.h"
#include "tools/bench/lab_flows.h"

using namespace hafw;

int main(int argc, char** argv) {
  long bursts = 2'000'000;
  unsigned flows = 1024;
  bool v6 = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--bursts") bursts = std::stol(argv[i + 1]);
    else if (a == "--flows") flows = unsigned(std::stoul(argv[i + 1]));
    else if (a == "--family") v6 = std::string(argv[i + 1]) == "6";
  }
  // MASTER for both VIPs; the MACs are arbitrary, nothing leaves.
  const dp::Topology topo = bench::lab_topology(net::Mac{{0x02, 0, 0, 0, 0, 0xa1}}, net::Mac{{0x02, 0, 0, 0, 0, 0xa2}});
  const dp::VipSet owned = topo.configured_vips;
  const dp::NeighborTable neighbors = bench::lab_neighbors();
  // Room for every flow at half the table's capacity.
  uint32_t capacity = 1024;
  while (capacity < 2 * uint64_t(flows)) capacity *= 2;
  dp::StateTable states(capacity);
  const std::unique_ptr<dp::Policy> policy = bench::lab_policy(states);
  std::vector<std::vector<uint8_t>> templates;
  const net::Mac lan_mac{{0x02, 0, 0, 0, 0, 0xa2}};
  for (unsigned f = 0; f < flows; ++f) templates.push_back(v6 ? bench::lab_frame6(f, lan_mac) : bench::lab_frame(f));
  const size_t frame_len = v6 ? bench::kFrameLen6 : bench::kFrameLen;
  const size_t restore = v6 ? bench::kRestoreBytes6 : bench::kRestoreBytes;
  std::vector<std::vector<uint8_t>> bufs(dp::kBurstMax, std::vector<uint8_t>(frame_len));

  dp::WorkerCounters counters;
  dp::WorkerCtx ctx{.view = {&topo, &owned, &neighbors, policy.get()}, .counters = &counters, .states = &states};
  ctx.set_time(std::chrono::seconds(1000));
  dp::Burst b;
  uint64_t forwarded = 0;
  unsigned next_flow = 0;

  auto run = [&](long n) {
    for (long it = 0; it < n; ++it) {
      b.n = 0;
      for (unsigned i = 0; i < dp::kBurstMax; ++i) {
        const auto& src = templates[next_flow];
        next_flow = next_flow + 1 == flows ? 0 : next_flow + 1;
        std::memcpy(bufs[i].data(), src.data(), restore);
        b.set(b.n++, bufs[i].data(), uint16_t(bufs[i].size()), 1);
      }
      dp::run_burst(ctx, b);
      for (unsigned i = 0; i < b.n; ++i) forwarded += b.pkt[i].next == dp::Next::Tx;
    }
  };
  // Warm the caches and the branch predictors, and create every flow's state
  // (the first pass over the flows).
  run(std::max<long>(bursts / 20, long(2 * flows / dp::kBurstMax) + 1));
  const uint64_t created = counters.read().states[size_t(dp::StateCounter::Created)];
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
  const bool all = forwarded == uint64_t(packets) && created == flows;
  std::printf(
      "{\"bench\": \"pipeline\", \"path\": \"%s\", \"burst\": %u, \"flows\": %u, "
      "\"states_created\": %lu, \"capacity\": %u, \"packets\": %.0f, \"forwarded\": %lu, "
      "\"tsc_per_packet\": %.1f, \"tsc_ghz\": %.2f, \"mpps_one_core\": %.2f}\n",
      v6 ? "ipv6_established" : "nat_established", dp::kBurstMax, flows, (unsigned long)created, capacity, packets, (unsigned long)forwarded, tsc_per_pkt, ghz,
      mpps);
  std::printf("pipeline %s established: %.1f cycles/packet, %.2f Mpps on one core (%s)\n", v6 ? "IPv6" : "NAT",
              tsc_per_pkt, mpps,
              all ? "every packet forwarded, one state per flow"
                  : forwarded == uint64_t(packets) ? "NOT one state per flow" : "NOT every packet forwarded");
  return all ? 0 : 1;
}
