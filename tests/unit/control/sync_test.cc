// State sync between two whole nodes on the in-memory lab (node_lab.h):
// the backup holds the master's states with the same translation and
// forwards them after a failover; a node that starts asks for the peer's
// table and stays demoted until it has it; with a key only sealed frames
// from the peer touch the table.
#include <catch2/catch.hpp>

#include <string>

#include "tests/unit/control/node_lab.h"

using namespace hafw;
using namespace hafw::test::node;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr uint8_t kSyn = 0x02, kAck = 0x10, kPsh = 0x08;

// The client's TCP connection to the server's port 80 through the VIPs, as
// both ends see it: the client's own port, the port the server sees
// (outbound NAT), and each side's next sequence number.
struct Tcp {
  Lab& lab;
  uint16_t cport;
  uint16_t seen_port = 0;
  uint32_t cseq = 1000, sseq = 50000;

  // The client's segment; returns what reached the server.
  std::vector<std::vector<uint8_t>> client_sends(uint8_t flags, size_t data = 0) {
    lab.server.received.clear();
    lab.client.send(test::tcp_frame(net::Mac::virtual_for(1), lab.client.mac, lab.client.addr.v4(),
                                    lab.server.addr.v4(),
                                    test::tcp_segment(cport, 80, cseq, sseq, flags, 65535, data)));
    lab.settle();
    cseq += uint32_t(data) + ((flags & kSyn) ? 1 : 0);
    return tcp_to(lab.server.received, lab.server.addr);
  }
  // The server's answer to the port it saw; returns what reached the client.
  std::vector<std::vector<uint8_t>> server_sends(uint8_t flags, size_t data = 0) {
    lab.client.received.clear();
    lab.server.send(test::tcp_frame(net::Mac::virtual_for(200), lab.server.mac, lab.server.addr.v4(),
                                    ip("198.51.100.200").v4(),
                                    test::tcp_segment(80, seen_port, sseq, cseq, flags, 65535, data)));
    lab.settle();
    sseq += uint32_t(data) + ((flags & kSyn) ? 1 : 0);
    return tcp_to(lab.client.received, lab.client.addr);
  }
  static std::vector<std::vector<uint8_t>> tcp_to(const std::vector<std::vector<uint8_t>>& rx, net::IpAddr to) {
    std::vector<std::vector<uint8_t>> out;
    for (const auto& f : rx) {
      auto h = as_ipv4(f);
      if (h && h->proto == net::kProtoTcp && h->dst == net::be32(to.v4())) out.push_back(f);
    }
    return out;
  }
  // The three-way handshake; the server learns the translated port.
  void open() {
    auto syn = client_sends(kSyn);
    REQUIRE(syn.size() == 1);
    CHECK(as_ipv4(syn[0])->src == net::be32(ip("198.51.100.200").v4()));
    seen_port = test::sport_of(syn[0]);
    REQUIRE(server_sends(kSyn | kAck).size() == 1);
    REQUIRE(client_sends(kAck).size() == 1);
  }
};

json states(test::Daemon& n) { return n.handle("states.list", {{"limit", 10000}})["states"]; }
json sync_status(test::Daemon& n) { return n.handle("sync.status", json::object()); }
int demotion(test::Daemon& n) { return n.handle("carp.status", json::object())["demotion"].get<int>(); }

// The cluster up: n1 MASTER of both VIPs, both bulks done.
void up(Lab& lab) {
  lab.start_n1();
  lab.start_n2();
  lab.run_for(5s);
  REQUIRE(Lab::state(*lab.n1, "lan") == "MASTER");
  REQUIRE(Lab::state(*lab.n2, "lan") == "BACKUP");
}

}  // namespace

