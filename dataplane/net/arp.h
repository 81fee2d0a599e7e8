// The one ARP frame writer (RFC 826). The workers answer requests in place,
// the neighbour manager builds requests and CARP builds gratuitous ARP: all of
// them fill an ArpFrame and write it here, so the layout lives in one place.
#pragma once

#include <cstdint>
#include <vector>

#include "dataplane/net/net.h"

namespace hafw::net {

constexpr size_t kArpFrameLen = sizeof(EthHdr) + sizeof(ArpHdr);  // 42, before padding

struct ArpFrame {
  Mac eth_dst;
  Mac eth_src;
  uint16_t op = kArpRequest;
  Mac sha;
  uint32_t spa = 0;  // host order
  Mac tha{};         // zero in a request
  uint32_t tpa = 0;  // host order
};

// Writes the 42 bytes of Ethernet + ARP at `out` (which may hold the frame
// being answered: every field is read from `f` first).
void write_arp(uint8_t* out, const ArpFrame& f);

// A new frame, padded with zeros to kEthMinFrame.
std::vector<uint8_t> arp_frame(const ArpFrame& f);

}  // namespace hafw::net
