#include "dataplane/pipeline.h"

#include "dataplane/stages.h"

namespace hafw::dp {

namespace {

// Indexed by the enum; the static_asserts keep the tables and enums in step.
constexpr std::array<const char*, size_t(DropReason::Count)> kDropNames = {
    "runt",          "not_for_us",    "unknown_ethertype", "bad_arp",       "bad_ip_header",
    "bad_ip_checksum", "ip_fragment", "ttl_exceeded",      "no_route",      "local_unsupported",
    "vip_not_owned", "martian",       "bad_icmp",
};
static_assert(kDropNames.back() != nullptr, "a DropReason has no name");

constexpr std::array<const char*, size_t(PuntReason::Count)> kPuntNames = {
    "none", "carp", "pfsync", "arp", "resolve",
};
static_assert(kPuntNames.back() != nullptr, "a PuntReason has no name");

}  // namespace

const char* drop_reason_name(DropReason r) {
  return size_t(r) < kDropNames.size() ? kDropNames[size_t(r)] : "unknown";
}

const char* punt_reason_name(PuntReason r) {
  return size_t(r) < kPuntNames.size() ? kPuntNames[size_t(r)] : "unknown";
}

Result process(const View& v, uint8_t in, uint8_t* frame, uint16_t& len) {
  const IfaceView* ifc = v.iface(in);
  // A frame from a port the view does not know (a view built for fewer
  // ports than the glue polls) cannot be ours.
  if (!ifc) return Result::dropped(DropReason::NotForUs);
  stage::Packet p{.v = v, .in = in, .iface = *ifc, .frame = frame, .len = len, .l2_unicast = false};
  Result r = stage::eth_input(p);
  len = p.len;
  return r;
}

}  // namespace hafw::dp
