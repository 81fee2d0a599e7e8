#include <catch2/catch.hpp>

#include <random>

#include "dataplane/view.h"
#include "tests/unit/dataplane/frames.h"

using namespace hafw;
using namespace hafw::test;

TEST_CASE("route lookup is longest-prefix match", "[dataplane][view]") {
  auto v = example_topology();
  auto via = [&](const char* dst) {
    const auto* r = v.route(ip4(dst));
    REQUIRE(r);
    return std::pair{r->iface, r->gateway};
  };
  CHECK(via("198.51.100.9") == std::pair<uint8_t, uint32_t>{0, 0});
  CHECK(via("192.168.1.9") == std::pair<uint8_t, uint32_t>{1, 0});
  CHECK(via("10.1.200.1") == std::pair<uint8_t, uint32_t>{0, ip4("198.51.100.254")});
  CHECK(via("10.2.0.1") == std::pair<uint8_t, uint32_t>{1, ip4("192.168.1.254")});
  CHECK(via("203.0.113.5") == std::pair<uint8_t, uint32_t>{0, ip4("198.51.100.1")});
  // Longest wins whatever the order the routes were added in.
  std::reverse(v.routes.begin(), v.routes.end());
  CHECK(via("10.1.200.1") == std::pair<uint8_t, uint32_t>{0, ip4("198.51.100.254")});
  CHECK(via("192.168.1.9") == std::pair<uint8_t, uint32_t>{1, 0});
  // A /32 host route beats the connected /24.
  v.routes.push_back({.net = ip4("192.168.1.9"), .len = 32, .gateway = ip4("192.168.1.254"), .iface = 1});
  CHECK(via("192.168.1.9") == std::pair<uint8_t, uint32_t>{1, ip4("192.168.1.254")});
}

TEST_CASE("neighbour table finds every entry and misses cleanly", "[dataplane][view]") {
  dp::NeighborTable empty;
  CHECK(empty.find(0, 1) == nullptr);

  std::vector<dp::NeighborTable::Entry> entries;
  for (uint32_t i = 0; i < 1000; ++i)
    entries.emplace_back(uint8_t(i % 3), ip4("10.0.0.0") + i, mac(uint8_t(i)));
  auto t = dp::NeighborTable::build(entries);
  CHECK(t.size() == 1000);
  for (uint32_t i = 0; i < 1000; ++i) {
    const Mac* m = t.find(uint8_t(i % 3), ip4("10.0.0.0") + i);
    REQUIRE(m);
    CHECK(*m == mac(uint8_t(i)));
    CHECK(t.find(uint8_t((i + 1) % 3), ip4("10.0.0.0") + i) == nullptr);  // same address, other iface
  }
  CHECK(t.find(0, ip4("10.0.0.0") + 5000) == nullptr);

  // Duplicates: the last one wins.
  dp::NeighborTable::Entry dup[] = {{1, 42, mac(1)}, {1, 42, mac(2)}};
  auto d = dp::NeighborTable::build(dup);
  CHECK(d.size() == 1);
  CHECK(*d.find(1, 42) == mac(2));
}
