// Two whole nodes (control logic + the real worker pipeline) on an in-memory
// network under a manual clock: election, ARP ownership, forwarding through
// the VIP, failover when the master dies, preemption when it comes back.
#include <catch2/catch.hpp>

#include "dataplane/net/ipv6.h"

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>

#include "control/clock.h"
#include "control/config.h"
#include "control/socket.h"
#include "tests/unit/control/node_lab.h"

using namespace hafw;
using namespace std::chrono_literals;

using namespace hafw::test::node;

TEST_CASE("a two-node cluster elects the primary, fails over when it dies and takes MASTER back", "[node]") {
  Lab lab;
  lab.start_n1();
  lab.start_n2();
  lab.settle();
  CHECK(Lab::state(*lab.n1, "wan") == "BACKUP");
  CHECK(Lab::state(*lab.n2, "wan") == "BACKUP");

  // The primary's master-down timer (3 s) runs out before the secondary's
  // (3 s + 100/256 s); its first advert then holds the secondary back.
  lab.run_for(5s);
  CHECK(Lab::state(*lab.n1, "wan") == "MASTER");
  CHECK(Lab::state(*lab.n1, "lan") == "MASTER");
  CHECK(Lab::state(*lab.n2, "wan") == "BACKUP");
  CHECK(Lab::state(*lab.n2, "lan") == "BACKUP");

  // Only the master answers ARP for the VIP, with the virtual MAC.
  auto before_n2 = lab.io2->counters().drops[size_t(dp::DropReason::VipNotOwned)];
  lab.arp_for_lan_vip();
  net::Mac sha{};
  CHECK(arp_replies_for(lab.client, ip("192.168.1.1"), &sha) == 1);
  CHECK(sha == net::Mac::virtual_for(1));
  CHECK(lab.io2->counters().drops[size_t(dp::DropReason::VipNotOwned)] == before_n2 + 1);

  // Traffic from the client through the LAN VIP reaches the server, routed
  // out of WAN with the TTL decremented (after ARP for the server).
  auto echoes = lab.ping_server(1);
  REQUIRE(echoes.size() == 1);
  CHECK(as_ipv4(echoes[0])->ttl == 63);
  CHECK(eth_src(echoes[0]) == mac(1, 0));

  // The primary dies. The secondary takes over within 3*advbase + advskew/256
  // of the last advert it heard (so at most that long after the death).
  lab.kill_n1();
  auto took = lab.time_until([&] { return Lab::state(*lab.n2, "lan") == "MASTER"; }, 5s);
  REQUIRE(took);
  CHECK(*took <= 3s + kSkew100 + 10ms);
  CHECK(Lab::state(*lab.n2, "wan") == "MASTER");

  // The new master announced the VIP (gratuitous ARP from the virtual MAC)
  // and now answers ARP for it.
  bool garp = false;
  for (const auto& f : lab.client.received) {
    auto a = as_arp(f);
    if (a && a->spa == net::be32(ip("192.168.1.1").v4()) && a->tpa == a->spa && eth_src(f) == net::Mac::virtual_for(1))
      garp = true;
  }
  CHECK(garp);
  lab.arp_for_lan_vip();
  CHECK(arp_replies_for(lab.client, ip("192.168.1.1")) == 1);

  // Traffic keeps flowing, now through the secondary.
  echoes = lab.ping_server(2);
  REQUIRE(echoes.size() == 1);
  CHECK(as_ipv4(echoes[0])->ttl == 63);
  CHECK(eth_src(echoes[0]) == mac(2, 0));

  // The primary comes back: BACKUP for one master-down interval (3 s: no
  // preempt storm from a restart loop), then (preempt) MASTER on the
  // secondary's next, slower advert; the secondary steps down.
  lab.start_n1();
  lab.settle();
  CHECK(Lab::state(*lab.n1, "lan") == "BACKUP");
  auto back = lab.time_until([&] { return Lab::state(*lab.n1, "lan") == "MASTER" &&
                                          Lab::state(*lab.n2, "lan") == "BACKUP"; }, 6s);
  REQUIRE(back);
  CHECK(*back >= 3s);
  CHECK(*back <= 3s + 1s + kSkew100 + 20ms);
  CHECK(Lab::state(*lab.n1, "wan") == "MASTER");
  CHECK(Lab::state(*lab.n2, "wan") == "BACKUP");
}

