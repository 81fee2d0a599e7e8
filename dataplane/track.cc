// Connection tracking: pf's TCP sequence windows (Guido van Rooij's
// algorithm, as pf applies it) and the UDP/other progress, written for two
// workers that may track the two directions of a connection at once. The
// rules and the concurrency argument are in docs/tracking.md.
//
// The packet path: no lock, no allocation, no system call. A segment reads
// what it needs of the state once, decides on those values, and writes back
// only when it passes, so a dropped segment leaves the state as it was.
#include "dataplane/track.h"

#include <algorithm>
#include <atomic>

#include "dataplane/net/net.h"

namespace hafw::dp {

namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;
constexpr uint8_t kProtoIcmp6 = 58;

// How far an acknowledgement may lag behind or run ahead of what the other
// side sent: one unscaled window plus an MTU of slack (pf's MAXACKWINDOW).
constexpr int32_t kMaxAckWindow = 65535 + 1500;

// Sequence arithmetic modulo 2^32 (RFC 793 §3.3): a is at or after b.
constexpr bool seq_geq(uint32_t a, uint32_t b) { return int32_t(a - b) >= 0; }
constexpr bool seq_gt(uint32_t a, uint32_t b) { return int32_t(a - b) > 0; }

uint32_t rd32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
uint16_t rd16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }

// A window as the side's own unit once scaling is on: rounded up, so that
// scaling it back never yields less than was announced.
constexpr uint32_t unscale(uint32_t win, unsigned ws) { return (win + (1u << ws) - 1) >> ws; }

// ---- the per-side byte (progress | wscale << 4), changed only by CAS
//
// Acquire on the loads and release on the CAS: a worker that sees a side's
// progress move past CLOSED (its first segment) also sees the sequence
// numbers that segment stored before raising it.

uint8_t load_peer(const std::atomic<uint8_t>& b) { return b.load(std::memory_order_acquire); }

bool cas_peer(std::atomic<uint8_t>& b, uint8_t& cur, uint8_t next) {
  return b.compare_exchange_weak(cur, next, std::memory_order_release, std::memory_order_acquire);
}

// Progress never goes back: keep the larger of the current and `to`.
// True when this call moved it.
bool raise_progress(std::atomic<uint8_t>& b, uint8_t to) {
  uint8_t cur = b.load(kRelaxed);
  while (progress_of(cur) < to)
    if (cas_peer(b, cur, peer_byte(to, wscale_of(cur)))) return true;
  return false;
}

// A transition that applies only from one value (SYN_SENT -> ESTABLISHED,
// CLOSING -> FIN_WAIT_2): if another worker moved the side on meanwhile,
// nothing to do. True when this call made it.
bool advance_from(std::atomic<uint8_t>& b, uint8_t from, uint8_t to) {
  uint8_t cur = b.load(kRelaxed);
  while (progress_of(cur) == from)
    if (cas_peer(b, cur, peer_byte(to, wscale_of(cur)))) return true;
  return false;
}

void set_wscale(std::atomic<uint8_t>& b, uint8_t ws) {
  uint8_t cur = b.load(kRelaxed);
  while (wscale_of(cur) != ws && !cas_peer(b, cur, peer_byte(progress_of(cur), ws))) {
  }
}

// pf's order of the TCP classes: the first that applies wins.
net::Timeout tcp_class(uint8_t a, uint8_t b) {
  using namespace tcps;
  if (a >= FinWait2 && b >= FinWait2) return net::Timeout::TcpClosed;
  if (a >= Closing && b >= Closing) return net::Timeout::TcpFinWait;
  if (a < Established || b < Established) return net::Timeout::TcpOpening;
  if (a >= Closing || b >= Closing) return net::Timeout::TcpClosing;
  return net::Timeout::TcpEstablished;
}

net::Timeout tcp_class_now(const State& s) {
  return tcp_class(progress_of(load_peer(s.peer[0])), progress_of(load_peer(s.peer[1])));
}

}  // namespace

