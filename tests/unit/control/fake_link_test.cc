// The in-memory network's node (fake_link.h) as the control thread sees it:
// its worker runs the real pipeline and reports state events as hafwd's
// workers do with sync on, with state ids that never repeat across passes.
#include <catch2/catch.hpp>

#include "tests/unit/control/fake_link.h"
#include "tests/unit/dataplane/frames.h"

using namespace hafw;
using namespace hafw::test;

TEST_CASE("the in-memory node's worker reports each new state once, with ids that never repeat", "[fake_link]") {
  Segment wan, lan, sync;
  FakeIo io({&wan, &lan, &sync}, {kWanMac, kLanMac, kSyncMac});
  ManualClock clock;
  io.set_clock(clock);
  Host client(lan), server(wan);
  const uint32_t client_ip = ip4("192.168.1.50"), server_ip = ip4("198.51.100.10");

  // What a Controller would publish: the example plan, MASTER, a pass rule
  // with keep_state on the LAN.
  dp::Snapshots& s = io.snapshots();
  auto topo = std::make_unique<dp::Topology>(example_topology());
  auto owned = std::make_unique<dp::VipSet>(topo->configured_vips);
  s.publish(std::unique_ptr<const dp::Topology>(std::move(topo)));
  s.publish(std::unique_ptr<const dp::VipSet>(std::move(owned)));
  const dp::NeighborTable::Entry n[] = {{0, server_ip, mac(0x10)}};
  s.publish(std::make_unique<const dp::NeighborTable>(dp::NeighborTable::build(n)));
  auto pol = std::make_unique<dp::Policy>();
  pol->in[1].push_back(rule(0, dp::RuleAction::Pass));
  pol->rule_count = 1;
  pol->allocate_counters(1);
  s.publish(std::unique_ptr<const dp::Policy>(std::move(pol)));

  std::vector<dp::StateEvent> ev(16);
  CHECK(io.poll_events(ev) == 0);
  std::vector<uint64_t> ids;
  for (uint16_t flow = 0; flow < 3; ++flow) {
    client.send(udp_frame(Mac::virtual_for(1), kHostMac, client_ip, server_ip, uint16_t(5000 + flow), 53));
    client.send(udp_frame(Mac::virtual_for(1), kHostMac, client_ip, server_ip, uint16_t(5000 + flow), 53));
    io.poll([](const dp::Punt&) {});
    REQUIRE(io.poll_events(ev) == 1);  // the second packet, in the same second, is due nothing
    CHECK(ev[0].kind == dp::StateEventKind::Insert);
    CHECK(ev[0].id == io.states().at(ev[0].state).id);
    ids.push_back(ev[0].id);
  }
  CHECK(server.received.size() == 6);
  CHECK(ids[0] != ids[1]);
  CHECK(ids[1] != ids[2]);
  CHECK(ids[0] != ids[2]);

  // A second later, the next packet of a flow is an Update.
  clock.advance(std::chrono::seconds(1));
  client.send(udp_frame(Mac::virtual_for(1), kHostMac, client_ip, server_ip, 5000, 53));
  io.poll([](const dp::Punt&) {});
  REQUIRE(io.poll_events(ev) == 1);
  CHECK(ev[0].kind == dp::StateEventKind::Update);
  CHECK(ev[0].id == ids[0]);
  CHECK(io.counters().states[size_t(dp::StateCounter::SyncEventDropped)] == 0);
}
