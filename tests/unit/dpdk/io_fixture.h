// The real DpdkIo over one ring port (rte_eth_from_rings), with the example
// plan's views published (interface 0 = WAN, this node BACKUP of every VIP)
// as the control thread has them before it starts the workers. For the
// tests that run hafwd's worker loop on frames they put in the port's RX
// rings themselves.
#pragma once

#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <string>

#include "dataplane/dpdk/dpdk.h"
#include "tests/unit/dataplane/frames.h"

namespace hafw::test {

// clock_ns: the workers' clock, stepped by the test (DpdkSetup::clock_ns);
// null for the steady clock.
inline std::unique_ptr<dp::DpdkIo> ring_port_io(int port, unsigned workers, dp::StateTable& states,
                                                const std::atomic<int64_t>* clock_ns = nullptr) {
  dp::DpdkSetup setup;
  setup.eal_initialized = true;
  setup.workers = workers;
  setup.ports = {{.device = std::to_string(port), .key = "interfaces[0].port"}};
  setup.states = &states;
  setup.clock_ns = clock_ns;
  std::string error;
  auto io = dp::DpdkIo::create(setup, error);
  INFO(error);
  REQUIRE(io);
  io->snapshots().publish(std::make_unique<const dp::Topology>(example_topology()));
  io->snapshots().publish(std::make_unique<const dp::VipSet>());
  io->snapshots().publish(std::make_unique<const dp::NeighborTable>());
  auto policy = std::make_unique<dp::Policy>();
  policy->allocate_counters(1);
  io->snapshots().publish(std::unique_ptr<const dp::Policy>(std::move(policy)));
  return io;
}

}  // namespace hafw::test
