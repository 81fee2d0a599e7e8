// Connection tracking: whole TCP connections driven through tcp_track the
// way their packets would arrive (handshake, data, scaling, resets, close,
// reuse), the header parser, UDP progress; then the two directions of one
// connection tracked on two threads at once (this binary also runs under
// ThreadSanitizer, concurrency suite).
#include <catch2/catch.hpp>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "dataplane/net/net.h"
#include "dataplane/track.h"

using namespace hafw;
using dp::Verdict;
using net::Timeout;
namespace tcpf = dp::tcpf;
namespace tcps = dp::tcps;

namespace {

constexpr uint8_t kAck = tcpf::Ack;
constexpr uint8_t kPshAck = tcpf::Psh | tcpf::Ack;
constexpr uint8_t kSynAck = tcpf::Syn | tcpf::Ack;
constexpr uint8_t kFinAck = tcpf::Fin | tcpf::Ack;
constexpr uint8_t kRstAck = tcpf::Rst | tcpf::Ack;

dp::TcpSegment segment(uint8_t flags, uint32_t seq, uint32_t ack, uint16_t win, uint32_t payload = 0,
                       uint8_t wscale = dp::kNoWscale) {
  dp::TcpSegment s;
  s.flags = flags;
  s.seq = seq;
  s.ack = ack;
  s.win = win;
  s.payload = payload;
  s.wscale = wscale;
  return s;
}

// What the state table would do with a StateInit, for the fields tracking uses.
void fill(dp::State& s, const dp::StateInit& in) {
  s.src = in.key.src;
  s.dst = in.key.dst;
  s.sport = in.key.sport;
  s.dport = in.key.dport;
  s.proto = in.key.proto;
  for (int w = 0; w < 2; ++w) {
    s.seqlo[w].store(in.seqlo[w]);
    s.seqhi[w].store(in.seqhi[w]);
    s.max_win[w].store(in.max_win[w]);
    s.peer[w].store(in.peer[w]);
  }
}

uint8_t progress(const dp::State& s, int w) { return dp::progress_of(s.peer[w].load()); }
uint8_t wscale(const dp::State& s, int w) { return dp::wscale_of(s.peer[w].load()); }

// Everything tracking may change, to check that a dropped segment changed nothing.
struct Snapshot {
  uint32_t seqlo[2], seqhi[2];
  uint16_t max_win[2];
  uint8_t peer[2];
  explicit Snapshot(const dp::State& s) {
    for (int w = 0; w < 2; ++w) {
      seqlo[w] = s.seqlo[w].load();
      seqhi[w] = s.seqhi[w].load();
      max_win[w] = s.max_win[w].load();
      peer[w] = s.peer[w].load();
    }
  }
  bool operator==(const Snapshot&) const = default;
};

// Two endpoints talking through the tracker. nxt[w] is the next sequence
// number side w sends; a side acknowledges everything of the other's that
// passed (what got through is what it received).
struct Conn {
  dp::State s{};
  uint32_t nxt[2] = {};
  uint16_t win[2] = {65535, 65535};

  // The initiator's SYN creates the state.
  explicit Conn(uint32_t isn0, uint16_t win0 = 65535, uint8_t ws0 = dp::kNoWscale) {
    dp::StateInit in;
    in.key.proto = net::kProtoTcp;
    dp::tcp_init(in, segment(tcpf::Syn, isn0, 0, win0, 0, ws0));
    fill(s, in);
    nxt[0] = isn0 + 1;
    win[0] = win0;
  }

  dp::Tracked raw(int w, const dp::TcpSegment& seg) { return dp::tcp_track(s, uint8_t(w), seg); }

  // A segment of side w at its next sequence number; on Pass the side moves on.
  dp::Tracked send(int w, uint8_t flags, uint32_t payload = 0, uint8_t ws = dp::kNoWscale) {
    const dp::TcpSegment seg = segment(flags, nxt[w], (flags & tcpf::Ack) ? nxt[w ^ 1] : 0, win[w], payload, ws);
    const dp::Tracked t = raw(w, seg);
    if (t.verdict == Verdict::Pass)
      nxt[w] += payload + ((flags & tcpf::Syn) ? 1 : 0) + ((flags & tcpf::Fin) ? 1 : 0);
    return t;
  }

  // The responder answers the SYN: its own ISN, then a SYN-ACK.
  dp::Tracked syn_ack(uint32_t isn1, uint16_t win1 = 65535, uint8_t ws1 = dp::kNoWscale) {
    nxt[1] = isn1;
    win[1] = win1;
    return send(1, kSynAck, 0, ws1);
  }

  // SYN (in the constructor), SYN-ACK, ACK.
  void establish(uint32_t isn1, uint16_t win1 = 65535) {
    REQUIRE(syn_ack(isn1, win1).verdict == Verdict::Pass);
    REQUIRE(send(0, kAck).timeout == Timeout::TcpEstablished);
  }
};

}  // namespace

// ---------------------------------------------------------------- creation

TEST_CASE("the SYN that creates a state records the initiator's window", "[track]") {
  dp::StateInit in;
  dp::tcp_init(in, segment(tcpf::Syn, 1000, 0, 29200));
  CHECK(in.seqlo[0] == 1000);
  CHECK(in.seqhi[0] == 1002);  // seq + 1 + the SYN
  CHECK(in.max_win[0] == 29200);
  CHECK(dp::progress_of(in.peer[0]) == tcps::SynSent);
  CHECK(dp::wscale_of(in.peer[0]) == dp::kNoWscale);
  CHECK(in.seqhi[1] == 1);
  CHECK(in.max_win[1] == 1);
  CHECK(dp::progress_of(in.peer[1]) == tcps::Closed);

  SECTION("a window scale option: the window is kept in scaled units, rounded up") {
    dp::tcp_init(in, segment(tcpf::Syn, 1000, 0, 64240, 0, 7));
    CHECK(in.max_win[0] == 502);  // 64240 / 128 = 501.9
    CHECK(dp::wscale_of(in.peer[0]) == 7);
  }
  SECTION("a zero window still counts as one") {
    dp::tcp_init(in, segment(tcpf::Syn, 1000, 0, 0, 0, 3));
    CHECK(in.max_win[0] == 1);
  }
  SECTION("data on the SYN widens the initial window edge") {
    dp::tcp_init(in, segment(tcpf::Syn, 1000, 0, 100, 50));
    CHECK(in.seqhi[0] == 1052);
  }
  CHECK(dp::initial_timeout(net::kProtoTcp) == Timeout::TcpFirst);
}

