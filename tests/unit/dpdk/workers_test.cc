// Two workers, and the fragments of each packet split over both of their RX
// queues, as a NIC whose RSS hashes a first fragment by its ports (or no RSS
// at all, or af_packet's fanout) may split them: every packet is still made
// whole, by the one worker that owns it, and nothing is dropped or left in a
// table. The real DpdkIo over ring ports with two queues each.
#include <catch2/catch.hpp>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

#include "dataplane/dpdk/dpdk.h"
#include "tests/unit/dataplane/frames.h"
#include "tests/unit/dpdk/io_fixture.h"

using namespace hafw;

namespace {

struct Eal {
  std::string runtime;
  Eal() {
    // Three lcores on whatever CPUs there are: the control thread and two workers.
    std::vector<std::string> args = {"workers_test", "--no-huge", "-m", "256", "--no-pci", "--no-telemetry",
                                     "--file-prefix=hafw-workers-" + std::to_string(getpid()), "--lcores=(0-2)@(0)",
                                     "--log-level=warning"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (rte_eal_init(int(args.size()), argv.data()) < 0) FAIL("EAL: " << rte_strerror(rte_errno));
    runtime = rte_eal_get_runtime_dir();
  }
  ~Eal() {
    rte_eal_cleanup();
    std::error_code ignored;
    std::filesystem::remove_all(runtime, ignored);
  }
};

// IPv4 fragment of a UDP datagram frame (test::udp_frame): IP payload bytes
// [offset, offset + len), More Fragments as given, the header checksum fixed.
test::Bytes piece(const test::Bytes& whole, size_t offset, size_t len, bool mf) {
  constexpr size_t kL3 = sizeof(net::EthHdr), kL4 = kL3 + sizeof(net::Ipv4Hdr);
  test::Bytes f(whole.begin(), whole.begin() + kL4);
  f.insert(f.end(), whole.begin() + long(kL4 + offset), whole.begin() + long(kL4 + offset + len));
  auto* ip = reinterpret_cast<net::Ipv4Hdr*>(f.data() + kL3);
  ip->total_len = net::be16(uint16_t(sizeof(net::Ipv4Hdr) + len));
  ip->frag = net::be16(uint16_t((mf ? 0x2000 : 0) | offset / 8));
  ip->csum = 0;
  ip->csum = net::inet_checksum({f.data() + kL3, sizeof(net::Ipv4Hdr)});
  return f;
}

}  // namespace

TEST_CASE("fragments of one packet on two workers' queues meet in one worker and make the packet whole",
          "[dpdk][fragments][workers]") {
  static Eal eal;
  rte_mempool* pool = rte_pktmbuf_pool_create("test_frags", 4095, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, int(rte_socket_id()));
  REQUIRE(pool);
  rte_ring* rx[2];
  rte_ring* tx[2];
  for (int q = 0; q < 2; ++q) {
    rx[q] = rte_ring_create(("test_rx" + std::to_string(q)).c_str(), 1024, int(rte_socket_id()), RING_F_SP_ENQ | RING_F_SC_DEQ);
    tx[q] = rte_ring_create(("test_tx" + std::to_string(q)).c_str(), 1024, int(rte_socket_id()), RING_F_SP_ENQ | RING_F_SC_DEQ);
    REQUIRE(rx[q]);
    REQUIRE(tx[q]);
  }
  const int port = rte_eth_from_rings("test_lan", rx, 2, tx, 2, rte_socket_id());
  REQUIRE(port >= 0);

  dp::StateTable states(1024);
  auto io = test::ring_port_io(port, 2, states);

  // 64 datagrams of 1,200 bytes from 64 sources, each cut in two: the first
  // fragment on queue 0 (worker 0), the second on queue 1 (worker 1); every
  // other packet the other way round. Whichever worker owns a packet, one of
  // its two fragments arrived at the other.
  constexpr unsigned kPackets = 64;
  const net::Mac us = test::kWanMac, them{{0x02, 0, 0, 0, 9, 9}};
  for (unsigned k = 0; k < kPackets; ++k) {
    test::Bytes whole = test::udp_frame(us, them, test::ip4("198.51.100.10") + k, test::ip4("192.0.2.7"), 5000,
                                        53, 1200);
    auto* ip = reinterpret_cast<net::Ipv4Hdr*>(whole.data() + sizeof(net::EthHdr));
    ip->id = net::be16(uint16_t(0x1000 + k));
    const size_t payload = whole.size() - sizeof(net::EthHdr) - sizeof(net::Ipv4Hdr);
    const test::Bytes a = piece(whole, 0, 600, true), b = piece(whole, 600, payload - 600, false);
    for (int half = 0; half < 2; ++half) {
      const test::Bytes& f = half == 0 ? a : b;
      rte_mbuf* m = rte_pktmbuf_alloc(pool);
      REQUIRE(m);
      std::memcpy(rte_pktmbuf_append(m, uint16_t(f.size())), f.data(), f.size());
      REQUIRE(rte_ring_enqueue(rx[(half + k) % 2], m) == 0);
    }
  }

  io->start_workers();
  for (int i = 0; i < 5000; ++i) {
    const dp::Counters c = io->counters();
    if (rte_ring_count(rx[0]) == 0 && rte_ring_count(rx[1]) == 0 && c[dp::IoCounter::Reassembled] == kPackets) break;
    usleep(1000);
  }
  io->stop_workers();
  const dp::Counters c = io->counters();
  CHECK(c[dp::IoCounter::Rx] == 2 * kPackets);
  CHECK(c[dp::IoCounter::FragmentsIn] == 2 * kPackets);
  CHECK(c[dp::IoCounter::FragmentsHandedOver] == kPackets);  // one of each packet's two
  CHECK(c[dp::IoCounter::Reassembled] == kPackets);
  CHECK(c.drops[size_t(dp::DropReason::FragHandoverFull)] == 0);
  CHECK(c.drops[size_t(dp::DropReason::FragTimeout)] == 0);
  CHECK(c.drops[size_t(dp::DropReason::FragTableFull)] == 0);
  CHECK(io->fragments_held() == 0);  // nothing left half made in either table
  io.reset();
  rte_mempool_free(pool);
}
