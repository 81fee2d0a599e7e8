// PacketIo over DPDK: EAL, ports, worker lcores and the rings between the
// workers and the control thread. With telemetry.cc beside it, the only
// place that includes DPDK headers.
//
// It knows nothing of the config file: the control side compiles the config
// into a DpdkSetup (control/compile.cc), whose `key`s name the config entries
// an error message should point at.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <atomic>

#include "dataplane/dpdk/frag.h"
#include "dataplane/io.h"

namespace hafw::dp {

struct DpdkSetup {
  std::vector<std::string> eal;  // EAL arguments, argv[0] excluded
  // The caller has run rte_eal_init already (a benchmark that creates its
  // ports before opening them); `eal` is then ignored.
  bool eal_initialized = false;
  std::string eal_key = "dataplane.eal";
  unsigned workers = 1;
  std::string workers_key = "dataplane.workers";
  struct Port {
    std::string device;  // a port id ("0") or a device name ("net_af_packet0", a PCI address)
    std::string key;     // "interfaces[0].port"
  };
  std::vector<Port> ports;  // index = interface number
  // The state table every worker shares (the caller owns it: it outlives
  // the ports, and the control thread reaps it).
  StateTable* states = nullptr;
  // Keys outbound NAT's port choice (dataplane/nat.h); hafwd draws it at
  // random, tests fix it.
  uint64_t nat_seed = 0;
  // The first pfsync state id; workers hand out first + w, first + w + W, ...
  uint64_t first_state_id = 1;
  // State sync is on: every worker gets an event ring and reports its state
  // inserts, updates and deletes (PacketIo::poll_events). Off, the workers
  // pay one null check per packet and nothing else.
  bool state_events = false;
  // IPv4 and IPv6 reassembly: each worker's table (dataplane.fragments).
  FragSettings fragments;
  // Tests: the workers' clock, in nanoseconds, instead of steady_clock (a
  // manual clock the golden harness advances to time fragments out).
  const std::atomic<int64_t>* clock_ns = nullptr;
};

class DpdkIo : public PacketIo {
 public:
  // Starts the EAL and opens every port. On failure returns null and a
  // message that starts with the key at fault.
  static std::unique_ptr<DpdkIo> create(const DpdkSetup& setup, std::string& error);
  ~DpdkIo() override;

  // Launch the worker lcores (they wait until every snapshot is published).
  void start_workers();
  // Stop and join the workers; pending control frames are sent first.
  void stop_workers();
  // Fragments (both families) the workers' reassembly tables hold now.
  uint64_t fragments_held() const;
  // The TX queue the control thread sends on itself for this port (the
  // workers own 0..workers-1), or -1: the port has none to spare (or is
  // af_packet) and worker 0 sends the control thread's frames.
  int control_tx_queue(unsigned iface) const;
};

}  // namespace hafw::dp