TEST_CASE("each protocol starts in its own first timeout class", "[track]") {
  CHECK(dp::initial_timeout(net::kProtoUdp) == Timeout::UdpFirst);
  CHECK(dp::initial_timeout(net::kProtoIcmp) == Timeout::IcmpFirst);
  CHECK(dp::initial_timeout(58) == Timeout::IcmpFirst);  // ICMPv6
  CHECK(dp::initial_timeout(47) == Timeout::OtherFirst);  // GRE
}

// ---------------------------------------------------------------- TCP

TEST_CASE("a three-way handshake establishes the connection", "[track]") {
  Conn c(1000);
  auto t = c.syn_ack(5000);
  CHECK(t.verdict == Verdict::Pass);
  CHECK(t.timeout == Timeout::TcpOpening);
  CHECK(t.refresh);
  CHECK(t.progressed);
  CHECK(progress(c.s, 0) == tcps::Established);  // its SYN was answered
  CHECK(progress(c.s, 1) == tcps::SynSent);

  t = c.send(0, kAck);
  CHECK(t.verdict == Verdict::Pass);
  CHECK(t.timeout == Timeout::TcpEstablished);
  CHECK(t.progressed);
  CHECK(progress(c.s, 1) == tcps::Established);

  // Data moves the windows, not the progress (state sync's rate limit
  // applies to it).
  CHECK_FALSE(c.send(0, kPshAck, 100).progressed);
  CHECK_FALSE(c.send(1, kAck).progressed);
}

TEST_CASE("a bulk transfer larger than the window passes while the receiver keeps acknowledging", "[track]") {
  Conn c(1000, 8192);
  c.establish(70000, 8192);
  // 2000 segments one way (2.9 MB through an 8 KB window), answered by an
  // ACK every 4 segments, and a reply now and then.
  for (int i = 0; i < 2000; ++i) {
    INFO("segment " << i);
    REQUIRE(c.send(0, kPshAck, 1460).timeout == Timeout::TcpEstablished);
    if (i % 4 == 3) REQUIRE(c.send(1, kAck).verdict == Verdict::Pass);
    if (i % 100 == 99) REQUIRE(c.send(1, kPshAck, 300).verdict == Verdict::Pass);
  }
  CHECK(c.s.seqlo[0].load() == 1001 + 2000u * 1460);
  // The receiver's window is what it announced: 8192 bytes past its last ACK.
  REQUIRE(c.send(1, kAck).verdict == Verdict::Pass);
  CHECK(c.send(0, kPshAck, 8192).verdict == Verdict::Pass);
  CHECK(c.send(0, kPshAck, 1).verdict == Verdict::OutOfWindow);
}

TEST_CASE("window scaling negotiated by both sides scales the windows", "[track]") {
  Conn c(1000, 65535, 7);
  REQUIRE(c.syn_ack(5000, 65535, 7).verdict == Verdict::Pass);
  CHECK(wscale(c.s, 0) == 7);
  CHECK(wscale(c.s, 1) == 7);
  c.win[1] = 512;   // << 7: 65536 bytes
  c.win[0] = 1024;  // << 7: 131072 bytes
  REQUIRE(c.send(0, kAck).timeout == Timeout::TcpEstablished);
  // 131 segments of 1000 bytes fit the scaled window of 131072; unscaled,
  // the second would already be past a window of 1024.
  for (int i = 0; i < 131; ++i) {
    INFO("segment " << i);
    REQUIRE(c.send(1, kPshAck, 1000).verdict == Verdict::Pass);
  }
  CHECK(c.send(1, kPshAck, 1000).verdict == Verdict::OutOfWindow);
  CHECK(c.send(1, kPshAck, 72).verdict == Verdict::Pass);  // exactly up to the edge

  // The other way: the responder's window of 512 << 7 = 65536.
  CHECK(c.send(0, kPshAck, 60000).verdict == Verdict::Pass);
  CHECK(c.send(0, kPshAck, 5536).verdict == Verdict::Pass);
  CHECK(c.send(0, kPshAck, 1).verdict == Verdict::OutOfWindow);
}

TEST_CASE("window scaling offered by one side only is not applied", "[track]") {
  Conn c(1000, 65535, 7);
  REQUIRE(c.syn_ack(5000, 65535).verdict == Verdict::Pass);  // no window scale option: no scaling
  CHECK(wscale(c.s, 0) == dp::kNoWscale);
  REQUIRE(c.send(0, kAck).timeout == Timeout::TcpEstablished);
  // The initiator's 65535 is 65535 bytes, not 65535 << 7.
  for (int i = 0; i < 65; ++i) REQUIRE(c.send(1, kPshAck, 1000).verdict == Verdict::Pass);
  CHECK(c.send(1, kPshAck, 1000).verdict == Verdict::OutOfWindow);
  CHECK(c.send(1, kPshAck, 535).verdict == Verdict::Pass);
  CHECK(c.send(1, kPshAck, 1).verdict == Verdict::OutOfWindow);
}

TEST_CASE("a server may send data before the last ACK of the handshake, up to the client's SYN window",
          "[track]") {
  // TCP Fast Open: the server answers with data right after its SYN-ACK.
  // The client's SYN offered 65535 and scaling; whether the server takes up
  // scaling or not, 65535 bytes is what the client can receive.
  for (bool scaled : {true, false}) {
    INFO((scaled ? "scaled" : "scaling refused"));
    Conn c(1000, 65535, 7);
    REQUIRE(c.syn_ack(5000, 65535, scaled ? 7 : dp::kNoWscale).verdict == Verdict::Pass);
    for (int i = 0; i < 44; ++i) REQUIRE(c.send(1, kPshAck, 1460).verdict == Verdict::Pass);  // 64240 bytes
    CHECK(c.send(1, kPshAck, 1460).verdict == Verdict::OutOfWindow);
    CHECK(c.send(1, kPshAck, 1295).verdict == Verdict::Pass);  // exactly 65535
  }
}

