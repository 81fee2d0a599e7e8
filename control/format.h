// Human output of hafwctl: the daemon's reply objects (docs/control.md) as
// the lines an operator reads. Pure functions of the JSON so that the exact
// text — above all the BSD ifconfig CARP line — is unit-tested.
//
// A reply missing a field prints "?" in its place rather than failing: the
// operator still sees everything else when daemon and CLI versions differ.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace hafw::control {

// One VHID exactly as BSD ifconfig(8) shows it, no newline:
//   "wan: carp: MASTER vhid 200 advbase 1 advskew 0"
std::string format_carp_line(const nlohmann::json& vhid);

// The VHIDs, each its BSD line then one "        vip ADDRESS" line per address.
std::string format_carp_vhids(const nlohmann::json& vhids);

// carp.status: the VHIDs, then "demotion N, maintenance on|off".
std::string format_carp(const nlohmann::json& carp_status);

// status: node, uptime, maintenance/demotion, an interface table, the VHIDs.
std::string format_status(const nlohmann::json& status);

// stats: one aligned "name  value" line per counter, names dotted by section
// ("dataplane.rx"). A "drops" object prints its total, then only its non-zero
// reasons: the operator looks for what is dropping, not for forty zeros.
std::string format_stats(const nlohmann::json& stats);

// stats in the Prometheus text format (version 0.0.4), for node_exporter's
// textfile collector: every number becomes hafw_<section>_<name>, and the
// per-reason families (drops, punts, icmp) one metric with a label:
//   hafw_dataplane_rx 1000
//   hafw_dataplane_drops{reason="no_route"} 3
// All are counters but control.socket.active, a gauge.
std::string format_prometheus(const nlohmann::json& stats);

// states.list: one line per state, pfctl -ss style:
//   "udp 192.168.1.50:5000 -> 198.51.100.10:53 (as 198.51.100.200:40123)  MULTIPLE:SINGLE  age 12s, ..."
// "(as ...)" is outbound NAT's translation, "(to ...)" a port forward's target.
std::string format_states(const nlohmann::json& list);

// sync.status: peer and link, the bulk update, frames and records each
// way, then the drops (total, and only the non-zero reasons).
std::string format_sync(const nlohmann::json& sync_status);

// states.summary: states of capacity, memory per state, created/reaped, the timeouts.
std::string format_states_summary(const nlohmann::json& summary);

// events: "TIME  MESSAGE" per event, oldest first as the daemon sends them.
std::string format_events(const nlohmann::json& events);

// config.reload applied:
//   "config applied from /etc/hafw/fw1.json: 2 changes"
// then "  CHANGE" per change and the checker's "warning: ..." lines.
std::string format_reload(const nlohmann::json& reload);

// 93784 -> "1d 2h 3m 4s"; 0 -> "0s".
std::string format_uptime(uint64_t seconds);

}  // namespace hafw::control
