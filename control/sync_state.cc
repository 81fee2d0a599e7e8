#include "control/sync_state.h"

#include <algorithm>
#include <cstring>

namespace hafw::control {

namespace {

pfsync::PeerRecord export_peer(const dp::State& s, uint8_t w) {
  const uint8_t pb = s.peer[w].load(std::memory_order_acquire);
  const uint8_t ws = dp::wscale_of(pb);
  return pfsync::PeerRecord{.seqlo = s.seqlo[w].load(std::memory_order_relaxed),
                            .seqhi = s.seqhi[w].load(std::memory_order_relaxed),
                            .max_win = s.max_win[w].load(std::memory_order_relaxed),
                            .state = dp::progress_of(pb),
                            .wscale = uint8_t(ws == dp::kNoWscale ? 0 : (ws & pfsync::kWscaleMask) | pfsync::kWscaleFlag)};
}

uint32_t seconds_until(uint32_t at, uint32_t now_s) { return at > now_s ? at - now_s : 0; }

bool same_end(const std::array<uint8_t, 16>& a, uint16_t ap, const std::array<uint8_t, 16>& b, uint16_t bp) {
  return a == b && ap == bp;
}

}  // namespace

uint8_t import_peer(const pfsync::PeerRecord& p) {
  // pf's wscale byte: the shift in the low bits, PF_WSCALE_FLAG when the side
  // announced one; the table keeps kNoWscale for "none". A shift above 14 is
  // not TCP (RFC 7323 §2.3); pf clamps it, so do we.
  const uint8_t ws = (p.wscale & pfsync::kWscaleFlag)
                         ? std::min<uint8_t>(p.wscale & pfsync::kWscaleMask, pfsync::kMaxWscale)
                         : dp::kNoWscale;
  return dp::peer_byte(uint8_t(p.state & 0x0f), ws);
}

uint8_t timeout_class(const dp::State& s) {
  using namespace dp::tcps;
  const uint8_t a = dp::progress_of(s.peer[0].load(std::memory_order_relaxed));
  const uint8_t b = dp::progress_of(s.peer[1].load(std::memory_order_relaxed));
  net::Timeout t;
  switch (s.proto) {
    case net::kProtoTcp:
      // pf's order of tests (pf_tcp_track_full): closed, fin-wait, opening, closing, established.
      if (a >= FinWait2 && b >= FinWait2) t = net::Timeout::TcpClosed;
      else if (a >= Closing && b >= Closing) t = net::Timeout::TcpFinWait;
      else if (a < Established || b < Established) t = net::Timeout::TcpOpening;
      else if (a >= Closing || b >= Closing) t = net::Timeout::TcpClosing;
      else t = net::Timeout::TcpEstablished;
      break;
    case net::kProtoIcmp:
      t = net::Timeout::IcmpFirst;
      break;
    case net::kProtoUdp:
      t = a == dp::udps::Multiple && b == dp::udps::Multiple ? net::Timeout::UdpMultiple
          : a == dp::udps::Multiple || b == dp::udps::Multiple ? net::Timeout::UdpSingle
                                                               : net::Timeout::UdpFirst;
      break;
    default:
      t = a == dp::udps::Multiple && b == dp::udps::Multiple ? net::Timeout::OtherMultiple : net::Timeout::OtherFirst;
      break;
  }
  return uint8_t(t);
}

pfsync::StateRecord export_state(const dp::StateTable& t, dp::StateIndex s, uint32_t now_s) {
  const dp::State& st = t.at(s);
  pfsync::StateRecord r;
  r.id = st.id;
  r.creatorid = t.creator_id(st.creator);
  std::memcpy(r.ifname.data(), kFloatingIfname, sizeof kFloatingIfname);
  const net::FlowKey k0 = t.key(s, 0);
  const net::FlowKey back = net::reversed(t.key(s, 1));  // the reply key turned to the initiator's direction
  switch (t.nat(s).side) {
    case dp::NatSide::Src:  // translated on the way out: the far side sees the VIP
      r.key[0] = back;
      r.key[1] = k0;
      r.direction = 2;  // pf: nat-to applies on the way out
      break;
    case dp::NatSide::Dst:  // translated on the way in: the near side sees the target
      r.key[0] = k0;
      r.key[1] = back;
      r.direction = 1;
      break;
    case dp::NatSide::None:
      r.key[0] = r.key[1] = k0;
      r.direction = 1;
      break;
  }
  r.src = export_peer(st, 0);
  r.dst = export_peer(st, 1);
  r.rule = st.rule == dp::kNoRule ? 0xffffffffu : st.rule;
  r.creation = now_s > st.created ? now_s - st.created : 0;
  r.expire = seconds_until(st.expire.load(std::memory_order_acquire), now_s);
  for (uint8_t w = 0; w < 2; ++w) {
    r.packets[w] = t.packets(s, w);
    r.bytes[w] = st.bytes[w].load(std::memory_order_relaxed);
  }
  r.proto = st.proto;
  r.timeout = timeout_class(st);
  return r;
}

pfsync::UpdateRecord export_update(const dp::StateTable& t, dp::StateIndex s, uint32_t now_s) {
  const dp::State& st = t.at(s);
  return pfsync::UpdateRecord{.id = st.id,
                              .creatorid = t.creator_id(st.creator),
                              .src = export_peer(st, 0),
                              .dst = export_peer(st, 1),
                              .expire = seconds_until(st.expire.load(std::memory_order_acquire), now_s),
                              .timeout = timeout_class(st),
                              .state_flags = 0};
}

std::optional<dp::StateInit> import_state(dp::StateTable& t, const pfsync::StateRecord& r, uint32_t now_s,
                                          bool rules_match, uint16_t rule_count, ImportError& why) {
  const net::FlowKey& wire = r.key[0];
  const net::FlowKey& stack = r.key[1];
  if (wire.af != stack.af || wire.proto != stack.proto) {
    why = ImportError::Unsupported;
    return std::nullopt;
  }
  const bool icmp = r.proto == net::kProtoIcmp;
  // ICMP queries carry the id in both ports (pf's convention): a translated
  // id moves both, so only the addresses and the first port tell the ends.
  const bool src_same = same_end(wire.src, wire.sport, stack.src, stack.sport);
  const bool dst_same = icmp ? wire.dst == stack.dst : same_end(wire.dst, wire.dport, stack.dst, stack.dport);
  dp::StateInit init;
  dp::NatDelta nat;
  if (src_same && dst_same) {
    init.key = stack;
  } else if (!src_same && dst_same) {  // outbound NAT: the far side sees the VIP
    init.key = stack;
    nat.side = dp::NatSide::Src;
    net::IpAddr vip{.af = wire.af, .b = wire.src};
    nat.addr = t.intern_addr(vip);
    nat.port = wire.sport;
  } else if (src_same && !dst_same) {  // a port forward: the near side sees the target
    init.key = wire;
    nat.side = dp::NatSide::Dst;
    net::IpAddr target{.af = stack.af, .b = stack.dst};
    nat.addr = t.intern_addr(target);
    nat.port = icmp ? stack.sport : stack.dport;
  } else {
    why = ImportError::Unsupported;
    return std::nullopt;
  }
  if (nat.side != dp::NatSide::None && nat.addr == dp::StateTable::kNoAddr) {
    why = ImportError::AddrPool;
    return std::nullopt;
  }
  const uint8_t creator = t.intern_creator(r.creatorid);
  if (creator == dp::StateTable::kNoCreator) {
    why = ImportError::Creators;
    return std::nullopt;
  }
  init.nat = nat;
  init.rule = rules_match && r.rule < rule_count ? uint16_t(r.rule) : dp::kNoRule;
  // A state that expires this very second still arrives: one second of life
  // lets its next update, or its delete, find it.
  init.lifetime = r.expire == 0 ? 1 : r.expire;
  init.id = r.id;
  init.creator = creator;
  const pfsync::PeerRecord* peers[2] = {&r.src, &r.dst};
  for (uint8_t w = 0; w < 2; ++w) {
    init.seqlo[w] = peers[w]->seqlo;
    init.seqhi[w] = peers[w]->seqhi;
    init.max_win[w] = peers[w]->max_win;
    init.peer[w] = import_peer(*peers[w]);
    init.packets[w] = r.packets[w];
    init.bytes[w] = r.bytes[w];
  }
  init.created = now_s > r.creation ? now_s - r.creation : 0;
  init.synced = true;
  return init;
}

}  // namespace hafw::control