TEST_CASE("a scale option from the responder alone is ignored", "[track]") {
  Conn c(1000, 1000);
  REQUIRE(c.syn_ack(5000, 1000, 7).verdict == Verdict::Pass);
  CHECK(wscale(c.s, 1) == dp::kNoWscale);
  REQUIRE(c.send(0, kAck).timeout == Timeout::TcpEstablished);
  REQUIRE(c.send(1, kAck).verdict == Verdict::Pass);
  CHECK(c.send(0, kPshAck, 1001).verdict == Verdict::OutOfWindow);  // 1000, not 1000 << 7
  CHECK(c.send(0, kPshAck, 1000).verdict == Verdict::Pass);
}

TEST_CASE("a retransmitted SYN passes and the handshake still completes", "[track]") {
  Conn c(1000, 65535, 7);
  auto t = c.raw(0, segment(tcpf::Syn, 1000, 0, 65535, 0, 7));
  CHECK(t.verdict == Verdict::Pass);
  CHECK(t.timeout == Timeout::TcpOpening);
  CHECK(c.raw(0, segment(tcpf::Syn, 1000, 0, 65535, 0, 7)).verdict == Verdict::Pass);
  REQUIRE(c.syn_ack(5000, 65535, 7).verdict == Verdict::Pass);
  // The SYN-ACK may be retransmitted too.
  CHECK(c.raw(1, segment(kSynAck, 5000, 1001, 65535, 0, 7)).verdict == Verdict::Pass);
  c.win[0] = 512;  // 512 << 7: the 65535 of the SYN, rounded up
  REQUIRE(c.send(0, kAck).timeout == Timeout::TcpEstablished);
  // The retransmitted SYN's unscaled window did not count as 65535 << 7.
  for (int i = 0; i < 64; ++i) REQUIRE(c.send(1, kPshAck, 1024).verdict == Verdict::Pass);
  CHECK(c.send(1, kPshAck, 1).verdict == Verdict::OutOfWindow);
}

TEST_CASE("the initiator's segments open no window for a responder that has not answered", "[track]") {
  // The responder's ISN is in the half of the sequence space "behind" a
  // small number: a window edge derived from the initiator's window alone
  // (ack 0 + window) would lie nearly 2^31 ahead of it.
  for (uint32_t isn1 : {0x90000000u, 5000u}) {
    INFO("responder ISN " << isn1);
    Conn c(1000);
    REQUIRE(c.raw(0, segment(tcpf::Syn, 1000, 0, 65535)).verdict == Verdict::Pass);  // retransmitted
    c.establish(isn1);
    REQUIRE(c.send(1, kPshAck, 60000).verdict == Verdict::Pass);
    CHECK(c.send(1, kPshAck, 6000).verdict == Verdict::OutOfWindow);
    CHECK(c.raw(1, segment(kPshAck, isn1 + 1000000, c.nxt[0], 65535, 100)).verdict == Verdict::OutOfWindow);
  }
}

TEST_CASE("a SYN-ACK that does not acknowledge the SYN is dropped and the real one still passes", "[track]") {
  Conn c(1000);
  const Snapshot before(c.s);
  CHECK(c.raw(1, segment(kSynAck, 5000, 1000 + 100000, 65535)).verdict == Verdict::OutOfWindow);
  CHECK(Snapshot(c.s) == before);
  CHECK(c.syn_ack(9000).verdict == Verdict::Pass);
  CHECK(c.s.seqlo[1].load() == 9001);
}

TEST_CASE("out-of-window segments are dropped and leave the state as it was", "[track]") {
  Conn c(1000);
  c.establish(5000);
  for (int i = 0; i < 100; ++i) {
    REQUIRE(c.send(0, kPshAck, 1000).verdict == Verdict::Pass);
    REQUIRE(c.send(1, kPshAck, 1000).verdict == Verdict::Pass);
  }
  const Snapshot before(c.s);
  const uint32_t n0 = c.nxt[0], n1 = c.nxt[1];
  SECTION("too far ahead: past what the receiver's window allows") {
    CHECK(c.raw(0, segment(kPshAck, n0 + 65000, n1, 65535, 1000)).verdict == Verdict::OutOfWindow);
  }
  SECTION("too far behind: more than a window back") {
    CHECK(c.raw(0, segment(kPshAck, n0 - 70000, n1, 65535, 1000)).verdict == Verdict::OutOfWindow);
  }
  SECTION("acknowledging data the other side never sent") {
    CHECK(c.raw(0, segment(kAck, n0, n1 + 70000, 65535)).verdict == Verdict::OutOfWindow);
  }
  SECTION("acknowledging more than a window behind") {
    CHECK(c.raw(0, segment(kAck, n0, n1 - 70000, 65535)).verdict == Verdict::OutOfWindow);
  }
  SECTION("a SYN with another sequence number on an established connection") {
    const auto t = c.raw(0, segment(tcpf::Syn, n0 + 1000000, 0, 65535));
    CHECK(t.verdict == Verdict::OutOfWindow);
  }
  CHECK(Snapshot(c.s) == before);
  // The connection carries on.
  CHECK(c.send(0, kPshAck, 1000).timeout == Timeout::TcpEstablished);
  CHECK(c.send(1, kAck).timeout == Timeout::TcpEstablished);
}

TEST_CASE("an ACK without data is judged by its acknowledgement, not its sequence number", "[track]") {
  // E.g. a side whose data went another way, or a state synced from the
  // peer firewall a little behind: its pure ACKs carry no data to check.
  Conn c(1000);
  c.establish(5000);
  REQUIRE(c.send(1, kPshAck, 1000).verdict == Verdict::Pass);
  const uint32_t seqlo = c.s.seqlo[0].load();
  CHECK(c.raw(0, segment(kAck, c.nxt[0] + 100000, c.nxt[1], 65535)).verdict == Verdict::Pass);
  CHECK(c.s.seqlo[0].load() == seqlo);  // nor does it move the edge
  CHECK(c.raw(0, segment(kPshAck, c.nxt[0] + 100000, c.nxt[1], 65535, 1)).verdict == Verdict::OutOfWindow);
  CHECK(c.raw(0, segment(kAck, c.nxt[0] + 100000, c.nxt[1] + 100000, 65535)).verdict == Verdict::OutOfWindow);
}

