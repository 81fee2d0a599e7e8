// Config sync between two whole nodes on the in-memory lab (node_lab.h),
// under the manual clock: the primary's configuration (a new VIP, at start
// and after config.reload) is running on the secondary with advskew + 100;
// another interface order is refused with one event and nothing applied; a
// lost or altered chunk applies nothing until the next push; cleartext
// chunks are dropped.
#include <catch2/catch.hpp>

#include <string>

#include "pfsync/frame.h"
#include "tests/unit/control/node_lab.h"

using namespace hafw;
using namespace hafw::test::node;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

json sync_status(test::Daemon& n) { return n.handle("sync.status", json::object()); }
json config_sync(test::Daemon& n) { return sync_status(n)["config_sync"]; }

std::vector<std::string> events_with(const test::Daemon& n, const std::string& part) {
  std::vector<std::string> out;
  for (const auto& e : n.controller.events())
    if (e.message.find(part) != std::string::npos) out.push_back(e.message);
  return out;
}

const config::Vip* vip(const config::Config& c, const std::string& iface, int vhid) {
  for (const auto& v : c.carp.vips)
    if (v.interface == iface && v.vhid == vhid) return &v;
  return nullptr;
}

// The primary with config sync on, and a VIP the secondary does not have.
void primary_with_new_vip(json& j) {
  j["sync"]["config_sync"] = true;
  j["carp"]["vips"].push_back({{"interface", "lan"}, {"vhid", 2}, {"addresses", {"192.168.1.50"}},
                               {"password", "new-secret"}, {"advbase", 1}, {"advskew", 0}});
}

// Many rules: a configuration of several frames.
void many_rules(json& j) {
  for (int i = 0; i < 60; ++i)
    j["rules"].push_back({{"action", "pass"}, {"interface", "lan"}, {"direction", "in"}, {"protocol", "tcp"},
                          {"source", "192.168.1.0/24"}, {"destination", "any"}, {"port", 1000 + i}});
}

bool from_n1_large(const std::vector<uint8_t>& f) {
  auto h = as_ipv4(f);
  return h && h->proto == 240 && eth_src(f) == mac(1, 2) && f.size() > 1000;
}

}  // namespace

