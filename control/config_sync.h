// Config sync's transform (docs/operations.md, "Config sync"): the
// configuration the primary pushed, made into one for this node (the
// secondary), as pfSense's XMLRPC sync does.
//
// The primary's file is taken whole except the keys that belong to one
// node, which stay this node's (kLocalKeys): who it is, its ports and
// addresses, its sync link, its control socket and its EAL arguments.
// Every CARP VIP comes from the primary with advskew + 100 (at most 254),
// and a unicast VIP's peer becomes the primary's own address on that
// interface. The result is checked like any file (parse()) and against the
// primary's (check_pair()); the transform refuses, and says why, when the
// two nodes' interfaces are not the same names in the same order (every
// synced setting names its interface), or the result does not check.
//
// VIPs this node had that the primary does not (made by hand here), or had
// with other settings, are reported: the primary's replace them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/config.h"

namespace hafw::config {

// The secondary's advskew is the primary's + 100 (pfSense's rule), capped at
// 254 (255 is the bow-out advert).
inline constexpr unsigned kSyncedSkewOffset = 100;
inline constexpr unsigned kMaxSkew = 254;

// The keys that stay this node's, as JSON paths ("interfaces" is every
// interface's port, address, address6 and peer: after the name check
// nothing else is in an interface).
inline constexpr std::string_view kLocalKeys[] = {
    "node",           "interfaces", "sync", "control", "dataplane.eal", "dataplane.workers",
    "dataplane.max_states",
};

struct SyncedConfig {
  // Set when the transform accepted: the candidate, parsed and checked,
  // and as JSON (what config.get then shows).
  std::optional<Config> config;
  nlohmann::json json;
  // Why not, one sentence for the event log: empty when accepted.
  std::string refused;
  // The refusal is the interface lists differing (counted on its own).
  bool interface_order = false;
  // The candidate's warnings (or the error that refused it).
  std::vector<Diagnostic> diagnostics;
  // "lan vhid 7 (192.168.1.7): only on this node, removed", ...
  std::vector<std::string> local_vips;

  bool ok() const { return config.has_value(); }
};

// primary_text: the configuration the primary pushed. own_json and own:
// this node's running configuration, as written and parsed.
SyncedConfig from_primary(std::string_view primary_text, const nlohmann::json& own_json, const Config& own);

}  // namespace hafw::config