TEST_CASE("retransmissions within the last window pass", "[track]") {
  Conn c(1000);
  c.establish(5000);
  for (int i = 0; i < 50; ++i) REQUIRE(c.send(0, kPshAck, 1000).verdict == Verdict::Pass);
  REQUIRE(c.send(1, kAck).verdict == Verdict::Pass);
  const uint32_t n0 = c.nxt[0], n1 = c.nxt[1];
  CHECK(c.raw(0, segment(kPshAck, n0 - 40000, n1, 65535, 1000)).verdict == Verdict::Pass);
  CHECK(c.s.seqlo[0].load() == n0);  // a retransmission does not move the edge back
  CHECK(c.raw(1, segment(kAck, n1, n0 - 30000, 65535)).verdict == Verdict::Pass);  // an old ACK
}

TEST_CASE("a reset with the exact sequence number closes the connection", "[track]") {
  Conn c(1000);
  c.establish(5000);
  REQUIRE(c.send(0, kPshAck, 500).verdict == Verdict::Pass);
  REQUIRE(c.send(1, kPshAck, 700).verdict == Verdict::Pass);
  uint32_t seq = c.nxt[1];
  SECTION("at the edge") {}
  SECTION("one past it") { seq += 1; }
  SECTION("one before it") { seq -= 1; }
  const auto t = c.raw(1, segment(kRstAck, seq, c.nxt[0], 0));
  CHECK(t.verdict == Verdict::Pass);
  CHECK(t.timeout == Timeout::TcpClosed);
  CHECK(progress(c.s, 0) == tcps::TimeWait);
  CHECK(progress(c.s, 1) == tcps::TimeWait);
}

TEST_CASE("a reset without ACK from the initiator closes too", "[track]") {
  Conn c(1000);
  c.establish(5000);
  REQUIRE(c.send(0, kPshAck, 500).verdict == Verdict::Pass);
  const auto t = c.raw(0, segment(tcpf::Rst, c.nxt[0], 0, 0));
  CHECK(t.verdict == Verdict::Pass);
  CHECK(t.timeout == Timeout::TcpClosed);
}

TEST_CASE("a reset inside the window but not at its edge is dropped", "[track]") {
  Conn c(1000);
  c.establish(5000);
  REQUIRE(c.send(1, kPshAck, 700).verdict == Verdict::Pass);
  SECTION("on an established connection") {}
  SECTION("on a half-closed one (where the loose check applies)") {
    REQUIRE(c.send(0, kFinAck).verdict == Verdict::Pass);
    REQUIRE(c.send(1, kAck).verdict == Verdict::Pass);
    REQUIRE(progress(c.s, 0) == tcps::FinWait2);
  }
  const Snapshot before(c.s);
  for (uint32_t off : {2u, 1000u, 30000u}) {
    INFO("offset " << off);
    CHECK(c.raw(1, segment(kRstAck, c.nxt[1] + off, c.nxt[0], 0)).verdict == Verdict::OutOfWindow);
    CHECK(c.raw(1, segment(tcpf::Rst, c.nxt[1] + off, 0, 0)).verdict == Verdict::OutOfWindow);
  }
  CHECK(Snapshot(c.s) == before);
  // The responder still sends (after a half-close too).
  CHECK(c.send(1, kPshAck, 100).verdict == Verdict::Pass);
  CHECK(progress(c.s, 1) == tcps::Established);
}

TEST_CASE("a closed port's reset to the SYN closes the state", "[track]") {
  Conn c(1000);
  const auto t = c.raw(1, segment(kRstAck, 0, 1001, 0));
  CHECK(t.verdict == Verdict::Pass);
  CHECK(t.timeout == Timeout::TcpClosed);
  // The client tries again: a new connection, not a drop.
  CHECK(c.raw(0, segment(tcpf::Syn, 1000, 0, 65535)).verdict == Verdict::Reopen);
}

TEST_CASE("FINs move the connection through closing, finwait and closed", "[track]") {
  Conn c(1000);
  c.establish(5000);
  REQUIRE(c.send(0, kPshAck, 100).verdict == Verdict::Pass);
  REQUIRE(c.send(1, kPshAck, 100).verdict == Verdict::Pass);

  auto t = c.send(0, kFinAck);
  CHECK(t.verdict == Verdict::Pass);
  CHECK(t.timeout == Timeout::TcpClosing);
  CHECK(t.progressed);
  CHECK(progress(c.s, 0) == tcps::Closing);

  SECTION("the responder acknowledges, sends more, then closes its side") {
    t = c.send(1, kAck);
    CHECK(t.timeout == Timeout::TcpClosing);
    CHECK(progress(c.s, 0) == tcps::FinWait2);
    CHECK(c.send(1, kPshAck, 500).timeout == Timeout::TcpClosing);  // half-closed: data still flows back
    t = c.send(1, kFinAck);
    CHECK(t.timeout == Timeout::TcpFinWait);
  }
  SECTION("the responder acknowledges and closes in one segment") {
    t = c.send(1, kFinAck);
    CHECK(t.timeout == Timeout::TcpFinWait);
  }
  t = c.send(0, kAck);
  CHECK(t.verdict == Verdict::Pass);
  CHECK(t.timeout == Timeout::TcpClosed);
  CHECK(progress(c.s, 0) == tcps::FinWait2);
  CHECK(progress(c.s, 1) == tcps::FinWait2);
}

TEST_CASE("a new SYN on a closed connection reopens it", "[track]") {
  Conn c(1000);
  c.establish(5000);
  REQUIRE(c.send(0, kPshAck, 100).verdict == Verdict::Pass);
  SECTION("closed by FINs") {
    REQUIRE(c.send(0, kFinAck).verdict == Verdict::Pass);
    REQUIRE(c.send(1, kFinAck).verdict == Verdict::Pass);
    REQUIRE(c.send(0, kAck).timeout == Timeout::TcpClosed);
  }
  SECTION("closed by a reset") {
    REQUIRE(c.send(1, kRstAck).timeout == Timeout::TcpClosed);
  }
  const Snapshot before(c.s);
  CHECK(c.raw(0, segment(tcpf::Syn, 777777, 0, 65535)).verdict == Verdict::Reopen);
  CHECK(c.raw(1, segment(tcpf::Syn, 888888, 0, 65535)).verdict == Verdict::Reopen);  // the other way round too
  CHECK(Snapshot(c.s) == before);
  // A SYN-ACK does not open anything.
  CHECK(c.raw(1, segment(kSynAck, 888888, 777778, 65535)).verdict != Verdict::Reopen);
}

