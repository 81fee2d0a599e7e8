#include "control/sync.h"

#include <algorithm>
#include <cstring>

#include "control/sync_state.h"

namespace hafw::control {

using nlohmann::json;

namespace {

constexpr size_t kEthIp = sizeof(net::EthHdr) + sizeof(net::Ipv4Hdr);
// Events taken from the workers per step: at 2.5M new connections a second
// and 1 ms steps, a step sees ~2,500; the cap keeps one step short when a
// backlog built up while the port was full.
constexpr size_t kEventsPerStep = 16384;
// Bulk frames per step: the port's TX ring takes 512 frames, and a step
// that sends more only waits on it. The bulk goes as fast as the ring
// drains: paced by the link.
constexpr size_t kBulkFramesPerStep = 256;
// Buckets of the table looked at per bulk frame at most, so an almost empty
// table of a million buckets does not hold the control thread in one step.
constexpr uint64_t kBulkBucketsPerStep = 65536;

template <class E, size_t N, class Values>
json named(const std::array<net::Named<E>, N>& table, const Values& values) {
  json out = json::object();
  for (size_t i = 0; i < N; ++i) out[table[i].name] = values[i];
  return out;
}

json totals_json(const Sync::Totals& t) {
  return {{"frames", t.frames},   {"bytes", t.bytes},       {"inserts", t.inserts},
          {"updates", t.updates}, {"deletes", t.deletes},   {"requests", t.requests},
          {"bulk_states", t.bulk_states}, {"heartbeats", t.heartbeats}};
}

}  // namespace

// The frame's records, applied to the table as the parser hands them over
// (only after the whole frame's structure checked out).
class Sync::Applier final : public pfsync::FrameVisitor {
 public:
  Applier(Sync& s, Time now, bool rules_match) : s_(s), now_(now), now_s_(s.now_s(now)), rules_match_(rules_match) {}

  void on_state(pfsync::Action a, const pfsync::StateRecord& r) override {
    s_.ids_.prefetch(r.id, r.creatorid);  // remembered once inserted: the line comes meanwhile
    if (s_.bulk_in_ == BulkIn::Receiving) ++s_.bulk_in_states_;
    if (a == pfsync::Action::Del) {
      ++s_.received_.deletes;
      return del(r.id, r.creatorid);
    }
    if (a == pfsync::Action::Ins) ++s_.received_.inserts;
    else ++s_.received_.updates;
    dp::StateTable& t = s_.io_.states();
    // An insert, and nearly every state of a bulk, is new here: try the
    // insert first (the table's insert-if-absent finds a state we have by
    // its key) rather than look the identity up first, a cache miss per
    // record at a million states. A full update (UPD) outside a bulk is
    // most likely of a state we have: looked up by identity first.
    if (a == pfsync::Action::Upd && s_.bulk_in_ != BulkIn::Receiving)
      if (auto have = s_.find(r.id, r.creatorid)) return update(*have, r.src, r.dst, r.expire);
    ImportError why{};
    auto init = import_state(t, r, now_s_, rules_match_, s_.set_.rule_count, why);
    if (!init) return s_.count(SyncRecord::Unsupported);
    const auto res = t.insert(*init, now_s_);
    switch (res.result) {
      case dp::StateTable::Inserted::New:
        s_.remember(res.hit.state);
        if (s_.new_state_hook_ && s_.bulk_in_ != BulkIn::Receiving) {
          s_.new_state_hook_(r.key[0]);
          if (!(r.key[1] == r.key[0])) s_.new_state_hook_(r.key[1]);
        }
        return s_.count(SyncRecord::Inserted);
      case dp::StateTable::Inserted::Full:
        return s_.count(SyncRecord::TableFull);
      case dp::StateTable::Inserted::Exists:
      case dp::StateTable::Inserted::Conflict: {
        // The same state under an identity the map had lost, or another
        // state on the same key (both nodes made the flow).
        const dp::State& other = t.at(res.hit.state);
        if (other.id == r.id && t.creator_id(other.creator) == r.creatorid) {
          s_.remember(res.hit.state);
          return update(res.hit.state, r.src, r.dst, r.expire);
        }
        return s_.count(SyncRecord::Conflict);
      }
    }
  }

