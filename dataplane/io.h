// The seam between the control thread and the packet I/O underneath it.
//
// hafwd implements it with DPDK (dataplane/dpdk.cc: ports, worker lcores,
// rings); unit tests implement it with an in-memory link so that two whole
// nodes can fail over under a manual clock. No DPDK types cross this line.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dataplane/net.h"
#include "dataplane/pipeline.h"
#include "dataplane/view.h"

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

struct Counters {
  uint64_t rx = 0, tx = 0, tx_full = 0, to_control = 0, ring_full = 0, unsupported = 0;
  std::array<uint64_t, size_t(DropReason::Count)> drops{};
  std::array<uint64_t, size_t(PuntReason::Count)> punts{};
};

class PacketIo {
 public:
  virtual ~PacketIo() = default;
  virtual unsigned iface_count() const = 0;
  virtual net::Mac mac(unsigned iface) const = 0;
  virtual IfaceStatus iface_status(unsigned iface) const = 0;
  // Hand every punted frame to `fn`; the span is valid during the call only.
  virtual size_t poll(const std::function<void(const Punt&)>& fn) = 0;
  // Queue a frame for transmission on `iface`; false when the queue is full.
  virtual bool send(unsigned iface, std::span<const uint8_t> frame) = 0;
  // Make `view` the one workers read; the previous one is reclaimed once no
  // worker can still hold it.
  virtual void publish(std::unique_ptr<View> view) = 0;
  virtual Counters counters() const = 0;
};

}  // namespace hafw::dp
