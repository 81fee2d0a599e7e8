// Stage state_lookup: find every packet's state in one bulk lookup, then
// track, count and translate the packets that have one.
//
// ipv4_input hashed every key and started loading its home bucket; the
// table looks them all up at once (StateTable::lookup_bulk prefetches every
// home bucket, then every matching state, before it compares a key), so at a
// million states the cache misses of one packet overlap with the others'
// instead of stalling each packet in turn. A packet that matches a state skips the rules (pf: states are checked
// first), is tracked (TCP windows, UDP progress), refreshes the state's
// expiry with its timeout class, counts on the state and its rule, and gets
// the state's translation before it is routed. An ICMP error that quotes a
// packet of a known state passes on that state, translated like it. A miss
// goes on to destination NAT and, in transit, the rules.
#include "dataplane/stages.h"

#include "dataplane/nat.h"
#include "dataplane/track.h"

namespace hafw::dp::stage {

namespace {

// A packet without a state: port forwards (IPv4; there is no NAT66), then
// local or transit.
inline Next miss_of(const PacketMeta& p) { return p.has(PacketFlag::V6) ? Next::Ipv6Classify : Next::Dnat; }

void on_hit(WorkerCtx& ctx, PacketMeta& p, Hit hit) {
  StateTable& t = *ctx.states;
  State& s = t.at(hit.state);
  WorkerCounters& c = *ctx.counters;
  const Policy& pol = *ctx.view.policy;

  if (p.has(PacketFlag::IcmpError)) {
    if (nat::apply_icmp_error(p, t, s, hit.dir)) c.add(NatCounter::IcmpTranslated);
    c.add(StateCounter::IcmpErrorMatched);
    p.state = hit.state;
    p.dir = hit.dir;
    p.next = classify_of(p);
    return;
  }

  Tracked tr;
  switch (s.proto) {
    case net::kProtoTcp: {
      TcpSegment seg;
      parse_tcp(l4_of(p), l4_len(p), seg);  // ipv4_input checked the header
      tr = tcp_track(s, hit.dir, seg);
      if (tr.verdict == Verdict::OutOfWindow) return p.to_drop(DropReason::TcpOutOfWindow);
      if (tr.verdict == Verdict::Reopen) {
        // The port pair is reused for a new connection: the closed state
        // goes, and the SYN is a new flow for the rules. Its identity is
        // read first: the peer deletes the state by it.
        const uint64_t id = s.id;
        const uint8_t creator = s.creator;
        t.kill(hit.state);
        c.add(StateCounter::Reopened);
        if (ctx.events) report(ctx, hit.state, id, creator, StateEventKind::Delete);
        p.next = miss_of(p);
        return;
      }
      // pf's loose pass (a stray segment around a close, a shotgun SYN)
      // keeps the state but must not keep it alive (tr.refresh false).
      break;
    }
    case net::kProtoIcmp:
    case net::kProtoIcmpv6:
      tr = Tracked{Verdict::Pass, net::Timeout::IcmpFirst};
      break;
    default:
      tr = udp_track(s, hit.dir);
      break;
  }
  // A state that died since the lookup (killed, expired) is no state.
  const bool alive = tr.refresh ? t.refresh(hit.state, ctx.now_s, pol.timeouts[size_t(tr.timeout)])
                                : s.expire.load(std::memory_order_acquire) != 0;
  if (!alive) {
    p.next = miss_of(p);
    return;
  }
  // State sync: a packet that moved the state's progress is reported at
  // once, any other at most once a second per state (pf's rate-limited
  // compressed updates). The stamp is one relaxed byte: the two directions
  // on two workers may both report in the same second, which costs an
  // event, never a lost update.
  if (ctx.events) {
    const uint8_t stamp = uint8_t(ctx.now_s);
    if (tr.progressed || s.sync_stamp.load(std::memory_order_relaxed) != stamp) {
      s.sync_stamp.store(stamp, std::memory_order_relaxed);
      report(ctx, hit.state, s.id, s.creator, StateEventKind::Update);
    }
  }
  const uint16_t bytes = ip_bytes(p);
  t.count(hit.state, hit.dir, bytes);
  if (RuleCounters* rc = pol.rule_counters(ctx.worker, s.rule)) {
    RuleCounters::bump(rc->packets, 1);
    RuleCounters::bump(rc->bytes, bytes);
  }
  nat::apply(p, t, s, hit.dir);
  p.state = hit.state;
  p.dir = hit.dir;
  // Transit by construction: a state is made only for a packet ipv4_classify
  // called transit and the rules passed, and its replies go back to that
  // packet's source, which ipv4_input checked. What classify would still
  // say is RFC 1812's rule for frames that came as link-layer broadcast.
  if (!p.has(PacketFlag::L2Unicast)) return p.to_drop(DropReason::NotForUs);
  p.next = route_of(p);
}

}  // namespace

void state_lookup(WorkerCtx& ctx, Burst& b) {
  if (!(b.waiting & bit(Next::StateLookup))) return;
  const net::FlowKey* keys[kBurstMax];
  uint64_t hashes[kBurstMax];
  Hit hits[kBurstMax];
  uint8_t at[kBurstMax];
  unsigned n = 0;
  for (uint16_t i = 0; i < b.n; ++i) {
    if (b.pkt[i].next != Next::StateLookup) continue;
    keys[n] = &b.pkt[i].key;
    hashes[n] = b.pkt[i].key_hash;  // ipv4_input hashed it and prefetched its bucket
    at[n++] = uint8_t(i);
  }
  ctx.states->lookup_bulk({keys, n}, {hashes, n}, {hits, n});
  uint32_t moved = 0;
  for (unsigned j = 0; j < n; ++j) {
    PacketMeta& p = b.pkt[at[j]];
    if (hits[j].found()) on_hit(ctx, p, hits[j]);
    else p.next = miss_of(p);
    moved |= bit(p.next);
  }
  b.waiting = (b.waiting & ~bit(Next::StateLookup)) | moved;
}

}  // namespace hafw::dp::stage
