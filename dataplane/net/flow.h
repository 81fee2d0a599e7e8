// A flow's identity, the same for both address families: what the state
// table hashes and compares, and what pfsync carries as a state key.
#pragma once

#include <array>
#include <cstdint>
#include <cstddef>
#include <cstring>

#include "dataplane/net/net.h"

namespace hafw::net {

struct FlowKey {
  std::array<uint8_t, 16> src{};  // IPv4: first 4 bytes, network order; rest zero
  std::array<uint8_t, 16> dst{};
  // Network order. TCP/UDP: the ports. ICMP queries (echo): the id in both,
  // as pf keys them, so that the reply matches the request reversed. Other
  // protocols: 0.
  uint16_t sport = 0;
  uint16_t dport = 0;
  uint8_t proto = 0;
  Family af = Family::V4;

  // Five word loads and compares inline: the state table compares keys on
  // every lookup, and the defaulted == would compare field by field through
  // memcmp calls.
  friend bool operator==(const FlowKey& x, const FlowKey& y) {
    uint64_t a[4], b[4];
    std::memcpy(a, x.src.data(), 16);
    std::memcpy(a + 2, x.dst.data(), 16);
    std::memcpy(b, y.src.data(), 16);
    std::memcpy(b + 2, y.dst.data(), 16);
    uint64_t diff = (a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3]);
    uint32_t xp, yp;
    std::memcpy(&xp, &x.sport, 4);  // sport and dport are adjacent
    std::memcpy(&yp, &y.sport, 4);
    return (diff | (xp ^ yp) | uint32_t(x.proto ^ y.proto) | uint32_t(uint8_t(x.af) ^ uint8_t(y.af))) == 0;
  }
};
static_assert(sizeof(FlowKey) == 38 && offsetof(FlowKey, dport) == offsetof(FlowKey, sport) + 2);

// The same flow seen from its other end: addresses and ports swapped.
inline FlowKey reversed(const FlowKey& k) {
  FlowKey r = k;
  r.src = k.dst;
  r.dst = k.src;
  r.sport = k.dport;
  r.dport = k.sport;
  return r;
}

}  // namespace hafw::net