bool parse_tcp(const uint8_t* l4, size_t l4_len, TcpSegment& out) {
  if (l4 == nullptr || l4_len < 20) return false;
  const size_t hdr = size_t(l4[12] >> 4) * 4;  // the data offset is 4 bits: at most 60 bytes
  if (hdr < 20 || hdr > l4_len) return false;
  out.seq = rd32(l4 + 4);
  out.ack = rd32(l4 + 8);
  out.flags = l4[13];
  out.win = rd16(l4 + 14);
  out.payload = uint32_t(l4_len - hdr);
  out.wscale = kNoWscale;
  if (!(out.flags & tcpf::Syn)) return true;  // the option only means something on a SYN (RFC 7323 §2.2)
  // At most 40 bytes of options, each step at least one byte forward.
  for (size_t i = 20; i < hdr;) {
    const uint8_t kind = l4[i];
    if (kind == 0) break;  // end of the list
    if (kind == 1) {       // padding
      ++i;
      continue;
    }
    if (i + 1 >= hdr) break;
    const uint8_t len = l4[i + 1];
    if (len < 2 || i + len > hdr) break;  // malformed: stop, what was found stays
    if (kind == 3 && len == 3) {
      out.wscale = std::min<uint8_t>(l4[i + 2], 14);  // RFC 7323 §2.3: larger means 14
      break;
    }
    i += len;
  }
  return true;
}

bool tcp_flags_valid(uint8_t flags) {
  using namespace tcpf;
  if ((flags & (Syn | Rst)) == (Syn | Rst)) return false;
  if ((flags & (Syn | Fin)) == (Syn | Fin)) return false;
  // None of the six control bits (ECE and CWR alone carry no segment meaning).
  return (flags & (Fin | Syn | Rst | Psh | Ack | Urg)) != 0;
}

void tcp_init(StateInit& init, const TcpSegment& syn) {
  const bool is_syn = syn.flags & tcpf::Syn;
  const uint8_t ws = is_syn ? syn.wscale : kNoWscale;
  init.seqlo[0] = syn.seq;
  init.seqhi[0] = syn.seq + syn.payload + 1 + (is_syn ? 1 : 0) + ((syn.flags & tcpf::Fin) ? 1 : 0);
  uint32_t win = std::max<uint32_t>(syn.win, 1);
  if (ws != kNoWscale) win = unscale(win, ws);  // a SYN's window is never scaled; store it in scaled units
  init.max_win[0] = uint16_t(win);
  init.peer[0] = peer_byte(tcps::SynSent, ws);
  init.seqlo[1] = 0;
  init.seqhi[1] = 1;
  init.max_win[1] = 1;
  init.peer[1] = peer_byte(tcps::Closed, kNoWscale);
}

void first_packet_init(StateInit& init, uint8_t proto) {
  if (proto == net::kProtoTcp || proto == net::kProtoIcmp || proto == kProtoIcmp6) return;
  init.peer[0] = peer_byte(udps::Single, kNoWscale);
  init.peer[1] = peer_byte(udps::NoTraffic, kNoWscale);
}

net::Timeout initial_timeout(uint8_t proto) {
  switch (proto) {
    case net::kProtoTcp: return net::Timeout::TcpFirst;
    case net::kProtoUdp: return net::Timeout::UdpFirst;
    case net::kProtoIcmp:
    case kProtoIcmp6: return net::Timeout::IcmpFirst;
    default: return net::Timeout::OtherFirst;
  }
}

