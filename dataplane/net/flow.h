// A flow's identity, the same for both address families: what the state
// table hashes and compares, and what pfsync carries as a state key.
#pragma once

#include <array>
#include <cstdint>

#include "dataplane/net/net.h"

namespace hafw::net {

struct FlowKey {
  std::array<uint8_t, 16> src{};  // IPv4: first 4 bytes, network order; rest zero
  std::array<uint8_t, 16> dst{};
  uint16_t sport = 0;  // network order; ICMP echo: the identifier; other protocols: 0
  uint16_t dport = 0;  // network order
  uint8_t proto = 0;
  Family af = Family::V4;
  friend bool operator==(const FlowKey&, const FlowKey&) = default;
};

}  // namespace hafw::net