TEST_CASE("a SYN on a connection that is still open does not reopen it", "[track]") {
  Conn c(1000);
  c.establish(5000);
  SECTION("established") {}
  SECTION("half closed") {
    REQUIRE(c.send(0, kFinAck).verdict == Verdict::Pass);
    REQUIRE(c.send(1, kAck).verdict == Verdict::Pass);
  }
  CHECK(c.raw(0, segment(tcpf::Syn, 900000000, 0, 65535)).verdict == Verdict::OutOfWindow);
}

TEST_CASE("stray segments after a close pass without keeping the state alive", "[track]") {
  Conn c(1000);
  c.establish(5000);
  // A FIN|ACK with an acknowledgement far off: what some servers send after a close.
  const auto stray = [&] { return c.raw(1, segment(kFinAck, c.nxt[1], c.nxt[0] + 100000, 65535)); };
  const Snapshot open(c.s);
  CHECK(stray().verdict == Verdict::OutOfWindow);  // on an open connection it is just bad
  CHECK(Snapshot(c.s) == open);

  REQUIRE(c.send(0, kFinAck).verdict == Verdict::Pass);
  REQUIRE(c.send(1, kFinAck).verdict == Verdict::Pass);
  REQUIRE(c.send(0, kAck).timeout == Timeout::TcpClosed);
  const auto t = stray();
  CHECK(t.verdict == Verdict::Pass);
  CHECK_FALSE(t.refresh);
  CHECK(t.timeout == Timeout::TcpClosed);
  // Beyond a window of slack it is dropped even then.
  CHECK(c.raw(1, segment(kPshAck, c.nxt[1] + 200000, c.nxt[0], 65535, 100)).verdict == Verdict::OutOfWindow);
}

TEST_CASE("SYNs shotgunned before the peer answers pass the loose check", "[track]") {
  Conn c(1000);
  // A stack that picks a new ISN for its retransmission, a little further on.
  auto t = c.raw(0, segment(tcpf::Syn, 21000, 0, 65535));
  CHECK(t.verdict == Verdict::Pass);
  CHECK_FALSE(t.refresh);  // only a real answer keeps the state alive
  CHECK(c.raw(0, segment(tcpf::Syn, 1000 + 200000, 0, 65535)).verdict == Verdict::OutOfWindow);
  // The peer answers the second SYN.
  t = c.raw(1, segment(kSynAck, 5000, 21001, 65535));
  CHECK(t.verdict == Verdict::Pass);
  CHECK(t.refresh);
  c.nxt[0] = 21001;
  c.nxt[1] = 5001;
  CHECK(c.send(0, kAck).timeout == Timeout::TcpEstablished);
}

TEST_CASE("sequence numbers wrap around 2^32", "[track]") {
  Conn c(0xffffff00u);
  c.establish(0xfffffff0u);
  for (int i = 0; i < 20; ++i) {
    INFO("segment " << i);
    REQUIRE(c.send(0, kPshAck, 100).verdict == Verdict::Pass);
    REQUIRE(c.send(1, kPshAck, 100).verdict == Verdict::Pass);
  }
  REQUIRE(c.nxt[0] < 0x1000);  // both went past zero
  REQUIRE(c.nxt[1] < 0x1000);
  CHECK(c.s.seqlo[0].load() == c.nxt[0]);
  const Snapshot before(c.s);
  CHECK(c.raw(0, segment(kPshAck, c.nxt[0] + 65535, c.nxt[1], 65535, 100)).verdict == Verdict::OutOfWindow);
  CHECK(c.raw(0, segment(kPshAck, c.nxt[0] - 70000, c.nxt[1], 65535, 100)).verdict == Verdict::OutOfWindow);
  CHECK(Snapshot(c.s) == before);
  CHECK(c.raw(0, segment(kPshAck, 0xffffff80u, c.nxt[1], 65535, 100)).verdict == Verdict::Pass);  // a retransmission from before the wrap
  CHECK(c.raw(1, segment(kRstAck, c.nxt[1], c.nxt[0], 0)).timeout == Timeout::TcpClosed);
}

TEST_CASE("impossible flag combinations are rejected", "[track]") {
  CHECK_FALSE(dp::tcp_flags_valid(tcpf::Syn | tcpf::Rst));
  CHECK_FALSE(dp::tcp_flags_valid(tcpf::Syn | tcpf::Rst | tcpf::Ack));
  CHECK_FALSE(dp::tcp_flags_valid(tcpf::Syn | tcpf::Fin));
  CHECK_FALSE(dp::tcp_flags_valid(tcpf::Syn | tcpf::Fin | tcpf::Psh | tcpf::Urg));  // a "christmas tree"
  CHECK_FALSE(dp::tcp_flags_valid(0));                                             // a null scan
  CHECK_FALSE(dp::tcp_flags_valid(tcpf::Ece | tcpf::Cwr));
  CHECK(dp::tcp_flags_valid(tcpf::Syn));
  CHECK(dp::tcp_flags_valid(tcpf::Syn | tcpf::Ece | tcpf::Cwr));  // ECN setup
  CHECK(dp::tcp_flags_valid(kSynAck));
  CHECK(dp::tcp_flags_valid(kAck));
  CHECK(dp::tcp_flags_valid(kFinAck | tcpf::Psh));
  CHECK(dp::tcp_flags_valid(tcpf::Rst));
  CHECK(dp::tcp_flags_valid(kRstAck));
}

// ---------------------------------------------------------------- windows from the peer

