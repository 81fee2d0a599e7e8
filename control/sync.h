// State sync on the control thread: the pfsync-style stream between the two
// nodes of a cluster (docs/sync.md).
//
//   - Out: the workers' state events (dataplane/sync_events.h) become INS,
//     UPD_C and DEL_C records, batched into frames of up to the sync port's
//     MTU and sent within kFlush of the first record (pf waits up to a
//     second); sealed with the sync key when one is set (pfsync/crypto.h).
//   - In: the peer's frames are checked (the sync port, TTL 255, the
//     configured peer as source, then the seal, then the frame's structure)
//     and applied to the table: its states enter with their creator id and
//     id and the same NAT mapping, so after a failover this node forwards
//     them unchanged. An update for a state we do not have asks for it
//     (UPD_REQ); one older than ours answers with ours, as pf does.
//   - Bulk: a node that starts, or whose sync link comes back, asks for the
//     peer's whole table (UPD_REQ 0/0). The peer answers BUS START, every
//     state, BUS END, as fast as the link takes frames (not one frame per
//     clock tick as pf does). Until the bulk ends, bulk_pending() holds and
//     the controller keeps CARP demoted, so a fresh node never takes MASTER
//     with an empty table. The request is retried and given up on like pf's.
//
// It owns no thread, socket or clock: Controller::step() drives it, and
// tests run two of them over the in-memory network with a manual clock.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/id_index.h"
#include "control/neighbor.h"
#include "dataplane/io.h"
#include "dataplane/net/named.h"
#include "pfsync/config_sync.h"
#include "pfsync/crypto.h"
#include "pfsync/frame.h"

namespace hafw::control {

// Why a frame from the sync port was not used (before the seal and the
// frame's structure are looked at; their reasons are pfsync::OpenError and
// pfsync::FrameError).
enum class SyncDrop : uint8_t {
  WrongInterface,  // state sync frames are taken only from the sync interface
  BadIp,           // not a whole IPv4 packet (header, length, fragment)
  BadTtl,          // TTL not 255: the frame crossed a router (pfsync's rule)
  WrongSource,     // not sync.peer: only the configured peer may change the table
  Count,
};
inline constexpr std::array<net::Named<SyncDrop>, size_t(SyncDrop::Count)> kSyncDrops{{
    {SyncDrop::WrongInterface, "wrong_interface", "pfsync frame on an interface that is not sync.interface"},
    {SyncDrop::BadIp, "bad_ip", "not a whole IPv4 packet: short, bad header length or total length, or a fragment"},
    {SyncDrop::BadTtl, "bad_ttl", "TTL not 255: pfsync frames never cross a router"},
    {SyncDrop::WrongSource, "wrong_source", "source address is not sync.peer"},
}};

// What happened to records the peer sent.
enum class SyncRecord : uint8_t {
  Inserted,      // a new state in the table
  Updated,       // a state we had, brought up to date
  Deleted,       // a state the peer removed, removed here
  Stale,         // an update older than our copy: ours went back
  Unknown,       // an update or delete of a state we do not have (an update asks for it)
  Unsupported,   // a state the table cannot hold (both ends translated, NAT pool or creators full)
  TableFull,     // no room: dataplane.max_states reached
  Conflict,      // another state has its key (both nodes made the same flow)
  Requests,      // UPD_REQ answered with a state, or the whole table
  Cleared,       // states removed by a CLR
  Count,
};
inline constexpr std::array<net::Named<SyncRecord>, size_t(SyncRecord::Count)> kSyncRecords{{
    {SyncRecord::Inserted, "inserted", "states from the peer added to the table"},
    {SyncRecord::Updated, "updated", "states brought up to date by the peer's updates"},
    {SyncRecord::Deleted, "deleted", "states removed because the peer removed them"},
    {SyncRecord::Stale, "stale", "updates older than our copy; ours was sent back"},
    {SyncRecord::Unknown, "unknown", "updates or deletes of states we do not have (updates ask for the state)"},
    {SyncRecord::Unsupported, "unsupported", "states the table cannot hold: both ends translated, or the NAT address pool or creator ids full"},
    {SyncRecord::TableFull, "table_full", "states refused because the table is full (dataplane.max_states)"},
    {SyncRecord::Conflict, "conflict", "states refused because another state holds the key"},
    {SyncRecord::Requests, "requests", "requests for a state or the whole table that were answered"},
    {SyncRecord::Cleared, "cleared", "states removed by the peer's clear"},
}};

// Why the secondary did not apply a configuration the primary pushed (the
// controller decides; the sync engine counts).
enum class ConfigRefusal : uint8_t {
  InterfaceOrder,  // the two nodes' interfaces differ in names or order
  Invalid,         // the configuration made from the primary's does not check here, or not with the primary's
  Apply,           // the controller refused to apply it (a key that needs a restart, ...)
  Count,
};
inline constexpr std::array<net::Named<ConfigRefusal>, size_t(ConfigRefusal::Count)> kConfigRefusals{{
    {ConfigRefusal::InterfaceOrder, "interface_order",
     "configurations refused because the nodes' interfaces differ in names or order"},
    {ConfigRefusal::Invalid, "invalid",
     "configurations refused because the result does not check on this node or against the primary's"},
    {ConfigRefusal::Apply, "apply", "configurations the controller refused to apply (see the event)"},
}};

// A node's part in config sync.
enum class ConfigSyncRole : uint8_t {
  Off,     // neither pushes nor takes (a primary without sync.config_sync)
  Push,    // the primary with sync.config_sync: pushes its configuration
  Accept,  // the secondary: takes the primary's (only sealed: sync.key)
};

struct SyncSettings {
  unsigned iface = 0;       // sync.interface's index
  net::IpAddr local;        // this node's address on it
  net::IpAddr peer;         // sync.peer
  std::string key;          // sync.key; empty: cleartext pfsync
  uint64_t first_seq = 1;   // the seal's first sequence number (hafwd: the wall clock in µs)
  std::array<uint8_t, 16> ruleset{};  // pfsync's checksum of the rules: equal on both nodes = rule numbers agree
  uint16_t rule_count = 0;
  size_t mtu = 1500;        // the sync port's IP MTU
  // The bulk update we owe the peer is paced to this many states a
  // millisecond on average (0: as fast as the sync port takes frames).
  // Nothing tells the sender how fast the receiver applies: whatever its
  // control thread cannot take overflows its punt ring and is lost. The
  // lab's receiver, its control thread sharing a core with the sender's,
  // lost 3-18% of 1M states unpaced (1 s), none at 600 a ms (1.7 s); 500 (1M
  // in 2 s) leaves a margin for a busier core (docs/benchmarks.md, "Sync
  // across the lab").
  uint32_t bulk_states_per_ms = 500;
  ConfigSyncRole config = ConfigSyncRole::Off;
};

class Sync {
 public:
  // An event for the node's log: its kind ("bulk_receive_end", ...: the
  // structured log's `event` key) and its sentence.
  using Log = std::function<void(const char* kind, std::string message)>;
  // A frame leaves within kFlush of its first record: what a connection
  // opened just before a crash risks. 1 ms costs at most 1,000 frames a
  // second when the stream is thin; a busy stream fills frames first.
  static constexpr Time kFlush = std::chrono::milliseconds(1);
  // With nothing to say for this long, an empty frame tells the peer we are
  // here (pfsync sends none; the operator sees "last frame" age instead).
  static constexpr Time kHeartbeat = std::chrono::seconds(1);
  // pf's bulk request: retried every kBulkRetry, at most kBulkTries times,
  // then given up on (CARP is undemoted: a lone node must serve).
  static constexpr Time kBulkRetry = std::chrono::seconds(4);
  static constexpr int kBulkTries = 12;

