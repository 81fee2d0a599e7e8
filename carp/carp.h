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
    // Master-down timeouts that waited for the receive path (poll's
    // heard_through) and how many of those the master's advert then
    // cancelled: each of those would have been a spurious takeover.
    uint64_t takeovers_held = 0;
    uint64_t takeovers_averted = 0;
    // Master-down timers run longer for a stall of this node (discount_stall).
    uint64_t stalls_discounted = 0;
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
  // Runs every timer due at or before now. `heard_through`: every advert
  // that reached this node before that time has been given to receive()
  // (PacketIo::received_through, read before the punts were drained). A
  // BACKUP whose master-down timer expired at a time the receive path has
  // not yet looked past waits for it, up to one more master-down interval:
  // an advert still in a worker's queue is not a silent master. Without the
  // wait a worker asleep or preempted for a millisecond, or a control thread
  // that woke late, turns the master's own advert into a takeover with
  // advbase 0 (docs/carp.md "Fast timers").
  Output poll(Time now, Time heard_through = kNever);
  Time next_deadline() const;  // kNever when no timer is armed
  // This node did not run for `stalled` (its control thread woke that much
  // late: the hypervisor, or a machine without a CPU for it). Each BACKUP's
  // master-down timer runs that much longer, at most one master-down
  // interval more per advert heard: a backup cannot have heard an advert
  // while it was not running, and where the master shares its host (two
  // VMs, or this project's lab) the master was not running either. Adverts
  // that reached the port meanwhile are waited for by poll's heard_through.
  void discount_stall(Time stalled);

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
    // A master-down timeout waiting for the receive path: the deadline it
    // was for (the hold ends when an advert moves the deadline) and when to
    // look again.
    Time held_deadline = kNever;
    Time recheck = kNever;
    uint64_t takeovers_held = 0;
    uint64_t takeovers_averted = 0;
    // discount_stall: the deadline it last moved the timer to, and by how
    // much in all since the timer was last started by an advert.
    Time pushed_deadline = kNever;
    Time pushed_total{};
    uint64_t stalls_discounted = 0;
  };
  // How often a held master-down timeout looks again at the receive path:
  // an idle worker sleeps at most 0.5 ms between polls.
  static constexpr Time kHoldRecheck = std::chrono::microseconds(50);
  void settle_hold(Entry& e);  // ends a hold that an advert (or a change of state) overtook
  bool holding(const Entry& e) const {
    return e.held_deadline != kNever && e.vhid.deadline() == e.held_deadline && e.vhid.state() == State::Backup;
  }
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