namespace {

constexpr uint8_t kSynced = dp::sflag::SyncedWin0 | dp::sflag::SyncedWin1;

// The connection as the peer last told us about it, `by` bytes ago on both
// sides (its update is a second old, or more): both edges of both sides
// that much behind, progress and scales as they are, and — if `synced` —
// marked as the peer's, as the sync applier installs it.
void lag(dp::State& s, uint32_t by, bool synced = true) {
  for (int w = 0; w < 2; ++w) {
    s.seqlo[w].store(s.seqlo[w].load() - by);
    s.seqhi[w].store(s.seqhi[w].load() - by);
  }
  if (synced) s.flags.fetch_or(kSynced);
}

// An established connection with data both ways.
void busy(Conn& c) {
  c.establish(900000);
  for (int i = 0; i < 20; ++i) {
    REQUIRE(c.send(0, kPshAck, 1000).verdict == Verdict::Pass);
    REQUIRE(c.send(1, kPshAck, 1400).verdict == Verdict::Pass);
  }
}

}  // namespace

TEST_CASE("windows from the peer a megabyte behind: each side's first segment passes, then the check is strict",
          "[track][sync]") {
  Conn c(100000);
  busy(c);
  lag(c.s, 1u << 20);

  // Side 0's first segment after the takeover: far outside the old window,
  // passed, and its edge re-anchored on it.
  auto t = c.send(0, kPshAck, 100);
  CHECK(t.verdict == Verdict::Pass);
  CHECK(t.refresh);
  CHECK(c.s.seqlo[0].load() == c.nxt[0]);
  CHECK((c.s.flags.load() & kSynced) == dp::sflag::SyncedWin1);
  // Side 1's first one, a pure ACK: judged at its own sequence number,
  // which moves its edge up.
  t = c.send(1, kAck);
  CHECK(t.verdict == Verdict::Pass);
  CHECK(c.s.seqlo[1].load() == c.nxt[1]);
  CHECK((c.s.flags.load() & kSynced) == 0);

  // Strict again on both sides: a second segment outside the window is dropped.
  const Snapshot before(c.s);
  CHECK(c.raw(0, segment(kPshAck, c.nxt[0] + (4u << 20), c.nxt[1], 65535, 100)).verdict == Verdict::OutOfWindow);
  CHECK(c.raw(1, segment(kPshAck, c.nxt[1] + (4u << 20), c.nxt[0], 65535, 100)).verdict == Verdict::OutOfWindow);
  CHECK(c.raw(0, segment(kPshAck, c.nxt[0] - (1u << 20), c.nxt[1], 65535, 100)).verdict == Verdict::OutOfWindow);
  CHECK(Snapshot(c.s) == before);
  // And the connection goes on.
  for (int i = 0; i < 50; ++i) {
    REQUIRE(c.send(0, kPshAck, 1000).verdict == Verdict::Pass);
    REQUIRE(c.send(1, kAck).verdict == Verdict::Pass);
  }
  CHECK(c.send(0, kFinAck).progressed);
}

TEST_CASE("windows from the peer: one side sends a burst before the other says anything", "[track][sync]") {
  Conn c(100000);
  busy(c);
  lag(c.s, 1u << 20);
  // Side 0's acknowledgements cannot be checked against side 1's edge,
  // which lags too, until side 1's own first segment re-anchors it.
  for (int i = 0; i < 10; ++i) REQUIRE(c.send(0, kPshAck, 1000).verdict == Verdict::Pass);
  CHECK((c.s.flags.load() & kSynced) == dp::sflag::SyncedWin1);
  REQUIRE(c.send(1, kAck).verdict == Verdict::Pass);
  CHECK((c.s.flags.load() & kSynced) == 0);
  for (int i = 0; i < 10; ++i) REQUIRE(c.send(1, kPshAck, 1000).verdict == Verdict::Pass);
  REQUIRE(c.send(0, kAck).verdict == Verdict::Pass);
  // Now an acknowledgement of data side 1 never sent is refused again.
  CHECK(c.raw(0, segment(kAck, c.nxt[0], c.nxt[1] + 200000, 65535)).verdict == Verdict::OutOfWindow);
}

TEST_CASE("the same lagging windows without the peer's mark are strict from the first segment", "[track][sync]") {
  Conn c(100000);
  busy(c);
  lag(c.s, 1u << 20, false);
  CHECK(c.send(0, kPshAck, 100).verdict == Verdict::OutOfWindow);
  CHECK(c.send(1, kPshAck, 100).verdict == Verdict::OutOfWindow);
}

TEST_CASE("a side marked as the peer's whose window is right is strict after its first segment", "[track][sync]") {
  Conn c(100000);
  busy(c);
  lag(c.s, 0);
  auto t = c.send(0, kPshAck, 100);  // inside the window: passes as any segment, and clears the mark
  CHECK(t.verdict == Verdict::Pass);
  CHECK((c.s.flags.load() & kSynced) == dp::sflag::SyncedWin1);
  CHECK(c.raw(0, segment(kPshAck, c.nxt[0] + (4u << 20), c.nxt[1], 65535, 100)).verdict == Verdict::OutOfWindow);
}

TEST_CASE("a reset on a window from the peer still needs its exact sequence number", "[track][sync]") {
  Conn c(100000);
  busy(c);
  lag(c.s, 1u << 20);
  // At the connection's real edge, but not the one the state knows: no
  // re-anchoring for a reset, and the mark stays.
  const Snapshot before(c.s);
  CHECK(c.raw(0, segment(kRstAck, c.nxt[0], c.nxt[1], 0)).verdict == Verdict::OutOfWindow);
  CHECK(Snapshot(c.s) == before);
  CHECK((c.s.flags.load() & kSynced) == kSynced);
  // Once a segment has re-anchored the side, its reset closes the connection.
  REQUIRE(c.send(0, kPshAck, 10).verdict == Verdict::Pass);
  auto t = c.raw(0, segment(kRstAck, c.nxt[0], c.nxt[1], 0));
  CHECK(t.verdict == Verdict::Pass);
  CHECK(t.timeout == Timeout::TcpClosed);
}

// ---------------------------------------------------------------- parse_tcp