  void on_update(const pfsync::UpdateRecord& u) override {
    ++s_.received_.updates;
    if (auto have = s_.find(u.id, u.creatorid)) return update(*have, u.src, u.dst, u.expire);
    s_.count(SyncRecord::Unknown);
    s_.queue_id(pfsync::Action::UpdReq, u.id, u.creatorid, now_);
  }

  void on_id(pfsync::Action a, const pfsync::IdRecord& r) override {
    switch (a) {
      case pfsync::Action::UpdReq:
        ++s_.received_.requests;
        if (r.id == 0 && r.creatorid == 0) {
          // "Send me everything": a bulk from the start of the table (a
          // second request restarts it: the peer lost the first).
          s_.bulk_out_ = true;
          s_.bulk_cursor_ = 0;
          s_.bulk_out_states_ = 0;
          s_.bulk_out_started_ = now_;
          s_.count(SyncRecord::Requests);
          s_.log_("bulk_send_start", "sync: the peer asked for the state table; bulk update started");
          s_.queue_bus(pfsync::kBusStart, now_);
          s_.repush_config(now_);  // the peer started or came back: it may not have our configuration
          return;
        }
        if (auto have = s_.find(r.id, r.creatorid)) {
          s_.count(SyncRecord::Requests);
          s_.queue_full(pfsync::Action::Upd, *have, now_);
        } else {
          s_.count(SyncRecord::Unknown);
        }
        return;
      case pfsync::Action::DelC:
        ++s_.received_.deletes;
        return del(r.id, r.creatorid);
      default:  // INS_ACK: hafw does not defer, so it has nothing waiting for one
        return;
    }
  }

  void on_bus(const pfsync::BusRecord& b) override {
    if (b.status == pfsync::kBusStart) {
      if (s_.bulk_in_ == BulkIn::Requested || s_.bulk_in_ == BulkIn::Receiving) {
        s_.bulk_in_ = BulkIn::Receiving;
        s_.bulk_started_ = now_;
        s_.bulk_in_states_ = 0;
        s_.log_("bulk_receive_start", "sync: bulk update from the peer started");
      }
      return;
    }
    if (s_.bulk_in_ != BulkIn::Receiving) return;  // an END without its START (lost, or a bulk for someone else)
    s_.bulk_in_ = BulkIn::Done;
    s_.bulk_last_ms_ = std::chrono::duration_cast<std::chrono::milliseconds>(now_ - s_.bulk_started_).count();
    s_.log_("bulk_receive_end", "sync: bulk update done: " + std::to_string(s_.bulk_in_states_) + " states in " +
            std::to_string(s_.bulk_last_ms_) + " ms");
  }

  // Config sync: only sealed, only on the node that takes configuration.
  void on_config(const pfsync::ConfigChunkRecord& r) override {
    ++s_.config_chunks_received_;
    if (!s_.crypto_.enabled()) return s_.config_in_.drop(pfsync::ConfigDrop::Cleartext);
    if (s_.set_.config != ConfigSyncRole::Accept) return s_.config_in_.drop(pfsync::ConfigDrop::NotAccepted);
    if (auto done = s_.config_in_.offer(r, now_)) s_.config_ready_ = std::string(done->text);
  }

  void on_clr(const pfsync::ClrRecord& c) override {
    dp::StateTable& t = s_.io_.states();
    std::vector<dp::StateIndex> doomed;
    t.for_each([&](dp::StateIndex s) {
      if (t.creator_id(t.at(s).creator) == c.creatorid) doomed.push_back(s);
      return true;
    });
    for (dp::StateIndex s : doomed) {
      t.kill(s);
      s_.count(SyncRecord::Cleared);
    }
  }

 private:
  void update(dp::StateIndex s, const pfsync::PeerRecord& src, const pfsync::PeerRecord& dst, uint32_t expire) {
    dp::StateTable& t = s_.io_.states();
    const pfsync::PeerRecord* p[2] = {&src, &dst};
    uint32_t seqlo[2], seqhi[2];
    uint16_t max_win[2];
    uint8_t peer[2];
    for (uint8_t w = 0; w < 2; ++w) {
      seqlo[w] = p[w]->seqlo;
      seqhi[w] = p[w]->seqhi;
      max_win[w] = p[w]->max_win;
      peer[w] = import_peer(*p[w]);
    }
    switch (t.apply_update(s, seqlo, seqhi, max_win, peer, now_s_ + (expire == 0 ? 1 : expire))) {
      case dp::StateTable::Update::Stale:
        // pf: the peer is behind; tell it what we know.
        s_.count(SyncRecord::Stale);
        s_.queue_update(s, now_);
        return;
      case dp::StateTable::Update::Dead:
        s_.count(SyncRecord::Unknown);
        return;
      case dp::StateTable::Update::Applied:
        break;
    }
    s_.count(SyncRecord::Updated);
  }

