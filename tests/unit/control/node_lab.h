// The two-node lab of the controller tests: two whole nodes (control logic
// and the real worker pipeline over FakeIo) on in-memory WAN, LAN and sync
// segments, a client and a server that answer ARP, and a manual clock.
// Shared by controller_test.cc and sync_test.cc.
#pragma once

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "control/clock.h"
#include "control/config.h"
#include "tests/unit/control/fake_link.h"
#include "tests/unit/dataplane/frames.h"

namespace hafw::test::node {

using namespace std::chrono_literals;

// advskew 100 in time: 100/256 s.
inline constexpr Time kSkew100 = std::chrono::nanoseconds(100'000'000'000LL / 256);

inline std::string node_json(const std::string& name, const std::string& role, int host, int skew,
                      const std::string& state_dir, bool unicast = false) {
  return test::lab_node_json(name, role, host, skew, "/nonexistent/hafwd.sock", state_dir, unicast);
}

inline config::Config load(const std::string& text) {
  auto r = config::parse(text);
  for (const auto& d : r.diagnostics) INFO(d.str());
  REQUIRE(r.ok());
  return *r.config;
}

inline net::Mac mac(uint8_t node, uint8_t port) { return net::Mac{{0x02, 0, 0, 0, node, port}}; }

inline net::IpAddr ip(const char* s) { return *net::IpAddr::parse(s); }

// Frame builders shared with the dataplane tests (tests/unit/dataplane/frames.h).
inline std::vector<uint8_t> arp_frame(uint16_t op, net::Mac sha, net::IpAddr spa, net::Mac tha, net::IpAddr tpa,
                               net::Mac eth_dst) {
  return test::arp_frame(op, eth_dst, sha, spa.v4(), tha, tpa.v4());
}

inline std::vector<uint8_t> echo_frame(net::Mac src_mac, net::Mac dst_mac, net::IpAddr src, net::IpAddr dst, uint16_t seq) {
  return test::ipv4_frame(dst_mac, src_mac, src.v4(), dst.v4(), net::kProtoIcmp, test::icmp_echo(7, seq, 8));
}

inline std::optional<net::ArpHdr> as_arp(const std::vector<uint8_t>& f) {
  if (f.size() < sizeof(net::EthHdr) + sizeof(net::ArpHdr) ||
      test::eth_of(f).type != net::be16(net::kEtherTypeArp))
    return std::nullopt;
  return test::arp_of(f);
}

inline std::optional<net::Ipv4Hdr> as_ipv4(const std::vector<uint8_t>& f) {
  if (f.size() < sizeof(net::EthHdr) + sizeof(net::Ipv4Hdr) ||
      test::eth_of(f).type != net::be16(net::kEtherTypeIpv4))
    return std::nullopt;
  return test::ip_of(f);
}

inline net::Mac eth_src(const std::vector<uint8_t>& f) { return test::eth_of(f).src; }
inline net::Mac eth_dst(const std::vector<uint8_t>& f) { return test::eth_of(f).dst; }

// A simulated host that answers ARP for its own address.
struct ArpHost : test::Host {
  net::Mac mac;
  net::IpAddr addr;
  ArpHost(test::Segment& s, net::Mac m, net::IpAddr a) : Host(s), mac(m), addr(a) {}
  void answer_arp() {
    auto rx = std::move(received);
    received.clear();
    for (auto& f : rx) {
      auto a = as_arp(f);
      if (a && a->op == net::be16(net::kArpRequest) && a->tpa == net::be32(addr.v4()))
        send(arp_frame(net::kArpReply, mac, addr, a->sha, net::IpAddr::v4(net::be32(a->spa)), a->sha));
      else
        received.push_back(std::move(f));
    }
  }
};

// A fresh directory per lab for the nodes' persistent state; removed after.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/hafw-node-test-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

// The node's config text with sync.key set (nothing when key is empty).
inline std::string with_sync_key(std::string text, const std::string& key) {
  if (key.empty()) return text;
  const std::string at = "\"sync\": {";
  const size_t p = text.find(at);
  REQUIRE(p != std::string::npos);
  text.insert(p + at.size(), "\"key\": \"" + key + "\", ");
  return text;
}

inline std::string edited(std::string text, const std::function<void(nlohmann::json&)>& edit) {
  if (!edit) return text;
  auto j = nlohmann::json::parse(text);
  edit(j);
  return j.dump(2);
}

// The node's config text with carp.demotion_scope set (nothing when empty).
inline std::string with_demotion_scope(std::string text, const std::string& scope) {
  if (scope.empty()) return text;
  const std::string at = "\"carp\": {";
  const size_t p = text.find(at);
  REQUIRE(p != std::string::npos);
  text.insert(p + at.size(), "\"demotion_scope\": \"" + scope + "\", ");
  return text;
}

struct Lab {
  bool unicast = false;  // CARP to the peer's address instead of 224.0.0.18
  std::string demotion_scope;  // carp.demotion_scope of both nodes; empty: the default
  std::string sync_key1, sync_key2;  // sync.key of n1 and n2; empty: cleartext
  // Changes to each node's file before it starts (config sync's tests).
  std::function<void(nlohmann::json&)> edit1, edit2;
  TempDir dirs;
  ManualClock clock;
  test::Segment wan, lan, sync;
  std::unique_ptr<test::FakeIo> io1, io2;
  std::unique_ptr<test::Daemon> n1, n2;
  ArpHost client{lan, net::Mac{{0x02, 0xc1, 0, 0, 0, 1}}, ip("192.168.1.10")};
  ArpHost server{wan, net::Mac{{0x02, 0x5e, 0, 0, 0, 1}}, ip("198.51.100.10")};

  // Dual stack on n1: address6 on wan (2001:db8::2/64) and lan
  // (2001:db8:1::2/64), and a rule passing the LAN's /64 out.
  bool ipv6 = false;
  static std::string with_ipv6(const std::string& text) {
    nlohmann::json j = nlohmann::json::parse(text);
    j["interfaces"][0]["address6"] = "2001:db8::2/64";
    j["interfaces"][1]["address6"] = "2001:db8:1::2/64";
    j["rules"].push_back({{"action", "pass"}, {"interface", "lan"}, {"direction", "in"}, {"protocol", "any"},
                          {"source", "2001:db8:1::/64"}, {"destination", "any"}});
    return j.dump();
  }

  void start_n1() {
    io1 = std::make_unique<test::FakeIo>(std::vector<test::Segment*>{&wan, &lan, &sync},
                                         std::vector<net::Mac>{mac(1, 0), mac(1, 1), mac(1, 2)});
    io1->set_clock(clock);
    auto text = with_sync_key(node_json("n1", "primary", 2, 0, dirs.path + "/n1", unicast), sync_key1);
    if (ipv6) text = with_ipv6(text);
    text = edited(with_demotion_scope(text, demotion_scope), edit1);
    n1 = std::make_unique<test::Daemon>(load(text), nlohmann::json::parse(text), *io1, clock);
    n1->start();
  }
  void start_n2() {
    io2 = std::make_unique<test::FakeIo>(std::vector<test::Segment*>{&wan, &lan, &sync},
                                         std::vector<net::Mac>{mac(2, 0), mac(2, 1), mac(2, 2)});
    io2->set_clock(clock);
    auto text = edited(
        with_demotion_scope(with_sync_key(node_json("n2", "secondary", 3, 100, dirs.path + "/n2", unicast), sync_key2), demotion_scope),
        edit2);
    n2 = std::make_unique<test::Daemon>(load(text), nlohmann::json::parse(text), *io2, clock);
    n2->start();
  }
  void kill_n1() {
    io1->unplug();
    n1.reset();
  }
  void settle() {
    for (int i = 0; i < 100; ++i) {
      bool w = false;
      if (n1) w = n1->step() || w;
      if (n2) w = n2->step() || w;
      client.answer_arp();
      server.answer_arp();
      if (!w) break;
    }
  }
  // Advance time in 10 ms steps (the daemon naps at most 1 ms; 10 ms keeps
  // the test fast and is the resolution of the timing assertions below).
  void run_for(Time d) {
    for (Time t{}; t < d; t += 10ms) {
      clock.advance(10ms);
      settle();
    }
  }
  // The client asks who has the LAN VIP; its received frames then hold the answers.
  void arp_for_lan_vip() {
    client.received.clear();
    client.send(arp_frame(net::kArpRequest, client.mac, client.addr, net::Mac{}, ip("192.168.1.1"),
                          net::Mac::broadcast()));
    settle();
  }
  // The client pings the server through the LAN VIP; returns the echo
  // requests that reached the server.
  std::vector<std::vector<uint8_t>> ping_server(uint16_t seq) {
    server.received.clear();
    client.send(echo_frame(client.mac, net::Mac::virtual_for(1), client.addr, server.addr, seq));
    settle();
    std::vector<std::vector<uint8_t>> echoes;
    for (auto& f : server.received) {
      auto h = as_ipv4(f);
      if (h && h->dst == net::be32(server.addr.v4()) && h->proto == net::kProtoIcmp) echoes.push_back(f);
    }
    return echoes;
  }
  static std::string state(const test::Daemon& n, const std::string& iface) {
    for (const auto& s : n.carp().status())
      if (s.interface == iface) return carp::state_name(s.state);
    return "?";
  }
  // Time until `pred` holds, stepping 10 ms at a time, at most `limit`.
  template <class P>
  std::optional<Time> time_until(P pred, Time limit) {
    for (Time t{}; t <= limit; t += 10ms) {
      if (pred()) return t;
      clock.advance(10ms);
      settle();
    }
    return std::nullopt;
  }
};

inline int arp_replies_for(const test::Host& h, net::IpAddr vip, net::Mac* sha = nullptr) {
  int n = 0;
  for (const auto& f : h.received) {
    auto a = as_arp(f);
    if (a && a->op == net::be16(net::kArpReply) && a->spa == net::be32(vip.v4())) {
      ++n;
      if (sha) *sha = a->sha;
    }
  }
  return n;
}


}  // namespace hafw::test::node