TEST_CASE("the backup holds the master's states with the same translation and carries them after a failover",
          "[node][sync]") {
  Lab lab;
  up(lab);
  CHECK(sync_status(*lab.n1)["bulk"]["state"] == "done");
  CHECK(sync_status(*lab.n2)["bulk"]["state"] == "done");
  CHECK(demotion(*lab.n1) == 0);
  CHECK(demotion(*lab.n2) == 0);

  Tcp tcp{.lab = lab, .cport = 40000};
  tcp.open();
  REQUIRE(tcp.client_sends(kAck | kPsh, 100).size() == 1);
  lab.run_for(20ms);  // a frame leaves within 1 ms of its first record

  // The same state on both nodes: identity, keys, translation, progress.
  const json s1 = states(*lab.n1), s2 = states(*lab.n2);
  REQUIRE(s1.size() == 1);
  REQUIRE(s2.size() == 1);
  for (const char* f : {"id", "creator", "protocol", "src", "dst", "reply_src", "reply_dst", "nat", "state"})
    CHECK(s2[0][f] == s1[0][f]);
  CHECK(s1[0]["state"] == "ESTABLISHED:ESTABLISHED");
  CHECK(s2[0]["nat"]["to"] == "198.51.100.200:" + std::to_string(tcp.seen_port));
  const json st1 = sync_status(*lab.n1), st2 = sync_status(*lab.n2);
  CHECK(st1["sent"]["inserts"] == 1);
  CHECK(st1["sent"]["updates"].get<int>() >= 1);  // the handshake moved the state on
  CHECK(st2["records"]["inserted"] == 1);
  CHECK(st2["records"]["updated"].get<int>() >= 1);
  CHECK(st2["peer_heard"] == true);

  // The master dies. Once n2 holds the VIPs, the connection goes on through
  // it: the same translated port both ways, no new state, no drop.
  lab.kill_n1();
  lab.run_for(4s);
  REQUIRE(Lab::state(*lab.n2, "lan") == "MASTER");
  REQUIRE(Lab::state(*lab.n2, "wan") == "MASTER");
  // The client's data is 1 s or more ahead of what n2 last heard; the
  // adopted window lets it through.
  tcp.cseq += 200000;
  auto data = tcp.client_sends(kAck | kPsh, 100);
  REQUIRE(data.size() == 1);
  CHECK(test::sport_of(data[0]) == tcp.seen_port);
  CHECK(as_ipv4(data[0])->src == net::be32(ip("198.51.100.200").v4()));
  auto back = tcp.server_sends(kAck | kPsh, 50);
  REQUIRE(back.size() == 1);
  CHECK(test::dport_of(back[0]) == 40000);
  const json after = lab.n2->handle("states.summary", json::object());
  CHECK(after["states"] == 1);
  CHECK(after["created"] == 0);  // n2 made no state of its own: it carried n1's
}

TEST_CASE("the backup resolves the hosts of the master's states ahead of a takeover, and forwards at once",
          "[node][sync]") {
  Lab lab;
  up(lab);
  auto resolve_punts = [&] { return lab.n2->handle("stats", json::object())["dataplane"]["punts"]["resolve"].get<int>(); };
  Tcp tcp{.lab = lab, .cport = 40001};
  tcp.open();
  lab.run_for(20ms);
  // One request each, from n2's own addresses: the server on the WAN (the
  // state's wire side, whose other end is our VIP) and the client on the LAN.
  CHECK(lab.n2->handle("stats", json::object())["control"]["neighbors_warmed"] == 2);
  lab.run_for(1s);  // answered, and again nothing to ask
  tcp.client_sends(kAck | kPsh, 10);
  lab.run_for(20ms);
  CHECK(lab.n2->handle("stats", json::object())["control"]["neighbors_warmed"] == 2);

  lab.kill_n1();
  lab.run_for(4s);
  REQUIRE(Lab::state(*lab.n2, "lan") == "MASTER");
  REQUIRE(Lab::state(*lab.n2, "wan") == "MASTER");
  const int before = resolve_punts();
  tcp.cseq += 200000;
  REQUIRE(tcp.client_sends(kAck | kPsh, 100).size() == 1);
  REQUIRE(tcp.server_sends(kAck | kPsh, 50).size() == 1);
  CHECK(resolve_punts() == before);  // neither direction waited for ARP
}