  void del(uint64_t id, uint32_t creator) {
    if (auto have = s_.find(id, creator)) {
      s_.io_.states().kill(*have);
      s_.ids_.erase(id, creator);
      return s_.count(SyncRecord::Deleted);
    }
    s_.count(SyncRecord::Unknown);
  }

  Sync& s_;
  Time now_;
  uint32_t now_s_;
  bool rules_match_;
};

Sync::Sync(SyncSettings s, dp::PacketIo& io, NeighborManager& neighbors, Log log)
    : set_(std::move(s)),
      io_(io),
      neighbors_(neighbors),
      log_(std::move(log)),
      crypto_(set_.key, set_.local.bytes(), set_.peer.bytes(), set_.first_seq),
      frame_buf_(set_.mtu - sizeof(net::Ipv4Hdr) - crypto_.overhead()),
      writer_(frame_buf_),
      packet_(sizeof(net::EthHdr) + set_.mtu),
      open_buf_(sizeof(net::EthHdr) + set_.mtu + 64),
      ids_(io.states().capacity()) {
  writer_.set_checksum(set_.ruleset);
  own_creator_ = io_.states().creator_id(0);
}

uint32_t Sync::now_s(Time now) const {
  return uint32_t(std::chrono::duration_cast<std::chrono::seconds>(now).count());
}

void Sync::start(Time now) {
  last_sent_ = now;
  request_bulk(now);
}

void Sync::set_link(bool up, Time now) {
  if (up == link_up_) return;
  link_up_ = up;
  if (up) {
    request_bulk(now);
    repush_config(now);
  }
}

// ------------------------------------------------------------ config sync

void Sync::push_config(std::string text, Time now) {
  if (set_.config != ConfigSyncRole::Push) return;
  // Generations count up from the seal's first number (the wall clock in µs
  // at start), so a restarted primary's pushes are newer than its last.
  const uint64_t gen = std::max(config_generation_ + 1, set_.first_seq);
  const size_t size = text.size();
  if (!config_out_.set(std::move(text), gen)) {
    log_("config_too_big", "config sync: not pushing a configuration of " + std::to_string(size) + " bytes (at most " +
         std::to_string(pfsync::kMaxConfigSize) + ")");
    return;
  }
  config_generation_ = gen;
  config_pushed_ = now;
  ++config_pushes_;
}

void Sync::repush_config(Time now) {
  if (set_.config != ConfigSyncRole::Push || !config_out_.has_config()) return;
  config_out_.repush();
  config_pushed_ = now;
  ++config_repushes_;
}

bool Sync::push_config_chunks(Time now) {
  // Chunks never share a frame with state records: a pf peer drops a whole
  // frame with an action it does not know.
  if (!writer_.empty() && !flush(now)) return false;
  bool worked = false;
  while (!pending_ && config_out_.pending()) {
    while (config_out_.pending() && writer_.config_room() > 0) {
      writer_.add(config_out_.next(writer_.config_room()));
      ++config_chunks_sent_;
    }
    flush(now);  // the frame goes now (or waits in pending_): nothing else joins it
    worked = true;
  }
  return worked;
}

std::optional<std::string> Sync::take_config() {
  std::optional<std::string> out;
  out.swap(config_ready_);
  return out;
}

void Sync::config_refused(ConfigRefusal why) {
  ++config_refused_[size_t(why)];
  config_in_.forget_completed();
}

json Sync::config_sync_json() const {
  static constexpr const char* kRole[] = {"off", "push", "accept"};
  json drops = named(pfsync::kConfigDrops, config_in_.drops());
  return {{"role", kRole[size_t(set_.config)]},
          {"generation", config_generation_},
          {"pushed", config_pushes_},
          {"repushed", config_repushes_},
          {"chunks_sent", config_chunks_sent_},
          {"chunks_received", config_chunks_received_},
          {"received", config_in_.completed()},
          {"repeated_chunks", config_in_.repeated()},
          {"applied", config_applied_},
          {"unchanged", config_unchanged_},
          {"refused", named(kConfigRefusals, config_refused_)},
          {"drops", drops}};
}

void Sync::set_ruleset(const std::array<uint8_t, 16>& checksum, uint16_t rule_count, Time now) {
  // Records already in the frame name the old rules: they go out under the
  // old checksum.
  if (!writer_.empty()) flush(now);
  set_.ruleset = checksum;
  set_.rule_count = rule_count;
  writer_.set_checksum(checksum);
}

void Sync::request_bulk(Time now) {
  bulk_in_ = BulkIn::Requested;
  bulk_tries_ = 1;
  bulk_asked_ = now;
  queue_id(pfsync::Action::UpdReq, 0, 0, now);
  flush(now);
  log_("bulk_request", "sync: asked the peer " + set_.peer.str() + " for its state table");
}

void Sync::bulk_in_check(Time now) {
  if (!bulk_pending() || now - bulk_asked_ < kBulkRetry) return;
  if (bulk_tries_ >= kBulkTries) {
    bulk_in_ = BulkIn::Failed;
    log_("bulk_receive_failed", "sync: bulk update failed: no complete answer from " + set_.peer.str() + " after " +
         std::to_string(kBulkTries) + " requests; serving with the table as it is");
    return;
  }
  ++bulk_tries_;
  bulk_asked_ = now;
  bulk_in_ = BulkIn::Requested;
  queue_id(pfsync::Action::UpdReq, 0, 0, now);
  flush(now);
}

bool Sync::step(Time now) {
  bool worked = false;
  resolve_peer(now);
  bulk_in_check(now);
  if (pending_) {
    if (!send_pending()) return false;  // the port is still full: everything waits
    worked = true;
  }
  config_in_.expire(now);
  if (set_.config == ConfigSyncRole::Push && config_out_.has_config() && now - config_pushed_ >= kConfigRepush)
    repush_config(now);
  // A configuration goes before the workers' events of this step: it is
  // small, and the events wait in their rings meanwhile.
  if (!pending_ && config_out_.pending()) worked |= push_config_chunks(now);
  worked |= drain_events(now);
  if (!pending_ && bulk_out_) worked |= push_bulk(now);
  if (!pending_ && !writer_.empty() && now - first_added_ >= kFlush) worked |= flush(now);
  if (!pending_ && writer_.empty() && now - last_sent_ >= kHeartbeat) {
    ++sent_.heartbeats;
    flush(now);  // header only: "still here"
  }
  // The identity map outgrows the table only by states that died since;
  // rebuilt from the table when it is more than twice as big.
  const dp::StateTable& t = io_.states();
  if (ids_.size() > 2 * size_t(t.in_use()) + 65536) {
    ids_.clear();
    t.for_each([&](dp::StateIndex s) {
      remember(s);
      return true;
    });
  }
  return worked;
}

void Sync::resolve_peer(Time now) {
  if (now < next_resolve_) return;
  next_resolve_ = now + std::chrono::milliseconds(100);
  const uint8_t iface = uint8_t(set_.iface);
  if (neighbors_.find(iface, set_.peer.v4())) return;
  for (auto& frame : neighbors_.want(iface, set_.peer.v4(), now)) io_.send(set_.iface, frame);
}

bool Sync::drain_events(Time now) {
  size_t taken = 0;
  for (;;) {
    if (events_at_ == events_n_) {
      if (taken >= kEventsPerStep) break;
      events_at_ = 0;
      events_n_ = io_.poll_events(events_);
      taken += events_n_;
      if (events_n_ == 0) break;
    }
    // The state of an event a few ahead, and its identity's slot: both are
    // read when its turn comes, and a million states do not fit a cache.
    if (events_at_ + 4 < events_n_) {
      const dp::StateEvent& ahead = events_[events_at_ + 4];
      __builtin_prefetch(&io_.states().at(ahead.state));
      ids_.prefetch(ahead.id, io_.states().creator_id(ahead.creator));
    }
    if (!put_event(events_[events_at_], now)) return true;
    ++events_at_;
  }
  return taken > 0;
}

bool Sync::put_event(const dp::StateEvent& e, Time now) {
  dp::StateTable& t = io_.states();
  switch (e.kind) {
    case dp::StateEventKind::Insert:
    case dp::StateEventKind::Update: {
      // The slot may have been reused since (the state died and was
      // reaped): only the state the event was about is sent.
      const dp::State& st = t.at(e.state);
      if (st.id != e.id || st.creator != e.creator || st.expire.load(std::memory_order_acquire) == 0) return true;
      const pfsync::Action a = e.kind == dp::StateEventKind::Insert ? pfsync::Action::Ins : pfsync::Action::UpdC;
      if (!make_room(a, now)) return false;
      if (a == pfsync::Action::Ins) {
        remember(e.state);
        writer_.add(a, export_state(t, e.state, now_s(now)));
        ++sent_.inserts;
      } else {
        writer_.add(export_update(t, e.state, now_s(now)));
        ++sent_.updates;
      }
      break;
    }
    case dp::StateEventKind::Delete:
      if (!make_room(pfsync::Action::DelC, now)) return false;
      writer_.add(pfsync::Action::DelC, pfsync::IdRecord{.id = e.id, .creatorid = t.creator_id(e.creator)});
      ids_.erase(e.id, t.creator_id(e.creator));
      ++sent_.deletes;
      break;
  }
  added(now);
  return true;
}

bool Sync::make_room(pfsync::Action a, Time now) {
  if (pending_) return false;
  if (writer_.fits(a)) return true;
  return flush(now) && writer_.fits(a);
}

void Sync::added(Time now) {
  if (writer_.records() == 1) first_added_ = now;
}

bool Sync::flush(Time now) {
  if (pending_) return false;
  const std::span<const uint8_t> frame = writer_.finish();
  const size_t sealed = crypto_.seal(frame, std::span<uint8_t>(packet_).subspan(kEthIp));
  writer_.reset();
  last_sent_ = now;
  if (sealed == 0) return true;  // sequence numbers exhausted: nothing can be sent safely (never in practice)
  net::EthHdr eth;
  const net::Mac* mac = neighbors_.find(uint8_t(set_.iface), set_.peer.v4());
  // Until ARP found the peer: Ethernet broadcast, as unicast CARP does.
  eth.dst = mac ? *mac : net::Mac::broadcast();
  eth.src = io_.mac(set_.iface);
  eth.type = net::be16(net::kEtherTypeIpv4);
  std::memcpy(packet_.data(), &eth, sizeof eth);
  net::Ipv4Hdr ip{};
  ip.ver_ihl = 0x45;
  ip.total_len = net::be16(uint16_t(sizeof ip + sealed));
  ip.ttl = pfsync::kTtl;
  ip.proto = pfsync::kProto;
  ip.src = net::be32(set_.local.v4());
  ip.dst = net::be32(set_.peer.v4());
  std::memcpy(packet_.data() + sizeof eth, &ip, sizeof ip);
  const uint16_t csum = net::ipv4_header_checksum(packet_.data() + sizeof eth, sizeof ip);
  std::memcpy(packet_.data() + sizeof eth + 10, &csum, 2);
  packet_len_ = std::max(kEthIp + sealed, net::kEthMinFrame);
  if (packet_len_ > kEthIp + sealed) std::memset(packet_.data() + kEthIp + sealed, 0, packet_len_ - kEthIp - sealed);
  pending_ = true;
  return send_pending();
}

bool Sync::send_pending() {
  if (!io_.send(set_.iface, std::span<const uint8_t>(packet_.data(), packet_len_))) {
    ++send_stalls_;
    return false;
  }
  pending_ = false;
  ++sent_.frames;
  sent_.bytes += packet_len_;
  return true;
}

bool Sync::push_bulk(Time now) {
  dp::StateTable& t = io_.states();
  const uint32_t ns = now_s(now);
  const uint64_t before = sent_.frames;
  uint64_t buckets = 0;
  // Pacing: the states due by now since the bulk began, and one
  // millisecond's more (the control loop steps at least every millisecond).
  uint64_t due = UINT64_MAX;
  if (set_.bulk_states_per_ms > 0) {
    const int64_t us = std::chrono::duration_cast<std::chrono::microseconds>(now - bulk_out_started_).count();
    due = (uint64_t(std::max<int64_t>(us, 0)) / 1000 + 1) * set_.bulk_states_per_ms;
    if (bulk_out_states_ >= due) return false;
  }
  while (bulk_out_ && sent_.frames - before < kBulkFramesPerStep && buckets < kBulkBucketsPerStep &&
         bulk_out_states_ < due) {
    bool stalled = false;
    const uint64_t next = t.for_each_bucket(bulk_cursor_, 1, [&](dp::StateIndex s) {
      if (!make_room(pfsync::Action::Upd, now)) {
        stalled = true;
        return false;
      }
      writer_.add(pfsync::Action::Upd, export_state(t, s, ns));
      added(now);
      ++sent_.bulk_states;
      ++bulk_out_states_;
      return true;
    });
    // A bucket is sent whole or again: a stall in the middle resends its
    // first states next time, which the peer takes as updates.
    if (stalled) return true;
    ++buckets;
    bulk_cursor_ = next;
    if (bulk_cursor_ >= t.bucket_count()) {
      bulk_out_ = false;
      ++bulks_sent_;
      queue_bus(pfsync::kBusEnd, now);
      flush(now);
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - bulk_out_started_).count();
      log_("bulk_send_end", "sync: bulk update sent: " + std::to_string(bulk_out_states_) + " states in " + std::to_string(ms) +
           " ms");
    }
  }
  return true;
}

