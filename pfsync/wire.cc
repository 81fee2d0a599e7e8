#include "pfsync/wire.h"

#include <bit>
#include <cstring>
#include <optional>

namespace hafw::pfsync {

// net::be16/be32 swap unconditionally: hafw runs on little-endian hosts.
static_assert(std::endian::native == std::endian::little);

namespace {

using net::be16;
using net::be32;
uint64_t be64(uint64_t v) { return __builtin_bswap64(v); }

uint8_t af_code(net::Family f) { return f == net::Family::V6 ? kAfInet6 : kAfInet; }

std::optional<net::Family> family_of(uint8_t code) {
  if (code == kAfInet) return net::Family::V4;
  if (code == kAfInet6) return net::Family::V6;
  return std::nullopt;
}

size_t addr_len(net::Family f) { return f == net::Family::V6 ? 16 : 4; }

// An interface name as pf keeps it: NUL-terminated within IFNAMSIZ (16).
// What follows the NUL is zeroed both ways, so that two records naming the
// same interface compare equal whatever the sender left there.
void put_name(const std::array<char, 16>& name, char* out) {
  std::memset(out, 0, 16);
  for (size_t i = 0; i < 15 && name[i] != '\0'; ++i) out[i] = name[i];
}

bool get_name(const char* in, std::array<char, 16>& name) {
  name.fill('\0');
  for (size_t i = 0; i < 16; ++i) {
    if (in[i] == '\0') return true;
    name[i] = in[i];
  }
  return false;  // no NUL: pf would read past the field
}

// 64-bit counters travel as two network-order words, high first
// (pf_state_counter_hton).
uint32_t high_word(uint64_t v) { return be32(uint32_t(v >> 32)); }
uint32_t low_word(uint64_t v) { return be32(uint32_t(v)); }
uint64_t counter(uint32_t hi, uint32_t lo) { return uint64_t(be32(hi)) << 32 | be32(lo); }

void put_peer(const PeerRecord& p, wire::StatePeer& w) {
  w = {};
  w.seqlo = be32(p.seqlo);
  w.seqhi = be32(p.seqhi);
  w.max_win = be16(p.max_win);
  w.state = p.state;
  w.wscale = p.wscale;
}

// A peer hafw can track: its state at most max_state, and a window scale
// of at most 14 with no bits but the value and pf's flag (a real pf clamps
// the option to 14, and the state table keeps the value in a nibble whose
// 15 means "no option").
bool get_peer(const wire::StatePeer& w, uint8_t max_state, PeerRecord& p) {
  if (w.state > max_state) return false;
  if ((w.wscale & ~(kWscaleFlag | kWscaleMask)) != 0 || (w.wscale & kWscaleMask) > kMaxWscale) return false;
  p.seqlo = be32(w.seqlo);
  p.seqhi = be32(w.seqhi);
  p.max_win = be16(w.max_win);
  p.state = w.state;
  p.wscale = w.wscale;
  return true;
}

// pf's key index of the initiator's end: pd->sidx, 0 for a state created
// inbound, 1 for one created outbound.
size_t initiator_index(uint8_t direction) { return direction == kDirOut ? 1 : 0; }

void put_key(const net::FlowKey& k, uint8_t direction, wire::StateKey& w) {
  w = {};
  const size_t s = initiator_index(direction), d = 1 - s;
  std::memcpy(w.addr[s], k.src.data(), addr_len(k.af));
  std::memcpy(w.addr[d], k.dst.data(), addr_len(k.af));
  w.port[s] = k.sport;  // both already in network order
  w.port[d] = k.dport;
  w.af = af_code(k.af);
}

void get_key(const wire::StateKey& w, net::Family af, uint8_t proto, uint8_t direction, net::FlowKey& k) {
  k = {};
  const size_t s = initiator_index(direction), d = 1 - s;
  // An IPv4 address is the first 4 bytes; the state table compares all 16,
  // so the rest is zeroed whatever the sender left there.
  std::memcpy(k.src.data(), w.addr[s], addr_len(af));
  std::memcpy(k.dst.data(), w.addr[d], addr_len(af));
  k.sport = w.port[s];
  k.dport = w.port[d];
  k.proto = proto;
  k.af = af;
}

}  // namespace

// ------------------------------------------------------------ full state

void encode(const StateRecord& r, uint8_t* out) {
  wire::State w{};
  w.id = be64(r.id);
  put_name(r.ifname, w.ifname);
  for (size_t k = 0; k < 2; ++k) put_key(r.key[k], r.direction, w.key[k]);
  put_peer(r.src, w.src);
  put_peer(r.dst, w.dst);
  // No route-to, anchor or NAT rule of pf's: -1 is pf's "none".
  w.rule = be32(r.rule);
  w.anchor = be32(0xffffffff);
  w.nat_rule = be32(0xffffffff);
  w.creation = be32(r.creation);
  w.expire = be32(r.expire);
  for (size_t d = 0; d < 2; ++d) {
    w.packets[d][0] = high_word(r.packets[d]);
    w.packets[d][1] = low_word(r.packets[d]);
    w.bytes[d][0] = high_word(r.bytes[d]);
    w.bytes[d][1] = low_word(r.bytes[d]);
  }
  w.creatorid = be32(r.creatorid);
  // Routing tables: hafw has one; -1 tells pf to leave the packet's own.
  w.rtableid[0] = w.rtableid[1] = -1;
  w.af = af_code(r.key[0].af);
  w.proto = r.proto;
  w.direction = r.direction;
  w.timeout = r.timeout;
  w.state_flags = be16(r.state_flags);
  std::memcpy(out, &w, sizeof w);
}

bool decode(const uint8_t* in, StateRecord& r) {
  wire::State w;
  std::memcpy(&w, in, sizeof w);
  // pfsync_in_ins's checks, and those hafw needs on top: a family for the
  // keys, a protocol, a direction to order them by, one of hafw's timeout
  // classes, progress the tracker knows, a terminated interface name.
  const auto af = family_of(w.af);
  if (!af) return false;
  if (w.proto == 0) return false;
  if (w.direction != kDirIn && w.direction != kDirOut) return false;
  if (w.timeout >= kTimeoutClasses) return false;
  if (!get_name(w.ifname, r.ifname)) return false;
  const uint8_t max_state = w.proto == net::kProtoTcp ? kTcpStateMax : kOtherStateMax;
  if (!get_peer(w.src, max_state, r.src) || !get_peer(w.dst, max_state, r.dst)) return false;
  for (size_t k = 0; k < 2; ++k) {
    // Senders before pf's af-to leave a key's af 0, meaning the state's; a
    // key of the other family is af-to (NAT64), which hafw does not do.
    if (w.key[k].af != 0 && w.key[k].af != w.af) return false;
    get_key(w.key[k], *af, w.proto, w.direction, r.key[k]);
  }
  r.id = be64(w.id);
  r.creatorid = be32(w.creatorid);
  r.rule = be32(w.rule);
  r.creation = be32(w.creation);
  r.expire = be32(w.expire);
  for (size_t d = 0; d < 2; ++d) {
    r.packets[d] = counter(w.packets[d][0], w.packets[d][1]);
    r.bytes[d] = counter(w.bytes[d][0], w.bytes[d][1]);
  }
  r.proto = w.proto;
  r.direction = w.direction;
  r.timeout = w.timeout;
  r.state_flags = be16(w.state_flags);
  return true;
}

// ------------------------------------------------------------ UPD_C

void encode(const UpdateRecord& r, uint8_t* out) {
  wire::UpdC w{};
  w.id = be64(r.id);
  put_peer(r.src, w.src);
  put_peer(r.dst, w.dst);
  w.creatorid = be32(r.creatorid);
  w.expire = be32(r.expire);
  w.timeout = r.timeout;
  w.state_flags = r.state_flags;
  std::memcpy(out, &w, sizeof w);
}

bool decode(const uint8_t* in, UpdateRecord& r) {
  wire::UpdC w;
  std::memcpy(&w, in, sizeof w);
  if (w.timeout >= kTimeoutClasses) return false;
  // The protocol is the state's, which only the table knows: TCP's range
  // here, the applier holds a UDP state to its own.
  if (!get_peer(w.src, kTcpStateMax, r.src) || !get_peer(w.dst, kTcpStateMax, r.dst)) return false;
  r.id = be64(w.id);
  r.creatorid = be32(w.creatorid);
  r.expire = be32(w.expire);
  r.timeout = w.timeout;
  r.state_flags = w.state_flags;
  return true;
}

// ------------------------------------------------------------ INS_ACK, UPD_REQ, DEL_C

void encode(const IdRecord& r, uint8_t* out) {
  const wire::Id w{.id = be64(r.id), .creatorid = be32(r.creatorid)};
  std::memcpy(out, &w, sizeof w);
}

bool decode(const uint8_t* in, IdRecord& r) {
  wire::Id w;
  std::memcpy(&w, in, sizeof w);
  r.id = be64(w.id);
  r.creatorid = be32(w.creatorid);
  return true;  // every id is one: 0/0 in an UPD_REQ asks for a bulk update
}

// ------------------------------------------------------------ BUS

void encode(const BusRecord& r, uint8_t* out) {
  wire::Bus w{};
  w.creatorid = be32(r.creatorid);
  w.endtime = be32(r.endtime);
  w.status = r.status;
  std::memcpy(out, &w, sizeof w);
}

bool decode(const uint8_t* in, BusRecord& r) {
  wire::Bus w;
  std::memcpy(&w, in, sizeof w);
  // Only START and END exist; anything else would leave the bulk update's
  // CARP demotion in an unknown state.
  if (w.status != kBusStart && w.status != kBusEnd) return false;
  r.creatorid = be32(w.creatorid);
  r.endtime = be32(w.endtime);
  r.status = w.status;
  return true;
}

// ------------------------------------------------------------ CLR

void encode(const ClrRecord& r, uint8_t* out) {
  wire::Clr w{};
  put_name(r.ifname, w.ifname);
  w.creatorid = be32(r.creatorid);
  std::memcpy(out, &w, sizeof w);
}

bool decode(const uint8_t* in, ClrRecord& r) {
  wire::Clr w;
  std::memcpy(&w, in, sizeof w);
  if (!get_name(w.ifname, r.ifname)) return false;
  r.creatorid = be32(w.creatorid);
  return true;
}

void encode(const ConfigChunkRecord& r, uint8_t* out) {
  wire::ConfigChunk w{};
  w.generation = be64(r.generation);
  w.total = be32(r.total);
  w.offset = be32(r.offset);
  w.length = be16(uint16_t(r.data.size()));
  std::memcpy(w.sha256, r.sha256.data(), sizeof w.sha256);
  std::memcpy(out, &w, sizeof w);
  const size_t n = r.data.size();
  if (n) std::memcpy(out + sizeof w, r.data.data(), n);
  std::memset(out + sizeof w + n, 0, config_message_size(n) - sizeof w - n);
}

bool decode(const uint8_t* in, size_t msg_len, ConfigChunkRecord& r) {
  if (msg_len < kConfigChunkSize) return false;
  wire::ConfigChunk w;
  std::memcpy(&w, in, sizeof w);
  const size_t length = be16(w.length);
  r.generation = be64(w.generation);
  r.total = be32(w.total);
  r.offset = be32(w.offset);
  std::memcpy(r.sha256.data(), w.sha256, sizeof w.sha256);
  if (w.flags != 0 || length == 0 || length > msg_len - kConfigChunkSize) return false;
  if (r.total > kMaxConfigSize || r.offset > r.total || length > r.total - r.offset) return false;
  r.data = {in + kConfigChunkSize, length};
  return true;
}

}  // namespace hafw::pfsync