TEST_CASE("a node refuses bad control requests and keeps its state", "[node]") {
  Lab lab;
  lab.start_n1();
  lab.run_for(4s);
  REQUIRE(Lab::state(*lab.n1, "wan") == "MASTER");
  CHECK_THROWS_AS(lab.n1->handle("no.such.command", {}), control::CommandError);
  CHECK_THROWS_AS(lab.n1->handle("carp.maintenance", {{"enter", "yes"}}), control::CommandError);
  CHECK(Lab::state(*lab.n1, "wan") == "MASTER");
  auto st = lab.n1->handle("carp.status", {});
  REQUIRE(st["vhids"].size() == 2);
  CHECK(st["vhids"][0]["state"] == "MASTER");
  auto status = lab.n1->handle("status", {});
  CHECK(status["node"]["name"] == "n1");
  CHECK(status["interfaces"].size() == 3);
  auto ev = lab.n1->handle("events", {});
  bool saw = false;
  for (const auto& e : ev["events"])
    if (e["message"].get<std::string>().find("BACKUP -> MASTER") != std::string::npos) saw = true;
  CHECK(saw);
}

TEST_CASE("maintenance mode hands the VIPs to the peer and survives a restart", "[node]") {
  Lab lab;
  lab.start_n1();
  lab.start_n2();
  lab.run_for(5s);
  REQUIRE(Lab::state(*lab.n1, "lan") == "MASTER");

  // Entering maintenance: the peer takes over at once (bow-out), no timer wait.
  auto reply = lab.n1->handle("carp.maintenance", {{"enter", true}});
  CHECK(reply["maintenance"] == true);
  lab.run_for(50ms);
  CHECK(Lab::state(*lab.n2, "lan") == "MASTER");
  CHECK(Lab::state(*lab.n2, "wan") == "MASTER");
  CHECK(Lab::state(*lab.n1, "lan") == "BACKUP");
  CHECK(Lab::state(*lab.n1, "wan") == "BACKUP");
  const std::string flag = lab.dirs.path + "/n1/maintenance";
  CHECK(std::filesystem::exists(flag));

  // A restart does not quietly bring the node back into service.
  lab.kill_n1();
  lab.start_n1();
  lab.run_for(6s);
  CHECK(lab.n1->handle("status", {})["maintenance"] == true);
  CHECK(Lab::state(*lab.n1, "lan") == "BACKUP");
  CHECK(Lab::state(*lab.n2, "lan") == "MASTER");

  // Leaving it: with preempt the primary takes its VIPs back within one of
  // the secondary's advert intervals.
  lab.n1->handle("carp.maintenance", {{"enter", false}});
  CHECK_FALSE(std::filesystem::exists(flag));
  auto back = lab.time_until([&] { return Lab::state(*lab.n1, "lan") == "MASTER" &&
                                          Lab::state(*lab.n2, "lan") == "BACKUP"; }, 3s);
  REQUIRE(back);
  CHECK(*back <= 1s + kSkew100 + 20ms);
}