TEST_CASE("config sync: the secondary runs the primary's VIPs with advskew + 100 within 1 s of its start",
          "[node][sync][config]") {
  Lab lab;
  lab.sync_key1 = lab.sync_key2 = "k";
  lab.edit1 = primary_with_new_vip;
  lab.start_n1();
  lab.start_n2();
  const auto t = lab.time_until([&] { return vip(lab.n2->controller.config(), "lan", 2) != nullptr; }, 1s);
  REQUIRE(t);
  CHECK(*t <= 100ms);
  const config::Config& c = lab.n2->controller.config();
  CHECK(int(vip(c, "lan", 2)->advskew) == 100);
  CHECK(vip(c, "lan", 2)->password == "new-secret");
  CHECK(int(vip(c, "wan", 200)->advskew) == 100);
  CHECK(int(vip(c, "lan", 1)->advskew) == 100);
  // Still the secondary, with its own addresses.
  CHECK(c.node.name == "n2");
  CHECK(c.node.role == config::Role::Secondary);
  CHECK(c.interfaces[1].address.str() == "192.168.1.3/24");
  CHECK(lab.n2->handle("config.get", json::object())["node"]["name"] == "n2");
  // CARP runs the new VHID, as BACKUP behind the primary's.
  lab.run_for(5s);
  CHECK(Lab::state(*lab.n1, "lan") == "MASTER");
  int lan2 = 0;
  for (const auto& s : lab.n2->carp().status())
    if (s.interface == "lan" && s.vhid == 2) {
      ++lan2;
      CHECK(carp::state_name(s.state) == std::string("BACKUP"));
    }
  CHECK(lan2 == 1);
  CHECK(events_with(*lab.n2, "config applied: ").size() == 1);
  CHECK(events_with(*lab.n2, "from config sync from 172.16.1.2").size() == 1);
  CHECK(events_with(*lab.n2, "config sync from 172.16.1.2: applied (wan vhid 200 advskew 100, lan vhid 1 advskew "
                             "100, lan vhid 2 advskew 100)")
            .size() == 1);
  CHECK(config_sync(*lab.n1)["role"] == "push");
  CHECK(config_sync(*lab.n1)["pushed"] == 1);
  CHECK(config_sync(*lab.n2)["role"] == "accept");
  CHECK(config_sync(*lab.n2)["received"] == 1);
  CHECK(config_sync(*lab.n2)["applied"] == 1);
  // The primary's stats carry the same section.
  CHECK(lab.n1->handle("stats", json::object())["sync"]["config_sync"]["pushed"] == 1);

  SECTION("the periodic re-push of the same configuration applies nothing again") {
    lab.run_for(11s);
    CHECK(config_sync(*lab.n1)["repushed"].get<int>() >= 1);
    CHECK(config_sync(*lab.n2)["repeated_chunks"].get<int>() >= 1);
    CHECK(config_sync(*lab.n2)["applied"] == 1);
    CHECK(events_with(*lab.n2, "config applied: ").size() == 1);
  }
  SECTION("a VIP added on the primary by config.reload appears on the secondary with advskew + 100 within 1 s") {
    json next = lab.n1->handle("config.get", {{"secrets", true}});
    next["carp"]["vips"].push_back({{"interface", "wan"}, {"vhid", 201}, {"addresses", {"198.51.100.210"}},
                                    {"password", "w2"}, {"advbase", 1}, {"advskew", 5}});
    const json r = lab.n1->handle("config.reload", {{"config", next}});
    INFO(r.dump());
    REQUIRE(lab.n1->controller.config().carp.vips.size() == 4);
    const auto t2 = lab.time_until([&] { return vip(lab.n2->controller.config(), "wan", 201) != nullptr; }, 1s);
    REQUIRE(t2);
    CHECK(*t2 <= 100ms);
    CHECK(int(vip(lab.n2->controller.config(), "wan", 201)->advskew) == 105);
    CHECK(config_sync(*lab.n1)["pushed"] == 2);
    CHECK(config_sync(*lab.n2)["applied"] == 2);
  }
}

TEST_CASE("config sync: another interface order on the secondary is refused with an event, nothing applied",
          "[node][sync][config]") {
  Lab lab;
  lab.sync_key1 = lab.sync_key2 = "k";
  lab.edit1 = primary_with_new_vip;
  lab.edit2 = [](json& j) { std::swap(j["interfaces"][0], j["interfaces"][1]); };  // lan, wan, sync
  lab.start_n1();
  lab.start_n2();
  const json before = lab.n2->handle("config.get", {{"secrets", true}});
  lab.run_for(1s);
  CHECK(events_with(*lab.n2, "config applied").empty());
  CHECK(config_sync(*lab.n2)["received"] == 1);
  CHECK(config_sync(*lab.n2)["refused"]["interface_order"] == 1);
  CHECK(events_with(*lab.n2, "config sync from 172.16.1.2: refused: interface order differs: the primary n1 has "
                             "[wan, lan, sync], this node [lan, wan, sync]")
            .size() == 1);
  // The secondary runs its own configuration still.
  CHECK(lab.n2->controller.config().interfaces[0].name == "lan");
  CHECK_FALSE(vip(lab.n2->controller.config(), "lan", 2));
  CHECK(lab.n2->handle("config.get", {{"secrets", true}}) == before);
  // The primary pushes again every 10 s: looked at again, refused again,
  // counted, but the event is not repeated.
  lab.run_for(11s);
  CHECK(config_sync(*lab.n2)["refused"]["interface_order"].get<int>() >= 2);
  CHECK(events_with(*lab.n2, "refused: interface order differs").size() == 1);
  CHECK(lab.n2->handle("config.get", {{"secrets", true}}) == before);
}

