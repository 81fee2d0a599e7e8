// The one place where a state of the table (dp::State) and pfsync's record
// of it (pfsync::StateRecord, UpdateRecord) meet. pfsync/wire.cc turns the
// records into network order; nothing else converts.
//
// Keys. pfsync carries two keys per state, both in the initiator's direction:
// the wire key (the packet as the far side of the translation sees it) and
// the stack key (as the near side sees it); they differ only when NAT
// applies. The table stores key[0] (the initiator's packets as they arrive)
// and a NAT delta, from which its reply key follows. So:
//   - no NAT:          wire = stack = key[0]
//   - outbound NAT:    stack = key[0]; wire = key[0] with the source replaced
//                      by the VIP and the allocated port (key[1] reversed)
//   - port forward:    wire = key[0] (to the VIP's port); stack = key[0] with
//                      the destination replaced by the internal target
// Importing reverses the rule: whichever end of the two keys differs says
// which kind of translation it is. A record whose keys differ in both ends
// (pf's binat of both addresses) has no representation here and is refused.
//
// Time. pfsync sends relative times (creation: seconds since; expire:
// seconds until), so the two nodes' clocks need not agree; the table keeps
// absolute seconds of its own clock.
#pragma once

#include <cstdint>
#include <optional>

#include "dataplane/state_table.h"
#include "pfsync/wire.h"

namespace hafw::control {

// pf's "floating" states belong to no interface; pfsync names them "any".
inline constexpr char kFloatingIfname[] = "any";

pfsync::StateRecord export_state(const dp::StateTable& t, dp::StateIndex s, uint32_t now_s);
pfsync::UpdateRecord export_update(const dp::StateTable& t, dp::StateIndex s, uint32_t now_s);

// The table's peer byte (progress | wscale << 4) for a pfsync peer record.
uint8_t import_peer(const pfsync::PeerRecord& p);

// pf's timeout class (PFTM_*, = net::Timeout) of a state as it is now.
uint8_t timeout_class(const dp::State& s);

enum class ImportError : uint8_t {
  Unsupported,  // keys that differ in both ends, or families that disagree
  AddrPool,     // the table's address pool is full (4096 NAT addresses)
  Creators,     // 255 creator ids known already
};

// The StateInit for a record from the peer. `rules_match`: the peer's
// ruleset checksum equals ours, so its rule numbers mean our rules; else the
// state names no rule. Interns the NAT address and the creator id in `t`.
std::optional<dp::StateInit> import_state(dp::StateTable& t, const pfsync::StateRecord& r, uint32_t now_s,
                                          bool rules_match, uint16_t rule_count, ImportError& why);

}  // namespace hafw::control