TEST_CASE("a master whose LAN link fails hands every VIP to the peer, and takes them back when it returns",
          "[node][demotion]") {
  Lab lab;
  lab.start_n1();
  lab.start_n2();
  lab.run_for(5s);
  REQUIRE(Lab::state(*lab.n1, "lan") == "MASTER");
  REQUIRE(Lab::state(*lab.n1, "wan") == "MASTER");

  // Pull n1's LAN cable. Within one link poll (100 ms) its LAN VHID is INIT
  // and its WAN VHID advertises demotion 1, which the peer takes over from at
  // once; the LAN VIP moves when the peer's master-down timer runs out
  // (nothing can be heard from a dead link).
  lab.io1->set_link(1, false);
  auto wan_moved = lab.time_until([&] { return Lab::state(*lab.n2, "wan") == "MASTER"; }, 1s);
  REQUIRE(wan_moved);
  CHECK(*wan_moved <= 200ms);
  CHECK(Lab::state(*lab.n1, "lan") == "INIT");
  CHECK(Lab::state(*lab.n1, "wan") == "BACKUP");
  auto lan_moved = lab.time_until([&] { return Lab::state(*lab.n2, "lan") == "MASTER"; }, 5s);
  REQUIRE(lan_moved);
  CHECK(*lan_moved <= 3s + kSkew100 + 20ms);

  // The operator sees why, in carp.status and in the events.
  auto st = lab.n1->handle("carp.status", {});
  CHECK(st["demotion"] == 1);
  REQUIRE(st["demotion_causes"].size() == 1);
  CHECK(st["demotion_causes"][0]["cause"] == "link down: lan");
  CHECK(st["demotion_causes"][0]["value"] == 1);
  bool link_event = false, demotion_event = false;
  const auto events = lab.n1->handle("events", {});
  for (const auto& e : events["events"]) {
    link_event = link_event || e["message"] == "lan: link down";
    demotion_event = demotion_event || e["message"] == "demotion 1 (link down: lan 1)";
  }
  CHECK(link_event);
  CHECK(demotion_event);
  // Traffic flows through n2.
  auto echoes = lab.ping_server(7);
  REQUIRE(echoes.size() == 1);
  CHECK(eth_src(echoes[0]) == mac(2, 0));

  // The cable is back: demotion 0; the LAN VHID listens a full master-down
  // interval (no preempt storm), hears n2's slower adverts and, with
  // preempt, takes both VIPs back.
  lab.io1->set_link(1, true);
  lab.run_for(200ms);
  CHECK(lab.n1->handle("carp.status", {})["demotion"] == 0);
  CHECK(Lab::state(*lab.n1, "lan") == "BACKUP");
  auto back = lab.time_until([&] { return Lab::state(*lab.n1, "lan") == "MASTER" &&
                                          Lab::state(*lab.n1, "wan") == "MASTER"; }, 5s);
  REQUIRE(back);
  CHECK(Lab::state(*lab.n2, "lan") == "BACKUP");
  CHECK(Lab::state(*lab.n2, "wan") == "BACKUP");
}

TEST_CASE("carp.demotion_scope interface: a failed LAN link moves only the LAN VIP, and the split master is "
          "reported", "[node][demotion][split]") {
  Lab lab;
  lab.demotion_scope = "interface";
  lab.start_n1();
  lab.start_n2();
  lab.run_for(5s);
  REQUIRE(Lab::state(*lab.n1, "lan") == "MASTER");
  REQUIRE(Lab::state(*lab.n1, "wan") == "MASTER");
  CHECK(lab.n1->handle("carp.status", {})["demotion_scope"] == "interface");

  // Pull n1's LAN cable: its LAN VHID goes to INIT, nothing is demoted, and
  // n1 keeps the WAN VIP; n2 takes the LAN VIP when its master-down runs out.
  lab.io1->set_link(1, false);
  lab.run_for(1s);
  CHECK(Lab::state(*lab.n1, "lan") == "INIT");
  CHECK(Lab::state(*lab.n1, "wan") == "MASTER");
  CHECK(Lab::state(*lab.n2, "wan") == "BACKUP");
  auto st = lab.n1->handle("carp.status", {});
  CHECK(st["demotion"] == 0);
  CHECK(st["demotion_causes"].empty());
  CHECK(st["split_master"]["active"] == true);
  CHECK(st["split_master"]["reported"] == 0);  // not yet: one master-down interval (3 s) of grace
  auto lan_moved = lab.time_until([&] { return Lab::state(*lab.n2, "lan") == "MASTER"; }, 4s);
  REQUIRE(lan_moved);
  CHECK(*lan_moved <= 2s + kSkew100 + 120ms);
  CHECK(Lab::state(*lab.n1, "wan") == "MASTER");
  CHECK(Lab::state(*lab.n2, "wan") == "BACKUP");

  // Past the grace the split is told in the events and carp.status.
  lab.run_for(500ms);
  st = lab.n1->handle("carp.status", {});
  CHECK(st["split_master"]["active"] == true);
  CHECK(st["split_master"]["reported"] == 1);
  CHECK(st["split_master"]["for_s"] >= 3);
  CHECK(st["split_master"]["detail"] == "MASTER: wan vhid 200; not MASTER: lan vhid 1 (INIT)");
  int split_events = 0;
  nlohmann::json events = lab.n1->handle("events", {});
  for (const auto& e : events["events"])
    split_events += e["message"].get<std::string>().starts_with("split master: ");
  CHECK(split_events == 1);
  // n2 sees it from the other side: MASTER of LAN, BACKUP of WAN.
  lab.run_for(3s);
  st = lab.n2->handle("carp.status", {});
  CHECK(st["split_master"]["reported"] == 1);
  CHECK(st["split_master"]["detail"] == "MASTER: lan vhid 1; not MASTER: wan vhid 200 (BACKUP)");
  lab.run_for(30s);
  split_events = 0;
  events = lab.n1->handle("events", {});
  for (const auto& e : events["events"])
    split_events += e["message"].get<std::string>().starts_with("split master");
  CHECK(split_events == 1);  // once, not per advert

  // The cable returns: with preempt n1 takes the LAN VIP back after its
  // hold, and the split is over on both nodes.
  lab.io1->set_link(1, true);
  auto back = lab.time_until([&] { return Lab::state(*lab.n1, "lan") == "MASTER"; }, 6s);
  REQUIRE(back);
  lab.run_for(100ms);
  CHECK(Lab::state(*lab.n2, "lan") == "BACKUP");
  CHECK(lab.n1->handle("carp.status", {})["split_master"]["active"] == false);
  CHECK(lab.n2->handle("carp.status", {})["split_master"]["active"] == false);
  bool over = false;
  events = lab.n1->handle("events", {});
  for (const auto& e : events["events"])
    over = over || e["message"].get<std::string>().starts_with("split master over");
  CHECK(over);
}

