#include "carp/vhid.h"

#include <algorithm>

#include "carp/announce.h"

namespace hafw::carp {

using namespace std::chrono_literals;

// 1/256 s in nanoseconds, exact.
constexpr Time kSkewUnit = 3'906'250ns;
static_assert(kSkewUnit * 256 == 1s);

Time advert_tv(uint8_t advbase, uint8_t advskew) {
  return std::chrono::seconds(advbase) + kSkewUnit * advskew;
}

Vhid::Vhid(VhidConfig cfg, uint64_t initial_counter)
    : cfg_(std::move(cfg)), auth_(cfg_.password, cfg_.vhid, cfg_.addresses), next_counter_(initial_counter) {}

uint8_t Vhid::advskew() const { return maintenance_ ? kMaintenanceSkew : cfg_.advskew; }

// advbase 0 is OpenBSD's sub-second mode: the interval is the skew alone.
// advbase 0 with advskew 0 is refused by config validation; should it get
// here, OpenBSD's floor of 1/256 s keeps the timer from spinning.
Time Vhid::interval() const { return std::max(advert_tv(cfg_.advbase, advskew()), kSkewUnit); }

// The skew is not tripled (OpenBSD carp_setrun): the backup with the smaller
// skew times out first, so backups do not all claim the VIP at once.
Time Vhid::master_down() const {
  return std::max(std::chrono::seconds(3 * cfg_.advbase) + kSkewUnit * advskew(), kSkewUnit);
}

bool Vhid::is_own(const Advert& a) const {
  return a.src == cfg_.src || (cfg_.src6 && a.src == *cfg_.src6) || (sent_any_ && a.counter == last_counter_);
}

bool Vhid::has_family(net::Family af) const {
  return std::any_of(cfg_.addresses.begin(), cfg_.addresses.end(), [&](const net::IpAddr& a) { return a.af == af; });
}

void Vhid::become(State to, const char* reason, Output& out) {
  out.transitions.push_back(
      Transition{.interface = cfg_.interface, .vhid = cfg_.vhid, .from = state_, .to = to, .reason = reason});
  state_ = to;
  last_reason_ = reason;
  ++transitions_;
  if (to != State::Master) {
    arp_countdown_ = -1;
    handing_over_ = false;
  }
}

// carp_send_arp and carp_send_na: a gratuitous ARP for each IPv4 VIP, an
// unsolicited Neighbor Advertisement for each IPv6 one.
void Vhid::send_arp(Output& out) {
  const net::Mac vmac = net::Mac::virtual_for(cfg_.vhid);
  for (const auto& vip : cfg_.addresses)
    out.frames.push_back({cfg_.interface, vip.is_v4() ? gratuitous_arp(vip, vmac) : unsolicited_na(vip, vmac)});
}

void Vhid::send_advert(Output& out, bool bow_out) {
  const AdvertFields f{
      .vhid = cfg_.vhid,
      .advbase = bow_out ? kBowOut : cfg_.advbase,
      .advskew = bow_out ? kBowOut : advskew(),
      .demote = demotion_,
      .counter = next_counter_,
  };
  // OpenBSD carp_send_ad: over IPv4 if the VHID has IPv4 addresses, then
  // over IPv6 if it has IPv6 ones, both with the same counter. `peer`
  // applies to its own family; the other goes to its group.
  for (net::Family af : {net::Family::V4, net::Family::V6}) {
    if (!has_family(af)) continue;
    const bool v4 = af == net::Family::V4;
    if (!v4 && !cfg_.src6) continue;  // no address6 on the interface: config validation refuses that
    const bool unicast = cfg_.peer && cfg_.peer->af == af;
    const AdvertAddressing to{
        .src = v4 ? cfg_.src : *cfg_.src6,
        .dst = unicast ? *cfg_.peer : carp_group(af),
        .eth_dst = unicast ? peer_mac_ : v4 ? kCarpGroupMac : kCarpGroupMac6,
    };
    out.frames.push_back({cfg_.interface, encode_advert(f, auth_, to)});
    ++adverts_sent_;
  }
  last_counter_ = next_counter_++;  // FreeBSD/ucarp: +1 per advert, wrapping
  sent_any_ = true;
  if (arp_countdown_ > 0 && --arp_countdown_ == 0) {
    send_arp(out);
    arp_countdown_ = -1;
  }
}

// carp_master_down: announce at once, so the peer and the switches learn the
// new master without waiting an interval, then ARP for every VIP.
void Vhid::take_over(const char* reason, Time now, Output& out) {
  become(State::Master, reason, out);
  send_advert(out);
  send_arp(out);
  arp_countdown_ = kDelayedArpAdverts;
  deadline_ = now + interval();
}

Output Vhid::start(Time now) {
  Output out;
  switch (state_) {
    case State::Init:
      // Never start as MASTER: listen for a full master-down interval first so
      // a rebooting node does not steal the VIP from a healthy master. A VHID
      // whose link is down waits in INIT for it.
      if (!link_up_) break;
      become(State::Backup, "started", out);
      deadline_ = now + master_down();
      preempt_hold_ = deadline_;
      break;
    case State::Backup:
    case State::Master:
      break;
  }
  return out;
}

Output Vhid::input(const Advert& a, Time now) {
  Output out;
  ++adverts_received_;
  const Time local = advert_tv(cfg_.advbase, advskew());
  const Time remote = advert_tv(a.advbase, a.advskew);
  switch (state_) {
    case State::Init:
      break;

    case State::Master:
      // The sender is leaving: there is nobody to yield to.
      if (a.bow_out()) break;
      // OpenBSD: yield to a master that advertises at least as often and is
      // not more demoted, or to any less demoted one. Equal timing yields too,
      // so two masters both step down and the master-down race picks one.
      if ((local >= remote && a.demote <= demotion_) || a.demote < demotion_) {
        const char* why = handing_over_ ? "peer took over (maintenance)"
                          : a.demote < demotion_ ? "master with lower demotion advertised"
                                                 : "more frequent master advertised";
        become(State::Backup, why, out);
        deadline_ = now + master_down();
      }
      break;

    case State::Backup:
      // OpenBSD reaches the same result through the slow-master rule below
      // (255.996 s > 3*advbase for advbase <= 85); stating it outright also
      // covers advbase 0. The master has already stopped forwarding, so any
      // wait is pure outage; competing backups resolve it as MASTER vs MASTER.
      if (a.bow_out()) {
        take_over("master bowed out", now, out);
        break;
      }
      // A VHID that has just started (or whose link just came back) listens
      // one master-down interval before it preempts: a flapping link or a
      // restart loop must not pull the VIPs back and forth each time.
      if (cfg_.preempt && local < remote && a.demote >= demotion_ && now >= preempt_hold_) {
        take_over("preempting less preferred master", now, out);
        break;
      }
      // A demoted master (failed link, unfinished bulk sync) gives way to us
      // regardless of preempt, after the same start-up hold: two nodes
      // starting together finish their bulk syncs a few milliseconds apart,
      // and the one done first must not take the VIPs for those
      // milliseconds.
      if (a.demote > demotion_ && now >= preempt_hold_) {
        take_over("master is demoted", now, out);
        break;
      }
      // A master that advertises slower than our master-down timer would time
      // out anyway; take over now. OpenBSD skips this with advbase 0.
      if (cfg_.advbase != 0 && master_down() < remote) {
        take_over("master advertises slower than master-down", now, out);
        break;
      }
      deadline_ = now + master_down();
      break;
  }
  return out;
}

Output Vhid::timeout(Time now) {
  Output out;
  if (now < deadline_) return out;
  switch (state_) {
    case State::Init:
      deadline_ = kNever;
      break;
    case State::Backup:
      take_over("master down timer expired", now, out);
      break;
    case State::Master:
      // After a maintenance bow-out nobody took the VIP: stay MASTER (a lone
      // node in maintenance still serves its VIPs, as on pfSense).
      handing_over_ = false;
      send_advert(out);
      deadline_ = now + interval();
      break;
  }
  return out;
}

Output Vhid::set_demotion(uint8_t demotion, Time now) {
  Output out;
  if (demotion == demotion_) return out;
  demotion_ = demotion;
  switch (state_) {
    case State::Master:
      // Tell the peer at once: it takes over from a demoted master regardless
      // of preempt, so a failed link costs one round trip, not a timeout.
      if (!handing_over_) {
        send_advert(out);
        deadline_ = now + interval();
      }
      break;
    case State::Init:
    case State::Backup:
      break;
  }
  return out;
}

Output Vhid::set_maintenance(bool on, Time now) {
  Output out;
  if (on == maintenance_) return out;
  maintenance_ = on;
  switch (state_) {
    case State::Master:
      if (on) {
        // Make-before-break: a bow-out makes any peer (BSD, ucarp; preempt on
        // or off) take over at once; we keep forwarding until its advert
        // arrives and the ordinary rule moves us to BACKUP (skew 254 loses).
        send_advert(out, /*bow_out=*/true);
        handing_over_ = true;
        deadline_ = now + master_down();
      } else {
        handing_over_ = false;
        send_advert(out);
        deadline_ = now + interval();
      }
      break;
    case State::Backup:
      // Skew 254 keeps us from preempting; the master-down wait grows with it.
      // Leaving maintenance, preempt (if on) acts on the master's next advert.
      deadline_ = now + master_down();
      break;
    case State::Init:
      break;
  }
  return out;
}

Output Vhid::set_link(bool up, Time now) {
  Output out;
  if (up == link_up_) return out;
  link_up_ = up;
  if (shut_down_) return out;
  if (!up) {
    // Nothing can be sent on a dead link: no bow-out. The peer's master-down
    // timer, or our demoted adverts on the other interfaces, move the VIP.
    if (state_ != State::Init) become(State::Init, "interface link down", out);
    deadline_ = kNever;
    return out;
  }
  if (state_ == State::Init) {
    become(State::Backup, "interface link up", out);
    deadline_ = now + master_down();
    preempt_hold_ = deadline_;
  }
  return out;
}

Output Vhid::shutdown(Time /*now*/, const char* reason) {
  Output out;
  shut_down_ = true;
  switch (state_) {
    case State::Master:
      // OpenBSD sc_bow_out: one advert with advbase = advskew = 255 so the
      // backup takes over now instead of after the master-down interval.
      send_advert(out, /*bow_out=*/true);
      become(State::Init, reason, out);
      break;
    case State::Backup:
      become(State::Init, reason, out);
      break;
    case State::Init:
      break;
  }
  deadline_ = kNever;
  return out;
}

}  // namespace hafw::carp
