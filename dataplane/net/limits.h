// The bounds the code relies on. The config rules (control/config_rules.cc)
// refuse a file past any of them, so the dataplane and CARP can size arrays
// and scan lists without checking again.
//
// Addresses per interface need no bound: an interface has one IPv4
// `address` and at most one `address6`, by the config's structure.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hafw::net {

// Interfaces per node: each worker keeps a TX buffer array of this size, and
// interface numbers are uint8_t.
inline constexpr size_t kMaxIfaces = 16;

// Addresses per VHID: keeps the CARP HMAC message and the per-packet VIP scan bounded.
inline constexpr size_t kMaxVipsPerVhid = 16;

// VIP addresses per node in total: the workers scan them for every packet.
inline constexpr size_t kMaxVips = 64;

// Static routes: each one longer than /16 adds up to two 512-byte groups to
// the topology's route table (dataplane/view.h, Ipv4Lpm).
inline constexpr size_t kMaxRoutes = 256;

// Filter rules: a packet without a state is checked against its interface's
// rules in order (a linear scan per new flow), every worker keeps 32 bytes of
// counters per rule, and states name their rule in 16 bits.
inline constexpr size_t kMaxRules = 1024;

}  // namespace hafw::net