TEST_CASE("carp.demotion_scope node (the default): a failed link reports no split master", "[node][demotion][split]") {
  Lab lab;
  lab.start_n1();
  lab.start_n2();
  lab.run_for(5s);
  CHECK(lab.n1->handle("carp.status", {})["demotion_scope"] == "node");
  lab.io1->set_link(1, false);
  lab.run_for(10s);
  CHECK(Lab::state(*lab.n2, "lan") == "MASTER");
  CHECK(Lab::state(*lab.n2, "wan") == "MASTER");
  CHECK(lab.n1->handle("carp.status", {})["split_master"]["reported"] == 0);
  CHECK(lab.n2->handle("carp.status", {})["split_master"]["reported"] == 0);
}

TEST_CASE("our virtual MAC from another station is counted per VHID and told once, without a transition",
          "[node][detection]") {
  Lab lab;
  lab.start_n1();
  lab.start_n2();
  lab.run_for(5s);
  REQUIRE(Lab::state(*lab.n1, "lan") == "MASTER");
  auto vhid_status = [](test::Daemon& n, const std::string& iface) {
    const nlohmann::json st = n.handle("carp.status", {});
    for (const auto& v : st["vhids"])
      if (v["interface"] == iface) return v;
    return nlohmann::json();
  };
  // A healthy pair: neither node sees its virtual MAC from elsewhere.
  CHECK(vhid_status(*lab.n1, "lan")["vmac_from_other"] == 0);
  CHECK(vhid_status(*lab.n1, "wan")["vmac_from_other"] == 0);
  CHECK(vhid_status(*lab.n2, "lan")["vmac_from_other"] == 0);
  const auto transitions = vhid_status(*lab.n1, "lan")["transitions"];

  // A LAN host sends with the LAN VHID's virtual MAC as its source.
  auto from_vmac = [&](uint16_t seq) {
    lab.client.send(echo_frame(net::Mac::virtual_for(1), mac(1, 1), lab.client.addr, lab.server.addr, seq));
  };
  for (uint16_t i = 0; i < 3; ++i) from_vmac(i);
  lab.run_for(200ms);
  auto st = vhid_status(*lab.n1, "lan");
  CHECK(st["vmac_from_other"] == 3);
  CHECK(st["state"] == "MASTER");
  CHECK(st["transitions"] == transitions);
  CHECK(vhid_status(*lab.n1, "wan")["vmac_from_other"] == 0);
  CHECK(lab.n1->handle("stats", {})["dataplane"]["carp"]["vmac_from_other"] == 3);
  auto told = [&] {
    int n = 0;
    const nlohmann::json ev = lab.n1->handle("events", {});
    for (const auto& e : ev["events"])
      n += e["message"].get<std::string>().starts_with("lan vhid 1: 3 frames from our virtual MAC 00:00:5e:00:01:01");
    return n;
  };
  CHECK(told() == 1);
  // More of them: counted, but told at most once a minute, and nothing moves.
  for (uint16_t i = 3; i < 20; ++i) from_vmac(i);
  lab.run_for(10s);
  st = vhid_status(*lab.n1, "lan");
  CHECK(st["vmac_from_other"] == 20);
  CHECK(st["state"] == "MASTER");
  CHECK(st["transitions"] == transitions);
  CHECK(told() == 1);
  // The BACKUP does not count frames for a VHID it does not own.
  CHECK(vhid_status(*lab.n2, "lan")["vmac_from_other"] == 0);
}

