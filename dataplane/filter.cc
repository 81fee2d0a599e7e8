// Stage filter: the rules, for transit packets that match no state
// (dataplane/policy.h has the semantics). It runs after routing, so it knows
// both interfaces, and after destination NAT, so a port forward's pass rule
// names the internal target. A packet is checked against its receiving
// interface's `in` rules, then, if that interface passed it and the egress
// interface has `out` rules, against those; the first matching rule of each
// list decides. Every rule checked counts an evaluation; the deciding rule
// counts the match, the packet and its bytes.
#include "dataplane/stages.h"

namespace hafw::dp::stage {

namespace {

// What the rules look at: the packet as it is now (after destination NAT).
struct Fields {
  std::array<uint8_t, 16> src, dst;
  net::Family af;
  uint8_t proto;
  uint16_t dport;  // network order; 0 without ports
};

Fields fields_of(const PacketMeta& p) {
  Fields f;
  if (p.has(PacketFlag::V6)) {
    std::memcpy(f.src.data(), p.data + p.l3 + 8, 16);
    std::memcpy(f.dst.data(), p.data + p.l3 + 24, 16);
    f.af = net::Family::V6;
  } else {
    f.src = addr16(p.data + p.l3 + 12);
    f.dst = addr16(p.data + p.l3 + 16);
    f.af = net::Family::V4;
  }
  f.proto = p.proto;
  f.dport = 0;
  if (f.proto == net::kProtoTcp || f.proto == net::kProtoUdp) std::memcpy(&f.dport, l4_of(p) + 2, 2);
  return f;
}

bool matches(const RuleView& r, const Fields& f) {
  if (r.proto != 0 && r.proto != f.proto) return false;
  if (r.port != 0 && r.port != f.dport) return false;
  return r.src.contains(f.src.data(), f.af) && r.dst.contains(f.dst.data(), f.af);
}

// The first matching rule of `rules`, or null. Counts as it goes.
const RuleView* first_match(const std::vector<RuleView>& rules, const Fields& f, const Policy& pol, unsigned worker,
                            uint16_t bytes) {
  for (const RuleView& r : rules) {
    RuleCounters* rc = pol.rule_counters(worker, r.index);
    if (rc) RuleCounters::bump(rc->evaluations, 1);
    if (!matches(r, f)) continue;
    if (rc) {
      RuleCounters::bump(rc->matches, 1);
      RuleCounters::bump(rc->packets, 1);
      RuleCounters::bump(rc->bytes, bytes);
    }
    return &r;
  }
  return nullptr;
}

void filter_one(const WorkerCtx& ctx, PacketMeta& p) {
  const Policy& pol = *ctx.view.policy;
  const Fields f = fields_of(p);
  const uint16_t bytes = ip_bytes(p);
  const RuleView* in = first_match(pol.in[p.in], f, pol, ctx.worker, bytes);
  if (!in) return p.to_drop(DropReason::DefaultBlock);
  if (in->action == RuleAction::Block) return p.to_drop(DropReason::RuleBlock);
  // An interface without out rules passes what the receiving side passed.
  if (!pol.out[p.out].empty()) {
    const RuleView* out = first_match(pol.out[p.out], f, pol, ctx.worker, bytes);
    if (!out) return p.to_drop(DropReason::DefaultBlock);
    if (out->action == RuleAction::Block) return p.to_drop(DropReason::RuleBlock);
  }
  p.rule = in->index;
  if (in->keep_state) p.set(PacketFlag::KeepState);
  p.next = Next::StateCreate;
}

}  // namespace

void filter(WorkerCtx& ctx, Burst& b) {
  each(b, Next::Filter, [&](PacketMeta& p) { filter_one(ctx, p); });
}

}  // namespace hafw::dp::stage