namespace {

// A TCP header with `options` (padded with EOL to a multiple of 4 unless
// `doff` forces a data offset) followed by `payload` bytes.
std::vector<uint8_t> tcp_header(uint8_t flags, std::vector<uint8_t> options = {}, size_t payload = 0,
                                int doff = -1) {
  while (options.size() % 4) options.push_back(0);
  std::vector<uint8_t> h(20 + options.size() + payload, 0xee);
  const uint8_t fixed[20] = {0x04, 0xd2, 0x00, 0x50,  0x01, 0x02, 0x03, 0x04, 0xa1, 0xb2,
                             0xc3, 0xd4, 0x00, flags, 0x72, 0x10, 0x00, 0x00, 0x00, 0x00};
  std::memcpy(h.data(), fixed, 20);
  h[12] = uint8_t((doff < 0 ? (20 + options.size()) / 4 : size_t(doff)) << 4);
  if (!options.empty()) std::memcpy(h.data() + 20, options.data(), options.size());
  return h;
}

uint8_t wscale_in(const std::vector<uint8_t>& options, uint8_t flags = tcpf::Syn) {
  const auto h = tcp_header(flags, options);
  dp::TcpSegment seg;
  REQUIRE(dp::parse_tcp(h.data(), h.size(), seg));
  return seg.wscale;
}

}  // namespace

TEST_CASE("parse_tcp reads the header in host order", "[track][parse]") {
  const auto h = tcp_header(kPshAck, {}, 300);
  dp::TcpSegment seg;
  REQUIRE(dp::parse_tcp(h.data(), h.size(), seg));
  CHECK(seg.seq == 0x01020304u);
  CHECK(seg.ack == 0xa1b2c3d4u);
  CHECK(seg.win == 0x7210);
  CHECK(seg.flags == kPshAck);
  CHECK(seg.payload == 300);
  CHECK(seg.wscale == dp::kNoWscale);
}

TEST_CASE("parse_tcp refuses truncated headers and impossible data offsets", "[track][parse]") {
  dp::TcpSegment seg;
  const auto h = tcp_header(kAck, {1, 1, 1, 1, 1, 1, 1, 1});  // 28 bytes, data offset 7
  CHECK(dp::parse_tcp(h.data(), 28, seg));
  CHECK(seg.payload == 0);
  CHECK_FALSE(dp::parse_tcp(h.data(), 27, seg));  // the options are cut off
  CHECK_FALSE(dp::parse_tcp(h.data(), 19, seg));
  CHECK_FALSE(dp::parse_tcp(h.data(), 0, seg));
  for (int doff : {0, 1, 4}) {
    INFO("data offset " << doff);
    const auto bad = tcp_header(kAck, {}, 40, doff);
    CHECK_FALSE(dp::parse_tcp(bad.data(), bad.size(), seg));
  }
  const auto big = tcp_header(kAck, {}, 40, 15);  // 60 bytes of header in 60 bytes
  CHECK(dp::parse_tcp(big.data(), big.size(), seg));
  CHECK(seg.payload == 0);
  const auto past = tcp_header(kAck, {}, 39, 15);  // 60 bytes of header in 59
  CHECK_FALSE(dp::parse_tcp(past.data(), past.size(), seg));
}

TEST_CASE("parse_tcp finds the window scale option of a SYN", "[track][parse]") {
  CHECK(wscale_in({3, 3, 7}) == 7);
  CHECK(wscale_in({1, 3, 3, 0}) == 0);
  // A Linux SYN: MSS, SACK permitted, timestamps, NOP, window scale.
  CHECK(wscale_in({2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7}) == 7);
  CHECK(wscale_in({3, 3, 15}) == 14);   // more than 14 counts as 14
  CHECK(wscale_in({3, 3, 200}) == 14);
  CHECK(wscale_in({3, 3, 7}, kSynAck) == 7);
  CHECK(wscale_in({3, 3, 7}, kAck) == dp::kNoWscale);  // only a SYN announces it
  CHECK(wscale_in({}) == dp::kNoWscale);
  CHECK(wscale_in({0, 3, 3, 7}) == dp::kNoWscale);  // after the end of the list
  CHECK(wscale_in({3, 4, 7, 0}) == dp::kNoWscale);  // wrong length for the option
  CHECK(wscale_in({8, 1, 3, 3, 7}) == dp::kNoWscale);  // a length under 2 ends the walk
  CHECK(wscale_in({8, 0, 3, 3, 7}) == dp::kNoWscale);
  CHECK(wscale_in({2, 40, 3, 3, 7}) == dp::kNoWscale);  // a length past the header ends it
  CHECK(wscale_in({1, 1, 1, 3}) == dp::kNoWscale);  // kind with no room for its length
  CHECK(wscale_in({1, 1, 3, 3}) == dp::kNoWscale);  // length with no room for the value
}

// ---------------------------------------------------------------- UDP, other

TEST_CASE("UDP: single until both sides sent, then multiple", "[track][udp]") {
  for (uint8_t proto : {net::kProtoUdp, uint8_t(47)}) {
    const bool udp = proto == net::kProtoUdp;
    INFO("protocol " << int(proto));
    dp::StateInit in;
    in.key.proto = proto;
    dp::first_packet_init(in, proto);
    dp::State s{};
    fill(s, in);
    CHECK(progress(s, 0) == dp::udps::Single);
    CHECK(progress(s, 1) == dp::udps::NoTraffic);
    const Timeout single = udp ? Timeout::UdpSingle : Timeout::OtherSingle;
    const Timeout multiple = udp ? Timeout::UdpMultiple : Timeout::OtherMultiple;
    const dp::Tracked again = dp::udp_track(s, 0);  // the initiator again, no answer yet
    CHECK(again.timeout == single);
    CHECK_FALSE(again.progressed);
    const dp::Tracked answer = dp::udp_track(s, 1);  // the answer: the initiator is now MULTIPLE
    CHECK(answer.timeout == single);
    CHECK(answer.progressed);
    CHECK(progress(s, 0) == dp::udps::Multiple);
    CHECK(progress(s, 1) == dp::udps::Single);
    CHECK_FALSE(dp::udp_track(s, 1).progressed);
    const dp::Tracked both = dp::udp_track(s, 0);  // the responder is MULTIPLE too
    CHECK(both.timeout == multiple);
    CHECK(both.progressed);
    CHECK(dp::udp_track(s, 1).timeout == multiple);
    CHECK(dp::udp_track(s, 0).timeout == multiple);
    CHECK_FALSE(dp::udp_track(s, 0).progressed);
  }
}