TEST_CASE("the sync link going down demotes the node", "[node][demotion]") {
  Lab lab;
  lab.start_n1();
  lab.start_n2();
  lab.run_for(5s);
  REQUIRE(Lab::state(*lab.n1, "wan") == "MASTER");
  lab.io1->set_link(2, false);
  lab.run_for(300ms);
  auto st = lab.n1->handle("carp.status", {});
  CHECK(st["demotion"] == 1);
  CHECK(st["demotion_causes"][0]["cause"] == "sync link down");
  CHECK(Lab::state(*lab.n2, "wan") == "MASTER");
  CHECK(Lab::state(*lab.n2, "lan") == "MASTER");
}

TEST_CASE("the operator demotes a node and the peer takes over; undoing it gives the VIPs back", "[node][demotion]") {
  Lab lab;
  lab.start_n1();
  lab.start_n2();
  lab.run_for(5s);
  REQUIRE(Lab::state(*lab.n1, "wan") == "MASTER");

  auto st = lab.n1->handle("carp.demote", {{"by", 10}});
  CHECK(st["demotion"] == 10);
  CHECK(st["demotion_causes"][0]["cause"] == "operator");
  lab.settle();
  CHECK(Lab::state(*lab.n2, "wan") == "MASTER");
  CHECK(Lab::state(*lab.n2, "lan") == "MASTER");
  CHECK(Lab::state(*lab.n1, "wan") == "BACKUP");

  // Lowering below zero stops at zero; the cause disappears.
  st = lab.n1->handle("carp.demote", {{"by", -30}});
  CHECK(st["demotion"] == 0);
  CHECK(st["demotion_causes"].empty());
  auto back = lab.time_until([&] { return Lab::state(*lab.n1, "wan") == "MASTER"; }, 3s);
  REQUIRE(back);

  CHECK_THROWS_AS(lab.n1->handle("carp.demote", {{"by", "ten"}}), control::CommandError);
  CHECK_THROWS_AS(lab.n1->handle("carp.demote", {{"by", 1000}}), control::CommandError);
  CHECK_THROWS_AS(lab.n1->handle("carp.demote", nlohmann::json::object()), control::CommandError);
}

TEST_CASE("unicast CARP: adverts go to the peer's address and, once ARP found it, its MAC", "[node][unicast]") {
  Lab lab;
  lab.unicast = true;
  lab.start_n1();
  lab.start_n2();
  lab.run_for(5s);
  REQUIRE(Lab::state(*lab.n1, "wan") == "MASTER");
  REQUIRE(Lab::state(*lab.n2, "wan") == "BACKUP");

  // What the master sends on the WAN now, as a bystander on the segment sees it.
  test::Host watcher(lab.wan);
  lab.run_for(3s);
  size_t unicast = 0, other = 0;
  for (const auto& f : watcher.received) {
    auto ip4 = as_ipv4(f);
    if (!ip4 || ip4->proto != net::kProtoCarp || ip4->src != net::be32(ip("198.51.100.201").v4())) continue;
    if (ip4->dst == net::be32(ip("198.51.100.202").v4()) && eth_dst(f) == mac(2, 0)) ++unicast;
    else ++other;
  }
  CHECK(unicast >= 2);  // an advert a second
  CHECK(other == 0);    // none to the group, none to broadcast any more

  // And the election works over it: the primary dies, the secondary takes over.
  lab.kill_n1();
  CHECK(lab.time_until([&] { return Lab::state(*lab.n2, "wan") == "MASTER"; }, 5s));
}

