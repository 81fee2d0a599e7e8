// All CARP VHIDs of one node: the object the control thread drives.
//
// Frames in (receive), timers out (next_deadline/poll), admin changes
// (demotion, maintenance, shutdown), status and counters for the control
// socket. Every received frame that is not acted on is counted by a Drop
// reason, in the order OpenBSD counts them (carps_badttl, ..., carps_badauth).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "carp/types.h"
#include "carp/vhid.h"

namespace hafw::carp {

class Carp {
 public:
  struct Stats {
    uint64_t packets_received = 0;  // frames handed to receive()
    uint64_t adverts_received = 0;  // authenticated adverts delivered to a VHID
    uint64_t adverts_sent = 0;
    std::array<uint64_t, size_t(Drop::Count)> drops{};
  };

  struct VhidStatus {
    std::string interface;
    uint8_t vhid;
    State state;
    uint8_t advbase;
    uint8_t advskew;  // as advertised (254 in maintenance)
    uint8_t demotion;
    bool maintenance;
    std::vector<net::IpAddr> addresses;
    std::string last_transition_reason;
    uint64_t adverts_sent;
    uint64_t adverts_received;
    uint64_t bad_auth;  // adverts for this VHID failing the HMAC: password or VIP mismatch
  };

  // Counters start at a random 64-bit value per VHID (FreeBSD/ucarp).
  explicit Carp(std::vector<VhidConfig> vhids);

  Output start(Time now);
  Output receive(std::span<const uint8_t> frame, std::string_view iface, Time now);
  Output poll(Time now);  // runs every timer due at or before now
  Time next_deadline() const;  // kNever when no timer is armed

  // Node-wide demotion (OpenBSD's "carp" group demote counter), e.g. raised
  // while the pfsync bulk update is unfinished.
  Output set_demotion(uint8_t demotion, Time now);
  Output set_maintenance(bool on, Time now);
  // The link of `iface` went down or came back: its VHIDs go to INIT or
  // start again (Vhid::set_link).
  Output set_link(std::string_view iface, bool up, Time now);
  Output shutdown(Time now);
  // MAC of a unicast CARP peer, once resolved; until then unicast adverts go
  // to Ethernet broadcast.
  void set_peer_mac(const net::IpAddr& peer, const net::Mac& mac);

  std::vector<VhidStatus> status() const;
  const Stats& stats() const { return stats_; }

 private:
  struct Entry {
    Vhid vhid;
    uint64_t bad_auth = 0;
  };
  template <class F>
  Output run(Vhid& v, F&& call);
  void drop(Drop d) { ++stats_.drops[size_t(d)]; }

  std::vector<Entry> entries_;
  Stats stats_;
};

}  // namespace hafw::carp
