// hafw-bench-worker: the real DPDK worker loop, one worker lcore, fed
// through ring ports, the lab's firewall in front (tools/bench/lab_flows.h:
// pass in on lan keep state, outbound NAT to the WAN VIP).
//
// Two ports made with rte_eth_from_rings: "lan" receives from a ring this
// program fills, "wan" transmits into a ring it drains. The worker is
// hafwd's own (DpdkIo: rx_burst, the pipeline, TX buffers, tx_burst); the
// main lcore is the traffic generator: it takes each forwarded mbuf off the
// WAN ring, restores the 42 bytes a NIC would write anew (Ethernet, IPv4,
// UDP header, all of which NAT rewrote) from its flow's template and puts it
// back on the LAN ring, so nothing is allocated in the steady state. The
// warm-up lasts until every flow has been forwarded twice, so every flow has
// its state and the measured packets are established flows. Cycles per
// packet are TSC cycles of the worker core divided by the packets it
// forwarded (the worker never idles while the ring is full). Prints one JSON
// object and a summary line.
//
//   hafw-bench-worker [--seconds S] [--flows N]      (as root; 2 cores)
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/dpdk/dpdk.h"
#include "dataplane/net/net.h"
#include "dataplane/state_table.h"
#include "dataplane/view.h"
#include "tools/bench/lab_flows.h"

using namespace hafw;

