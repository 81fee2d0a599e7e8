// CARP for one node: the interface the control thread uses.
//
// Pure protocol logic (no DPDK, no sockets, no clock of its own): frames in,
// frames and deadlines out. Time is passed in as `Time` (monotonic
// nanoseconds from an injected clock), so every timer is tested with a manual
// clock. Implementation lives in wire.{h,cc} (codec, HMAC), vhid.{h,cc}
// (per-VHID state machine) and announce.{h,cc} (gratuitous ARP).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "dataplane/net.h"

namespace hafw::carp {

using Time = std::chrono::nanoseconds;  // monotonic, from the injected clock
using Frame = std::vector<uint8_t>;     // a whole Ethernet frame
constexpr Time kNever = Time::max();    // deadline of a VHID with no timer armed

enum class State : uint8_t { Init, Backup, Master };
const char* state_name(State s);  // "INIT", "BACKUP", "MASTER"

// What the VHID needs to know about itself and its parent interface.
struct VhidConfig {
  std::string interface;     // "wan"
  uint8_t vhid = 0;
  std::vector<net::IpAddr> addresses;  // the VIPs (IPv4 in this cut)
  std::string password;
  uint8_t advbase = 1;
  uint8_t advskew = 0;
  bool preempt = true;
  std::optional<net::IpAddr> peer{};  // unicast destination instead of 224.0.0.18
  net::IpAddr src{};                // this node's address on the interface (advert source)
  net::Mac iface_mac{};             // this node's MAC on the interface
};

// An event for the log and `hafwctl events`.
struct Transition {
  std::string interface;
  uint8_t vhid;
  State from, to;
  std::string reason;  // "master down timer expired", "preempting lower-priority master", ...
};

// A frame to transmit, and the interface (config name, e.g. "wan") to send it on.
struct OutFrame {
  std::string interface;
  Frame bytes;
};

// What a call into the state machine asks the caller to do.
struct Output {
  std::vector<OutFrame> frames;              // transmit in order, each on its interface
  std::vector<Transition> transitions;       // state changes, to log and publish to workers

  void append(Output&& o) {
    for (auto& f : o.frames) frames.push_back(std::move(f));
    for (auto& t : o.transitions) transitions.push_back(std::move(t));
  }
  bool empty() const { return frames.empty() && transitions.empty(); }
};

// Drop reasons for received CARP packets; each has a counter.
enum class Drop : uint8_t {
  BadTtl, BadLength, BadVersion, BadType, BadAuthLen, BadChecksum,
  UnknownVhid, BadAuth /* HMAC mismatch: wrong password or VIP set */, OwnAdvert,
  BadAddressFamily /* IPv6 CARP or another ethertype: not in this cut */,
  BadIpHeader /* truncated/malformed IPv4 header, bad IP checksum, fragment */,
  NotCarp /* IPv4 but not protocol 112 */,
  Count
};
const char* drop_name(Drop d);

}  // namespace hafw::carp
