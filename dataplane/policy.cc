#include "dataplane/policy.h"

namespace hafw::dp {

NetMatch NetMatch::of(const net::IpAddr& a, uint8_t len) {
  NetMatch m;
  m.af = a.af;
  m.any_family = false;
  const unsigned max = a.is_v4() ? 32 : 128;
  if (len > max) len = uint8_t(max);
  uint8_t mask[16] = {};
  for (unsigned i = 0; i < len; ++i) mask[i / 8] |= uint8_t(0x80 >> (i % 8));
  uint8_t net[16] = {};
  for (unsigned i = 0; i < 16; ++i) net[i] = uint8_t(a.b[i] & mask[i]);
  std::memcpy(m.mask, mask, 16);
  std::memcpy(m.net, net, 16);
  return m;
}

RuleTotals Policy::totals(uint16_t rule) const {
  RuleTotals t;
  for (unsigned w = 0; w < workers; ++w) {
    const RuleCounters* c = rule_counters(w, rule);
    if (!c) continue;
    t.evaluations += c->evaluations.load(std::memory_order_relaxed);
    t.matches += c->matches.load(std::memory_order_relaxed);
    t.packets += c->packets.load(std::memory_order_relaxed);
    t.bytes += c->bytes.load(std::memory_order_relaxed);
  }
  return t;
}

}  // namespace hafw::dp
