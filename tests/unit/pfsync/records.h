// Sample records for the pfsync tests and the capture writer: every field
// a distinct value, so a field written to the wrong offset shows.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

#include "pfsync/frame.h"
#include "pfsync/wire.h"

namespace hafw::pfsync::test {

using Bytes = std::vector<uint8_t>;

inline std::array<uint8_t, 16> addr(const char* s) { return net::IpAddr::parse(s)->b; }
inline uint16_t port(uint16_t host_order) { return net::be16(host_order); }

inline std::array<char, 16> ifname(const char* s) {
  std::array<char, 16> n{};
  std::memcpy(n.data(), s, std::min<size_t>(std::strlen(s), 16));
  return n;
}

inline net::FlowKey key(const char* src, uint16_t sport, const char* dst, uint16_t dport, uint8_t proto) {
  net::FlowKey k;
  k.src = addr(src);
  k.dst = addr(dst);
  k.sport = port(sport);
  k.dport = port(dport);
  k.proto = proto;
  k.af = net::IpAddr::parse(src)->af;
  return k;
}

// An outbound-NAT TCP connection as pf keeps it on the WAN side: created
// outbound, the stack key the LAN client's, the wire key the VIP's.
inline StateRecord tcp_v4_nat() {
  StateRecord r;
  r.id = 0x0102030405060708;
  r.creatorid = 0x11223344;
  r.ifname = ifname("wan");
  r.key[0] = key("203.0.113.1", 50001, "198.51.100.10", 443, net::kProtoTcp);
  r.key[1] = key("10.0.0.5", 40000, "198.51.100.10", 443, net::kProtoTcp);
  r.src = {.seqlo = 0xa1a2a3a4, .seqhi = 0xa5a6a7a8, .max_win = 0xa9aa, .state = 4, .wscale = 0x87};
  r.dst = {.seqlo = 0xb1b2b3b4, .seqhi = 0xb5b6b7b8, .max_win = 0xb9ba, .state = 5, .wscale = 0x02};
  r.rule = 7;
  r.creation = 0xc1c2c3c4;
  r.expire = 0xc5c6c7c8;
  r.packets[0] = 0xd1d2d3d4d5d6d7d8;
  r.packets[1] = 0xe1e2e3e4e5e6e7e8;
  r.bytes[0] = 0xf1f2f3f4f5f6f7f8;
  r.bytes[1] = 0x9192939495969798;
  r.proto = net::kProtoTcp;
  r.direction = kDirOut;
  r.timeout = uint8_t(net::Timeout::TcpEstablished);
  r.state_flags = 0x1234;
  return r;
}

// A UDP flow over IPv6, created inbound, no NAT.
inline StateRecord udp_v6() {
  StateRecord r;
  r.id = 0x2000000000000042;
  r.creatorid = 0x55667788;
  r.ifname = ifname("lan6");
  r.key[0] = key("2001:db8:1::10", 5353, "2001:db8:2::20", 53, net::kProtoUdp);
  r.key[1] = r.key[0];
  r.src = {.seqlo = 0, .seqhi = 0, .max_win = 0, .state = 2, .wscale = 0};
  r.dst = {.seqlo = 0, .seqhi = 0, .max_win = 0, .state = 1, .wscale = 0};
  r.creation = 12;
  r.expire = 48;
  r.packets[0] = 3;
  r.packets[1] = 1;
  r.bytes[0] = 300;
  r.bytes[1] = 120;
  r.proto = net::kProtoUdp;
  r.direction = kDirIn;
  r.timeout = uint8_t(net::Timeout::UdpMultiple);
  return r;
}

inline UpdateRecord update() {
  UpdateRecord u;
  u.id = 0x0102030405060708;
  u.creatorid = 0x11223344;
  u.src = {.seqlo = 0x61626364, .seqhi = 0x65666768, .max_win = 0x696a, .state = 4, .wscale = 0x87};
  u.dst = {.seqlo = 0x71727374, .seqhi = 0x75767778, .max_win = 0x797a, .state = 6, .wscale = 0x80};
  u.expire = 0x7b7c7d7e;
  u.timeout = uint8_t(net::Timeout::TcpClosing);
  u.state_flags = 0x5a;
  return u;
}

inline IdRecord id_record() { return {.id = 0x0a0b0c0d0e0f1011, .creatorid = 0x12131415}; }
inline BusRecord bus(uint8_t status) { return {.creatorid = 0x21222324, .endtime = 0x25262728, .status = status}; }
inline ClrRecord clr() { return {.ifname = ifname("dmz"), .creatorid = 0x31323334}; }

// Big-endian reads written out again here, so the layout tests do not
// check the codec against itself.
inline uint16_t be16_at(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
inline uint32_t be32_at(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}
inline uint64_t be64_at(const uint8_t* p) { return uint64_t(be32_at(p)) << 32 | be32_at(p + 4); }
inline void put_be16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}

// Every record a visitor was handed, in order.
struct Recorder : FrameVisitor {
  struct Seen {
    Action action = Action::Clr;
    StateRecord state{};
    UpdateRecord update{};
    IdRecord id{};
    BusRecord bus{};
    ClrRecord clr{};
    ConfigChunkRecord config{};
    Bytes config_data{};  // a copy of config.data (which points into the frame)
  };
  std::vector<Seen> seen;

  void on_state(Action a, const StateRecord& r) override { seen.push_back({.action = a, .state = r}); }
  void on_update(const UpdateRecord& r) override { seen.push_back({.action = Action::UpdC, .update = r}); }
  void on_id(Action a, const IdRecord& r) override { seen.push_back({.action = a, .id = r}); }
  void on_bus(const BusRecord& r) override { seen.push_back({.action = Action::Bus, .bus = r}); }
  void on_clr(const ClrRecord& r) override { seen.push_back({.action = Action::Clr, .clr = r}); }
  void on_config(const ConfigChunkRecord& r) override {
    seen.push_back({.action = Action::HafwConfig, .config = r, .config_data = Bytes(r.data.begin(), r.data.end())});
  }
};

}  // namespace hafw::pfsync::test