TEST_CASE("config sync: a lost or altered chunk applies nothing; the next push does", "[node][sync][config]") {
  Lab lab;
  lab.sync_key1 = lab.sync_key2 = "k";
  lab.edit1 = [](json& j) {
    primary_with_new_vip(j);
    many_rules(j);
  };
  lab.edit2 = many_rules;
  lab.start_n1();
  lab.start_n2();
  // The secondary's start makes the primary push; its second frame of
  // configuration is lost, or altered, once.
  int large = 0;
  bool lose = true;
  SECTION("lost") {}
  SECTION("altered") { lose = false; }
  lab.sync.set_filter([&](std::vector<uint8_t>& f) {
    if (!from_n1_large(f) || ++large != 2) return true;
    if (lose) return false;
    f[f.size() - 40] ^= 0x01;  // in the ciphertext
    return true;
  });
  lab.run_for(1s);
  REQUIRE(large > 3);  // the configuration took several frames
  CHECK_FALSE(vip(lab.n2->controller.config(), "lan", 2));
  const json st = config_sync(*lab.n2);
  CHECK(st["drops"]["gap"].get<int>() > 0);
  CHECK(st["received"] == 0);
  if (!lose) CHECK(sync_status(*lab.n2)["drops"]["bad_tag"] == 1);
  // The periodic re-push brings it whole.
  const auto t = lab.time_until([&] { return vip(lab.n2->controller.config(), "lan", 2) != nullptr; }, 10s);
  REQUIRE(t);
  CHECK(config_sync(*lab.n2)["applied"] == 1);
  CHECK(lab.n2->controller.config().rules.size() == 62);
  CHECK(int(vip(lab.n2->controller.config(), "lan", 2)->advskew) == 100);
}

TEST_CASE("config sync: VIPs made by hand on the secondary are reported when the primary's replace them",
          "[node][sync][config]") {
  Lab lab;
  lab.sync_key1 = lab.sync_key2 = "k";
  lab.edit1 = primary_with_new_vip;
  lab.edit2 = [](json& j) {
    j["carp"]["vips"].push_back({{"interface", "lan"}, {"vhid", 9}, {"addresses", {"192.168.1.9"}},
                                 {"password", "by-hand"}, {"advskew", 100}});
  };
  lab.start_n1();
  lab.start_n2();
  REQUIRE(vip(lab.n2->controller.config(), "lan", 9));
  lab.run_for(100ms);
  REQUIRE(config_sync(*lab.n2)["applied"] == 1);
  CHECK_FALSE(vip(lab.n2->controller.config(), "lan", 9));
  CHECK(events_with(*lab.n2, "config sync from 172.16.1.2: duplicate/local VIPs: lan vhid 9 (192.168.1.9): only on "
                             "this node, removed")
            .size() == 1);
}

TEST_CASE("config sync: cleartext config chunks are dropped and counted", "[node][sync][config][security]") {
  Lab lab;  // no sync.key: state sync in the clear, config sync refused
  lab.start_n1();
  lab.start_n2();
  lab.run_for(100ms);
  // A configuration in cleartext chunks, from the peer's address with TTL
  // 255: everything but the seal is right.
  const std::string text = R"({"node": {"name": "n1", "role": "primary"}})" + std::string(1200, ' ');
  std::vector<uint8_t> buf(1480);
  pfsync::FrameWriter w(buf);
  const auto digest = pfsync::sha256({reinterpret_cast<const uint8_t*>(text.data()), text.size()});
  for (size_t off = 0; off < text.size();) {
    const size_t n = std::min(w.config_room(), text.size() - off);
    REQUIRE(n > 0);
    REQUIRE(w.add(pfsync::ConfigChunkRecord{.generation = 1, .total = uint32_t(text.size()), .offset = uint32_t(off),
                                            .sha256 = digest,
                                            .data = {reinterpret_cast<const uint8_t*>(text.data()) + off, n}}));
    off += n;
  }
  const auto frame = w.finish();
  test::Host intruder(lab.sync);
  intruder.send(test::ipv4_frame(mac(2, 2), mac(1, 2), ip("172.16.1.2").v4(), ip("172.16.1.3").v4(), 240,
                                 std::vector<uint8_t>(frame.begin(), frame.end()), 255));
  lab.settle();
  const json st = config_sync(*lab.n2);
  CHECK(st["chunks_received"].get<int>() == int(w.records()));
  CHECK(st["drops"]["cleartext"].get<int>() == int(w.records()));
  CHECK(st["received"] == 0);
  CHECK(events_with(*lab.n2, "config applied").empty());
}
