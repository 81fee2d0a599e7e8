// Running a case: hafwd's own DPDK glue (DpdkIo) and worker loop over
// net_pcap ports, one set of ports per step.
//
// Each step hot-plugs one net_pcap vdev per interface, reading the step's
// input for it (an empty pcap when nothing arrives there) and writing what
// leaves it to a file, opens a DpdkIo over them with the case's one state
// table, publishes the four snapshots the controller would, runs the worker
// until it has received and handled every input frame, and closes it all
// again: closing a port closes its pcap writer, so the file is complete.
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "control/compile.h"
#include "dataplane/dpdk/dpdk.h"
#include "dataplane/state_table.h"
#include "dataplane/view.h"
#include "tests/golden/golden.h"

namespace hafw::golden {

namespace {

bool g_eal_up = false;
std::string g_runtime_dir;

// How long a step may take: a handful of frames needs microseconds; this
// bounds a worker that never gets there.
constexpr auto kStepTimeout = std::chrono::seconds(5);

// The Policy is compiled once per case (its NAT addresses are interned in
// the case's state table); each step's DpdkIo takes ownership of a copy of
// it, with rule counters of its own.
std::unique_ptr<const dp::Policy> copy_policy(const dp::Policy& p) {
  // A field added to Policy must be copied here too.
  static_assert(sizeof(dp::Policy) == 896, "dp::Policy changed: update copy_policy");
  auto q = std::make_unique<dp::Policy>();
  q->in = p.in;
  q->out = p.out;
  q->outbound = p.outbound;
  q->forwards = p.forwards;
  q->timeouts = p.timeouts;
  q->nat_port_lo = p.nat_port_lo;
  q->nat_port_hi = p.nat_port_hi;
  q->rule_count = p.rule_count;
  q->allocate_counters(p.workers);
  return q;
}

// Drops of fragments the reassembly table held.
uint64_t table_drops(const dp::Counters& k) {
  using D = dp::DropReason;
  uint64_t n = 0;
  for (D d : {D::FragOverlap, D::FragTooMany, D::FragTimeout, D::FragTableFull}) n += k.drops[size_t(d)];
  return n;
}

uint64_t handled(const dp::Counters& k) {
  // Every frame a worker receives ends transmitted, dropped (counted by
  // reason), punted (counted by reason), refused as multi-segment, or taken
  // for reassembly; every packet reassembled ends one of the first ways,
  // and one cut for the MTU is transmitted as several frames.
  using I = dp::IoCounter;
  uint64_t n = k[I::Tx] - (k[I::FragmentsOut] - k[I::Fragmented]) + k[I::TxFull] + k[I::Unsupported] +
               k[I::FragmentsIn] - k[I::Reassembled];
  for (uint64_t d : k.drops) n += d;
  for (uint64_t p : k.punts) n += p;
  return n - table_drops(k);
}


}  // namespace

void eal_start() {
  if (g_eal_up) return;
  // A prefix of our own: meson runs the cases in parallel, and hafwd or a
  // smoke test may be running on the same machine.
  std::vector<std::string> args = {"hafw-golden",
                                   "--no-huge",
                                   "-m",
                                   "512",
                                   "--no-pci",
                                   "--no-telemetry",
                                   "--file-prefix=hafw-golden-" + std::to_string(getpid()),
                                   "-l",
                                   "0-1",
                                   "--log-level=warning"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  if (rte_eal_init(int(args.size()), argv.data()) < 0)
    throw CaseError(std::string("EAL initialisation failed: ") + rte_strerror(rte_errno));
  g_eal_up = true;
  g_runtime_dir = rte_eal_get_runtime_dir();
}

void eal_stop() {
  if (!g_eal_up) return;
  rte_eal_cleanup();
  g_eal_up = false;
  // The EAL leaves its runtime directory behind; a test should not.
  std::error_code ignored;
  std::filesystem::remove_all(g_runtime_dir, ignored);
}

std::vector<StepRun> run_case(const Case& c, const std::string& work) {
  // The case's one table: states carry from step to step, so a reply in one
  // step finds the state an earlier step created.
  dp::StateTable states(c.cfg.dataplane.max_states);
  const std::unique_ptr<dp::Policy> policy = control::compile_policy(c.cfg, states, 1);

  std::vector<dp::NeighborTable::Entry> neighbours;
  std::vector<dp::NeighborTable::Entry6> neighbours6;
  for (const auto& [name, h] : c.hosts) {
    if (!h.iface) continue;
    if (h.ip.is_v4()) neighbours.emplace_back(uint8_t(*h.iface), h.ip.v4(), *h.mac);
    else neighbours6.emplace_back(uint8_t(*h.iface), h.ip.b, *h.mac);
  }

  // The workers' clock: one for the case, which only a step's advance_ms
  // moves (states and fragments age as the case says, not as the machine
  // is fast).
  std::atomic<int64_t> clock_ns{std::chrono::nanoseconds(std::chrono::hours(1)).count()};

  const std::string empty = work + "/empty.pcap";
  write_pcap(empty, {});
  uint64_t next_state_id = 1;
  std::vector<StepRun> runs;
  for (size_t s = 0; s < c.steps.size(); ++s) {
    StepRun r;
    std::vector<std::string> devices;
    auto unplug = [&] {
      for (const auto& d : devices)
        if (rte_eal_hotplug_remove("vdev", d.c_str()) != 0)
          std::fprintf(stderr, "hafw-golden: cannot remove vdev %s: %s\n", d.c_str(), rte_strerror(rte_errno));
      devices.clear();
    };

    dp::DpdkSetup setup;
    setup.eal_initialized = true;
    setup.workers = 1;
    setup.states = &states;
    setup.nat_seed = kNatSeed;
    setup.first_state_id = next_state_id;
    setup.clock_ns = &clock_ns;
    setup.fragments = {.max_packets = c.cfg.dataplane.fragments.max_packets,
                       .timeout_ms = c.cfg.dataplane.fragments.timeout_ms};
    for (unsigned i = 0; i < c.iface_count(); ++i) {
      const std::string in = std::filesystem::exists(c.in_pcap(s, i)) ? c.in_pcap(s, i) : empty;
      r.inputs += read_pcap(in).size();
      const std::string out = work + "/step" + std::to_string(s + 1) + "-" + c.iface_name(i) + ".out.pcap";
      r.outputs.push_back(out);
      const std::string name = "net_pcap_s" + std::to_string(s + 1) + "_" + std::to_string(i);
      const std::string args = "rx_pcap=" + in + ",tx_pcap=" + out;
      if (rte_eal_hotplug_add("vdev", name.c_str(), args.c_str()) != 0) {
        const std::string why = rte_strerror(rte_errno);
        unplug();
        throw CaseError("cannot add vdev " + name + "," + args + ": " + why);
      }
      devices.push_back(name);
      setup.ports.push_back({.device = name, .key = "interfaces[" + std::to_string(i) + "].port"});
    }

    std::string error;
    std::unique_ptr<dp::DpdkIo> io = dp::DpdkIo::create(setup, error);
    if (!io) {
      unplug();
      throw CaseError("DpdkIo: " + error);
    }

    // What the controller publishes, from the same compile functions. The
    // MACs are the case's fixed ones rather than the ports': net_pcap
    // numbers its MACs per process and cannot set them, and the workers
    // know a port's MAC only from the Topology.
    auto topo = std::make_unique<dp::Topology>(control::compile_topology(c.cfg, c.macs));
    for (size_t i = 0; i < topo->ifaces.size(); ++i) topo->ifaces[i].tx_ip_csum = io->tx_ip_checksum(unsigned(i));
    auto owned = std::make_unique<dp::VipSet>();
    for (const auto& v : topo->configured_vips.vips)
      if (std::find(c.owned_vips.begin(), c.owned_vips.end(), v.addr) != c.owned_vips.end())
        owned->vips.push_back(v);
    io->snapshots().publish(std::unique_ptr<const dp::Topology>(std::move(topo)));
    io->snapshots().publish(std::unique_ptr<const dp::VipSet>(std::move(owned)));
    io->snapshots().publish(std::make_unique<const dp::NeighborTable>(dp::NeighborTable::build(neighbours, neighbours6)));
    io->snapshots().publish(copy_policy(*policy));

    io->start_workers();
    const auto deadline = std::chrono::steady_clock::now() + kStepTimeout;
    for (;;) {
      const dp::Counters k = io->counters();
      if (k[dp::IoCounter::Rx] == r.inputs && handled(k) == r.inputs) {
        r.settled = true;
        break;
      }
      if (std::chrono::steady_clock::now() > deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (r.settled && c.steps[s].advance_ms) {
      clock_ns += std::chrono::nanoseconds(std::chrono::milliseconds(c.steps[s].advance_ms)).count();
      // The worker's expiry walk drops what timed out.
      while (io->fragments_held() != 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    r.held = io->fragments_held();
    io->stop_workers();
    r.counters = io->counters();
    io->poll([&](const dp::Punt& p) {
      char line[160];
      std::snprintf(line, sizeof line, "from %s: %s (%zu bytes)", c.iface_name(p.iface).c_str(), dp::name(p.reason),
                    p.frame.size());
      r.punted.push_back(line);
    });
    next_state_id += r.counters.states[size_t(dp::StateCounter::Created)];
    io.reset();  // stops and closes the ports: the pcap writers are flushed and closed
    unplug();
    runs.push_back(std::move(r));
  }
  return runs;
}

}  // namespace hafw::golden
