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
    uint64_t transitions;  // state changes since start: a count that keeps rising is flapping
    uint64_t adverts_sent;
    uint64_t adverts_received;
    uint64_t bad_auth;  // adverts for this VHID failing the HMAC: password or VIP mismatch
    std::string last_bad_auth_from;  // "ADDRESS (MAC)" of the last of them, "" if none
    // Authenticated adverts from another master that should have yielded to
    // us (we stayed MASTER): a healthy peer yields at once, so at most one
    // per takeover. If it keeps counting, the peer does not hear this node
    // (split brain: filtered multicast, a VLAN, a one-way link).
    uint64_t masters_heard;
    std::string last_master_heard_from{};
    // Frames from our virtual MAC that another station sent, counted by the
    // workers while this VHID was MASTER (note_vmac_from_other).
    uint64_t vmac_from_other = 0;
  };

  // A split master: this node is MASTER of a VHID on one interface while a
  // VHID on another interface is not MASTER here (the peer, or nobody, holds
  // it), so traffic between the two crosses both nodes. Normal for a moment
  // during a takeover; reported once it outlasts the longest master-down
  // interval of the node's VHIDs (a takeover in progress finishes within it).
  struct Split {
    bool active = false;        // split right now (reported or not yet)
    bool reported = false;      // it has lasted long enough and was told in the events
    Time since = kNever;        // when the current split began
    uint64_t times = 0;         // splits reported since start
    std::string detail{};       // "MASTER: wan vhid 200; not MASTER: lan vhid 1 (INIT)"
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

  // What a new VHID is started under (config reload): the node's demotion
  // and maintenance, and the interfaces whose link is down.
  struct Conditions {
    uint8_t demotion = 0;
    bool maintenance = false;
    std::vector<std::string> links_down{};
  };
  struct VhidChange {
    enum class Kind : uint8_t { Added, Changed, Removed };
    std::string interface;
    uint8_t vhid;
    Kind kind;
  };
  // The VHIDs of a new configuration, in its order. One whose VhidConfig is
  // unchanged (preempt aside, which changes in place) keeps its state,
  // timers and counters. A changed one is replaced: the old one leaves as
  // at shutdown (a MASTER bows out, so the peer takes over at once) and the
  // new one starts like any VHID (INIT -> BACKUP, a full master-down
  // interval before it may take over). One no longer configured leaves the
  // same way. `changes` gets one entry per VHID added, changed or removed.
  Output reconfigure(std::vector<VhidConfig> next, const Conditions& c, Time now, std::vector<VhidChange>& changes);
  // MAC of a unicast CARP peer, once resolved; until then unicast adverts go
  // to Ethernet broadcast.
  void set_peer_mac(const net::IpAddr& peer, const net::Mac& mac);
  // The workers saw `frames` more frames from VHID `vhid`'s virtual MAC that
  // this node did not send while it was MASTER. Counted per VHID; told in the
  // log (at most once a minute) once a MASTER has seen kVmacReport since it
  // became MASTER: the old master's last advert after a takeover is normal.
  // Never moves a state.
  Output note_vmac_from_other(uint8_t vhid, uint64_t frames, Time now);

  std::vector<VhidStatus> status() const;
  const Stats& stats() const { return stats_; }
  const Split& split() const { return split_; }

 private:
  struct Entry {
    Vhid vhid;
    uint64_t bad_auth = 0;
    std::string last_bad_auth_from{};
    Time bad_auth_noticed = kNever;  // when the last bad-HMAC notice went to the log
    uint64_t masters_heard = 0;
    std::string last_master_heard_from{};
    Time master_noticed = kNever;
    unsigned master_streak = 0;   // in a row, each within kStreakGap of the last
    Time master_last_heard = kNever;
    uint64_t vmac_from_other = 0;
    uint64_t vmac_baseline = 0;       // vmac_from_other when the VHID last changed state
    uint64_t vmac_transitions = 0;    // the VHID's transitions() at that baseline
    Time vmac_noticed = kNever;
  };
  // At most one notice per cause per VHID per this long: a misconfigured peer
  // advertising every second must not flood the event log.
  static constexpr Time kNoticeEvery = std::chrono::seconds(60);
  // Three adverts from a master that will not yield, none more than this
  // apart, are a split brain worth telling.
  static constexpr Time kStreakGap = std::chrono::seconds(10);
  static constexpr unsigned kSplitBrainStreak = 3;
  static constexpr uint64_t kVmacReport = 3;
  static bool due(Time& last, Time now);
  template <class F>
  Output run(Vhid& v, F&& call);
  void drop(Drop d) { ++stats_.drops[size_t(d)]; }
  // After every change of state: begins, reports or ends a split master.
  void track_split(Time now, Output& out);
  Time split_grace() const;  // the longest master-down interval of the node's VHIDs

  std::vector<Entry> entries_;
  Stats stats_;
  Split split_;
};

}  // namespace hafw::carp
