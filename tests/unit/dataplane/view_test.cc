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
  auto routes = v.routes();
  std::reverse(routes.begin(), routes.end());
  v.set_routes(routes);
  CHECK(via("10.1.200.1") == std::pair<uint8_t, uint32_t>{0, ip4("198.51.100.254")});
  CHECK(via("192.168.1.9") == std::pair<uint8_t, uint32_t>{1, 0});
  // A /32 host route beats the connected /24.
  routes.push_back({.net = ip4("192.168.1.9"), .len = 32, .gateway = ip4("192.168.1.254"), .iface = 1});
  v.set_routes(routes);
  CHECK(via("192.168.1.9") == std::pair<uint8_t, uint32_t>{1, ip4("192.168.1.254")});
}

namespace {

// What Topology::route must answer: the longest prefix that holds dst, the
// earliest of equal length (the linear scan the DIR-16-8-8 table replaced).
const dp::RouteView* naive_route(const std::vector<dp::RouteView>& routes, uint32_t dst) {
  const dp::RouteView* best = nullptr;
  for (const auto& r : routes)
    if (net::v4_in(dst, r.net, r.len) && (!best || r.len > best->len)) best = &r;
  return best;
}

}  // namespace

TEST_CASE("the route table answers as a linear longest-prefix scan does, on random routes", "[dataplane][view]") {
  std::mt19937 rng(5);
  auto r32 = [&] { return uint32_t(rng()); };
  for (int round = 0; round < 60; ++round) {
    // Prefixes clustered under a few roots, so that they nest, overlap and
    // repeat (equal prefixes with different next hops test the tie-break),
    // with lengths on and around the table's levels (16, 24, 32).
    std::vector<uint32_t> roots;
    for (int i = 0; i < 4; ++i) roots.push_back(r32());
    const size_t n = round == 0 ? 0 : 1 + r32() % (round < 30 ? 16 : 300);
    std::vector<dp::RouteView> routes;
    for (size_t i = 0; i < n; ++i) {
      static const uint8_t lens[] = {0, 1, 8, 15, 16, 17, 20, 23, 24, 25, 28, 31, 32};
      const uint8_t len = r32() % 3 == 0 ? uint8_t(r32() % 33) : lens[r32() % std::size(lens)];
      uint32_t a = roots[r32() % roots.size()];
      if (r32() % 2) a ^= r32() & (0xffffffffu >> (r32() % 33 == 32 ? 31 : r32() % 32));  // a neighbour
      // Host bits are left in now and then: the table ignores them, like the scan.
      const uint32_t net = r32() % 4 == 0 ? a : a & net::v4_mask(len);
      routes.push_back({.net = net, .len = len, .gateway = r32(), .iface = uint8_t(i % 3)});
      if (r32() % 8 == 0) routes.push_back({.net = net, .len = len, .gateway = r32(), .iface = uint8_t(i % 3)});
    }
    dp::Topology t;
    t.set_routes(routes);
    REQUIRE(t.routes().size() == routes.size());
    auto check = [&](uint32_t dst) {
      const dp::RouteView* want = naive_route(routes, dst);
      const dp::RouteView* got = t.route(dst);
      INFO("round " << round << " dst " << std::hex << dst);
      if (!want) {
        REQUIRE(got == nullptr);
      } else {
        REQUIRE(got != nullptr);
        REQUIRE(got - t.routes().data() == want - routes.data());  // the same route, not an equal one
      }
    };
    for (const auto& r : routes) {
      // Both ends of each prefix and just past them, and inside.
      const uint32_t lo = r.net & net::v4_mask(r.len), hi = lo | ~net::v4_mask(r.len);
      for (uint32_t d : {lo, hi, lo - 1, hi + 1, lo + (r32() & ~net::v4_mask(r.len))}) check(d);
    }
    for (int i = 0; i < 2000; ++i) check(i % 2 ? r32() : roots[i % roots.size()] ^ (r32() >> (r32() % 32)));
  }
}

TEST_CASE("a topology without routes routes nothing", "[dataplane][view]") {
  dp::Topology t;
  CHECK(t.route(0) == nullptr);
  CHECK(t.route(ip4("8.8.8.8")) == nullptr);
  t.set_routes({{.net = 0, .len = 0, .gateway = 1, .iface = 0}});
  CHECK(t.route(ip4("8.8.8.8")) == &t.routes()[0]);
  t.set_routes({});
  CHECK(t.route(ip4("8.8.8.8")) == nullptr);
  // A copy has its own table, pointing into its own routes.
  t.set_routes({{.net = ip4("10.0.0.0"), .len = 8, .gateway = 1, .iface = 0},
                {.net = ip4("10.1.2.0"), .len = 25, .gateway = 2, .iface = 1}});
  const dp::Topology c = t;
  REQUIRE(c.route(ip4("10.1.2.3")));
  CHECK(c.route(ip4("10.1.2.3")) == &c.routes()[1]);
  CHECK(c.route(ip4("10.1.2.200")) == &c.routes()[0]);
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