std::optional<dp::StateIndex> Sync::find(uint64_t id, uint32_t creator) {
  const auto s = ids_.find(id, creator);
  if (!s) return std::nullopt;
  const dp::StateTable& t = io_.states();
  const dp::State& st = t.at(*s);
  if (st.id == id && t.creator_id(st.creator) == creator && st.expire.load(std::memory_order_acquire) != 0) return s;
  ids_.erase(id, creator);  // the state died; its slot may hold another by now
  return std::nullopt;
}

void Sync::remember(dp::StateIndex s) {
  const dp::StateTable& t = io_.states();
  ids_.put(t.at(s).id, t.creator_id(t.at(s).creator), s);
}

void Sync::queue_update(dp::StateIndex s, Time now) {
  if (!make_room(pfsync::Action::UpdC, now)) return;
  writer_.add(export_update(io_.states(), s, now_s(now)));
  ++sent_.updates;
  added(now);
}

void Sync::queue_full(pfsync::Action a, dp::StateIndex s, Time now) {
  if (!make_room(a, now)) return;
  writer_.add(a, export_state(io_.states(), s, now_s(now)));
  ++sent_.updates;
  added(now);
}

void Sync::queue_id(pfsync::Action a, uint64_t id, uint32_t creator, Time now) {
  if (!make_room(a, now)) return;
  writer_.add(a, pfsync::IdRecord{.id = id, .creatorid = creator});
  if (a == pfsync::Action::UpdReq) ++sent_.requests;
  added(now);
}

