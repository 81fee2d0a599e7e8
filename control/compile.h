// The control side compiles the configuration into what each part takes:
// the workers' Topology and Policy and the CARP VHIDs (the DPDK port setup is compiled
// in hafwd.cc, the only program that opens ports). Nothing in dataplane/,
// carp/ or pfsync/ sees the config model.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "carp/types.h"
#include "control/config.h"
#include "dataplane/policy.h"
#include "dataplane/state_table.h"
#include "dataplane/view.h"

namespace hafw::control {

// Connected routes from the interfaces plus the static routes (each bound to
// the interface whose subnet holds its gateway); every configured IPv4 VIP.
// port_macs[i] is interface i's MAC. port_id is the numeric `port` when it is
// one, else the index (the DPDK glue maps device names itself).
dp::Topology compile_topology(const config::Config& cfg, std::span<const net::Mac> port_macs);

// One VhidConfig per carp.vips entry, with this node's address and MAC on
// the VHID's interface.
std::vector<carp::VhidConfig> compile_vhids(const config::Config& cfg, std::span<const net::Mac> port_macs);

// The workers' firewall policy: each rule under its interface and direction
// in config order (RuleView::index = its position in cfg.rules), outbound NAT
// and port forwards in config order with their addresses interned in
// `table` (NAT deltas name addresses by those refs), the state timeouts, and
// rule counters for `workers` workers.
std::unique_ptr<dp::Policy> compile_policy(const config::Config& cfg, dp::StateTable& table, unsigned workers);

}  // namespace hafw::control
