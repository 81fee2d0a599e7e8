#include "control/compile.h"

#include <algorithm>
#include <string>

namespace hafw::control {

dp::Topology compile_topology(const config::Config& cfg, std::span<const net::Mac> port_macs) {
  dp::Topology t;
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
      t.routes.push_back(dp::RouteView{.net = iv.addr & net::v4_mask(iv.plen), .len = iv.plen, .gateway = 0,
                                       .iface = uint8_t(i)});
    }
    t.ifaces.push_back(iv);
  }
  for (const auto& r : cfg.routes) {
    if (!r.destination.addr.is_v4() || !r.gateway.is_v4()) continue;
    const uint32_t gw = r.gateway.v4();
    // The gateway must sit on a connected subnet (config validation says so);
    // a route whose gateway we cannot reach is left out rather than guessed.
    for (size_t i = 0; i < t.ifaces.size(); ++i) {
      const auto& iv = t.ifaces[i];
      if (iv.addr == 0 || !net::v4_in(gw, iv.addr, iv.plen)) continue;
      t.routes.push_back(dp::RouteView{.net = r.destination.addr.v4() & net::v4_mask(r.destination.len),
                                       .len = r.destination.len, .gateway = gw, .iface = uint8_t(i)});
      break;
    }
  }
  for (const auto& vip : cfg.carp.vips) {
    for (size_t i = 0; i < n; ++i) {
      if (cfg.interfaces[i].name != vip.interface) continue;
      for (const auto& a : vip.addresses)
        if (a.is_v4())
          t.configured_vips.vips.push_back(dp::VipView{.addr = a.v4(), .iface = uint8_t(i), .vhid = vip.vhid,
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
        .iface_mac = i < port_macs.size() ? port_macs[i] : net::Mac{},
    });
  }
  return out;
}

}  // namespace hafw::control
