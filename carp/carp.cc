#include "carp/carp.h"

#include <algorithm>
#include <random>
#include <variant>

namespace hafw::carp {

static uint64_t random_counter() {
  std::random_device rd;
  return uint64_t(rd()) << 32 | rd();
}

Carp::Carp(std::vector<VhidConfig> vhids) {
  entries_.reserve(vhids.size());
  for (auto& cfg : vhids) entries_.push_back(Entry{.vhid = Vhid(std::move(cfg), random_counter())});
}

// Every call into a VHID goes through here so the node's sent total follows.
template <class F>
Output Carp::run(Vhid& v, F&& call) {
  const uint64_t before = v.adverts_sent();
  Output out = call(v);
  stats_.adverts_sent += v.adverts_sent() - before;
  return out;
}

Output Carp::start(Time now) {
  Output out;
  for (auto& e : entries_) out.append(run(e.vhid, [&](Vhid& v) { return v.start(now); }));
  track_split(now, out);
  return out;
}

Output Carp::receive(std::span<const uint8_t> frame, std::string_view iface, Time now) {
  ++stats_.packets_received;
  const Decoded d = decode_advert(frame);
  if (const Drop* why = std::get_if<Drop>(&d)) {
    drop(*why);
    return {};
  }
  const Advert& a = std::get<Advert>(d);
  auto it = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) {
    return e.vhid.config().vhid == a.vhid && e.vhid.config().interface == iface;
  });
  if (it == entries_.end()) {
    drop(Drop::UnknownVhid);
    return {};
  }
  // OpenBSD checks the HMAC before the replay cookie: an unauthenticated
  // frame must not be able to claim to be ours.
  const std::string who = a.src.str() + " (" + a.eth_src.str() + ")";
  const std::string vhid_name = it->vhid.config().interface + " vhid " + std::to_string(a.vhid);
  if (!it->vhid.authentic(a)) {
    drop(Drop::BadAuth);
    ++it->bad_auth;
    it->last_bad_auth_from = who;
    Output out;
    if (due(it->bad_auth_noticed, now))
      out.notices.push_back(vhid_name + ": advert with a bad HMAC from " + who +
                            ": the password or the VIP list differs from ours (or another cluster uses this VHID)");
    return out;
  }
  if (it->vhid.is_own(a)) {
    drop(Drop::OwnAdvert);
    return {};
  }
  ++stats_.adverts_received;
  const bool was_master = it->vhid.state() == State::Master;
  Output out = run(it->vhid, [&](Vhid& v) { return v.input(a, now); });
  settle_hold(*it);
  if (was_master && it->vhid.state() == State::Master && !a.bow_out()) {
    ++it->masters_heard;
    it->last_master_heard_from = who;
    // A dual-stack master sends its IPv4 and IPv6 adverts back to back: the
    // second of a round (within half the sender's interval) is not another
    // advert in the streak.
    const bool same_round = it->master_last_heard != kNever &&
                            now - it->master_last_heard < advert_tv(a.advbase, a.advskew) / 2;
    if (!same_round) {
      const bool in_a_row = it->master_last_heard != kNever && now - it->master_last_heard <= kStreakGap;
      it->master_streak = in_a_row ? it->master_streak + 1 : 1;
      it->master_last_heard = now;
    }
    if (it->master_streak >= kSplitBrainStreak && due(it->master_noticed, now))
      out.notices.push_back(vhid_name + ": another MASTER keeps advertising, " + who +
                            ", and does not hear this node (split brain: check the link, VLAN or multicast "
                            "filtering between the nodes)");
  } else if (it->vhid.state() != State::Master) {
    it->master_streak = 0;
  }
  track_split(now, out);
  return out;
}

bool Carp::due(Time& last, Time now) {
  if (last != kNever && now - last < kNoticeEvery) return false;
  last = now;
  return true;
}

Output Carp::poll(Time now, Time heard_through) {
  Output out;
  for (auto& e : entries_) {
    settle_hold(e);
    const Time due = e.vhid.deadline();
    if (due > now) continue;
    if (e.vhid.state() == State::Backup && heard_through < due && now < due + e.vhid.master_down()) {
      if (e.held_deadline != due) {
        e.held_deadline = due;
        ++e.takeovers_held;
      }
      e.recheck = now + kHoldRecheck;
      continue;
    }
    e.held_deadline = kNever;
    out.append(run(e.vhid, [&](Vhid& v) { return v.timeout(now); }));
  }
  track_split(now, out);
  return out;
}