Tracked tcp_track(State& s, uint8_t dir, const TcpSegment& seg) {
  using namespace tcps;
  const unsigned si = dir & 1, di = si ^ 1;
  // Whether a side's window is the peer's (state sync), loaded before the
  // windows: the applier sets the bits after it stored them.
  const uint8_t synced_bit = sflag::synced_win(si);
  const uint8_t sflags = s.flags.load(std::memory_order_acquire);
  const bool synced = sflags & synced_bit;
  const bool dst_synced = sflags & sflag::synced_win(di);
  const uint8_t src_peer = load_peer(s.peer[si]);
  const uint8_t dst_peer = load_peer(s.peer[di]);
  const uint8_t sp = progress_of(src_peer), dp = progress_of(dst_peer);

  // A new connection on the 4-tuple of one both sides have closed: the old
  // state is finished, the caller replaces it.
  if (tcp_opens(seg.flags) && sp >= FinWait2 && dp >= FinWait2)
    return {Verdict::Reopen, tcp_class(sp, dp), false};

  const bool syn = seg.flags & tcpf::Syn, fin = seg.flags & tcpf::Fin;
  const bool rst = seg.flags & tcpf::Rst, has_ack = seg.flags & tcpf::Ack;
  const uint8_t sscale = wscale_of(src_peer), dscale = wscale_of(dst_peer);

  // Windows scale only once both sides agreed to it, and never on a SYN.
  unsigned sws = 0, dws = 0;
  if (sscale != kNoWscale && dscale != kNoWscale && !syn) {
    sws = sscale;
    dws = dscale;
  }

  uint32_t seqlo_s = s.seqlo[si].load(kRelaxed);
  uint32_t seqhi_s = s.seqhi[si].load(kRelaxed);
  const uint32_t seqlo_d = s.seqlo[di].load(kRelaxed);
  const uint32_t seqhi_d = s.seqhi[di].load(kRelaxed);
  const uint16_t max_win_s = s.max_win[si].load(kRelaxed);
  uint32_t max_win_d = s.max_win[di].load(kRelaxed);

  uint32_t win = seg.win;  // what the window check and the slide of dst's seqhi use (<< sws)
  uint32_t mwin = win;     // the same window in src's max_win units
  uint32_t seq = seg.seq;
  const uint32_t orig_seq = seq;
  uint32_t end = seq + seg.payload + (syn ? 1 : 0) + (fin ? 1 : 0);

  // Changes a first segment of src makes, applied only if it passes.
  const bool first = sp < SynSent;
  bool record_sscale = false, forget_dscale = false;
  uint8_t new_sscale = sscale;
  uint32_t fixed_max_win_d = max_win_d;

  if (first) {
    if (syn && dscale != kNoWscale) {
      // dst offered scaling: src's answer decides whether the connection has it.
      record_sscale = true;
      new_sscale = seg.wscale;
      if (seg.wscale != kNoWscale) {
        sws = seg.wscale;
        win = unscale(win, sws);
        mwin = win;
        dws = dscale;
      } else {
        // No scaling after all: dst's window was stored in scaled units.
        forget_dscale = true;
        fixed_max_win_d = std::min<uint32_t>(65535, max_win_d << dscale);
        max_win_d = fixed_max_win_d;
      }
    }
    seqlo_s = seq;
    // seqhi may already hold a value (a state picked up in the middle, or
    // learned from the peer firewall): only ever move it forward.
    const uint32_t hi = end + std::max<uint32_t>(1, max_win_d << dws);
    if (seqhi_s == 1 || seq_geq(hi, seqhi_s)) seqhi_s = hi;
  } else if (syn && sscale != kNoWscale) {
    // A retransmitted SYN of a side that scales: its window is unscaled on
    // the wire, max_win holds scaled units (as tcp_init stored it).
    mwin = unscale(win, sscale);
  }

  // The acknowledgement to check. Without ACK there is none; a RST|ACK with
  // ack 0 is a broken stack's; and before dst sent its SYN there is nothing
  // dst's sequence space could be checked against.
  uint32_t ack = seg.ack;
  if (!has_ack || (ack == 0 && rst) || dp < SynSent) ack = seqlo_d;

  // A segment that occupies no sequence space is checked at src's edge,
  // unless that edge is the peer's and may lag: then at its own number,
  // which moves the edge up to it if it passes.
  if (seq == end && !synced) seq = end = seqlo_s;

  const int32_t ackskew = int32_t(seqlo_d - ack);
  // A reset must hit the edge of src's sequence space (one off either way
  // for stacks that count the FIN or not): a blind attacker cannot guess it.
  const bool rst_exact = !rst || orig_seq == seqlo_s || orig_seq == seqlo_s + 1 || orig_seq + 1 == seqlo_s;

  // What dst sent is not known while its edge is the peer's (it may lag):
  // the acknowledgement is not checked until dst's own first segment.
  const bool strict = seq_geq(seqhi_s, end) &&                       // last octet inside dst's window
                      seq_geq(seq, seqlo_s - (max_win_d << dws)) &&  // retransmission: at most a window back
                      (dst_synced || (ackskew >= -kMaxAckWindow &&   // acks at most a window beyond what dst sent
                                      ackskew <= (kMaxAckWindow << sws))) &&  // and at most a window behind
                      rst_exact;
  // The loose case: the peer has not answered yet (SYNs shotgunned), or the
  // connection is closing and stacks send stray segments. Within a window of
  // slack either way, and a reset still needs its exact sequence number: here
  // only its acknowledgement is forgiven.
  const bool loose = !strict && (dp < SynSent || dp >= FinWait2 || sp >= FinWait2) &&
                     seq_geq(seqhi_s + uint32_t(kMaxAckWindow), end) &&
                     seq_geq(seq, seqlo_s - uint32_t(kMaxAckWindow)) && rst_exact;
  // src's window came from the peer and may be a second or more behind the
  // connection (a state adopted at a takeover): a segment that fails the
  // check re-anchors it, as a side's first segment sets it (pf), once. A
  // reset is never forgiven: it needs its exact sequence number.
  const bool adopt = synced && !strict && !rst;
  if (!strict && !loose && !adopt) return {Verdict::OutOfWindow, tcp_class(sp, dp), false};
  if (adopt) {
    seqlo_s = seq;
    const uint32_t hi = end + std::max<uint32_t>(1, max_win_d << dws);
    if (seqhi_s == 1 || seq_geq(hi, seqhi_s)) seqhi_s = hi;
  }

  // ---- commit. Each store below has one writer in the normal case: a
  // segment of src writes src's seqlo and max_win and dst's seqhi; only
  // src's first segment writes src's seqhi and (scaling refused) dst's
  // max_win, and the window scales change once, by CAS.
  if (record_sscale) set_wscale(s.peer[si], new_sscale);
  if (forget_dscale) {
    s.max_win[di].store(uint16_t(fixed_max_win_d), kRelaxed);
    set_wscale(s.peer[di], kNoWscale);
  }
  if (first || adopt) s.seqhi[si].store(seqhi_s, kRelaxed);
  if (mwin > max_win_s) s.max_win[si].store(uint16_t(mwin), kRelaxed);
  const uint32_t new_seqlo = seq_gt(end, seqlo_s) ? end : seqlo_s;
  if (first || adopt || new_seqlo != seqlo_s) s.seqlo[si].store(new_seqlo, kRelaxed);
  // Checked against this node's own view of the window now (or re-anchored
  // on this segment): src is strict again from its next segment.
  if (synced) s.flags.fetch_and(uint8_t(~synced_bit), kRelaxed);
  // Slide what dst may send up to what src acknowledged plus its window.
  // Not while dst is unseen: its sequence space is not known yet, and its
  // first segment sets its seqhi (pf would set it from a substituted ack).
  const uint32_t swin = win << sws;
  if (dp >= SynSent && seq_geq(ack + swin, seqhi_d)) {
    const uint32_t hi = ack + std::max<uint32_t>(swin, 1);
    if (hi != seqhi_d) s.seqhi[di].store(hi, kRelaxed);
  }

  bool progressed = false;
  if (first || syn) progressed |= raise_progress(s.peer[si], SynSent);
  if (fin) progressed |= raise_progress(s.peer[si], Closing);
  if (strict && has_ack) {
    // An ACK moves the side it acknowledges: its SYN or its FIN is answered.
    if (dp == SynSent)
      progressed |= advance_from(s.peer[di], SynSent, Established);
    else if (dp == Closing)
      progressed |= advance_from(s.peer[di], Closing, FinWait2);
  }
  if (rst) {
    progressed |= raise_progress(s.peer[si], TimeWait);
    progressed |= raise_progress(s.peer[di], TimeWait);
  }
  // The loose case does not refresh the expiry: a flood of stray segments
  // must not keep a state alive (pf). A re-anchoring segment does: it is
  // the connection's own, as far as anything here can tell.
  return {Verdict::Pass, tcp_class_now(s), strict || adopt, progressed};
}

Tracked detail::udp_track_update(State& s, uint8_t dir) {
  const unsigned si = dir & 1, di = si ^ 1;
  const bool raised = raise_progress(s.peer[si], udps::Single);
  const bool answered = advance_from(s.peer[di], udps::Single, udps::Multiple);
  const bool both = progress_of(load_peer(s.peer[0])) == udps::Multiple &&
                    progress_of(load_peer(s.peer[1])) == udps::Multiple;
  const net::Timeout cls = s.proto == net::kProtoUdp ? (both ? net::Timeout::UdpMultiple : net::Timeout::UdpSingle)
                                                     : (both ? net::Timeout::OtherMultiple : net::Timeout::OtherSingle);
  return {Verdict::Pass, cls, true, raised || answered};
}

}  // namespace hafw::dp