// udp_track returns inline when nothing would move; otherwise it goes to
// detail::udp_track_update. Both must agree on every starting point: the
// class, whether progress moved, and the state afterwards (window scales
// untouched).
TEST_CASE("UDP: the inline path and the update agree from every progress pair", "[track][udp]") {
  for (uint8_t proto : {net::kProtoUdp, uint8_t(47)})
    for (uint8_t p0 = 0; p0 <= dp::udps::Multiple; ++p0)
      for (uint8_t p1 = 0; p1 <= dp::udps::Multiple; ++p1)
        for (uint8_t dir = 0; dir < 2; ++dir) {
          INFO("protocol " << int(proto) << " progress " << int(p0) << "/" << int(p1) << " dir " << int(dir));
          dp::State a{}, b{};
          for (dp::State* s : {&a, &b}) {
            s->proto = proto;
            s->peer[0].store(dp::peer_byte(p0, 3), std::memory_order_relaxed);
            s->peer[1].store(dp::peer_byte(p1, dp::kNoWscale), std::memory_order_relaxed);
          }
          CHECK(dp::udp_track(a, dir) == dp::detail::udp_track_update(b, dir));
          CHECK(a.peer[0].load() == b.peer[0].load());
          CHECK(a.peer[1].load() == b.peer[1].load());
        }
}

TEST_CASE("ICMP and TCP states get no UDP progress from first_packet_init", "[track][udp]") {
  for (uint8_t proto : {net::kProtoIcmp, net::kProtoTcp}) {
    dp::StateInit in;
    dp::first_packet_init(in, proto);
    CHECK(dp::progress_of(in.peer[0]) == 0);
    CHECK(dp::progress_of(in.peer[1]) == 0);
  }
}

// ---------------------------------------------------------------- concurrency

// Two workers, one per direction, on one state: each replays its side of a
// long bidirectional transfer. A side acknowledges only what the other's
// worker has already passed (a host receives only what got through), but
// otherwise the two run freely, so the state's fields are read and written
// from both threads in every interleaving. Windows are scaled large enough
// that any such interleaving is legitimate TCP: nothing may be dropped.
TEST_CASE("two workers tracking the two directions of a connection never drop a valid segment",
          "[track][concurrency]") {
  constexpr uint8_t ws = 7;           // 65535 << 7: 8 MB windows
  constexpr int kSegments = 50000;    // per direction
  const uint32_t isn[2] = {0xfff00000u, 0x7ffff000u};  // side 0 wraps

  Conn c(isn[0], 65535, ws);
  REQUIRE(c.syn_ack(isn[1], 65535, ws).verdict == Verdict::Pass);
  REQUIRE(c.send(0, kAck).timeout == Timeout::TcpEstablished);
  // A SYN's window is never scaled: the responder's first ACK opens its own.
  REQUIRE(c.send(1, kAck).timeout == Timeout::TcpEstablished);

  // The payload of side w's i-th segment: every fifth a pure ACK, the rest
  // 1 to 160 bytes (3 MB per side, well inside the window).
  const auto len = [](int w, int i) -> uint32_t { return i % 5 == 4 ? 0 : 1 + uint32_t(i * (31 + w * 6) % 160); };
  uint32_t fin_end[2];
  for (int w = 0; w < 2; ++w) {
    uint32_t n = c.nxt[w];
    for (int i = 0; i < kSegments; ++i) n += len(w, i);
    fin_end[w] = n + 1;
  }

  // What each side's worker has passed: the other side's next ACK.
  std::atomic<uint32_t> passed[2];
  passed[0].store(c.nxt[0]);
  passed[1].store(c.nxt[1]);
  std::atomic<int> bad{0};
  std::atomic<int> ready{0};

  const auto side = [&](int w) {
    const int o = w ^ 1;
    ready.fetch_add(1);
    while (ready.load() < 2) std::this_thread::yield();  // start together
    uint32_t nxt = c.nxt[w];
    const auto send = [&](uint8_t flags, uint32_t payload, uint16_t win) {
      const uint32_t ack = passed[o].load(std::memory_order_acquire);
      const dp::Tracked t = dp::tcp_track(c.s, uint8_t(w), segment(flags, nxt, ack, win, payload));
      if (t.verdict != Verdict::Pass) bad.fetch_add(1);
      nxt += payload + ((flags & tcpf::Fin) ? 1 : 0);
      passed[w].store(nxt, std::memory_order_release);
    };
    for (int i = 0; i < kSegments; ++i) send(len(w, i) ? kPshAck : kAck, len(w, i), uint16_t(65535 - i % 64));
    send(kFinAck, 0, 65535);
    // The last ACK answers the other side's FIN, once it got through.
    while (passed[o].load(std::memory_order_acquire) != fin_end[o]) std::this_thread::yield();
    send(kAck, 0, 65535);
  };
  std::thread t0(side, 0), t1(side, 1);
  t0.join();
  t1.join();

  CHECK(bad.load() == 0);
  for (int w = 0; w < 2; ++w) {
    INFO("side " << w);
    CHECK(c.s.seqlo[w].load() == fin_end[w]);
    CHECK(progress(c.s, w) == tcps::FinWait2);
    CHECK(wscale(c.s, w) == ws);  // the progress CASes kept the scale nibble
    CHECK(c.s.max_win[w].load() == 65535);
    // What the other side acknowledged last (the FIN) plus its window.
    CHECK(c.s.seqhi[w].load() == fin_end[w] + (65535u << ws));
  }
  // A new connection may now reuse the 4-tuple.
  CHECK(c.raw(0, segment(tcpf::Syn, 12345, 0, 65535)).verdict == Verdict::Reopen);
}

TEST_CASE("two workers on one UDP flow end in multiple", "[track][udp][concurrency]") {
  dp::StateInit in;
  in.key.proto = net::kProtoUdp;
  dp::first_packet_init(in, net::kProtoUdp);
  dp::State s{};
  fill(s, in);
  const auto side = [&](int w) {
    for (int i = 0; i < 5000; ++i) dp::udp_track(s, uint8_t(w));
  };
  std::thread t0(side, 0), t1(side, 1);
  t0.join();
  t1.join();
  CHECK(dp::udp_track(s, 0).timeout == Timeout::UdpMultiple);
  CHECK(progress(s, 0) == dp::udps::Multiple);
  CHECK(progress(s, 1) == dp::udps::Multiple);
}