void Carp::discount_stall(Time stalled) {
  for (auto& e : entries_) {
    if (e.vhid.state() != State::Backup || e.vhid.deadline() == kNever) continue;
    if (e.vhid.deadline() != e.pushed_deadline) e.pushed_total = Time::zero();  // restarted since
    const Time d = std::min(stalled, e.vhid.master_down() - e.pushed_total);
    if (d <= Time::zero()) continue;
    const bool held = holding(e);
    e.vhid.postpone(d);
    if (held) e.held_deadline = e.vhid.deadline();
    e.pushed_deadline = e.vhid.deadline();
    e.pushed_total += d;
    ++e.stalls_discounted;
  }
}

void Carp::settle_hold(Entry& e) {
  if (e.held_deadline == kNever || holding(e)) return;
  // The master's advert came while the timeout waited: the takeover it
  // would have been was not a failure.
  if (e.vhid.state() == State::Backup) ++e.takeovers_averted;
  e.held_deadline = kNever;
}

Time Carp::next_deadline() const {
  Time t = kNever;
  for (const auto& e : entries_) t = std::min(t, holding(e) ? e.recheck : e.vhid.deadline());
  if (split_.active && !split_.reported) t = std::min(t, split_.since + split_grace());
  return t;
}

Time Carp::split_grace() const {
  Time g{};
  for (const auto& e : entries_) g = std::max(g, e.vhid.master_down());
  return g;
}

// MASTER of a VHID on one interface and not of one on another.
static bool split_across_interfaces(const std::vector<const Vhid*>& vs) {
  for (const Vhid* m : vs)
    if (m->state() == State::Master)
      for (const Vhid* o : vs)
        if (o->state() != State::Master && o->config().interface != m->config().interface) return true;
  return false;
}

void Carp::track_split(Time now, Output& out) {
  std::vector<const Vhid*> vs;
  for (const auto& e : entries_) vs.push_back(&e.vhid);
  if (!split_across_interfaces(vs)) {
    if (split_.reported) out.notices.push_back("split master over: this node is MASTER of all its VHIDs or of none");
    split_.active = split_.reported = false;
    split_.since = kNever;
    split_.detail.clear();
    return;
  }
  std::string masters, others;
  for (const Vhid* v : vs) {
    const std::string name = v->config().interface + " vhid " + std::to_string(v->config().vhid);
    if (v->state() == State::Master)
      masters += (masters.empty() ? "" : ", ") + name;
    else
      others += (others.empty() ? "" : ", ") + name + " (" + state_name(v->state()) + ")";
  }
  split_.detail = "MASTER: " + masters + "; not MASTER: " + others;
  if (!split_.active) {
    split_.active = true;
    split_.since = now;
  }
  if (!split_.reported && now - split_.since >= split_grace()) {
    split_.reported = true;
    ++split_.times;
    out.notices.push_back("split master: this node is MASTER of some VHIDs and not of others on another interface (" +
                          split_.detail +
                          "): traffic between those interfaces crosses both nodes; check the links of the VHIDs "
                          "that are not MASTER here and the peer's state");
  }
}

Output Carp::set_demotion(uint8_t demotion, Time now) {
  Output out;
  for (auto& e : entries_) out.append(run(e.vhid, [&](Vhid& v) { return v.set_demotion(demotion, now); }));
  track_split(now, out);
  return out;
}

Output Carp::set_link(std::string_view iface, bool up, Time now) {
  Output out;
  for (auto& e : entries_)
    if (e.vhid.config().interface == iface) out.append(run(e.vhid, [&](Vhid& v) { return v.set_link(up, now); }));
  track_split(now, out);
  return out;
}

Output Carp::set_maintenance(bool on, Time now) {
  Output out;
  for (auto& e : entries_) out.append(run(e.vhid, [&](Vhid& v) { return v.set_maintenance(on, now); }));
  track_split(now, out);
  return out;
}

Output Carp::shutdown(Time now) {
  Output out;
  for (auto& e : entries_) out.append(run(e.vhid, [&](Vhid& v) { return v.shutdown(now); }));
  track_split(now, out);
  return out;
}

