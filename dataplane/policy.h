// The firewall policy the workers apply: rules, NAT and state timeouts, as
// one immutable snapshot (published like the topology, dataplane/snapshot.h).
// control/compile.cc builds it from the config; nothing here knows the config
// model.
//
// Addresses are family-generic (16 bytes, IPv4 in the first 4) so that the
// IPv6 issue adds no second copy of any of this.
//
// Semantics (docs/dataplane.md, "Rules" and "NAT"):
//   - Rules are evaluated only for a packet that matches no state, after
//     destination NAT (a port forward's pass rule names the internal target).
//   - Per interface and direction, the first matching rule wins. Inbound, no
//     match is a block (default block). Outbound, an interface without `out`
//     rules passes everything (pfSense's implicit "pass out" for traffic
//     already filtered where it came in); one with `out` rules also defaults
//     to block.
//   - A pass with keep_state creates a state (TCP: only from a SYN without
//     ACK, pf's "flags S/SA"); its return traffic then passes on the state.
//   - Outbound NAT applies to new flows leaving `iface` from `source`; port
//     forwards to new flows arriving on `iface` for (proto, VIP, port).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "dataplane/net/limits.h"
#include "dataplane/net/net.h"
#include "dataplane/net/timeouts.h"

namespace hafw::dp {

// A prefix of either family, matched with two masked 64-bit compares.
// len 0 with any_family matches everything ("any").
struct NetMatch {
  uint64_t net[2] = {0, 0};   // the prefix's bytes as two words, host bits zero
  uint64_t mask[2] = {0, 0};
  net::Family af = net::Family::V4;
  bool any_family = true;

  static NetMatch any() { return {}; }
  static NetMatch of(const net::IpAddr& a, uint8_t len);
  // addr: 16 bytes as in FlowKey.
  bool contains(const uint8_t* addr, net::Family f) const {
    if (!any_family && f != af) return false;
    uint64_t w[2];
    std::memcpy(w, addr, 16);
    return ((w[0] & mask[0]) ^ net[0]) == 0 && ((w[1] & mask[1]) ^ net[1]) == 0;
  }
};

enum class RuleAction : uint8_t { Pass, Block };

struct RuleView {
  uint16_t index;      // the rule's position in the config's `rules`: counters and states name it
  RuleAction action;
  bool keep_state;
  uint8_t proto;       // 0 = any
  uint16_t port;       // destination port, network order; 0 = any (TCP/UDP only)
  NetMatch src, dst;
};

struct OutboundNatView {
  uint8_t iface;            // the outside interface
  NetMatch source;          // the inside networks it translates
  net::IpAddr translation;  // a VIP of iface
  uint16_t addr_ref;        // translation, interned in the state table
};

struct PortForwardView {
  uint8_t iface;        // where the connections arrive
  uint8_t proto;        // TCP or UDP
  net::IpAddr destination;  // a VIP of iface
  uint16_t port;        // network order
  net::IpAddr target;
  uint16_t target_port; // network order
  uint16_t target_ref;  // target, interned in the state table
};

// Per-rule counters, one block per worker (only that worker writes it).
struct RuleCounters {
  std::atomic<uint64_t> evaluations{0};  // packets checked against the rule
  std::atomic<uint64_t> matches{0};      // packets it decided (first match)
  std::atomic<uint64_t> packets{0};      // those, plus every packet on the states it created
  std::atomic<uint64_t> bytes{0};

  static void bump(std::atomic<uint64_t>& c, uint64_t n) {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
};

struct RuleTotals {
  uint64_t evaluations = 0, matches = 0, packets = 0, bytes = 0;
};

struct Policy {
  // in[i], out[i]: interface i's rules in order.
  std::array<std::vector<RuleView>, net::kMaxIfaces> in, out;
  std::vector<OutboundNatView> outbound;  // in config order: the first matching entry wins
  std::vector<PortForwardView> forwards;
  net::Timeouts timeouts = net::default_timeouts();
  // Ports outbound NAT hands out (pfSense's range); host order.
  uint16_t nat_port_lo = 1024, nat_port_hi = 65535;

  uint16_t rule_count = 0;  // config rules; RuleView::index < rule_count
  unsigned workers = 1;
  std::unique_ptr<RuleCounters[]> counters;  // workers * rule_count

  // Size the counters (call once the rules are in).
  void allocate_counters(unsigned n_workers) {
    workers = n_workers ? n_workers : 1;
    counters = std::make_unique<RuleCounters[]>(size_t(workers) * rule_count);
  }
  RuleCounters* rule_counters(unsigned worker, uint16_t rule) const {
    if (rule >= rule_count || worker >= workers || !counters) return nullptr;
    return &counters[size_t(worker) * rule_count + rule];
  }
  RuleTotals totals(uint16_t rule) const;  // summed over the workers
};

}  // namespace hafw::dp