  Sync(SyncSettings s, dp::PacketIo& io, NeighborManager& neighbors, Log log);
  Sync(const Sync&) = delete;
  // Called with both keys of each state the peer inserted live (not in a
  // bulk update): the controller resolves their hosts' next hops ahead of a
  // takeover.
  void set_new_state_hook(std::function<void(const net::FlowKey&)> hook) { new_state_hook_ = std::move(hook); }
  Sync& operator=(const Sync&) = delete;

  // Ask the peer for its table.
  void start(Time now);
  // Send what the workers changed, flush due frames, push the bulk we owe,
  // retry the bulk request. Returns true when it did any work.
  bool step(Time now);
  // A frame the workers punted as pfsync.
  void receive(const dp::Punt& p, Time now);
  // The sync port's link: down stops nothing (frames queue in the port),
  // up asks for the table again (the peer may have changed while we were
  // apart).
  void set_link(bool up, Time now);
  // Config sync, the primary: push this configuration (the one it runs, as
  // written) from now on: in frames of their own, as fast as the port takes
  // them; again every kConfigRepush, when the peer asks for the table (it
  // started, or its link came back) and when our link comes back.
  void push_config(std::string text, Time now);
  // The node's part changed (a reload turned sync.config_sync on or off).
  void set_config_role(ConfigSyncRole r) { set_.config = r; }
  static constexpr Time kConfigRepush = std::chrono::seconds(10);
  // Config sync, the secondary: a configuration that arrived whole and
  // authenticated since the last call, for the controller to check and apply.
  std::optional<std::string> take_config();
  // The controller's verdict on it: counted; a refused one is taken again
  // when it comes again (the operator may have fixed this node meanwhile).
  void config_applied() { ++config_applied_; }
  void config_unchanged() { ++config_unchanged_; }
  void config_refused(ConfigRefusal why);

  // The rules changed (config reload): the checksum our frames carry and
  // the peer's must match for its rule numbers to be taken.
  void set_ruleset(const std::array<uint8_t, 16>& checksum, uint16_t rule_count, Time now);
  // A bulk update we asked for has not ended: CARP must stay demoted.
  bool bulk_pending() const { return bulk_in_ == BulkIn::Requested || bulk_in_ == BulkIn::Receiving; }