TEST_CASE("a node that starts asks for the peer's table and stays demoted until the bulk ends", "[node][sync]") {
  Lab lab;
  lab.start_n1();
  lab.run_for(5s);
  REQUIRE(Lab::state(*lab.n1, "lan") == "MASTER");
  // 300 UDP flows through n1 before n2 exists.
  for (uint16_t i = 0; i < 300; ++i)
    lab.client.send(test::udp_frame(net::Mac::virtual_for(1), lab.client.mac, lab.client.addr.v4(),
                                    lab.server.addr.v4(), uint16_t(20000 + i), 53));
  lab.settle();
  REQUIRE(states(*lab.n1).size() == 300);

  lab.start_n2();
  // Right after its start n2 has asked and holds nothing yet: demoted.
  CHECK(demotion(*lab.n2) == 1);
  const json causes = lab.n2->handle("carp.status", json::object())["demotion_causes"];
  REQUIRE(causes.size() == 1);
  CHECK(causes[0]["cause"] == "bulk sync pending");
  lab.settle();
  const json st = sync_status(*lab.n2);
  CHECK(st["bulk"]["state"] == "done");
  CHECK(st["bulk"]["states_received"] == 300);
  CHECK(states(*lab.n2).size() == 300);
  CHECK(demotion(*lab.n2) == 0);
  CHECK(sync_status(*lab.n1)["bulk"]["bulks_sent"].get<int>() >= 1);
  // Every translation arrived as n1 made it.
  const json s1 = states(*lab.n1), s2 = states(*lab.n2);
  std::set<std::string> a, b;
  for (const auto& s : s1) a.insert(s["src"].get<std::string>() + " " + s["nat"]["to"].get<std::string>());
  for (const auto& s : s2) b.insert(s["src"].get<std::string>() + " " + s["nat"]["to"].get<std::string>());
  CHECK(a == b);
}

TEST_CASE("the bulk update is paced: 500 states a millisecond, whatever the port takes", "[node][sync]") {
  Lab lab;
  lab.start_n1();
  lab.run_for(5s);
  REQUIRE(Lab::state(*lab.n1, "lan") == "MASTER");
  for (uint16_t i = 0; i < 1200; ++i)
    lab.client.send(test::udp_frame(net::Mac::virtual_for(1), lab.client.mac, lab.client.addr.v4(),
                                    lab.server.addr.v4(), uint16_t(20000 + i), 53));
  lab.settle();
  REQUIRE(states(*lab.n1).size() == 1200);

  lab.start_n2();
  lab.settle();  // no time passes: the first millisecond's share only
  // A bucket goes whole, so the share can be passed by a bucket's states.
  const auto got = [&] { return sync_status(*lab.n2)["bulk"]["states_received"].get<uint64_t>(); };
  CHECK(got() >= 500);
  CHECK(got() < 520);
  CHECK(sync_status(*lab.n2)["bulk"]["state"] == "receiving");
  lab.clock.advance(1ms);
  lab.settle();
  CHECK(got() >= 1000);
  CHECK(got() < 1020);
  lab.clock.advance(1ms);
  lab.settle();
  CHECK(sync_status(*lab.n2)["bulk"]["state"] == "done");
  CHECK(got() == 1200);
  CHECK(states(*lab.n2).size() == 1200);
}

