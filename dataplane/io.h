// The seam between the control thread and the packet I/O underneath it.
//
// hafwd implements it with DPDK (dataplane/dpdk/dpdk.cc: ports, worker
// lcores, rings); unit tests implement it with an in-memory network so that
// two whole nodes can fail over under a manual clock. No DPDK types cross
// this line.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

#include "dataplane/counters.h"
#include "dataplane/net/net.h"
#include "dataplane/net/time.h"
#include "dataplane/rcu.h"
#include "dataplane/snapshot.h"
#include "dataplane/state_table.h"
#include "dataplane/sync_events.h"

namespace hafw::dp {

// A frame a worker handed to the control thread.
struct Punt {
  uint8_t iface;      // where it arrived
  PuntReason reason;
  uint8_t out_iface;  // PuntReason::Resolve: where it leaves once resolved
  uint32_t nexthop;   // PuntReason::Resolve: the next hop to resolve
  std::span<const uint8_t> frame;
};

struct IfaceStatus {
  bool link_up = false;
  uint64_t rx_packets = 0, tx_packets = 0, rx_missed = 0;
};

class PacketIo {
 public:
  virtual ~PacketIo() = default;
  virtual unsigned iface_count() const = 0;
  virtual net::Mac mac(unsigned iface) const = 0;
  virtual IfaceStatus iface_status(unsigned iface) const = 0;
  // Hand every punted frame to `fn`; the span is valid during the call only.
  virtual size_t poll(const std::function<void(const Punt&)>& fn) = 0;
  // Every frame that reached a port before this time has been taken off it
  // by a worker, and any punt of it is in the rings poll() drains. Read it
  // before poll(): then poll() delivers every advert that arrived before it
  // (CARP's master-down timer waits for it, carp::Carp::poll). Steady clock.
  // The default: frames reach poll() as they are sent (the tests' in-memory
  // network).
  virtual Time received_through() const { return kNever; }
  // Queue a frame for transmission on `iface`; false when the queue is full.
  virtual bool send(unsigned iface, std::span<const uint8_t> frame) = 0;
  // What the workers read; the control thread publishes into it and calls
  // snapshots().rcu().reclaim() once per step.
  virtual Snapshots& snapshots() = 0;
  // The state table the workers share; the control thread is its reaper
  // (sweeping into snapshots().rcu()) and, with state sync, its applier.
  virtual StateTable& states() = 0;
  // State sync: move up to out.size() of the workers' state events
  // (inserts, updates, deletes) into `out`, round-robin over the workers;
  // returns how many. Control thread only. A node without sync has no
  // event rings and returns 0.
  virtual size_t poll_events(std::span<StateEvent> /*out*/) { return 0; }
  // Whether the port computes IPv4 header checksums on transmit (the
  // workers then leave the field zero and flag the packet).
  virtual bool tx_ip_checksum(unsigned /*iface*/) const { return false; }
  // Totals over every worker.
  virtual Counters counters() const = 0;
};

}  // namespace hafw::dp
