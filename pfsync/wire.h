// pfsync version 6 wire codec: OpenBSD's state sync records in network
// order, and the host-order model of them that the rest of hafw uses.
//
// Layouts from OpenBSD sys/net/if_pfsync.h and sys/net/pfvar.h (version 6),
// summarised in docs/protocols.md; what hafw writes into each field and what
// it ignores is in docs/sync.md. encode() and decode() are the one place where
// a record meets network order, as pf_state_export() and pf_state_import()
// are in pf. Decoding never allocates and never throws: a record with a value
// hafw cannot hold is refused (decode returns false), and the frame parser
// (pfsync/frame.h) counts it and goes on with the rest of the frame, as pf
// counts pfsyncs_badval and continues.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "dataplane/net/flow.h"
#include "dataplane/net/net.h"
#include "dataplane/net/timeouts.h"

namespace hafw::pfsync {

constexpr uint8_t kVersion = 6;
constexpr uint8_t kProto = net::kProtoPfsync;  // 240
// PFSYNC_DFLTTL: a TTL of 255 proves the sender is on the sync link; pf
// drops anything else (pfsyncs_badttl).
constexpr uint8_t kTtl = 255;

// The actions of version 6 (PFSYNC_ACT_*). Numbers 1, 3, 8, 9 and 11 belong
// to older versions; EOF is deprecated (version 6 never sends it) and TDB
// (15) is IPsec's: both are skipped by length like any unknown action.
// HafwConfig (200) is hafw's own, far above OpenBSD's 0-15 (PFSYNC_ACT_MAX
// is 16): one chunk of the primary's configuration (config sync,
// docs/sync.md). OpenBSD drops a whole frame with an action it does not
// know (pfsyncs_badact), so hafw sends config chunks in frames of their own.
enum class Action : uint8_t {
  Clr = 0,
  InsAck = 2,
  UpdC = 4,
  UpdReq = 5,
  Del = 6,
  DelC = 7,
  Bus = 10,
  Eof = 12,
  Ins = 13,
  Upd = 14,
  HafwConfig = 200,
};

constexpr size_t kHeaderSize = 20;
constexpr size_t kSubheaderSize = 4;
constexpr size_t kStateSize = 264;  // INS, UPD, DEL: struct pfsync_state
constexpr size_t kUpdCSize = 84;    // struct pfsync_upd_c
constexpr size_t kIdSize = 12;      // INS_ACK, UPD_REQ, DEL_C: id and creator id
constexpr size_t kBusSize = 12;     // struct pfsync_bus
constexpr size_t kClrSize = 20;     // struct pfsync_clr
// A config chunk's fixed part (wire::ConfigChunk); its bytes follow in the
// same message, which is as long as they need, rounded up to a word.
constexpr size_t kConfigChunkSize = 52;
// A message's length is 8 bits of 32-bit words: at most 1020 bytes, so a
// chunk carries at most 968 bytes of the configuration.
constexpr size_t kMaxMessage = 255 * 4;
constexpr size_t kMaxChunkData = kMaxMessage - kConfigChunkSize;
// The largest configuration config sync carries: the receiver's buffer.
constexpr uint32_t kMaxConfigSize = 1u << 20;

// The actions hafw handles and the size of each one's message: the table
// every section is checked against (pf's pfsync_acts[]). An action missing
// here is unknown and skipped by its subheader's length.
struct ActionInfo {
  Action id;
  const char* name;
  size_t size;
};

inline constexpr std::array<ActionInfo, 10> kActions{{
    {Action::Clr, "clr", kClrSize},
    {Action::InsAck, "ins_ack", kIdSize},
    {Action::UpdC, "upd_c", kUpdCSize},
    {Action::UpdReq, "upd_req", kIdSize},
    {Action::Del, "del", kStateSize},
    {Action::DelC, "del_c", kIdSize},
    {Action::Bus, "bus", kBusSize},
    {Action::Ins, "ins", kStateSize},
    {Action::Upd, "upd", kStateSize},
    {Action::HafwConfig, "hafw_config", kConfigChunkSize},  // the fixed part; the chunk's bytes follow
}};

// The message size of a known action, 0 for one hafw skips.
constexpr size_t record_size(uint8_t action) {
  for (const auto& a : kActions)
    if (uint8_t(a.id) == action) return a.size;
  return 0;
}
constexpr size_t record_size(Action a) { return record_size(uint8_t(a)); }

// "ins", "upd_c", ...; "unknown" for an action hafw skips.
constexpr const char* name(Action a) {
  for (const auto& x : kActions)
    if (x.id == a) return x.name;
  return "unknown";
}

// The subheader's len counts 32-bit words, so every record is a whole number
// of them.
constexpr bool sizes_in_words() {
  for (const auto& a : kActions)
    if (a.size % 4 != 0 || a.size / 4 > 255) return false;
  return true;
}
static_assert(sizes_in_words(), "a record size must fit the subheader's len in 32-bit words");

// ------------------------------------------------------------ on the wire
// Network byte order, packed, exactly pf's structs. Only wire.cc and
// frame.cc read or write these; everything else takes the records below.
namespace wire {

struct [[gnu::packed]] Header {
  uint8_t version;     // kVersion
  uint8_t pad;
  uint16_t len;        // the whole pfsync frame in bytes, this header included
  uint8_t pfcksum[16]; // MD5 of the sender's ruleset: do rule numbers mean the same here?
};
static_assert(sizeof(Header) == kHeaderSize);

struct [[gnu::packed]] Subheader {
  uint8_t action;
  uint8_t len;     // size of each message in 32-bit words
  uint16_t count;  // messages that follow
};
static_assert(sizeof(Subheader) == kSubheaderSize);

// struct pfsync_state_peer: one side of a connection. The scrub block is
// pf's normalisation state (TTL and timestamp modulation), which hafw does
// not do: sent as zeros, ignored on receipt.
struct [[gnu::packed]] StatePeer {
  uint16_t pfss_flags;
  uint8_t pfss_ttl;
  uint8_t scrub_flag;
  uint32_t pfss_ts_mod;
  uint32_t seqlo;    // the highest sequence number the side sent (+ its length)
  uint32_t seqhi;    // the highest it may send: the other side's ack + window
  uint32_t seqdiff;  // pf's sequence modulation; hafw sends 0
  uint16_t max_win;  // the largest window the side announced, unscaled
  uint16_t mss;
  uint8_t state;     // TCPS_* for TCP, NO_TRAFFIC/SINGLE/MULTIPLE otherwise
  uint8_t wscale;    // low 4 bits: the scale; 0x80: the side sent the option
  uint8_t pad[6];
};
static_assert(sizeof(StatePeer) == 32);
static_assert(offsetof(StatePeer, seqlo) == 8 && offsetof(StatePeer, seqhi) == 12 &&
              offsetof(StatePeer, seqdiff) == 16 && offsetof(StatePeer, max_win) == 20 &&
              offsetof(StatePeer, mss) == 22 && offsetof(StatePeer, state) == 24 &&
              offsetof(StatePeer, wscale) == 25 && offsetof(StatePeer, pad) == 26);

// struct pfsync_state_key. pf indexes addr and port by the direction of the
// packet that created the state (pd->sidx): for an inbound state [0] is the
// initiator's end, for an outbound one [1] is. The codec follows that rule,
// so the model's keys are always initiator first.
struct [[gnu::packed]] StateKey {
  uint8_t addr[2][16];  // IPv4 in the first 4 bytes
  uint16_t port[2];
  uint16_t rdomain;
  uint8_t af;  // 0 (older senders: the state's af), 2 or 24
  uint8_t pad;
};
static_assert(sizeof(StateKey) == 40);
static_assert(offsetof(StateKey, port) == 32 && offsetof(StateKey, rdomain) == 36 &&
              offsetof(StateKey, af) == 38 && offsetof(StateKey, pad) == 39);

// struct pfsync_state (pfvar.h): INS, UPD and DEL.
struct [[gnu::packed]] State {
  uint64_t id;            // htobe64
  char ifname[16];        // NUL-terminated
  StateKey key[2];        // [0] PF_SK_WIRE, [1] PF_SK_STACK
  StatePeer src;          // the initiator's side
  StatePeer dst;
  uint8_t rt_addr[16];    // route-to target
  uint32_t rule;          // rule numbers; 0xffffffff: none
  uint32_t anchor;
  uint32_t nat_rule;
  uint32_t creation;      // seconds since the state was created
  uint32_t expire;        // seconds until it expires
  uint32_t packets[2][2]; // per direction, a 64-bit count as hi, lo
  uint32_t bytes[2][2];
  uint32_t creatorid;
  int32_t rtableid[2];    // -1: none
  uint16_t max_mss;
  uint8_t af;             // AF_INET 2, AF_INET6 24 (OpenBSD's numbers)
  uint8_t proto;
  uint8_t direction;      // PF_IN 1, PF_OUT 2
  uint8_t log;
  uint8_t rt;             // route-to type
  uint8_t timeout;        // PFTM_* class
  uint8_t sync_flags;
  uint8_t updates;
  uint8_t min_ttl;
  uint8_t set_tos;
  uint16_t state_flags;   // PFSTATE_*
  uint8_t set_prio[2];
};
static_assert(sizeof(State) == kStateSize);
static_assert(offsetof(State, ifname) == 8 && offsetof(State, key) == 24 && offsetof(State, src) == 104 &&
              offsetof(State, dst) == 136 && offsetof(State, rt_addr) == 168 && offsetof(State, rule) == 184 &&
              offsetof(State, anchor) == 188 && offsetof(State, nat_rule) == 192 &&
              offsetof(State, creation) == 196 && offsetof(State, expire) == 200 &&
              offsetof(State, packets) == 204 && offsetof(State, bytes) == 220 &&
              offsetof(State, creatorid) == 236 && offsetof(State, rtableid) == 240 &&
              offsetof(State, max_mss) == 248 && offsetof(State, af) == 250 && offsetof(State, proto) == 251 &&
              offsetof(State, direction) == 252 && offsetof(State, log) == 253 && offsetof(State, rt) == 254 &&
              offsetof(State, timeout) == 255 && offsetof(State, sync_flags) == 256 &&
              offsetof(State, updates) == 257 && offsetof(State, min_ttl) == 258 &&
              offsetof(State, set_tos) == 259 && offsetof(State, state_flags) == 260 &&
              offsetof(State, set_prio) == 262);

// struct pfsync_upd_c: what changes while a connection lives. Older
// OpenBSD releases have _pad[3] where state_flags is; the layout is the same.
struct [[gnu::packed]] UpdC {
  uint64_t id;
  StatePeer src;
  StatePeer dst;
  uint32_t creatorid;
  uint32_t expire;
  uint8_t timeout;
  uint8_t state_flags;
  uint8_t pad[2];
};
static_assert(sizeof(UpdC) == kUpdCSize);
static_assert(offsetof(UpdC, src) == 8 && offsetof(UpdC, dst) == 40 && offsetof(UpdC, creatorid) == 72 &&
              offsetof(UpdC, expire) == 76 && offsetof(UpdC, timeout) == 80 &&
              offsetof(UpdC, state_flags) == 81 && offsetof(UpdC, pad) == 82);

// struct pfsync_ins_ack, pfsync_upd_req and pfsync_del_c: one layout.
struct [[gnu::packed]] Id {
  uint64_t id;
  uint32_t creatorid;
};
static_assert(sizeof(Id) == kIdSize && offsetof(Id, creatorid) == 8);

struct [[gnu::packed]] Bus {
  uint32_t creatorid;
  uint32_t endtime;  // the sender's uptime when the bulk ended
  uint8_t status;    // 1 START, 2 END
  uint8_t pad[3];
};
static_assert(sizeof(Bus) == kBusSize && offsetof(Bus, endtime) == 4 && offsetof(Bus, status) == 8);

struct [[gnu::packed]] Clr {
  char ifname[16];  // empty: every interface
  uint32_t creatorid;
};
static_assert(sizeof(Clr) == kClrSize && offsetof(Clr, creatorid) == 16);

// hafw's config chunk (action 200): `length` bytes of the configuration
// from `offset` follow this part in the same message, then zeros to the
// next word.
struct [[gnu::packed]] ConfigChunk {
  uint64_t generation;  // which push; a new configuration gets a higher one
  uint32_t total;       // the whole configuration in bytes
  uint32_t offset;      // where this chunk's bytes go
  uint16_t length;      // this chunk's bytes
  uint16_t flags;       // 0
  uint8_t sha256[32];   // SHA-256 of the whole configuration
};
static_assert(sizeof(ConfigChunk) == kConfigChunkSize && offsetof(ConfigChunk, total) == 8 &&
              offsetof(ConfigChunk, offset) == 12 && offsetof(ConfigChunk, length) == 16 &&
              offsetof(ConfigChunk, flags) == 18 && offsetof(ConfigChunk, sha256) == 20);

}  // namespace wire

// ------------------------------------------------------------ host order
// pf's numbers where hafw uses the same ones (peer states, timeout classes,
// direction), so a record means the same on both kinds of peer.

// OpenBSD's address family numbers in af fields.
constexpr uint8_t kAfInet = 2;
constexpr uint8_t kAfInet6 = 24;
// pf's direction of the packet that created the state.
constexpr uint8_t kDirIn = 1;
constexpr uint8_t kDirOut = 2;
// pf's PFTM_* classes up to OTHER_MULTIPLE are net::Timeout's, in its order;
// pf's later ones (fragments, purge, ...) are never a state's class here.
constexpr uint8_t kTimeoutClasses = 14;
static_assert(kTimeoutClasses == size_t(net::Timeout::Count), "pf's PFTM_* order is net::Timeout's");
// TCP_MAX_WINSHIFT (RFC 7323 §2.3): pf clamps a larger scale to it.
constexpr uint8_t kMaxWscale = 14;
constexpr uint8_t kWscaleFlag = 0x80;  // PF_WSCALE_FLAG
constexpr uint8_t kWscaleMask = 0x0f;  // PF_WSCALE_MASK
// The highest peer state: TCPS_TIME_WAIT for TCP (dp::tcps: the same
// numbers), PFUDPS_MULTIPLE / PFOTHERS_MULTIPLE for the rest. pf's synproxy
// states above TIME_WAIT have no meaning here.
constexpr uint8_t kTcpStateMax = 10;
constexpr uint8_t kOtherStateMax = 2;

struct PeerRecord {
  uint32_t seqlo = 0, seqhi = 0;
  uint16_t max_win = 0;
  uint8_t state = 0;   // TCPS_* (dp::tcps) for TCP, 0..2 (dp::udps) otherwise
  uint8_t wscale = 0;  // pf form: scale | kWscaleFlag when the side sent the option
  friend bool operator==(const PeerRecord&, const PeerRecord&) = default;
};

struct StateRecord {
  uint64_t id = 0;
  uint32_t creatorid = 0;
  std::array<char, 16> ifname{};  // NUL-padded; at most 15 bytes are sent
  // [0] wire, [1] stack; both in the initiator's direction (src = the
  // initiator); af and proto set in both. They differ when NAT applies.
  net::FlowKey key[2];
  PeerRecord src, dst;            // src: the initiator's side
  uint32_t rule = 0xffffffff;     // none
  uint32_t creation = 0;          // seconds since created
  uint32_t expire = 0;            // seconds until it expires
  uint64_t packets[2] = {}, bytes[2] = {};  // [0] initiator -> responder
  uint8_t proto = 0;
  uint8_t direction = kDirIn;
  uint8_t timeout = 0;            // net::Timeout
  uint16_t state_flags = 0;       // pf's PFSTATE_* bits, carried as they are
  friend bool operator==(const StateRecord&, const StateRecord&) = default;
};

struct UpdateRecord {
  uint64_t id = 0;
  uint32_t creatorid = 0;
  PeerRecord src, dst;
  uint32_t expire = 0;
  uint8_t timeout = 0;
  uint8_t state_flags = 0;
  friend bool operator==(const UpdateRecord&, const UpdateRecord&) = default;
};

// INS_ACK, UPD_REQ (id 0 and creator 0: "send me every state"), DEL_C.
struct IdRecord {
  uint64_t id = 0;
  uint32_t creatorid = 0;
  friend bool operator==(const IdRecord&, const IdRecord&) = default;
};

struct BusRecord {
  uint32_t creatorid = 0;
  uint32_t endtime = 0;
  uint8_t status = 0;  // kBusStart or kBusEnd
  friend bool operator==(const BusRecord&, const BusRecord&) = default;
};
constexpr uint8_t kBusStart = 1, kBusEnd = 2;

// Clear every state of a creator, or only those on one interface.
struct ClrRecord {
  std::array<char, 16> ifname{};  // empty: every interface
  uint32_t creatorid = 0;
  friend bool operator==(const ClrRecord&, const ClrRecord&) = default;
};

// One chunk of a configuration (config sync). `data` points into the frame
// it was read from (or the text it is sent from): valid as long as that is.
struct ConfigChunkRecord {
  uint64_t generation = 0;
  uint32_t total = 0;
  uint32_t offset = 0;
  std::array<uint8_t, 32> sha256{};
  std::span<const uint8_t> data;
};
// The message a chunk of n bytes takes: the fixed part and the bytes,
// rounded up to a word.
constexpr size_t config_message_size(size_t n) { return (kConfigChunkSize + n + 3) / 4 * 4; }

// The one place where records meet network order. encode() writes exactly
// the record's size; decode() reads exactly that many bytes and returns
// false, leaving the record in an unspecified state, when a value is one
// hafw cannot hold (each rule is at its check in wire.cc).
void encode(const StateRecord& r, uint8_t* out264);
bool decode(const uint8_t* in264, StateRecord& r);
void encode(const UpdateRecord& r, uint8_t* out84);
bool decode(const uint8_t* in84, UpdateRecord& r);
void encode(const IdRecord& r, uint8_t* out12);
bool decode(const uint8_t* in12, IdRecord& r);
void encode(const BusRecord& r, uint8_t* out12);
bool decode(const uint8_t* in12, BusRecord& r);
void encode(const ClrRecord& r, uint8_t* out20);
bool decode(const uint8_t* in20, ClrRecord& r);
// out has config_message_size(r.data.size()) bytes; r.data.size() <=
// kMaxChunkData. decode reads a message of msg_len bytes (>= 52) and refuses
// a chunk whose bytes run past the message, that is empty, or that does not
// fit its total (offset + length > total, total > kMaxConfigSize), or whose
// flags are not 0.
void encode(const ConfigChunkRecord& r, uint8_t* out);
bool decode(const uint8_t* in, size_t msg_len, ConfigChunkRecord& r);

}  // namespace hafw::pfsync