  nlohmann::json status_json(Time now) const;
  nlohmann::json stats_json() const;

  struct Totals {
    uint64_t frames = 0, bytes = 0;
    uint64_t inserts = 0, updates = 0, deletes = 0, requests = 0, bulk_states = 0, heartbeats = 0;
  };
  nlohmann::json config_sync_json() const;
  const pfsync::ConfigAssembler& config_in() const { return config_in_; }

  const Totals& sent() const { return sent_; }
  const Totals& received() const { return received_; }
  uint64_t record_count(SyncRecord r) const { return records_[size_t(r)]; }

 private:
  enum class BulkIn : uint8_t { Idle, Requested, Receiving, Done, Failed };
  class Applier;
  friend class Applier;

  uint32_t now_s(Time now) const;
  // The workers' events into frames, until none is left or the port is
  // full. Returns true when it took any.
  bool drain_events(Time now);
  // One event into the frame; false when the port is full (it stays).
  bool put_event(const dp::StateEvent& e, Time now);
  // Room for one record of `a`: flush the frame when it is full. False
  // when a finished frame could not be sent (the port is full).
  bool make_room(pfsync::Action a, Time now);
  void added(Time now);
  bool flush(Time now);       // send the frame being built
  bool send_pending();        // retry the frame the port refused
  bool push_bulk(Time now);   // the bulk we owe the peer, a share per step
  void request_bulk(Time now);
  void bulk_in_check(Time now);
  // ARP for the peer until its MAC is known (and again when it ages out).
  void resolve_peer(Time now);
  // The state with this identity, if it is still the one the map knows.
  std::optional<dp::StateIndex> find(uint64_t id, uint32_t creator);
  void remember(dp::StateIndex s);
  // Frames built here, queued to the peer.
  void queue_update(dp::StateIndex s, Time now);
  void queue_full(pfsync::Action a, dp::StateIndex s, Time now);
  void queue_id(pfsync::Action a, uint64_t id, uint32_t creator, Time now);
  void queue_bus(uint8_t status, Time now);
  // Config chunks, in frames of their own, while the port takes them.
  bool push_config_chunks(Time now);
  void repush_config(Time now);
  void count(SyncRecord r) { ++records_[size_t(r)]; }

  SyncSettings set_;
  dp::PacketIo& io_;
  NeighborManager& neighbors_;
  Log log_;
  std::function<void(const net::FlowKey&)> new_state_hook_;
  pfsync::SyncCrypto crypto_;
  std::vector<uint8_t> frame_buf_;   // the pfsync frame being built
  pfsync::FrameWriter writer_;
  std::vector<uint8_t> packet_;      // Ethernet + IPv4 + sealed frame
  size_t packet_len_ = 0;
  bool pending_ = false;             // packet_ waits for room in the port
  // Events taken from the workers and not yet in a frame (the port was
  // full): they go first next step, none is lost here.
  std::array<dp::StateEvent, 256> events_{};
  size_t events_n_ = 0, events_at_ = 0;
  std::vector<uint8_t> open_buf_;    // a received frame, unsealed
  Time first_added_{};
  Time last_sent_{};
  Time last_rx_{};
  Time next_resolve_{};
  bool peer_seen_ = false;
  bool link_up_ = true;
  uint32_t own_creator_ = 0;

  // Bulk we asked for.
  BulkIn bulk_in_ = BulkIn::Idle;
  int bulk_tries_ = 0;
  Time bulk_asked_{};
  Time bulk_started_{};
  uint64_t bulk_in_states_ = 0;
  int64_t bulk_last_ms_ = -1;
  // Bulk we owe.
  bool bulk_out_ = false;
  uint64_t bulk_cursor_ = 0;   // the next bucket of the table to send
  uint64_t bulk_out_states_ = 0;
  uint64_t bulks_sent_ = 0;
  Time bulk_out_started_{};

  IdIndex ids_;
  Totals sent_, received_;
  std::array<uint64_t, size_t(SyncDrop::Count)> drops_{};
  std::array<uint64_t, size_t(pfsync::OpenError::Count)> open_errors_{};
  std::array<uint64_t, size_t(pfsync::FrameError::Count)> frame_errors_{};
  uint64_t skipped_records_ = 0, ruleset_mismatch_ = 0;
  std::array<uint64_t, size_t(SyncRecord::Count)> records_{};
  uint64_t send_stalls_ = 0;

  // Config sync.
  pfsync::ConfigSender config_out_;
  uint64_t config_generation_ = 0;   // the last one pushed
  Time config_pushed_{};             // when the current one last went from the start
  uint64_t config_pushes_ = 0, config_repushes_ = 0, config_chunks_sent_ = 0, config_chunks_received_ = 0;
  pfsync::ConfigAssembler config_in_;
  std::optional<std::string> config_ready_;  // complete, not yet taken by the controller
  uint64_t config_applied_ = 0, config_unchanged_ = 0;
  std::array<uint64_t, size_t(ConfigRefusal::Count)> config_refused_{};
};

}  // namespace hafw::control