void Sync::queue_bus(uint8_t status, Time now) {
  if (!make_room(pfsync::Action::Bus, now)) return;
  writer_.add(pfsync::BusRecord{.creatorid = own_creator_,
                                .endtime = status == pfsync::kBusEnd ? now_s(now) : 0,
                                .status = status});
  added(now);
}

void Sync::receive(const dp::Punt& p, Time now) {
  if (p.iface != set_.iface) {
    ++drops_[size_t(SyncDrop::WrongInterface)];
    return;
  }
  const std::span<const uint8_t> f = p.frame;
  if (f.size() < kEthIp) {
    ++drops_[size_t(SyncDrop::BadIp)];
    return;
  }
  net::Ipv4Hdr ip;
  std::memcpy(&ip, f.data() + sizeof(net::EthHdr), sizeof ip);
  const size_t ihl = ip.ihl_bytes(), total = net::be16(ip.total_len);
  if ((ip.ver_ihl >> 4) != 4 || ihl < sizeof ip || total < ihl || sizeof(net::EthHdr) + total > f.size() ||
      (net::be16(ip.frag) & 0x3fff) != 0) {
    ++drops_[size_t(SyncDrop::BadIp)];
    return;
  }
  if (ip.ttl != pfsync::kTtl) {
    ++drops_[size_t(SyncDrop::BadTtl)];
    return;
  }
  if (net::be32(ip.src) != set_.peer.v4()) {
    ++drops_[size_t(SyncDrop::WrongSource)];
    return;
  }
  const auto payload = f.subspan(sizeof(net::EthHdr) + ihl, total - ihl);
  if (open_buf_.size() < payload.size()) open_buf_.resize(payload.size());
  const pfsync::SyncCrypto::Opened o = crypto_.open(payload, open_buf_);
  if (o.error) {
    ++open_errors_[size_t(*o.error)];
    return;
  }
  const std::span<const uint8_t> frame(open_buf_.data(), o.len);
  // The ruleset checksum: rule numbers in the peer's states name our rules
  // only if both nodes run the same rules.
  const bool rules_match = frame.size() >= 20 && std::equal(set_.ruleset.begin(), set_.ruleset.end(), frame.begin() + 4);
  Applier apply(*this, now, rules_match);
  const pfsync::ParseResult r = pfsync::parse(frame, apply);
  if (r.error) {
    ++frame_errors_[size_t(*r.error)];
    return;
  }
  if (!rules_match) ++ruleset_mismatch_;
  frame_errors_[size_t(pfsync::FrameError::BadRecord)] += r.bad_records;
  skipped_records_ += r.skipped;
  ++received_.frames;
  received_.bytes += f.size();
  last_rx_ = now;
  if (!peer_seen_) {
    peer_seen_ = true;
    log_("peer_up", "sync: hearing the peer " + set_.peer.str());
    // A request sent before the peer was up went nowhere: ask again now
    // rather than at the next retry, so two nodes that start together are
    // both undemoted within a round trip.
    if (bulk_in_ == BulkIn::Requested) {
      bulk_asked_ = now;
      queue_id(pfsync::Action::UpdReq, 0, 0, now);
      flush(now);
    }
  }
}

