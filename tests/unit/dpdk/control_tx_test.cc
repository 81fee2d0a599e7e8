// The CARP path does not depend on how busy the workers are. TX: the
// control thread's frames (CARP adverts, gratuitous ARP) leave on its own TX
// queue where the port has one to spare, even while no worker polls
// anything; on a port with a single TX queue they wait in the ring worker 0
// drains (the golden cases show that path transmitting). RX: with the punt
// ring full of state sync frames, an advert that arrived after them reaches
// the control thread first. The real DpdkIo over vdevs and ring ports.
#include <catch2/catch.hpp>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "carp/announce.h"
#include "carp/wire.h"
#include "dataplane/dpdk/dpdk.h"
#include "tests/unit/dataplane/frames.h"
#include "tests/unit/dpdk/io_fixture.h"

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
  static Eal& once() {  // the EAL starts once per process
    static Eal eal;
    return eal;
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

// A state sync frame of the peer, and its CARP advert (the workers punt it
// by protocol; the HMAC is the control thread's business).
test::Bytes sync_frame() {
  const net::Mac peer{{0x02, 0, 0, 0, 2, 0}};
  return test::ipv4_frame(net::Mac{{0x01, 0x00, 0x5e, 0x00, 0x00, 0xf0}}, peer, test::ip4("198.51.100.202"),
                          test::ip4("224.0.0.240"), net::kProtoPfsync, test::Bytes(200, 0), 255);
}
test::Bytes peer_advert() {
  test::Bytes carp(36, 0);
  carp[0] = 0x21;
  return test::ipv4_frame(carp::kCarpGroupMac, net::Mac::virtual_for(200), test::ip4("198.51.100.202"),
                          test::ip4("224.0.0.18"), net::kProtoCarp, carp, 255);
}

}  // namespace

TEST_CASE("adverts leave on the control thread's own TX queue while no worker runs; a one-queue port uses the ring",
          "[dpdk][carp]") {
  Eal::once();
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

TEST_CASE("with the punt ring full of state sync frames, an advert that came after them is delivered first",
          "[dpdk][carp]") {
  Eal::once();
  rte_mempool* pool = rte_pktmbuf_pool_create("test_rx", 8191, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, int(rte_socket_id()));
  REQUIRE(pool);
  rte_ring* rx = rte_ring_create("test_rx", 8192, int(rte_socket_id()), RING_F_SP_ENQ | RING_F_SC_DEQ);
  rte_ring* tx = rte_ring_create("test_tx", 1024, int(rte_socket_id()), RING_F_SP_ENQ | RING_F_SC_DEQ);
  REQUIRE(rx);
  REQUIRE(tx);
  const int port = rte_eth_from_rings("test_wan", &rx, 1, &tx, 1, rte_socket_id());
  REQUIRE(port >= 0);

  dp::StateTable states(1024);
  auto io = test::ring_port_io(port, 1, states);

  // 6000 state sync frames (more than the 4096-frame punt ring holds), then
  // one advert of the master, all waiting in the port's RX ring.
  auto mbuf_of = [&](const test::Bytes& f) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    REQUIRE(m);
    std::memcpy(rte_pktmbuf_append(m, uint16_t(f.size())), f.data(), f.size());
    return m;
  };
  const test::Bytes pfsync = sync_frame();
  const test::Bytes advert = peer_advert();
  constexpr unsigned kSync = 6000;
  for (unsigned i = 0; i < kSync; ++i) {
    rte_mbuf* m = mbuf_of(pfsync);
    REQUIRE(rte_ring_enqueue(rx, m) == 0);
  }
  rte_mbuf* a = mbuf_of(advert);
  REQUIRE(rte_ring_enqueue(rx, a) == 0);

  // The worker takes them all in while the control thread is busy elsewhere.
  io->start_workers();
  for (int i = 0; i < 5000 && (rte_ring_count(rx) > 0 || io->counters()[dp::IoCounter::Rx] < kSync + 1); ++i)
    usleep(1000);
  const dp::Counters c = io->counters();
  REQUIRE(c[dp::IoCounter::Rx] == kSync + 1);
  CHECK(c[dp::IoCounter::ControlRingFull] > 0);  // the punt ring did fill up

  std::vector<dp::PuntReason> order;
  while (io->poll([&](const dp::Punt& p) { order.push_back(p.reason); }) > 0) {
  }
  REQUIRE(!order.empty());
  CHECK(order.front() == dp::PuntReason::Carp);
  CHECK(std::count(order.begin(), order.end(), dp::PuntReason::Carp) == 1);
  CHECK(std::count(order.begin(), order.end(), dp::PuntReason::Pfsync) + c[dp::IoCounter::ControlRingFull] == kSync);
  io->stop_workers();
  io.reset();
}

TEST_CASE("received_through: once it is past a time, every advert that arrived before it is in the punt rings",
          "[dpdk][carp]") {
  Eal::once();
  rte_mempool* pool = rte_pktmbuf_pool_create("heard_rx", 1023, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, int(rte_socket_id()));
  REQUIRE(pool);
  rte_ring* rx = rte_ring_create("heard_rx", 1024, int(rte_socket_id()), RING_F_SP_ENQ | RING_F_SC_DEQ);
  rte_ring* tx = rte_ring_create("heard_tx", 1024, int(rte_socket_id()), RING_F_SP_ENQ | RING_F_SC_DEQ);
  REQUIRE(rx);
  REQUIRE(tx);
  const int port = rte_eth_from_rings("heard_wan", &rx, 1, &tx, 1, rte_socket_id());
  REQUIRE(port >= 0);

  // The workers' clock, stepped by hand.
  std::atomic<int64_t> clock_ns{std::chrono::nanoseconds(std::chrono::hours(1)).count()};
  dp::StateTable states(1024);
  auto io = test::ring_port_io(port, 1, states, &clock_ns);

  // No worker has looked at the port yet: nothing is known to have arrived.
  CHECK(io->received_through() < Time(clock_ns.load()));
  io->start_workers();
  const auto wait_heard = [&](Time t) {
    for (int i = 0; i < 5000 && io->received_through() < t; ++i) usleep(1000);
    return io->received_through() >= t;
  };
  const Time t1(clock_ns.load());
  REQUIRE(wait_heard(t1));

  // 200 state sync frames and then the master's advert arrive before t2:
  // the worker needs several full bursts for them, and received_through
  // reaches t2 only with the advert already handed over.
  const test::Bytes pfsync = sync_frame();
  const test::Bytes advert = peer_advert();
  std::vector<rte_mbuf*> frames;
  for (unsigned i = 0; i < 201; ++i) {
    const test::Bytes& f = i < 200 ? pfsync : advert;
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    REQUIRE(m);
    std::memcpy(rte_pktmbuf_append(m, uint16_t(f.size())), f.data(), f.size());
    frames.push_back(m);
  }
  REQUIRE(rte_ring_enqueue_bulk(rx, reinterpret_cast<void**>(frames.data()), unsigned(frames.size()), nullptr) ==
          frames.size());
  clock_ns += 1'000'000;  // after they are in the port's queue
  const Time t2(clock_ns.load());
  REQUIRE(wait_heard(t2));
  unsigned adverts = 0;
  io->poll([&](const dp::Punt& p) { adverts += p.reason == dp::PuntReason::Carp; });
  CHECK(adverts == 1);
  io->stop_workers();
  io.reset();
}
