// The per-VHID CARP state machine (INIT / BACKUP / MASTER).
//
// Entry points: start, input (an authenticated advert), timeout, and the admin
// changes (demotion, maintenance, shutdown); each is one switch over the state.
// Timing and elections follow OpenBSD ip_carp.c (carp_proto_input_c,
// carp_master_down, carp_setrun, carp_send_ad); see docs/carp.md.
//
// One timer per VHID: in BACKUP it is the master-down timer, in MASTER the
// advertisement timer, in INIT none (deadline() == kNever). The caller calls
// timeout(now) once now >= deadline().
#pragma once

#include <cstdint>
#include <string>

#include "carp/types.h"
#include "carp/wire.h"

namespace hafw::carp {

// pfSense's persistent maintenance mode advertises every VIP with advskew 254
// so that the peer is always preferred; 254 is the largest skew OpenBSD takes.
constexpr uint8_t kMaintenanceSkew = 254;

// A gratuitous ARP (and the unsolicited NA for IPv6 VIPs) is repeated after
// this many further adverts, for switches that missed the first
// (OpenBSD/ucarp sc_delayed_arp = 2).
constexpr int kDelayedArpAdverts = 2;

// advbase + advskew/256 s: the advert interval and the election's "tv".
// 1/256 s is exactly 3'906'250 ns, so the arithmetic is exact.
Time advert_tv(uint8_t advbase, uint8_t advskew);

class Vhid {
 public:
  // initial_counter: the first advert's counter (random in production, like
  // FreeBSD/ucarp; fixed in tests). It is incremented per advert.
  Vhid(VhidConfig cfg, uint64_t initial_counter);

  Output start(Time now);
  Output input(const Advert& a, Time now);  // a must have passed authentic()
  Output timeout(Time now);
  Output set_demotion(uint8_t demotion, Time now);
  Output set_maintenance(bool on, Time now);
  // The parent interface's link (OpenBSD carp_carpdev_state): down puts the
  // VHID in INIT — it can neither hear nor be heard; up starts it again as
  // BACKUP, waiting a full master-down interval before it may take over.
  Output set_link(bool up, Time now);
  // Leave for good (daemon exit; `reason` names it in the transition): a
  // MASTER bows out.
  Output shutdown(Time now, const char* reason = "shutdown");
  // BACKUP: the master-down timer runs `d` longer (Carp::discount_stall).
  void postpone(Time d) {
    if (state_ == State::Backup && deadline_ != kNever) deadline_ += d;
  }
  // carp.preempt changed (config reload): applies from the next advert.
  void set_preempt(bool on) { cfg_.preempt = on; }

  // Ethernet destination of unicast adverts (cfg.peer); broadcast until the
  // caller has resolved the peer's MAC.
  void set_peer_mac(const net::Mac& mac) { peer_mac_ = mac; }

  bool authentic(const Advert& a) const { return auth_.verify(a); }
  // Our own advert came back (network loop, reflecting switch, replay of our
  // frames): OpenBSD drops adverts carrying its own replay cookie. Our counter
  // moves, so we match the last one sent, and our own source address.
  bool is_own(const Advert& a) const;

  Time deadline() const { return deadline_; }
  State state() const { return state_; }
  const VhidConfig& config() const { return cfg_; }
  uint8_t advbase() const { return cfg_.advbase; }
  uint8_t advskew() const;  // as advertised: 254 in maintenance mode
  uint8_t demotion() const { return demotion_; }
  bool maintenance() const { return maintenance_; }
  bool link_up() const { return link_up_; }
  uint64_t counter() const { return last_counter_; }  // of the last advert sent
  uint64_t adverts_sent() const { return adverts_sent_; }  // frames: a dual-stack VHID sends two a round
  uint64_t adverts_received() const { return adverts_received_; }
  // State changes since start, so an operator can see flapping.
  uint64_t transitions() const { return transitions_; }
  const std::string& last_transition_reason() const { return last_reason_; }

  Time interval() const;     // between our adverts as MASTER
  Time master_down() const;  // 3*advbase + advskew/256 s

 private:
  void become(State to, const char* reason, Output& out);
  void take_over(const char* reason, Time now, Output& out);
  void send_advert(Output& out, bool bow_out = false);
  void send_arp(Output& out);  // and the unsolicited NA for IPv6 VIPs
  bool has_family(net::Family af) const;  // a VIP of that family

  VhidConfig cfg_;
  Auth auth_;
  net::Mac peer_mac_ = net::Mac::broadcast();
  State state_ = State::Init;
  Time deadline_ = kNever;
  uint8_t demotion_ = 0;
  bool maintenance_ = false;
  bool link_up_ = true;
  Time preempt_hold_{};  // no preempting before this (one master-down after start or link up)
  bool shut_down_ = false;
  // MASTER that has bowed out for maintenance and keeps forwarding until a
  // peer's advert takes the VIP (make-before-break), or deadline_ passes.
  bool handing_over_ = false;
  int arp_countdown_ = -1;  // adverts left before the repeated gratuitous ARP
  uint64_t next_counter_;
  uint64_t last_counter_ = 0;
  bool sent_any_ = false;
  uint64_t adverts_sent_ = 0;
  uint64_t adverts_received_ = 0;
  uint64_t transitions_ = 0;
  std::string last_reason_;
};

}  // namespace hafw::carp
