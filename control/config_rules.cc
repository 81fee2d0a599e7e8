// The operator's rules for one node's file (docs/config.md, after the
// pfSense CARP guide): what makes a plan that fails over cleanly.
#include <algorithm>
#include <cmath>
#include <map>

#include "control/config_draft.h"
#include "dataplane/net/limits.h"

namespace hafw::config::detail {

namespace {

std::string plural(size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// Host addresses an IPv4 segment can give out. RFC 3021: a /31 is a
// point-to-point link with no network or broadcast address, so both of its
// addresses are usable (a plain sync cable fits); a /32 holds one.
uint64_t usable_hosts(uint8_t len) {
  if (len >= 32) return 1;
  if (len == 31) return 2;
  return (uint64_t(1) << (32 - len)) - 2;
}

// Network or broadcast address of a v4 segment that has them (len <= 30);
// the subnet-router anycast address of a v6 segment (all host bits zero,
// RFC 4291 §2.6.1), which every router of the segment answers, for
// prefixes that have host bits to spare (not /127, RFC 6164, or /128).
std::optional<std::string> reserved_role(const net::Prefix& seg, const net::IpAddr& a) {
  if (!seg.addr.is_v4() && !a.is_v4() && seg.len < 127 && a == seg.network())
    return "the subnet-router anycast address of " + net::Prefix{seg.network(), seg.len}.str();
  if (!seg.addr.is_v4() || !a.is_v4() || seg.len > 30) return std::nullopt;
  uint32_t net = seg.network().v4(), mask = net::v4_mask(seg.len);
  net::Prefix shown{seg.network(), seg.len};
  if (a.v4() == net) return "the network address of " + shown.str();
  if (a.v4() == (net | ~mask)) return "the broadcast address of " + shown.str();
  return std::nullopt;
}

// What an IPv6 address is when it cannot be a node's, a neighbour's or a
// gateway's global address: the scopes and kinds of RFC 4291 §2.4.
std::optional<std::string> special_v6(const net::IpAddr& a) {
  if (a.is_v4()) return std::nullopt;
  if (a == net::IpAddr{net::Family::V6, {}}) return "the unspecified address";
  auto in = [&](const char* p) { return net::Prefix::parse(p)->contains(a); };
  if (in("::1/128")) return "the loopback address";
  if (in("ff00::/8")) return "multicast";
  if (in("fe80::/10")) return "link-local (the interface's own fe80:: address comes from its MAC)";
  if (in("::ffff:0:0/96")) return "IPv4-mapped";
  return std::nullopt;
}

class Rules {
 public:
  Rules(const Draft& d, Diags& diags) : d_(d), diags_(diags) {
    for (const auto& i : d_.interfaces)
      if (!i.v.name.empty() && !by_name_.count(i.v.name)) by_name_[i.v.name] = &i;
  }

  void run() {
    limits();
    interfaces();
    vips();
    room();
    sync();
    routes();
    outbound();
    forwards();
    rules();
    carp_warnings();
  }

 private:
  // The segment of iface holding addresses of a's family, if known.
  static std::optional<net::Prefix> segment(const InterfaceDraft& i, const net::IpAddr& a) {
    if (a.is_v4()) return i.address_ok ? std::optional(i.v.address) : std::nullopt;
    return i.v.address6;
  }

  static std::string seg_str(const net::Prefix& p) { return net::Prefix{p.network(), p.len}.str(); }

  // An interface a VIP, NAT entry or rule names. Reports a name that the
  // file never declares; returns nullptr (silently) for a declared interface
  // whose own entry has errors.
  const InterfaceDraft* reference(const std::string& name, const std::string& path) {
    if (name.empty()) return nullptr;  // missing or invalid: already reported
    if (auto it = by_name_.find(name); it != by_name_.end()) return it->second;
    const auto& declared = d_.declared_interfaces;
    if (std::find(declared.begin(), declared.end(), name) != declared.end()) return nullptr;
    std::string msg = quote(name) + " is not defined in interfaces";
    std::string best;
    size_t best_d = 3;
    for (const auto& [n, _] : by_name_)
      if (size_t dist = edit_distance(name, n); dist < best_d) best_d = dist, best = n;
    if (!best.empty()) msg += "; did you mean " + quote(best) + "?";
    diags_.error(path, msg);
    return nullptr;
  }

  // Whose address is a on this node: "this node's address on wan", a VIP...
  const InterfaceDraft* own_interface_address(const net::IpAddr& a) const {
    for (const auto& i : d_.interfaces)
      if ((i.address_ok && i.v.address.addr == a) || (i.v.address6 && i.v.address6->addr == a)) return &i;
    return nullptr;
  }

  const VipDraft* vip_with(const net::IpAddr& a) const {
    for (const auto& v : d_.vips)
      for (const auto& x : v.addrs)
        if (x.addr == a) return &v;
    return nullptr;
  }

  // The bounds of dataplane/net/limits.h: the dataplane and CARP size their
  // tables by them and rely on the config never exceeding them.
  void limits() {
    auto over = [&](size_t n, size_t max, const std::string& path, const std::string& what) {
      if (n > max) diags_.error(path, "at most " + std::to_string(max) + " " + what + ", got " + std::to_string(n));
    };
    over(d_.interfaces.size(), net::kMaxIfaces, "interfaces", "interfaces per node");
    size_t total = 0;
    for (const auto& v : d_.vips) {
      over(v.addrs.size(), net::kMaxVipsPerVhid, child(v.path, "addresses"), "addresses per VHID");
      total += v.addrs.size();
    }
    over(total, net::kMaxVips, "carp.vips", "VIP addresses per node in total");
    over(d_.routes.size(), net::kMaxRoutes, "routes", "static routes");
    over(d_.rules.size(), net::kMaxRules, "rules", "rules");
  }

  void interfaces() {
    std::map<std::string, const InterfaceDraft*> names, ports;
    for (size_t k = 0; k < d_.interfaces.size(); ++k) {
      const auto& i = d_.interfaces[k];
      if (!i.v.name.empty()) {
        if (auto [it, fresh] = names.emplace(i.v.name, &i); !fresh)
          diags_.error(child(i.path, "name"), quote(i.v.name) + " is already the name of " + it->second->path);
      }
      if (!i.v.port.empty()) {
        if (auto [it, fresh] = ports.emplace(i.v.port, &i); !fresh)
          diags_.error(child(i.path, "port"), "port " + quote(i.v.port) + " is already used by " + it->second->path +
                                                  " (" + it->second->v.name + ")");
      }
      std::string apath = child(i.path, "address");
      if (i.address_ok) {
        if (auto r = reserved_role(i.v.address, i.v.address.addr))
          diags_.error(apath, i.v.address.addr.str() + " is " + *r + ", not a host address");
        for (size_t m = 0; m < k; ++m) {
          const auto& o = d_.interfaces[m];
          if (!o.address_ok) continue;
          if (o.v.address.contains(i.v.address.network()) || i.v.address.contains(o.v.address.network()))
            diags_.error(apath, "subnet " + seg_str(i.v.address) + " overlaps " + o.path + " (" + o.v.name + ") " +
                                    seg_str(o.v.address) + "; each interface needs its own segment");
        }
      }
      if (i.v.address6) address6(k);
      if (i.v.peer) {
        std::string ppath = child(i.path, "peer");
        const net::IpAddr& p = *i.v.peer;
        auto seg = segment(i, p);
        if (!seg) {
          if (!p.is_v4() && i.address_ok)
            diags_.error(ppath, p.str() + " is IPv6 but this interface has no address6");
        } else if (!seg->contains(p)) {
          diags_.error(ppath, p.str() + " is outside this interface's subnet " + seg_str(*seg) +
                                  "; peer is the other node's address on this segment");
        } else if (p == seg->addr) {
          diags_.error(ppath, p.str() + " is this node's own address; peer is the other node's address on this segment");
        } else if (auto r = reserved_role(*seg, p)) {
          diags_.error(ppath, p.str() + " is " + *r + ", not a host address");
        }
      }
    }
  }

  // Interface k's address6: a global or unique-local host address of a
  // segment no other interface has.
  void address6(size_t k) {
    const auto& i = d_.interfaces[k];
    const net::Prefix& a = *i.v.address6;
    const std::string apath = child(i.path, "address6");
    if (auto kind = special_v6(a.addr)) {
      diags_.error(apath, a.addr.str() + " is " + *kind + "; address6 is a global or unique-local address");
      return;
    }
    if (a.len < 8 || a.len > 127) {
      diags_.error(apath, "prefix length /" + std::to_string(a.len) +
                              " is not a segment's; use the segment's length (/64 on Ethernet, /127 on a point-to-point link)");
      return;
    }
    if (auto r = reserved_role(a, a.addr)) {
      diags_.error(apath, a.addr.str() + " is " + *r + ", not a host address");
      return;
    }
    for (size_t m = 0; m < k; ++m) {
      const auto& o = d_.interfaces[m];
      if (!o.v.address6) continue;
      if (o.v.address6->contains(a.network()) || a.contains(o.v.address6->network()))
        diags_.error(apath, "subnet " + seg_str(a) + " overlaps " + o.path + " (" + o.v.name + ") " +
                                seg_str(*o.v.address6) + "; each interface needs its own segment");
    }
  }

  // The first VIP of interface `name` inside p.
  std::optional<net::IpAddr> vip_inside(const net::Prefix& p, const std::string& name) const {
    for (const auto& v : d_.vips)
      if (v.v.interface == name)
        for (const auto& a : v.addrs)
          if (p.contains(a.addr)) return a.addr;
    return std::nullopt;
  }

  void vips() {
    std::map<std::pair<std::string, uint8_t>, const VipDraft*> vhids;
    std::map<net::IpAddr, std::string> seen;  // VIP address -> its path
    for (const auto& v : d_.vips) {
      std::string ipath = child(v.path, "interface");
      const InterfaceDraft* i = reference(v.v.interface, ipath);
      if (d_.sync && !v.v.interface.empty() && v.v.interface == d_.sync->v.interface)
        diags_.error(ipath, quote(v.v.interface) +
                                " is the sync interface: the sync link is dedicated to state and config sync and carries no VIP");
      if (v.v.vhid != 0 && !v.v.interface.empty()) {
        if (auto [it, fresh] = vhids.emplace(std::pair(v.v.interface, v.v.vhid), &v); !fresh)
          diags_.error(child(v.path, "vhid"), "vhid " + std::to_string(v.v.vhid) + " is already used on " +
                                                  v.v.interface + " by " + it->second->path +
                                                  "; a VHID is unique per broadcast domain");
      }
      // OpenBSD allows advbase 0 for sub-second adverts (interval advskew/256 s);
      // with advskew 0 as well the interval is zero: a flood, refused.
      if (v.v.advbase == 0 && v.v.advskew == 0)
        diags_.error(child(v.path, "advbase"),
                     "advbase 0 with advskew 0 would advertise continuously; set advskew above 0 (interval advskew/256 s)");
      else if (v.v.advbase == 0)
        diags_.warning(child(v.path, "advbase"),
                       "advbase 0 is OpenBSD's sub-second mode; FreeBSD and ucarp peers cannot follow it");
      if (d_.role_ok && d_.node.role == Role::Secondary && v.v.advskew == 0)
        diags_.warning(child(v.path, "advskew"),
                       "advskew 0 on the secondary ties the primary, so start order decides the MASTER; "
                       "the secondary normally runs 100");
      for (const auto& a : v.addrs) {
        if (auto [it, fresh] = seen.emplace(a.addr, a.path); !fresh) {
          diags_.error(a.path, a.addr.str() + " is already a VIP at " + it->second);
          continue;
        }
        if (i) vip_address(*i, a);
      }
      if (v.v.peer && i) {
        std::string ppath = child(v.path, "peer");
        if (own_interface_address(*v.v.peer))
          diags_.error(ppath, v.v.peer->str() + " is this node's own address; peer is where unicast CARP adverts go");
        else if (vip_with(*v.v.peer))
          diags_.error(ppath, v.v.peer->str() + " is a VIP; unicast CARP adverts go to the other node's address");
      }
    }
  }

  void vip_address(const InterfaceDraft& i, const VipAddrDraft& a) {
    auto seg = segment(i, a.addr);
    if (!seg) {
      if (!a.addr.is_v4())
        diags_.error(a.path, a.addr.str() + " is IPv6 but interface " + i.v.name + " has no address6");
      return;  // v4 without a valid interface address: already reported there
    }
    if (!seg->contains(a.addr)) {
      diags_.error(a.path, a.addr.str() + " is outside interface " + i.v.name + "'s subnet " + seg_str(*seg) +
                               "; a VIP lives in its interface's subnet");
      return;
    }
    if (a.len && *a.len != seg->len)
      diags_.error(a.path, "prefix length /" + std::to_string(*a.len) + " differs from interface " + i.v.name + "'s /" +
                               std::to_string(seg->len) + "; a VIP has its interface's prefix length");
    if (a.addr == seg->addr)
      diags_.error(a.path, a.addr.str() + " is this node's address on " + i.v.name + "; a VIP needs an address of its own");
    else if (i.v.peer && a.addr == *i.v.peer)
      diags_.error(a.path, a.addr.str() + " is the other node's address on " + i.v.name + " (" + i.path +
                               ".peer); a VIP needs an address of its own");
    else if (auto r = reserved_role(*seg, a.addr))
      diags_.error(a.path, a.addr.str() + " is " + *r + ", not a host address");
  }

  // The guide's sizing rule: a failover segment holds both nodes, every VIP
  // and the gateway, so a WAN with a gateway needs at least a /29.
  void room() {
    for (const auto& i : d_.interfaces) {
      if (!i.address_ok) continue;
      const net::Prefix& seg = i.v.address;
      std::vector<net::IpAddr> taken{seg.addr};
      if (i.v.peer) taken.push_back(*i.v.peer);
      auto add = [&](const net::IpAddr& a) {
        if (!seg.contains(a) || std::find(taken.begin(), taken.end(), a) != taken.end()) return false;
        taken.push_back(a);
        return true;
      };
      size_t vips = 0, gateways = 0;
      for (const auto& v : d_.vips)
        if (v.v.interface == i.v.name)
          for (const auto& a : v.addrs) vips += add(a.addr);
      for (const auto& r : d_.routes)
        if (r.gateway_ok) gateways += add(r.v.gateway);
      uint64_t need = 2 + vips + gateways;  // both nodes, whether or not peer is written
      uint64_t have = usable_hosts(seg.len);
      if (need <= have) continue;
      uint8_t fit = seg.len;
      while (fit > 0 && usable_hosts(fit) < need) --fit;
      std::string parts = "2 node addresses";
      if (vips) parts += ", " + plural(vips, "VIP", "VIPs");
      if (gateways) parts += ", " + plural(gateways, "gateway", "gateways");
      diags_.error(child(i.path, "address"), "subnet " + seg_str(seg) + " has " + std::to_string(have) +
                                                 " usable addresses but needs " + std::to_string(need) + " (" + parts +
                                                 "); use at least /" + std::to_string(fit));
    }
  }

  void sync() {
    if (!d_.sync) {
      diags_.warning("sync", "not set: without state sync every connection through the master is lost at failover");
      return;
    }
    const SyncDraft& s = *d_.sync;
    const InterfaceDraft* i = reference(s.v.interface, child(s.path, "interface"));
    if (s.v.key.empty())
      diags_.warning(child(s.path, "key"),
                     "not set: state sync travels in cleartext; keep the sync link a crossover cable or isolated VLAN");
    // The secondary applies what comes over the link: only an authenticated
    // peer may change its configuration (pfSense's XMLRPC sync always logs
    // in), and a secondary drops cleartext config chunks.
    if (s.v.config_sync && s.v.key.empty())
      diags_.error(child(s.path, "config_sync"),
                   "needs sync.key: the secondary takes a configuration only over the authenticated sync link");
    if (s.v.config_sync && d_.role_ok && d_.node.role == Role::Secondary)
      diags_.warning(child(s.path, "config_sync"),
                     "set on the secondary: only the primary pushes its configuration, or the nodes overwrite each other");
    if (!i || !s.peer_ok) return;
    std::string ppath = child(s.path, "peer");
    const net::IpAddr& p = s.v.peer;
    auto seg = segment(*i, p);
    if (!seg) return;
    if (!seg->contains(p))
      diags_.error(ppath, p.str() + " is outside sync interface " + i->v.name + "'s subnet " + seg_str(*seg));
    else if (p == seg->addr)
      diags_.error(ppath, p.str() + " is this node's own address; sync.peer is the other node's sync address");
    else if (auto r = reserved_role(*seg, p))
      diags_.error(ppath, p.str() + " is " + *r + ", not a host address");
    else if (i->v.peer && *i->v.peer != p)
      diags_.error(ppath, p.str() + " differs from " + i->path + ".peer " + i->v.peer->str());
  }

  void routes() {
    std::map<std::pair<net::IpAddr, uint8_t>, const RouteDraft*> dests;
    for (const auto& r : d_.routes) {
      if (r.destination_ok) {
        if (auto [it, fresh] = dests.emplace(std::pair(r.v.destination.addr, r.v.destination.len), &r); !fresh)
          diags_.error(child(r.path, "destination"), r.v.destination.str() + " is already routed by " + it->second->path);
        else if (!r.v.destination.addr.is_v4() && r.v.destination.len > 0 &&
                 (net::Prefix::parse("ff00::/8")->contains(r.v.destination.addr) ||
                  net::Prefix::parse("fe80::/10")->contains(r.v.destination.addr)))
          diags_.error(child(r.path, "destination"), r.v.destination.str() +
                                                         " is multicast or link-local; such packets are never routed");
      }
      if (!r.gateway_ok) continue;
      std::string gpath = child(r.path, "gateway");
      const net::IpAddr& g = r.v.gateway;
      if (r.destination_ok && r.v.destination.addr.af != g.af) {
        diags_.error(gpath, g.str() + " is not the same address family as destination " + r.v.destination.str());
        continue;
      }
      if (auto kind = special_v6(g)) {
        diags_.error(gpath, g.str() + " is " + *kind + "; write the router's global or unique-local address, inside "
                                      "an interface's address6");
        continue;
      }
      if (auto* own = own_interface_address(g)) {
        diags_.error(gpath, g.str() + " is this node's own address on " + own->v.name + "; a gateway is the next router");
        continue;
      }
      if (vip_with(g)) {
        diags_.error(gpath, g.str() + " is a VIP of this cluster; a gateway is the next router");
        continue;
      }
      bool reachable = false, unknown = false;
      for (const auto& i : d_.interfaces) {
        auto seg = segment(i, g);
        if (!seg) unknown |= g.is_v4() && !i.address_ok;
        else reachable |= seg->contains(g);
      }
      if (!reachable && !unknown)
        diags_.error(gpath, g.str() + " is not inside any interface's subnet; a gateway must be directly reachable");
    }
  }

  // The translation address is the wan VIP, never the node's own address:
  // after failover the other node owns the VIP, and replies to an interface
  // address would go to a node that no longer has the states.
  void outbound() {
    for (const auto& o : d_.outbound) {
      const InterfaceDraft* i = reference(o.v.interface, child(o.path, "interface"));
      if (o.source_ok && !o.v.source.addr.is_v4()) {
        diags_.error(child(o.path, "source"), o.v.source.str() + " is IPv6; NAT is IPv4 only (no NAT66: IPv6 is routed "
                                                                 "and filtered, never translated)");
        continue;
      }
      if (o.translation_ok && !o.v.translation.is_v4()) {
        diags_.error(child(o.path, "translation"), o.v.translation.str() + " is IPv6; NAT is IPv4 only (no NAT66)");
        continue;
      }
      if (o.translation_ok)
        nat_address(o.v.translation, "translation", "NAT to the VIP or connections break after failover", i,
                    child(o.path, "translation"));
      if (!o.source_ok) continue;
      const net::Prefix& src = o.v.source;
      std::string spath = child(o.path, "source");
      if (src.len == src.max_len()) {
        if (vip_with(src.addr)) {
          diags_.error(spath, "source " + src.str() + " is a VIP; a VIP is not an outbound NAT source");
          continue;
        }
      }
      // The outside VIPs are the translation side: a source covering them
      // would rewrite the cluster's own traffic on that segment.
      if (!i) continue;
      if (auto inside = vip_inside(src, i->v.name))
        diags_.error(spath, "source " + src.str() + " contains VIP " + inside->str() + " of " + i->v.name +
                                "; a VIP is not an outbound NAT source (list the inside subnets)");
    }
  }

  // A NAT address (translation, forward destination) must be a VIP of the
  // NAT's interface.
  void nat_address(const net::IpAddr& a, const char* what, const char* why, const InterfaceDraft* i,
                   const std::string& path) {
    if (own_interface_address(a)) {
      diags_.error(path, std::string(what) + " " + a.str() + " is this node's interface address; " + why);
      return;
    }
    const VipDraft* v = vip_with(a);
    if (!v) {
      diags_.error(path, std::string(what) + " " + a.str() + " is not a VIP; " + why);
      return;
    }
    // A VIP on an undefined interface is reported at the VIP already.
    if (i && v->v.interface != i->v.name && by_name_.count(v->v.interface))
      diags_.error(path, std::string(what) + " " + a.str() + " is a VIP of " + v->v.interface + ", not of " + i->v.name);
  }

  void forwards() {
    std::map<std::tuple<std::string, uint8_t, net::IpAddr, uint16_t>, const ForwardDraft*> seen;
    for (const auto& f : d_.forwards) {
      const InterfaceDraft* i = reference(f.v.interface, child(f.path, "interface"));
      if (f.target_ok && !f.v.target.is_v4())
        diags_.error(child(f.path, "target"), f.v.target.str() + " is IPv6; port forwards are IPv4 only (no NAT66)");
      if (!f.destination_ok) continue;
      if (!f.v.destination.is_v4()) {
        diags_.error(child(f.path, "destination"),
                     f.v.destination.str() + " is IPv6; port forwards are IPv4 only (no NAT66)");
        continue;
      }
      nat_address(f.v.destination, "destination", "bind the port forward to the VIP or it stops working after failover",
                  i, child(f.path, "destination"));
      if (f.v.port == 0 || f.v.interface.empty()) continue;
      if (auto [it, fresh] = seen.emplace(std::tuple(f.v.interface, f.v.protocol, f.v.destination, f.v.port), &f);
          !fresh)
        diags_.error(child(f.path, "port"), "port " + std::to_string(f.v.port) + " on " + f.v.destination.str() +
                                                " is already forwarded by " + it->second->path);
    }
  }

  // A rule matches packets of one family when it names an address; both
  // addresses, and an ICMP protocol, must then be of that family.
  void rules() {
    for (const auto& r : d_.rules) {
      reference(r.v.interface, child(r.path, "interface"));
      const auto& src = r.v.source;
      const auto& dst = r.v.destination;
      if (src && dst && src->addr.af != dst->addr.af) {
        diags_.error(child(r.path, "destination"), dst->str() + " is " + family(*dst) + " but source " + src->str() +
                                                       " is " + family(*src) + "; a rule matches one address family");
        continue;
      }
      const net::Prefix* named = src ? &*src : dst ? &*dst : nullptr;
      if (!named || !r.v.protocol) continue;
      const bool v4 = named->addr.is_v4();
      if (*r.v.protocol == net::kProtoIcmp && !v4)
        diags_.error(child(r.path, "protocol"), "icmp is ICMP for IPv4, but the rule names IPv6 address " +
                                                    named->str() + "; use icmp6");
      else if (*r.v.protocol == net::kProtoIcmpv6 && v4)
        diags_.error(child(r.path, "protocol"), "icmp6 is ICMPv6, but the rule names IPv4 address " + named->str() +
                                                    "; use icmp");
    }
  }

  static std::string family(const net::Prefix& p) { return p.addr.is_v4() ? "IPv4" : "IPv6"; }

  void carp_warnings() {
    if (d_.vips.empty()) {
      diags_.warning(d_.carp_present ? "carp.vips" : "carp", "no VIPs: this node fails over nothing");
      return;
    }
    for (const auto& i : d_.interfaces) {
      if (i.v.name.empty() || i.v.peer) continue;
      bool carries = std::any_of(d_.vips.begin(), d_.vips.end(), [&](const VipDraft& v) { return v.v.interface == i.v.name; });
      if (carries)
        diags_.warning(child(i.path, "peer"),
                       "not set on an interface with VIPs; set it to the other node's address so room and the pair are checked");
    }
  }

  const Draft& d_;
  Diags& diags_;
  std::map<std::string, const InterfaceDraft*> by_name_;
};

}  // namespace

void check_rules(const Draft& d, Diags& diags) { Rules(d, diags).run(); }

}  // namespace hafw::config::detail