TEST_CASE("the node translates the client's traffic, lists its states, and the reaper frees them", "[node][states]") {
  Lab lab;
  lab.start_n1();
  lab.run_for(5s);
  REQUIRE(Lab::state(*lab.n1, "lan") == "MASTER");

  // The client's ping reaches the server from the WAN VIP (outbound NAT).
  auto echoes = lab.ping_server(1);
  REQUIRE(echoes.size() == 1);
  CHECK(as_ipv4(echoes[0])->src == net::be32(ip("198.51.100.200").v4()));

  // states.list shows the state with both keys and its translation.
  const nlohmann::json list = lab.n1->handle("states.list", nlohmann::json::object());
  REQUIRE(list["states"].size() == 1);
  const nlohmann::json& s = list["states"][0];
  CHECK(s["protocol"] == "icmp");
  CHECK(s["src"].get<std::string>().starts_with("192.168.1.10:"));
  CHECK(s["dst"].get<std::string>().starts_with("198.51.100.10:"));
  CHECK(s["nat"]["side"] == "source");
  CHECK(s["nat"]["to"].get<std::string>().starts_with("198.51.100.200:"));
  CHECK(s["reply_dst"] == s["nat"]["to"]);
  CHECK(s["rule"] == 0);
  CHECK(s["packets"][0] == 1);
  CHECK(s["expires_in_s"] == 20);  // icmp.first
  CHECK(list["truncated"] == false);
  // Filters: a protocol or an address the state does not have finds nothing.
  CHECK(lab.n1->handle("states.list", {{"protocol", "tcp"}})["states"].empty());
  CHECK(lab.n1->handle("states.list", {{"address", "198.51.100.200"}})["states"].size() == 1);
  CHECK(lab.n1->handle("states.list", {{"address", "10.9.9.9"}})["states"].empty());
  CHECK_THROWS_AS(lab.n1->handle("states.list", {{"limit", 0}}), control::CommandError);
  CHECK_THROWS_AS(lab.n1->handle("states.list", {{"address", "nope"}}), control::CommandError);
  CHECK_THROWS_AS(lab.n1->handle("states.list", {{"protocol", "gre"}}), control::CommandError);

  nlohmann::json summary = lab.n1->handle("states.summary", nlohmann::json::object());
  CHECK(summary["states"] == 1);
  CHECK(summary["created"] == 1);
  CHECK(summary["capacity"] == lab.io1->states().capacity());
  CHECK(summary["timeouts"]["icmp.first"] == 20);

  // The WAN cannot ping into the LAN: rule 1 blocks it and counts.
  lab.server.send(echo_frame(lab.server.mac, net::Mac::virtual_for(200), lab.server.addr, ip("192.168.1.10"), 9));
  lab.settle();
  const nlohmann::json stats = lab.n1->handle("stats", nlohmann::json::object());
  CHECK(stats["dataplane"]["drops"]["rule_block"] == 1);
  CHECK(stats["rules"][1]["matches"] == 1);
  CHECK(stats["rules"][1]["action"] == "block");

  // icmp.first is 20 s: the control thread's reaper takes the state out
  // within about a second of its expiry, and its slot is free again.
  lab.run_for(19s);
  CHECK(lab.n1->handle("states.summary", nlohmann::json::object())["states"] == 1);
  lab.run_for(3s);
  summary = lab.n1->handle("states.summary", nlohmann::json::object());
  CHECK(summary["states"] == 0);
  CHECK(summary["reaped"] == 1);
  CHECK(lab.n1->handle("states.list", nlohmann::json::object())["states"].empty());
}