TEST_CASE("a bulk request nobody answers is retried, then given up on so a lone node serves", "[node][sync]") {
  Lab lab;
  lab.start_n2();  // the secondary alone: its peer never answers
  CHECK(demotion(*lab.n2) == 1);
  // pf's schedule: every 4 s, 12 times.
  auto failed = lab.time_until([&] { return sync_status(*lab.n2)["bulk"]["state"] == "failed"; }, 60s);
  REQUIRE(failed);
  CHECK(*failed >= 44s);
  CHECK(*failed <= 49s);
  CHECK(sync_status(*lab.n2)["sent"]["requests"] == 12);
  CHECK(demotion(*lab.n2) == 0);
  // Alone, it had taken MASTER even while demoted: demotion only loses to a peer.
  CHECK(Lab::state(*lab.n2, "lan") == "MASTER");
}

TEST_CASE("with a sync key only the peer's sealed frames touch the table", "[node][sync][security]") {
  SECTION("both nodes share the key: the stream is sealed and states arrive") {
    Lab lab;
    lab.sync_key1 = lab.sync_key2 = "correct horse battery staple";
    up(lab);
    Tcp tcp{.lab = lab, .cport = 40001};
    tcp.open();
    lab.run_for(20ms);
    CHECK(states(*lab.n2).size() == 1);
    CHECK(sync_status(*lab.n2)["encrypted"] == true);
    // Nothing on the sync segment is cleartext pfsync: every frame's IP
    // payload starts with the envelope byte.
    test::Host tap(lab.sync);
    Tcp more{.lab = lab, .cport = 40002};
    more.open();
    lab.run_for(20ms);
    int sealed = 0;
    for (const auto& f : tap.received) {
      auto h = as_ipv4(f);
      if (!h || h->proto != 240) continue;
      CHECK(f[sizeof(net::EthHdr) + h->ihl_bytes()] == 0xE6);
      ++sealed;
    }
    CHECK(sealed > 0);
  }
  SECTION("different keys: the backup refuses every frame and learns nothing") {
    Lab lab;
    lab.sync_key1 = "one key";
    lab.sync_key2 = "another key";
    up(lab);
    Tcp tcp{.lab = lab, .cport = 40003};
    tcp.open();
    lab.run_for(20ms);
    CHECK(states(*lab.n2).empty());
    CHECK(sync_status(*lab.n2)["drops"]["bad_tag"].get<int>() > 0);
    CHECK(sync_status(*lab.n2)["received"]["frames"] == 0);
  }
  SECTION("forged frames: wrong source, TTL, cleartext while keyed, garbage") {
    Lab lab;
    lab.sync_key1 = lab.sync_key2 = "k";
    up(lab);
    test::Host intruder(lab.sync);
    // A cleartext pfsync frame: header only, 20 bytes.
    std::vector<uint8_t> pfsync(20, 0);
    pfsync[0] = 6;
    pfsync[3] = 20;
    auto frame = [&](const char* src, uint8_t ttl, const std::vector<uint8_t>& payload) {
      return test::ipv4_frame(mac(2, 2), net::Mac{{0x02, 0x66, 0, 0, 0, 6}}, ip(src).v4(), ip("172.16.1.3").v4(),
                              240, payload, ttl);
    };
    intruder.send(frame("172.16.1.9", 255, pfsync));
    intruder.send(frame("172.16.1.2", 64, pfsync));
    intruder.send(frame("172.16.1.2", 255, pfsync));
    std::vector<uint8_t> garbage(60, 0xE6);
    garbage[1] = 1;
    intruder.send(frame("172.16.1.2", 255, garbage));
    lab.settle();
    const json d = sync_status(*lab.n2)["drops"];
    CHECK(d["wrong_source"] == 1);
    CHECK(d["bad_ttl"] == 1);
    CHECK(d["not_sealed"] == 1);
    CHECK(d["bad_tag"] == 1);
    CHECK(states(*lab.n2).empty());
    // The node runs on: the real peer's frames still apply.
    Tcp tcp{.lab = lab, .cport = 40004};
    tcp.open();
    lab.run_for(20ms);
    CHECK(states(*lab.n2).size() == 1);
  }
}
