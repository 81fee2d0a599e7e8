// State timeouts: pf's classes, names and defaults (pf.conf(5), "set
// timeout"). A state's class follows from its protocol and how far each side
// has got (dataplane/track.h); its expiry is the last packet's time plus the
// class's seconds. The config (`dataplane.timeouts`) names them exactly as pf
// does, so an operator's pf.conf values carry over. docs/dataplane.md has the
// table and the why of each default.
#pragma once

#include <array>
#include <cstdint>

#include "dataplane/net/named.h"

namespace hafw::net {

enum class Timeout : uint8_t {
  TcpFirst,        // after the first SYN
  TcpOpening,      // before both sides are established
  TcpEstablished,  // both established
  TcpClosing,      // one side sent FIN
  TcpFinWait,      // both sent FIN, neither side closed for good
  TcpClosed,       // both sides closed (FINs acknowledged), or a RST
  UdpFirst,        // after the first packet
  UdpSingle,       // the initiator sent more than one packet, no reply yet
  UdpMultiple,     // both sides sent
  IcmpFirst,       // an echo request without reply yet, or with replies
  IcmpError,       // after an ICMP error about the flow
  OtherFirst,      // other protocols, as UDP
  OtherSingle,
  OtherMultiple,
  Count,
};

struct TimeoutDefault {
  Timeout id;
  const char* name;  // pf's name, and the key under dataplane.timeouts
  uint32_t seconds;  // pf's default
  const char* help;
};

inline constexpr std::array<TimeoutDefault, size_t(Timeout::Count)> kTimeouts{{
    {Timeout::TcpFirst, "tcp.first", 120, "TCP: after the first SYN"},
    {Timeout::TcpOpening, "tcp.opening", 30, "TCP: the handshake is under way (a SYN answered, not both established)"},
    {Timeout::TcpEstablished, "tcp.established", 86400, "TCP: both sides established"},
    {Timeout::TcpClosing, "tcp.closing", 900, "TCP: one side sent FIN"},
    {Timeout::TcpFinWait, "tcp.finwait", 45, "TCP: both sides sent FIN"},
    {Timeout::TcpClosed, "tcp.closed", 90, "TCP: both FINs acknowledged, or a RST was seen"},
    {Timeout::UdpFirst, "udp.first", 60, "UDP: after the first packet"},
    {Timeout::UdpSingle, "udp.single", 30, "UDP: the initiator sent more than once, no reply yet"},
    {Timeout::UdpMultiple, "udp.multiple", 60, "UDP: both sides sent"},
    {Timeout::IcmpFirst, "icmp.first", 20, "ICMP: an echo exchange"},
    {Timeout::IcmpError, "icmp.error", 10, "ICMP: after an ICMP error about the flow"},
    {Timeout::OtherFirst, "other.first", 60, "other protocols: after the first packet"},
    {Timeout::OtherSingle, "other.single", 30, "other protocols: the initiator sent more than once, no reply yet"},
    {Timeout::OtherMultiple, "other.multiple", 60, "other protocols: both sides sent"},
}};

constexpr bool timeouts_in_order() {
  for (size_t i = 0; i < kTimeouts.size(); ++i)
    if (size_t(kTimeouts[i].id) != i) return false;
  return true;
}
static_assert(timeouts_in_order(), "kTimeouts must list every Timeout in order");

// Seconds per class, as the workers read them.
using Timeouts = std::array<uint32_t, size_t(Timeout::Count)>;

constexpr Timeouts default_timeouts() {
  Timeouts t{};
  for (const auto& d : kTimeouts) t[size_t(d.id)] = d.seconds;
  return t;
}

}  // namespace hafw::net