TEST_CASE("IPv6: an unknown next hop is solicited, its packet held and sent once the neighbour advertises",
          "[node][ipv6]") {
  Lab lab;
  lab.ipv6 = true;
  lab.start_n1();
  lab.run_for(5s);
  const net::Addr6 client6 = ip("2001:db8:1::10").b, server6 = ip("2001:db8::10").b, wan6 = ip("2001:db8::2").b;
  const net::Mac n1_lan = mac(1, 1), n1_wan = mac(1, 0);
  auto udp6 = [&](uint16_t sport) {
    std::vector<uint8_t> f(14 + 40 + 8 + 4, 0);
    std::copy(n1_lan.b.begin(), n1_lan.b.end(), f.begin());
    std::copy(lab.client.mac.b.begin(), lab.client.mac.b.end(), f.begin() + 6);
    f[12] = 0x86, f[13] = 0xdd;
    uint8_t* ip6 = f.data() + 14;
    ip6[0] = 0x60, ip6[5] = 12, ip6[6] = net::kProtoUdp, ip6[7] = 64;
    std::memcpy(ip6 + 8, client6.data(), 16);
    std::memcpy(ip6 + 24, server6.data(), 16);
    ip6[40] = uint8_t(sport >> 8), ip6[41] = uint8_t(sport), ip6[43] = 53, ip6[45] = 12;
    uint32_t sum = 0;  // the UDP checksum with the pseudo header
    for (size_t i = 8; i < 40; i += 2) sum += uint32_t(ip6[i]) << 8 | ip6[i + 1];
    sum += net::kProtoUdp + 12;
    for (size_t i = 40; i < 52; i += 2) sum += uint32_t(ip6[i]) << 8 | ip6[i + 1];
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    ip6[46] = uint8_t(~sum >> 8), ip6[47] = uint8_t(~sum);
    return f;
  };
  auto udp_to_server = [&] {
    int n = 0;
    for (const auto& f : lab.server.received)
      if (f.size() >= 54 && f[12] == 0x86 && f[13] == 0xdd && f[14 + 6] == net::kProtoUdp) ++n;
    return n;
  };
  lab.server.received.clear();
  lab.client.send(udp6(5000));
  lab.settle();
  // The node asked for the server with a solicitation to its solicited-node group.
  std::vector<uint8_t> ns;
  for (const auto& f : lab.server.received)
    if (f.size() >= 86 && f[12] == 0x86 && f[13] == 0xdd && f[54] == net::kNdNeighborSolicit) ns = f;
  REQUIRE(!ns.empty());
  CHECK(eth_dst(ns) == net::multicast_mac(net::solicited_node(server6.data()).data()));
  CHECK(eth_src(ns) == n1_wan);
  CHECK(std::memcmp(&ns[14 + 8], wan6.data(), 16) == 0);
  CHECK(std::memcmp(&ns[62], server6.data(), 16) == 0);
  CHECK(udp_to_server() == 0);  // held

  // The server advertises; the held packet goes out to its MAC, hop limit 63.
  lab.server.received.clear();
  lab.server.send(net::nd_frame(net::NdFrame{.eth_dst = n1_wan, .eth_src = lab.server.mac, .src = server6,
                                             .dst = wan6, .type = net::kNdNeighborAdvert,
                                             .flags = net::kNaSolicited | net::kNaOverride, .target = server6,
                                             .lla = lab.server.mac}));
  lab.settle();
  REQUIRE(udp_to_server() == 1);
  const auto& out = lab.server.received.back();
  CHECK(eth_dst(out) == lab.server.mac);
  CHECK(eth_src(out) == n1_wan);
  CHECK(out[14 + 7] == 63);
  // Published to the workers: the next packet goes straight out.
  lab.server.received.clear();
  lab.client.send(udp6(5001));
  lab.settle();
  CHECK(udp_to_server() == 1);
  const nlohmann::json stats = lab.n1->handle("stats", nlohmann::json::object());
  CHECK(stats["dataplane"]["punts"]["resolve"] == 1);
  CHECK(stats["dataplane"]["punts"]["nd"] == 1);
  CHECK(lab.n1->handle("states.summary", nlohmann::json::object())["states"] == 2);
}

TEST_CASE("IPv6 VIP: two nodes elect over both families, only the master answers ND, and the VIP moves at a crash",
          "[node][ipv6]") {
  Lab lab;
  const net::IpAddr vip6 = ip("2001:db8:1::1"), client6 = ip("2001:db8:1::10");
  auto dual = [](const char* lan6) {
    return [lan6](nlohmann::json& j) {
      j["interfaces"][1]["address6"] = lan6;
      for (auto& v : j["carp"]["vips"])
        if (v["interface"] == "lan") v["addresses"].push_back("2001:db8:1::1");
    };
  };
  lab.edit1 = dual("2001:db8:1::2/64");
  lab.edit2 = dual("2001:db8:1::3/64");
  lab.start_n1();
  lab.start_n2();
  lab.settle();
  lab.run_for(5s);
  REQUIRE(Lab::state(*lab.n1, "lan") == "MASTER");
  REQUIRE(Lab::state(*lab.n2, "lan") == "BACKUP");

  auto lan_status = [](const test::Daemon& n) {
    for (const auto& s : n.carp().status())
      if (s.interface == "lan") return s;
    FAIL("no lan VHID");
    return n.carp().status()[0];
  };
  // n1's LAN VHID advertises over IPv4 and IPv6 each second; n2 takes both
  // through the real pipeline (the IPv6 one punted from ff02::12) and its
  // HMAC, and refuses none.
  const uint64_t heard = lan_status(*lab.n2).adverts_received;
  lab.run_for(3s);
  const uint64_t more = lan_status(*lab.n2).adverts_received - heard;
  CHECK(more >= 5);
  CHECK(more <= 7);
  CHECK(lab.n2->carp().stats().drops == std::array<uint64_t, size_t(carp::Drop::Count)>{});

  // The client solicits the VIP: one advertisement, from n1's side, with the
  // virtual MAC; n2 counts the solicitation it did not answer.
  auto solicit = [&] {
    lab.client.received.clear();
    lab.client.send(net::nd_frame(net::NdFrame{
        .eth_dst = net::multicast_mac(net::solicited_node(vip6.b.data()).data()), .eth_src = lab.client.mac,
        .src = client6.b, .dst = net::solicited_node(vip6.b.data()), .type = net::kNdNeighborSolicit, .flags = 0,
        .target = vip6.b, .lla = lab.client.mac}));
    lab.settle();
  };
  auto nas_for_vip = [&](uint8_t flags) {
    int n = 0;
    for (const auto& f : lab.client.received)
      if (f.size() >= net::kNdFrameLen && f[12] == 0x86 && f[13] == 0xdd && f[54] == net::kNdNeighborAdvert &&
          std::memcmp(&f[62], vip6.b.data(), 16) == 0 && f[58] == flags && eth_src(f) == net::Mac::virtual_for(1) &&
          std::memcmp(&f[80], net::Mac::virtual_for(1).b.data(), 6) == 0)
        ++n;
    return n;
  };
  const uint8_t kSolicitedNa = net::kNaRouter | net::kNaSolicited | net::kNaOverride;
  const auto before_n2 = lab.io2->counters().drops[size_t(dp::DropReason::VipNotOwned)];
  solicit();
  CHECK(nas_for_vip(kSolicitedNa) == 1);
  CHECK(lab.io2->counters().drops[size_t(dp::DropReason::VipNotOwned)] == before_n2 + 1);

  // The primary dies: n2 takes the VHID, announces the IPv6 VIP with an
  // unsolicited NA (Router, Override), and answers for it now.
  lab.client.received.clear();
  lab.kill_n1();
  auto took = lab.time_until([&] { return Lab::state(*lab.n2, "lan") == "MASTER"; }, 5s);
  REQUIRE(took);
  CHECK(*took <= 3s + kSkew100 + 10ms);
  CHECK(nas_for_vip(net::kNaRouter | net::kNaOverride) == 1);
  solicit();
  CHECK(nas_for_vip(kSolicitedNa) == 1);
}