Output Carp::note_vmac_from_other(uint8_t vhid, uint64_t frames, Time now) {
  Output out;
  Entry* to = nullptr;  // the MASTER with that VHID, else the first with it
  for (auto& e : entries_)
    if (e.vhid.config().vhid == vhid && (!to || e.vhid.state() == State::Master)) to = &e;
  if (!to || frames == 0) return out;
  Entry& e = *to;
  if (e.vhid.transitions() != e.vmac_transitions) {
    e.vmac_transitions = e.vhid.transitions();
    e.vmac_baseline = e.vmac_from_other;
  }
  e.vmac_from_other += frames;
  if (e.vhid.state() == State::Master && e.vmac_from_other - e.vmac_baseline >= kVmacReport &&
      due(e.vmac_noticed, now))
    out.notices.push_back(e.vhid.config().interface + " vhid " + std::to_string(vhid) + ": " +
                          std::to_string(e.vmac_from_other - e.vmac_baseline) + " frames from our virtual MAC " +
                          net::Mac::virtual_for(vhid).str() +
                          " sent by another station while we are MASTER: the peer is MASTER too, another cluster on "
                          "the segment uses this VHID, or a host has this MAC (switches see it move between ports)");
  return out;
}

Output Carp::reconfigure(std::vector<VhidConfig> next, const Conditions& c, Time now,
                         std::vector<VhidChange>& changes) {
  Output out;
  std::vector<Entry> old = std::move(entries_);
  entries_.clear();
  entries_.reserve(next.size());
  auto same_vhid = [](const VhidConfig& a, const VhidConfig& b) { return a.interface == b.interface && a.vhid == b.vhid; };
  std::vector<bool> kept(old.size(), false);
  // Leavers first, so their bow-outs go out before anything the new VHIDs send.
  for (size_t i = 0; i < old.size(); ++i) {
    const VhidConfig& was = old[i].vhid.config();
    auto it = std::find_if(next.begin(), next.end(), [&](const VhidConfig& n) { return same_vhid(n, was); });
    if (it != next.end()) {
      VhidConfig as_was = *it;
      as_was.preempt = was.preempt;
      if (as_was == was) {
        kept[i] = true;
        continue;
      }
    }
    const bool removed = it == next.end();
    changes.push_back({was.interface, was.vhid, removed ? VhidChange::Kind::Removed : VhidChange::Kind::Changed});
    out.append(run(old[i].vhid, [&](Vhid& v) {
      return v.shutdown(now, removed ? "removed from the config" : "changed in the config");
    }));
  }
  for (auto& n : next) {
    auto it = std::find_if(old.begin(), old.end(), [&](const Entry& e) { return same_vhid(e.vhid.config(), n); });
    if (it != old.end() && kept[size_t(it - old.begin())]) {
      it->vhid.set_preempt(n.preempt);
      entries_.push_back(std::move(*it));
      continue;
    }
    if (it == old.end()) changes.push_back({n.interface, n.vhid, VhidChange::Kind::Added});
    Entry e{.vhid = Vhid(std::move(n), random_counter())};
    Vhid& v = e.vhid;
    // The conditions first (none of them sends anything in INIT), so the
    // start below sees them as a VHID there since daemon start would.
    const bool down = std::find(c.links_down.begin(), c.links_down.end(), v.config().interface) != c.links_down.end();
    if (down) v.set_link(false, now);
    v.set_demotion(c.demotion, now);
    v.set_maintenance(c.maintenance, now);
    out.append(run(v, [&](Vhid& x) { return x.start(now); }));
    entries_.push_back(std::move(e));
  }
  return out;
}

void Carp::set_peer_mac(const net::IpAddr& peer, const net::Mac& mac) {
  for (auto& e : entries_)
    if (e.vhid.config().peer == peer) e.vhid.set_peer_mac(mac);
}

std::vector<Carp::VhidStatus> Carp::status() const {
  std::vector<VhidStatus> s;
  s.reserve(entries_.size());
  for (const auto& e : entries_) {
    const Vhid& v = e.vhid;
    s.push_back(VhidStatus{
        .interface = v.config().interface,
        .vhid = v.config().vhid,
        .state = v.state(),
        .advbase = v.advbase(),
        .advskew = v.advskew(),
        .demotion = v.demotion(),
        .maintenance = v.maintenance(),
        .addresses = v.config().addresses,
        .last_transition_reason = v.last_transition_reason(),
        .transitions = v.transitions(),
        .adverts_sent = v.adverts_sent(),
        .adverts_received = v.adverts_received(),
        .bad_auth = e.bad_auth,
        .last_bad_auth_from = e.last_bad_auth_from,
        .masters_heard = e.masters_heard,
        .last_master_heard_from = e.last_master_heard_from,
        .vmac_from_other = e.vmac_from_other,
        .takeovers_held = e.takeovers_held,
        .takeovers_averted = e.takeovers_averted,
        .stalls_discounted = e.stalls_discounted,
    });
  }
  return s;
}

}  // namespace hafw::carp
