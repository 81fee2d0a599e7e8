#include "control/compile.h"

#include <algorithm>
#include <optional>
#include <string>

namespace hafw::control {

dp::Topology compile_topology(const config::Config& cfg, std::span<const net::Mac> port_macs) {
  dp::Topology t;
  std::vector<dp::RouteView> routes;
  std::vector<dp::RouteView6> routes6;
  // The config rules bound interfaces to kMaxIfaces; the min() keeps a
  // hand-built config in a test from overflowing the workers' arrays.
  const size_t n = std::min(cfg.interfaces.size(), net::kMaxIfaces);
  for (size_t i = 0; i < n; ++i) {
    const auto& ifc = cfg.interfaces[i];
    dp::IfaceView iv{.port_id = uint16_t(i), .mac = i < port_macs.size() ? port_macs[i] : net::Mac{}, .addr = 0,
                     .plen = 0};
    if (!ifc.port.empty() && ifc.port.size() <= 5 &&
        ifc.port.find_first_not_of("0123456789") == std::string::npos) {
      unsigned long p = std::stoul(ifc.port);
      if (p <= 0xffff) iv.port_id = uint16_t(p);
    }
    if (ifc.address.addr.is_v4()) {
      iv.addr = ifc.address.addr.v4();
      iv.plen = ifc.address.len;
      routes.push_back(dp::RouteView{.net = iv.addr & net::v4_mask(iv.plen), .len = iv.plen, .gateway = 0,
                                     .iface = uint8_t(i)});
    }
    if (ifc.address6 && !ifc.address6->addr.is_v4() && ifc.address6->len > 0) {
      iv.addr6 = ifc.address6->addr.b;
      iv.plen6 = ifc.address6->len;
      iv.ll6 = net::link_local_of(iv.mac);
      routes6.push_back(dp::RouteView6{.net = ifc.address6->network().b, .len = iv.plen6, .gateway = {},
                                       .iface = uint8_t(i)});
    }
    if (cfg.sync && cfg.sync->interface == ifc.name) t.sync_iface = uint8_t(i);
    t.ifaces.push_back(iv);
  }
  for (const auto& r : cfg.routes) {
    if (r.destination.addr.is_v4() || r.gateway.is_v4()) continue;
    // As for IPv4: the gateway's connected prefix gives the interface.
    for (size_t i = 0; i < t.ifaces.size(); ++i) {
      const auto& iv = t.ifaces[i];
      if (!iv.has6() || !net::same_prefix6(r.gateway.b.data(), iv.addr6.data(), iv.plen6)) continue;
      routes6.push_back(dp::RouteView6{.net = r.destination.network().b, .len = r.destination.len,
                                       .gateway = r.gateway.b, .iface = uint8_t(i)});
      break;
    }
  }
  t.set_routes6(std::move(routes6));
  for (const auto& r : cfg.routes) {
    if (!r.destination.addr.is_v4() || !r.gateway.is_v4()) continue;
    const uint32_t gw = r.gateway.v4();
    // The gateway must sit on a connected subnet (config validation says so);
    // a route whose gateway we cannot reach is left out rather than guessed.
    for (size_t i = 0; i < t.ifaces.size(); ++i) {
      const auto& iv = t.ifaces[i];
      if (iv.addr == 0 || !net::v4_in(gw, iv.addr, iv.plen)) continue;
      routes.push_back(dp::RouteView{.net = r.destination.addr.v4() & net::v4_mask(r.destination.len),
                                     .len = r.destination.len, .gateway = gw, .iface = uint8_t(i)});
      break;
    }
  }
  t.set_routes(std::move(routes));
  for (const auto& vip : cfg.carp.vips) {
    for (size_t i = 0; i < n; ++i) {
      if (cfg.interfaces[i].name != vip.interface) continue;
      for (const auto& a : vip.addresses)
        if (a.is_v4())
          t.configured_vips.vips.push_back(dp::VipView{.addr = a.v4(), .iface = uint8_t(i), .vhid = vip.vhid,
                                                       .vmac = net::Mac::virtual_for(vip.vhid)});
        else
          t.configured_vips.vips6.push_back(dp::VipView6{.addr = a.b, .iface = uint8_t(i), .vhid = vip.vhid,
                                                         .vmac = net::Mac::virtual_for(vip.vhid)});
      break;
    }
  }
  return t;
}

std::vector<carp::VhidConfig> compile_vhids(const config::Config& cfg, std::span<const net::Mac> port_macs) {
  std::vector<carp::VhidConfig> out;
  for (const auto& v : cfg.carp.vips) {
    const config::Interface* ifc = cfg.find_interface(v.interface);
    if (!ifc) continue;
    const size_t i = size_t(ifc - cfg.interfaces.data());
    const net::Mac mac = i < port_macs.size() ? port_macs[i] : net::Mac{};
    std::optional<net::IpAddr> src6;
    // IPv6 adverts leave from the link-local address the workers answer
    // for (dp::IfaceView::ll6), as the BSDs prefer the parent's first one.
    if (ifc->address6) src6 = net::IpAddr{net::Family::V6, net::link_local_of(mac)};
    out.push_back(carp::VhidConfig{
        .interface = v.interface,
        .vhid = v.vhid,
        .addresses = v.addresses,
        .password = v.password,
        .advbase = v.advbase,
        .advskew = v.advskew,
        .preempt = cfg.carp.preempt,
        .peer = v.peer,
        .src = ifc->address.addr,
        .src6 = src6,
        .iface_mac = mac,
    });
  }
  return out;
}

namespace {

// The index of interface `name` in cfg.interfaces, if the workers can number
// it (the config rules make both true; a hand-built config may not).
std::optional<uint8_t> iface_index(const config::Config& cfg, const std::string& name) {
  const config::Interface* ifc = cfg.find_interface(name);
  if (!ifc) return std::nullopt;
  const size_t i = size_t(ifc - cfg.interfaces.data());
  if (i >= net::kMaxIfaces) return std::nullopt;
  return uint8_t(i);
}

dp::NetMatch match(const std::optional<net::Prefix>& p) {
  return p ? dp::NetMatch::of(p->addr, p->len) : dp::NetMatch::any();
}

}  // namespace

std::unique_ptr<dp::Policy> compile_policy(const config::Config& cfg, dp::StateTable& table, unsigned workers) {
  auto p = std::make_unique<dp::Policy>();
  // The config rules bound rules to kMaxRules (RuleView::index and the
  // states' rule field are 16 bits); the min() keeps a hand-built config
  // from overflowing them.
  const size_t n_rules = std::min(cfg.rules.size(), net::kMaxRules);
  for (size_t i = 0; i < n_rules; ++i) {
    const config::Rule& r = cfg.rules[i];
    auto iface = iface_index(cfg, r.interface);
    if (!iface) continue;
    dp::RuleView v{
        .index = uint16_t(i),
        .action = r.action == config::Action::Pass ? dp::RuleAction::Pass : dp::RuleAction::Block,
        .keep_state = r.keep_state,
        .proto = r.protocol.value_or(0),
        .port = r.port ? net::be16(*r.port) : uint16_t(0),
        .src = match(r.source),
        .dst = match(r.destination),
    };
    (r.direction == config::Direction::In ? p->in : p->out)[*iface].push_back(v);
  }
  p->rule_count = uint16_t(n_rules);

  // intern_addr() fails (kNoAddr) only when the table's address pool is full:
  // the config limits keep the VIPs and targets of one file far below its
  // size, but the pool is append-only across reloads. An entry whose
  // address has no ref cannot be put in a state, so it is left out rather
  // than given a ref that means another address.
  for (const auto& o : cfg.nat.outbound) {
    auto iface = iface_index(cfg, o.interface);
    if (!iface) continue;
    const uint16_t ref = table.intern_addr(o.translation);
    if (ref == dp::StateTable::kNoAddr) continue;
    p->outbound.push_back(dp::OutboundNatView{.iface = *iface,
                                              .source = dp::NetMatch::of(o.source.addr, o.source.len),
                                              .translation = o.translation,
                                              .addr_ref = ref});
  }
  for (const auto& f : cfg.nat.port_forwards) {
    auto iface = iface_index(cfg, f.interface);
    if (!iface) continue;
    const uint16_t ref = table.intern_addr(f.target);
    if (ref == dp::StateTable::kNoAddr) continue;
    p->forwards.push_back(dp::PortForwardView{.iface = *iface,
                                              .proto = f.protocol,
                                              .destination = f.destination,
                                              .port = net::be16(f.port),
                                              .target = f.target,
                                              .target_port = net::be16(f.target_port),
                                              .target_ref = ref});
  }

  p->timeouts = cfg.dataplane.timeouts;
  p->allocate_counters(workers);
  return p;
}

}  // namespace hafw::control