TEST_CASE("unicast CARP over IPv6: an IPv6-only VHID's adverts go to the peer's address6 and, once ND found it, "
          "its MAC",
          "[node][unicast][ipv6]") {
  Lab lab;
  // The LAN VHID holds one IPv6 VIP and names the other node's address6 as
  // its peer: no IPv4 adverts, no group.
  auto v6only = [](const char* lan6, const char* peer6) {
    return [lan6, peer6](nlohmann::json& j) {
      j["interfaces"][1]["address6"] = lan6;
      for (auto& v : j["carp"]["vips"])
        if (v["interface"] == "lan") {
          v["addresses"] = {"2001:db8:1::1"};
          v["peer"] = peer6;
        }
    };
  };
  lab.edit1 = v6only("2001:db8:1::2/64", "2001:db8:1::3");
  lab.edit2 = v6only("2001:db8:1::3/64", "2001:db8:1::2");
  lab.start_n1();
  lab.start_n2();
  lab.run_for(5s);
  REQUIRE(Lab::state(*lab.n1, "lan") == "MASTER");
  REQUIRE(Lab::state(*lab.n2, "lan") == "BACKUP");

  test::Host watcher(lab.lan);
  lab.run_for(3s);
  const net::Addr6 n1_ll = net::link_local_of(mac(1, 1)), n2_addr = ip("2001:db8:1::3").b;
  size_t unicast = 0, other = 0, v4 = 0;
  for (const auto& f : watcher.received) {
    if (as_ipv4(f) && as_ipv4(f)->proto == net::kProtoCarp) ++v4;
    if (f.size() < 54 || f[12] != 0x86 || f[13] != 0xdd || f[14 + 6] != net::kProtoCarp) continue;
    if (std::memcmp(&f[14 + 8], n1_ll.data(), 16) != 0) continue;
    if (std::memcmp(&f[14 + 24], n2_addr.data(), 16) == 0 && eth_dst(f) == mac(2, 1)) ++unicast;
    else ++other;
  }
  CHECK(unicast >= 2);  // an advert a second, from n1's link-local address
  CHECK(other == 0);    // none to ff02::12, none to broadcast any more
  CHECK(v4 == 0);       // the VHID has no IPv4 VIP
  CHECK(lab.n2->carp().stats().drops == std::array<uint64_t, size_t(carp::Drop::Count)>{});

  lab.kill_n1();
  CHECK(lab.time_until([&] { return Lab::state(*lab.n2, "lan") == "MASTER"; }, 5s));
}
