// The node configuration: one JSON file per node (docs/config.md).
//
// load()/parse() turn the JSON into a Config and check every rule of the
// operator's picture; check_pair() checks two nodes' files against each other.
// Problems come back as Diagnostics that name the JSON path, so that
// `hafwctl check` and `config.reload` print the same lines.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/net/net.h"
#include "dataplane/net/timeouts.h"

namespace hafw::config {

enum class Role { Primary, Secondary };

struct NodeIdentity {  // the "node" section: who this appliance is
  std::string name;
  Role role = Role::Primary;
  friend bool operator==(const NodeIdentity&, const NodeIdentity&) = default;
};

struct Dataplane {
  std::vector<std::string> eal;  // EAL arguments, argv[0] excluded
  unsigned workers = 1;
  uint32_t max_states = 1u << 20;  // the state table's fixed capacity
  // Seconds per state timeout class (net::Timeout): pf's defaults, with the
  // file's `dataplane.timeouts` applied.
  net::Timeouts timeouts = net::default_timeouts();
  // dataplane.fragments: IPv4 and IPv6 reassembly, per worker (docs/dataplane.md, "Fragments").
  struct Fragments {
    uint32_t max_packets = 1024;  // packets being reassembled at once
    uint32_t timeout_ms = 30000;  // from a packet's first fragment to its last
    friend bool operator==(const Fragments&, const Fragments&) = default;
  } fragments;
  friend bool operator==(const Dataplane&, const Dataplane&) = default;
};

struct Interface {
  std::string name;         // operator's name: "wan", "lan", "sync"
  std::string port;         // DPDK port: a port id ("0") or a device name ("net_af_packet0", PCI address)
  net::Prefix address;      // this node's address and the segment's prefix length
  std::optional<net::Prefix> address6;
  std::optional<net::IpAddr> peer;  // the other node's address on this segment
  friend bool operator==(const Interface&, const Interface&) = default;
};

struct Vip {
  std::string interface;
  uint8_t vhid = 0;
  std::vector<net::IpAddr> addresses;
  std::string password;
  uint8_t advbase = 1;   // seconds (0 = OpenBSD sub-second mode)
  uint8_t advskew = 0;   // 1/256 s
  std::optional<net::IpAddr> peer;  // unicast CARP destination
  std::string description;
  friend bool operator==(const Vip&, const Vip&) = default;
};

// What a failed link demotes (carp.demotion_scope): the whole node, so
// every VIP moves to the peer together (OpenBSD's carp group, the default),
// or only the VHIDs on that interface, the others staying where they are.
enum class DemotionScope : uint8_t { Node, Interface };

struct Carp {
  bool preempt = true;  // pfSense enables preemption; so do we by default
  DemotionScope demotion_scope = DemotionScope::Node;
  std::vector<Vip> vips;
  friend bool operator==(const Carp&, const Carp&) = default;
};

struct Sync {
  std::string interface;
  net::IpAddr peer;
  std::string key;  // empty = plain pfsync (cleartext)
  bool config_sync = false;
  friend bool operator==(const Sync&, const Sync&) = default;
};

struct Route {
  net::Prefix destination;
  net::IpAddr gateway;
  friend bool operator==(const Route&, const Route&) = default;
};

struct OutboundNat {
  std::string interface;
  net::Prefix source;
  net::IpAddr translation;
  friend bool operator==(const OutboundNat&, const OutboundNat&) = default;
};

struct PortForward {
  std::string interface;
  uint8_t protocol = net::kProtoTcp;
  net::IpAddr destination;
  uint16_t port = 0;
  net::IpAddr target;
  uint16_t target_port = 0;
  friend bool operator==(const PortForward&, const PortForward&) = default;
};

struct Nat {
  std::vector<OutboundNat> outbound;
  std::vector<PortForward> port_forwards;
  friend bool operator==(const Nat&, const Nat&) = default;
};

enum class Action { Pass, Block };
enum class Direction { In, Out };

struct Rule {
  Action action = Action::Pass;
  std::string interface;
  Direction direction = Direction::In;
  std::optional<uint8_t> protocol;        // nullopt = any
  std::optional<net::Prefix> source;      // nullopt = any
  std::optional<net::Prefix> destination; // nullopt = any
  std::optional<uint16_t> port;           // destination port
  bool keep_state = true;
  friend bool operator==(const Rule&, const Rule&) = default;
};

struct Control {
  std::string socket = "/run/hafw/hafwd.sock";
  std::string state_dir = "/var/lib/hafw";
  // SCHED_FIFO priority of the control thread (control/sched.h); 0 = normal
  // scheduling.
  int realtime_priority = 10;
  friend bool operator==(const Control&, const Control&) = default;
};

struct Config {
  NodeIdentity node;
  Dataplane dataplane;
  std::vector<Interface> interfaces;
  Carp carp;
  std::optional<Sync> sync;
  std::vector<Route> routes;
  Nat nat;
  std::vector<Rule> rules;
  Control control;

  const Interface* find_interface(std::string_view name) const;
};

struct Diagnostic {
  enum class Severity { Error, Warning };
  Severity severity = Severity::Error;
  std::string path;     // JSON path, e.g. "carp.vips[0].vhid"
  std::string message;

  bool is_error() const { return severity == Severity::Error; }
  // "error: carp.vips[0].vhid: must be 1-255"
  std::string str() const;
};

struct LoadResult {
  std::optional<Config> config;  // set only when there is no error
  std::vector<Diagnostic> diagnostics;

  bool ok() const { return config.has_value(); }
};

// Parse and validate one node's configuration.
LoadResult parse(std::string_view json_text);
// `text`, when given, gets the file's contents (the daemon keeps them as
// the running config's JSON form).
LoadResult load(const std::string& path, std::string* text = nullptr);

// Check two nodes' configurations against each other (the pair rules). Both
// must have passed parse(). Every diagnostic points into the SECOND file:
// its path is "peer:" + a JSON path of `peer` ("peer:carp.vips[0].advskew"),
// and its message calls the first file "the other node".
std::vector<Diagnostic> check_pair(const Config& node, const Config& peer);
inline constexpr std::string_view kPeerPathPrefix = "peer:";

// A running daemon takes a new configuration (config.reload) except for
// what it set up once at start: one error per key that differs between
// `running` and `next` and needs a restart, e.g.
//   "error: dataplane.workers: requires a restart (running 1, new 2)"
// (docs/config.md, "Changing a running node"). Both must have passed parse().
std::vector<Diagnostic> check_reload(const Config& running, const Config& next);

}  // namespace hafw::config
