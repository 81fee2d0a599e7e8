// CARP's shared types: states, what a call asks the caller to do, drop
// reasons.
//
// carp/ is pure protocol logic (no DPDK, no sockets, no clock of its own):
// frames in, frames and deadlines out. Time is passed in as `Time`
// (dataplane/net/time.h), so every timer is tested with a manual clock. The
// object the control thread drives is Carp (carp/carp.h); the rest lives in
// wire.{h,cc} (codec, HMAC), vhid.{h,cc} (per-VHID state machine) and
// announce.{h,cc} (gratuitous ARP).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "dataplane/net/named.h"
#include "dataplane/net/net.h"
#include "dataplane/net/time.h"

namespace hafw::carp {

using Frame = std::vector<uint8_t>;  // a whole Ethernet frame

enum class State : uint8_t { Init, Backup, Master };
const char* state_name(State s);  // "INIT", "BACKUP", "MASTER"

// What the VHID needs to know about itself and its parent interface.
struct VhidConfig {
  std::string interface;     // "wan"
  uint8_t vhid = 0;
  std::vector<net::IpAddr> addresses;  // the VIPs, IPv4 and IPv6
  std::string password;
  uint8_t advbase = 1;
  uint8_t advskew = 0;
  bool preempt = true;
  std::optional<net::IpAddr> peer{};  // unicast destination instead of 224.0.0.18
  net::IpAddr src{};                // this node's address on the interface (IPv4 advert source)
  // This node's link-local address on the interface (fe80:: from its MAC,
  // modified EUI-64): the IPv6 advert source; unset without address6.
  std::optional<net::IpAddr> src6{};
  net::Mac iface_mac{};             // this node's MAC on the interface
  friend bool operator==(const VhidConfig&, const VhidConfig&) = default;
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
  std::vector<std::string> notices;          // what an operator should know: to the event log

  void append(Output&& o) {
    for (auto& f : o.frames) frames.push_back(std::move(f));
    for (auto& t : o.transitions) transitions.push_back(std::move(t));
    for (auto& n : o.notices) notices.push_back(std::move(n));
  }
  bool empty() const { return frames.empty() && transitions.empty() && notices.empty(); }
};

// Drop reasons for received CARP packets; each has a counter, in the order
// OpenBSD counts them (carps_badttl, ..., carps_badauth).
enum class Drop : uint8_t {
  BadTtl, BadLength, BadVersion, BadType, BadAuthLen, BadChecksum,
  UnknownVhid, BadAuth, OwnAdvert, BadAddressFamily, BadIpHeader, NotCarp,
  Count
};

// Names are what `hafwctl stats` and the JSON counters show; keep them stable.
inline constexpr std::array<net::Named<Drop>, size_t(Drop::Count)> kDrops{{
    {Drop::BadTtl, "bad_ttl", "TTL (IPv4) or hop limit (IPv6) not 255: the sender is not on this link"},
    {Drop::BadLength, "bad_length", "shorter than the 36-byte CARP header"},
    {Drop::BadVersion, "bad_version", "CARP version not 2"},
    {Drop::BadType, "bad_type", "CARP type not 1 (advertisement)"},
    {Drop::BadAuthLen, "bad_authlen", "authlen not 7"},
    {Drop::BadChecksum, "bad_checksum", "CARP checksum wrong"},
    {Drop::UnknownVhid, "unknown_vhid", "no VHID with this number on the receiving interface"},
    {Drop::BadAuth, "bad_auth", "HMAC mismatch: wrong password or a different VIP set"},
    {Drop::OwnAdvert, "own_advert", "our own advertisement came back"},
    {Drop::BadAddressFamily, "bad_address_family", "the IP version differs from the EtherType (IPv6 in an IPv4 frame or the reverse)"},
    {Drop::BadIpHeader, "bad_ip_header", "truncated or malformed IPv4/IPv6 header, bad IPv4 checksum, or a fragment"},
    {Drop::NotCarp, "not_carp", "IPv4 or IPv6 but not protocol 112, or another EtherType"},
}};
static_assert(net::in_enum_order(kDrops), "kDrops must list every Drop in order");
inline const char* drop_name(Drop d) { return net::name_of(kDrops, d); }

}  // namespace hafw::carp