json Sync::status_json(Time now) const {
  static constexpr const char* kBulkIn[] = {"idle", "requested", "receiving", "done", "failed"};
  const net::Mac* mac = neighbors_.find(uint8_t(set_.iface), set_.peer.v4());
  json st = {{"peer", set_.peer.str()},
             {"peer_mac", mac ? mac->str() : ""},
             {"encrypted", crypto_.enabled()},
             {"link", link_up_ ? "up" : "down"},
             {"peer_heard", peer_seen_},
             {"last_frame_age_ms",
              peer_seen_ ? json(std::chrono::duration_cast<std::chrono::milliseconds>(now - last_rx_).count())
                         : json(nullptr)},
             {"sent", totals_json(sent_)},
             {"received", totals_json(received_)},
             {"bulk",
              {{"state", kBulkIn[size_t(bulk_in_)]},
               {"requests", bulk_tries_},
               {"states_received", bulk_in_states_},
               {"last_duration_ms", bulk_last_ms_ < 0 ? json(nullptr) : json(bulk_last_ms_)},
               {"sending", bulk_out_},
               {"states_sent", bulk_out_states_},
               {"bulks_sent", bulks_sent_}}},
             {"records", named(kSyncRecords, records_)},
             {"config_sync", config_sync_json()},
             {"drops", stats_json()["drops"]}};
  return st;
}

json Sync::stats_json() const {
  json drops = named(kSyncDrops, drops_);
  const json open = named(pfsync::kOpenErrors, open_errors_), frame = named(pfsync::kFrameErrors, frame_errors_);
  for (const auto& [k, v] : open.items()) drops[k] = v;
  for (const auto& [k, v] : frame.items()) drops[k] = v;
  // "short" is a reason of both the seal and the frame: one counter.
  drops["short"] = open_errors_[size_t(pfsync::OpenError::Short)] + frame_errors_[size_t(pfsync::FrameError::Short)];
  json config = config_sync_json();
  config.erase("role");  // a counter section: the node's part is in sync.status
  return {{"drops", drops},
          {"skipped_records", skipped_records_},
          {"ruleset_mismatch", ruleset_mismatch_},
          {"send_stalls", send_stalls_},
          {"records", named(kSyncRecords, records_)},
          {"frames_sent", sent_.frames},
          {"frames_received", received_.frames},
          {"config_sync", config}};
}

}  // namespace hafw::control
