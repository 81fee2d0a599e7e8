#include "control/neighbor.h"

#include <algorithm>

#include "dataplane/net/arp.h"
#include "dataplane/net/ipv6.h"

namespace hafw::control {

namespace {

void write_frame_macs(Frame& f, const net::Mac& dst, const net::Mac& src) {
  std::copy(dst.b.begin(), dst.b.end(), f.begin());
  std::copy(src.b.begin(), src.b.end(), f.begin() + 6);
}

// RFC 826: the requester fills its own addresses as sender and leaves the
// target hardware address zero.
Frame build_request(const dp::IfaceView& ifc, uint32_t target, const net::Mac& dst) {
  return net::arp_frame(net::ArpFrame{.eth_dst = dst,
                                      .eth_src = ifc.mac,
                                      .op = net::kArpRequest,
                                      .sha = ifc.mac,
                                      .spa = ifc.addr,
                                      .tha = net::Mac{},
                                      .tpa = target});
}

}  // namespace

Frame NeighborManager::neighbor_solicit(uint8_t iface, const net::Addr6& target, const net::Mac* known) const {
  if (iface >= ifaces_.size() || !ifaces_[iface].has6()) return {};
  const dp::IfaceView& ifc = ifaces_[iface];
  const net::Addr6 group = net::solicited_node(target.data());
  return net::nd_frame(net::NdFrame{.eth_dst = known ? *known : net::multicast_mac(group.data()),
                                    .eth_src = ifc.mac,
                                    .src = net::is_link_local6(target.data()) ? ifc.ll6 : ifc.addr6,
                                    .dst = known ? target : group,
                                    .type = net::kNdNeighborSolicit,
                                    .flags = 0,
                                    .target = target,
                                    .lla = ifc.mac});
}

Frame NeighborManager::request(uint8_t iface, const net::IpAddr& ip, const net::Mac* known) const {
  if (!ip.is_v4()) return neighbor_solicit(iface, ip.b, known);
  return build_request(ifaces_[iface], ip.v4(), known ? *known : net::Mac::broadcast());
}

NeighborManager::NeighborManager(std::vector<dp::IfaceView> ifaces, NeighborConfig cfg)
    : cfg_(cfg), ifaces_(std::move(ifaces)) {}

void NeighborManager::set_ifaces(const std::vector<dp::IfaceView>& ifaces) {
  auto same = [&](uint8_t i) {
    if (i >= ifaces.size() || i >= ifaces_.size()) return false;
    const auto &a = ifaces_[i], &b = ifaces[i];
    return a.mac == b.mac && a.addr == b.addr && a.plen == b.plen && a.addr6 == b.addr6 && a.plen6 == b.plen6;
  };
  for (auto it = table_.begin(); it != table_.end();) {
    if (same(it->first.first)) {
      ++it;
      continue;
    }
    if (it->second.resolved) ++version_;
    stats_.unresolved_drops += it->second.held.size();
    it = table_.erase(it);
  }
  ifaces_ = ifaces;
}

bool NeighborManager::on_link(uint8_t iface, const net::IpAddr& a) const {
  if (iface >= ifaces_.size()) return false;
  const dp::IfaceView& i = ifaces_[iface];
  if (!a.is_v4()) {
    const uint8_t* b = a.b.data();
    if (!i.has6() || i.is_addr6(b) || net::is_multicast6(b) || net::is_unspecified6(b)) return false;
    if (net::is_link_local6(b)) return true;
    // The subnet-router anycast address (host bits zero) is ours, not a neighbour's.
    return net::same_prefix6(b, i.addr6.data(), i.plen6) && (i.plen6 >= 127 || a != net::Prefix{a, i.plen6}.network());
  }
  const uint32_t ip = a.v4();
  if (i.addr == 0 || ip == i.addr || !net::v4_in(ip, i.addr, i.plen)) return false;
  // The network and broadcast addresses of a subnet are nobody's (RFC 1122
  // §3.2.1.3); /31 and /32 have no such addresses (RFC 3021).
  const uint32_t host = ip & ~net::v4_mask(i.plen);
  return i.plen > 30 || (host != 0 && host != ~net::v4_mask(i.plen));
}

bool NeighborManager::learn(uint8_t iface, const net::IpAddr& ip, net::Mac mac, Time now) {
  return set(iface, ip, mac, now, true);
}

bool NeighborManager::update(uint8_t iface, const net::IpAddr& ip, net::Mac mac, Time now) {
  return set(iface, ip, mac, now, false);
}

bool NeighborManager::set(uint8_t iface, const net::IpAddr& ip, net::Mac mac, Time now, bool create) {
  if (!on_link(iface, ip) || mac.is_multicast() || mac == net::Mac{}) {
    ++stats_.ignored;
    return false;
  }
  auto it = table_.find(Key{iface, ip});
  if (it == table_.end()) {
    if (!create) return false;
    if (table_.size() >= cfg_.max_entries) {
      ++stats_.ignored;
      return false;
    }
    it = table_.emplace(Key{iface, ip}, Entry{}).first;
  }
  Entry& e = it->second;
  const bool was_resolved = e.resolved;
  const bool moved = was_resolved && e.mac != mac;
  e.resolved = true;
  e.mac = mac;
  e.confirmed = now;
  e.asked = false;
  release(iface, e);
  if (was_resolved && !moved) {
    ++stats_.refreshed;
    return false;
  }
  ++(moved ? stats_.changed : stats_.learned);
  ++version_;
  return true;
}

void NeighborManager::release(uint8_t iface, Entry& e) {
  for (auto& f : e.held) {
    write_frame_macs(f, e.mac, ifaces_[iface].mac);
    ready_.emplace_back(iface, std::move(f));
  }
  e.held.clear();
}

std::vector<Frame> NeighborManager::resolve(uint8_t iface, const net::IpAddr& nexthop, std::vector<uint8_t> packet,
                                            Time now) {
  if (packet.size() < sizeof(net::EthHdr)) {
    ++stats_.bad_resolve;
    return {};
  }
  if (!on_link(iface, nexthop)) {
    auto found = std::find_if(ifaces_.begin(), ifaces_.end(), [&](const dp::IfaceView& i) {
      return on_link(uint8_t(&i - ifaces_.data()), nexthop);
    });
    if (found == ifaces_.end()) {
      ++stats_.bad_resolve;
      return {};
    }
    iface = uint8_t(found - ifaces_.begin());
  }
  auto it = table_.find(Key{iface, nexthop});
  if (it == table_.end()) {
    if (table_.size() >= cfg_.max_entries) {
      ++stats_.queue_drops;
      return {};
    }
    it = table_.emplace(Key{iface, nexthop}, Entry{}).first;
    it->second.first_asked = now;
  }
  Entry& e = it->second;
  ++stats_.queued;
  e.held.push_back(std::move(packet));
  if (e.resolved) {  // learned since the worker's snapshot was published
    release(iface, e);
    return {};
  }
  if (e.held.size() > cfg_.max_queued) {
    e.held.erase(e.held.begin());
    ++stats_.queue_drops;
  }
  return ask(iface, nexthop, e, now);
}

std::vector<Frame> NeighborManager::ask(uint8_t iface, const net::IpAddr& ip, Entry& e, Time now) {
  if (e.asked && now - e.last_asked < cfg_.retry) return {};
  e.asked = true;
  e.last_asked = now;
  ++stats_.requests_sent;
  std::vector<Frame> out;
  out.push_back(request(iface, ip, nullptr));
  return out;
}

std::vector<Frame> NeighborManager::want(uint8_t iface, const net::IpAddr& ip, Time now) {
  if (!on_link(iface, ip)) {
    ++stats_.bad_resolve;
    return {};
  }
  auto it = table_.find(Key{iface, ip});
  if (it == table_.end()) {
    if (table_.size() >= cfg_.max_entries) return {};
    it = table_.emplace(Key{iface, ip}, Entry{}).first;
    it->second.first_asked = now;
  }
  if (it->second.resolved) return {};
  return ask(iface, ip, it->second, now);
}

const net::Mac* NeighborManager::find(uint8_t iface, const net::IpAddr& ip) const {
  auto it = table_.find(Key{iface, ip});
  return it != table_.end() && it->second.resolved ? &it->second.mac : nullptr;
}

std::vector<std::pair<uint8_t, Frame>> NeighborManager::take_ready() {
  std::vector<std::pair<uint8_t, Frame>> out;
  out.swap(ready_);
  return out;
}

std::vector<std::pair<uint8_t, Frame>> NeighborManager::due_requests(Time now) {
  std::vector<std::pair<uint8_t, Frame>> out;
  for (auto& [key, e] : table_) {
    const auto [iface, ip] = key;
    if (e.asked && now - e.last_asked < cfg_.retry) continue;
    if (e.resolved) {
      // Probe before the entry lapses so a live neighbour never drops out of
      // the workers' table; unicast to the known MAC, as Linux's PROBE state.
      if (now - e.confirmed < cfg_.reachable - cfg_.refresh) continue;
      out.emplace_back(iface, request(iface, ip, &e.mac));
    } else {
      if (now - e.first_asked >= cfg_.give_up) continue;
      out.emplace_back(iface, request(iface, ip, nullptr));
    }
    e.asked = true;
    e.last_asked = now;
    ++stats_.requests_sent;
  }
  return out;
}

void NeighborManager::expire(Time now) {
  for (auto it = table_.begin(); it != table_.end();) {
    Entry& e = it->second;
    bool gone = e.resolved ? now - e.confirmed >= cfg_.reachable : now - e.first_asked >= cfg_.give_up;
    if (!gone) {
      ++it;
      continue;
    }
    if (e.resolved) {
      ++stats_.expired;
      ++version_;
    } else {
      stats_.unresolved_drops += e.held.size();
    }
    it = table_.erase(it);
  }
}

std::vector<std::tuple<uint8_t, uint32_t, net::Mac>> NeighborManager::entries() const {
  std::vector<std::tuple<uint8_t, uint32_t, net::Mac>> out;
  for (const auto& [key, e] : table_)
    if (e.resolved && key.second.is_v4()) out.emplace_back(key.first, key.second.v4(), e.mac);
  return out;
}

std::vector<dp::NeighborTable::Entry6> NeighborManager::entries6() const {
  std::vector<dp::NeighborTable::Entry6> out;
  for (const auto& [key, e] : table_)
    if (e.resolved && !key.second.is_v4()) out.emplace_back(key.first, key.second.b, e.mac);
  return out;
}

Frame NeighborManager::arp_request(uint8_t iface, uint32_t target) const {
  if (iface >= ifaces_.size() || ifaces_[iface].addr == 0) return {};
  return build_request(ifaces_[iface], target, net::Mac::broadcast());
}

}  // namespace hafw::control
