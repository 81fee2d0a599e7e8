// The control thread's frames (CARP adverts, gratuitous ARP) do not depend
// on the workers: on a port with a TX queue to spare they leave on the
// control thread's own queue even while no worker polls anything. On a port
// with a single TX queue they wait in the ring worker 0 drains (the golden
// cases show that path transmitting). Runs the real DpdkIo over vdevs with
// the workers never started: a stalled worker.
#include <catch2/catch.hpp>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "carp/announce.h"
#include "carp/wire.h"
#include "dataplane/dpdk/dpdk.h"

using namespace hafw;

namespace {

struct Eal {
  std::string dir = "/tmp/hafw-control-tx-" + std::to_string(getpid());
  std::string runtime;
  Eal() {
    std::vector<std::string> args = {"control_tx", "--no-huge", "-m", "256", "--no-pci", "--no-telemetry",
                                     "--file-prefix=hafw-control-tx-" + std::to_string(getpid()), "-l", "0-1",
                                     "--log-level=warning"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    REQUIRE(rte_eal_init(int(args.size()), argv.data()) >= 0);
    runtime = rte_eal_get_runtime_dir();
    std::filesystem::create_directories(dir);
    // An empty capture for the pcap port's RX side.
    const uint8_t hdr[24] = {0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0};
    std::ofstream(dir + "/in.pcap", std::ios::binary).write(reinterpret_cast<const char*>(hdr), sizeof hdr);
    REQUIRE(rte_eal_hotplug_add("vdev", "net_null0", "") == 0);
    REQUIRE(rte_eal_hotplug_add("vdev", "net_pcap0", ("rx_pcap=" + dir + "/in.pcap,tx_pcap=" + dir + "/out.pcap").c_str()) == 0);
  }
  ~Eal() {
    rte_eal_cleanup();
    std::error_code ignored;
    std::filesystem::remove_all(runtime, ignored);
    std::filesystem::remove_all(dir, ignored);
  }
};

uint64_t queue_sent(uint16_t port, unsigned q) {
  rte_eth_stats s{};
  REQUIRE(rte_eth_stats_get(port, &s) == 0);
  return s.q_opackets[q];
}

uint64_t port_sent(uint16_t port) {
  rte_eth_stats s{};
  REQUIRE(rte_eth_stats_get(port, &s) == 0);
  return s.opackets;
}

}  // namespace

TEST_CASE("adverts leave on the control thread's own TX queue while no worker runs; a one-queue port uses the ring",
          "[dpdk][carp]") {
  Eal eal;
  dp::StateTable states(1024);
  dp::DpdkSetup setup;
  setup.eal_initialized = true;
  setup.workers = 1;
  setup.ports = {{.device = "net_null0", .key = "interfaces[0].port"},
                 {.device = "net_pcap0", .key = "interfaces[1].port"}};
  setup.states = &states;
  std::string error;
  auto io = dp::DpdkIo::create(setup, error);
  INFO(error);
  REQUIRE(io);
  uint16_t null_port, pcap_port;
  REQUIRE(rte_eth_dev_get_port_by_name("net_null0", &null_port) == 0);
  REQUIRE(rte_eth_dev_get_port_by_name("net_pcap0", &pcap_port) == 0);

  // net_null offers many TX queues: one worker's queue 0, the control thread's 1.
  CHECK(io->control_tx_queue(0) == 1);
  // The pcap port has one TX queue: the control thread's frames go through the ring.
  CHECK(io->control_tx_queue(1) == -1);

  const net::IpAddr vip = *net::IpAddr::parse("198.51.100.200");
  const carp::Frame advert = carp::encode_advert(
      {.vhid = 200, .advbase = 1, .advskew = 0, .demote = 0, .counter = 1}, carp::Auth("secret", 200, {&vip, 1}),
      {.src = *net::IpAddr::parse("198.51.100.201"), .dst = *net::IpAddr::parse("224.0.0.18"),
       .eth_dst = carp::kCarpGroupMac});
  const carp::Frame garp = carp::gratuitous_arp(vip, net::Mac::virtual_for(200));

  // The workers were never started (a stalled worker 0): the adverts and the
  // gratuitous ARP are on the wire at once, on queue 1.
  for (int i = 0; i < 3; ++i) REQUIRE(io->send(0, advert));
  REQUIRE(io->send(0, garp));
  CHECK(queue_sent(null_port, 1) == 4);
  CHECK(queue_sent(null_port, 0) == 0);
  CHECK(port_sent(null_port) == 4);

  // Without a spare queue the frame waits for worker 0, which is not running.
  REQUIRE(io->send(1, advert));
  CHECK(port_sent(pcap_port) == 0);
  io.reset();
}