namespace {

constexpr unsigned kRing = 4096;      // per direction; the generator keeps ~2048 frames in flight
constexpr unsigned kInFlight = 2048;
constexpr unsigned kBurst = 32;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "hafw-bench-worker: %s: %s\n", what.c_str(), rte_strerror(rte_errno));
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 5;
  unsigned flows = 1024;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--seconds") seconds = std::stod(argv[i + 1]);
    else if (a == "--flows") flows = unsigned(std::stoul(argv[i + 1]));
  }

  const std::string prefix = "--file-prefix=hafw-bench-" + std::to_string(getpid());
  std::vector<std::string> eal = {"hafw-bench-worker", "--no-huge", "-m", "512", "--no-pci", prefix, "-l", "0-1",
                                  "--log-level=warning"};
  std::vector<char*> eal_argv;
  for (auto& a : eal) eal_argv.push_back(a.data());
  if (rte_eal_init(int(eal_argv.size()), eal_argv.data()) < 0) die("EAL");

  auto ring = [](const char* name) {
    rte_ring* r = rte_ring_create(name, kRing, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (!r) die(std::string("ring ") + name);
    return r;
  };
  rte_ring *wan_rx = ring("b_wan_rx"), *wan_tx = ring("b_wan_tx"), *lan_rx = ring("b_lan_rx"),
           *lan_tx = ring("b_lan_tx");
  const int wan = rte_eth_from_rings("bench_wan", &wan_rx, 1, &wan_tx, 1, SOCKET_ID_ANY);
  const int lan = rte_eth_from_rings("bench_lan", &lan_rx, 1, &lan_tx, 1, SOCKET_ID_ANY);
  if (wan < 0 || lan < 0) die("ring ports");

  uint32_t capacity = 1024;  // every flow at half the table's capacity
  while (capacity < 2 * uint64_t(flows)) capacity *= 2;
  dp::StateTable states(capacity);
  dp::DpdkSetup setup;
  setup.eal_initialized = true;
  setup.states = &states;
  setup.workers = 1;
  setup.ports = {{.device = std::to_string(wan), .key = "wan"}, {.device = std::to_string(lan), .key = "lan"}};
  std::string error;
  auto io = dp::DpdkIo::create(setup, error);
  if (!io) {
    std::fprintf(stderr, "hafw-bench-worker: %s\n", error.c_str());
    return 1;
  }

  // The lab's plan, MASTER for both VIPs, the WAN gateway resolved.
  auto topo = std::make_unique<dp::Topology>(bench::lab_topology(io->mac(0), io->mac(1)));
  auto owned = std::make_unique<dp::VipSet>(topo->configured_vips);
  io->snapshots().publish(std::unique_ptr<const dp::Topology>(std::move(topo)));
  io->snapshots().publish(std::unique_ptr<const dp::VipSet>(std::move(owned)));
  io->snapshots().publish(std::make_unique<const dp::NeighborTable>(bench::lab_neighbors()));
  io->snapshots().publish(std::unique_ptr<const dp::Policy>(bench::lab_policy(states)));

  std::vector<std::vector<uint8_t>> templates;
  for (unsigned f = 0; f < flows; ++f) templates.push_back(bench::lab_frame(f));
  rte_mempool* pool = rte_pktmbuf_pool_create("bench_gen", kInFlight * 2 - 1, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                              SOCKET_ID_ANY);
  if (!pool) die("mbuf pool");
  unsigned next_flow = 0;
  auto fill = [&](rte_mbuf* m) {
    const auto& t = templates[next_flow];
    next_flow = next_flow + 1 == flows ? 0 : next_flow + 1;
    std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), t.data(), bench::kRestoreBytes);
    m->data_len = m->pkt_len = uint16_t(t.size());
    m->ol_flags = 0;  // the worker may have asked the port for a checksum
  };
  for (unsigned i = 0; i < kInFlight; ++i) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    if (!m || !rte_pktmbuf_append(m, bench::kFrameLen)) die("mbuf");
    std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), templates[i % flows].data(), bench::kFrameLen);
    if (rte_ring_enqueue(lan_rx, m) != 0) die("enqueue");
  }

  io->start_workers();
  const uint64_t hz = rte_get_tsc_hz();
  uint64_t forwarded = 0, start_count = 0, t_start = 0, end = 0, next_check = 0;
  // The warm-up: at least 0.2 s, and until every flow went through twice
  // (its first packet created its state); given up after 60 s, or as soon as
  // the worker drops anything (the run has failed then).
  const uint64_t t0 = rte_get_tsc_cycles(), warmup = hz / 5, give_up = t0 + 60 * hz;
  const uint64_t window = uint64_t(seconds * double(hz));
  rte_mbuf* ms[kBurst];
  // How often the worker's RX ring was found empty: when it is, the figure
  // measures this generator, not the worker.
  uint64_t polls = 0, starved = 0;
  for (uint64_t now = t0; !t_start || now < end; now = rte_get_tsc_cycles()) {
    if (t_start) {
      ++polls;
      starved += rte_ring_empty(lan_rx);
    } else if (now >= next_check) {
      next_check = now + hz / 1000;
      uint64_t dropped = 0;
      for (auto d : io->counters().drops) dropped += d;
      if ((now - t0 >= warmup && forwarded >= 2 * uint64_t(flows)) || dropped > 0 || now >= give_up) {
        t_start = now;
        end = now + window;
        start_count = forwarded;
      }
    }
    const unsigned n = rte_ring_dequeue_burst(wan_tx, reinterpret_cast<void**>(ms), kBurst, nullptr);
    for (unsigned i = 0; i < n; ++i) fill(ms[i]);
    const unsigned done = n ? rte_ring_enqueue_burst(lan_rx, reinterpret_cast<void**>(ms), n, nullptr) : 0;
    if (done < n) rte_pktmbuf_free_bulk(ms + done, n - done);
    forwarded += n;
  }
  const uint64_t t_end = rte_get_tsc_cycles();
  io->stop_workers();

  const dp::Counters c = io->counters();
  uint64_t drops = 0;
  std::string by_reason;
  for (size_t r = 0; r < c.drops.size(); ++r) {
    drops += c.drops[r];
    if (c.drops[r] == 0) continue;
    if (!by_reason.empty()) by_reason += ", ";
    by_reason += "\"" + std::string(dp::name(dp::DropReason(r))) + "\": " + std::to_string(c.drops[r]);
  }
  const uint64_t created = c.states[size_t(dp::StateCounter::Created)];
  const double packets = double(forwarded - start_count);
  const double secs = double(t_end - t_start) / double(hz);
  const double cycles = packets > 0 ? double(t_end - t_start) / packets : 0.0;
  std::printf(
      "{\"bench\": \"worker\", \"path\": \"nat_established\", \"ports\": \"net_ring\", \"workers\": 1, "
      "\"flows\": %u, \"capacity\": %u, \"states_created\": %lu, \"seconds\": %.2f, \"packets\": %.0f, "
      "\"tsc_per_packet\": %.1f, \"mpps_one_core\": %.2f, \"worker_rx\": %lu, \"worker_tx\": %lu, "
      "\"drops\": %lu, \"drops_by_reason\": {%s}, \"rx_ring_empty_pct\": %.2f}\n",
      flows, capacity, (unsigned long)created, secs, packets, cycles, packets / secs / 1e6,
      (unsigned long)c[dp::IoCounter::Rx], (unsigned long)c[dp::IoCounter::Tx], (unsigned long)drops,
      by_reason.c_str(), polls ? 100.0 * double(starved) / double(polls) : 0.0);
  std::printf("worker NAT established over net_ring: %.1f cycles/packet, %.2f Mpps on one worker core, %lu drops%s%s\n",
              cycles, packets / secs / 1e6, (unsigned long)drops,
              created != flows ? ", NOT one state per flow" : "",
              starved * 100 > polls ? " (generator-bound: the worker's RX ring ran empty)" : "");
  io.reset();
  // The EAL leaves its runtime directory behind; a benchmark should not.
  const std::string runtime_dir = rte_eal_get_runtime_dir();
  rte_eal_cleanup();
  std::error_code ignored;
  std::filesystem::remove_all(runtime_dir, ignored);
  return drops == 0 && packets > 0 && created == flows ? 0 : 1;
}
