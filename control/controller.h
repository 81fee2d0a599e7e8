// The control thread's logic for one node: CARP, neighbour resolution, the
// workers' snapshots, the event log and the control commands it serves.
//
// It owns no thread, socket or clock: hafwd's loop calls step() and the
// socket dispatches to the commands it registered; tests drive two
// Controllers over an in-memory network with a ManualClock. See
// docs/architecture.md.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "carp/carp.h"
#include "carp/demotion.h"
#include "control/clock.h"
#include "control/commands.h"
#include "control/config.h"
#include "control/neighbor.h"
#include "control/sync.h"
#include "dataplane/io.h"
#include "dataplane/view.h"

namespace hafw::control {

struct Event {
  int64_t unix_ms;
  std::string message;
  // For the structured log (control/log.h): where it comes from, what it
  // is, and its particulars ({"vhid", "1"}, {"iface", "wan"}, ...).
  std::string subsys = "node";
  std::string kind = "message";
  std::vector<std::pair<std::string, std::string>> fields = {};
  bool warning = false;
};

// What became of a candidate configuration (Controller::apply_config).
struct ApplyResult {
  bool ok = false;  // applied; false: refused, and the running config is untouched
  // The checker's findings in its order: errors (why it was refused) and
  // warnings. Each one's str() is the line `hafwctl check` prints for it,
  // "error: carp.vips[0].vhid: must be 1-255".
  std::vector<config::Diagnostic> diagnostics;
  // What changed, one item each: "lan vhid 2 added", "rules (2 -> 3)".
  std::vector<std::string> changes;

  std::string lines() const;  // every diagnostic's line, '\n' after each
};

// An event as `events` lists it and its followers receive it.
nlohmann::json event_json(const Event& e);

class ControlServer;

class Controller {
 public:
  // `running` is the configuration as the operator wrote it (config.get
  // returns it); `cfg` is the same, parsed and validated.
  Controller(config::Config cfg, nlohmann::json running, dp::PacketIo& io, const Clock& clock);

  // Bring CARP up (INIT -> BACKUP) and publish the first snapshots.
  void start();
  // One pass of the control loop: punted frames, due timers, neighbour
  // upkeep, then at most one publication of each snapshot that changed and
  // reclamation of the old ones. Returns true when it did any work (the
  // caller backs off if not).
  bool step();
  // The control thread did not run for `stalled` (a nap that ended that
  // much late): the backup's master-down timers do not count it
  // (carp::Carp::discount_stall).
  void discount_stall(Time stalled) { carp_.discount_stall(stalled); }
  // Leave the cluster politely: a MASTER sends its bow-out advert.
  void shutdown();

  // The file hafwd was started with: what config.reload without a path
  // and SIGHUP load ("" if none).
  void set_config_file(std::string path) { config_file_ = std::move(path); }
  const std::string& config_file() const { return config_file_; }

  // Take a new configuration while running: config.reload, SIGHUP and
  // config sync all come here. `next` must have passed config::parse();
  // `running` is its JSON form (what config.get returns from now on);
  // `source` names where it came from in the event ("/etc/hafw/fw1.json").
  // Atomic: a key that needs a restart (config::check_reload) refuses the
  // whole config and nothing changes. Otherwise, in this call: the workers
  // get the new topology and policy snapshots (only those that changed:
  // rule counters restart with a new policy), a VHID whose config is
  // unchanged keeps its state and timers, changed and removed ones bow out
  // and changed and new ones start in BACKUP (carp::Carp::reconfigure); the
  // state table is not touched. Logs "config applied: N changes (...)" or
  // "config rejected: ..." as an event.
  ApplyResult apply_config(const config::Config& next, nlohmann::json running, const std::string& source);
  // The same from a config's JSON text, parsed and checked by the code and
  // with the lines of `hafwctl check`.
  ApplyResult apply_config_text(std::string_view text, const std::string& source);
  // The same from a file; `via` says who asked ("SIGHUP", "config.reload").
  ApplyResult reload_file(const std::string& path, const std::string& via);

  // Config sync, the primary (sync.config_sync): push the running
  // configuration to the secondary. Done at start and after every
  // configuration apply_config takes.
  void push_config();

  // status, carp.status, carp.maintenance, events, config.get, and the
  // dataplane, CARP and control-thread sections of stats.
  void register_commands(Commands& commands);

  const config::Config& config() const { return cfg_; }
  const carp::Carp& carp() const { return carp_; }
  // State sync, when the config has a sync section.
  const Sync* sync() const { return sync_.get(); }
  Time next_deadline() const { return carp_.next_deadline(); }
  const std::deque<Event>& events() const { return events_; }
  // Called with every event as it is logged, on the control thread.
  void add_event_sink(std::function<void(const Event&)> sink) { sinks_.push_back(std::move(sink)); }
  // `events {"follow": true}` on `server`: every event logged from now on
  // goes to its followers. Call as add_feed() says; `server` must outlive
  // this Controller's logging (hafwd stops it after shutdown()).
  void serve_event_feed(ControlServer& server);
  // An event of hafwd's own (the control thread's scheduling), logged and
  // listed like the controller's.
  void note(Event e) { log_event(std::move(e)); }

 private:
  void on_punt(const dp::Punt& p);
  void on_nd(const dp::Punt& p, Time now);
  void apply(const carp::Output& out);
  // Links: polled every kLinkPoll; a change moves the VHIDs on the interface
  // and the node's demotion.
  void poll_links(Time now);
  void set_demotion_cause(const std::string& cause, int value);
  void resolve_unicast_peers(Time now);
  // Our virtual MAC seen from another station: the workers count, the
  // control thread reads the counts with the link poll and tells CARP.
  void read_vmac_counts(Time now);
  void publish_owned_vips();
  // The hosts of a state the peer made, which this node forwards to once it
  // takes over: their next hops resolved now (from the node's own address),
  // so that a takeover does not wait for ARP or ND.
  void warm_neighbors(const net::FlowKey& key, Time now);
  bool is_own_address(const net::IpAddr& a) const;
  void publish_neighbors();
  // The state table's reaper: a share of the index per step (kSweepPeriod).
  void reap(Time now);
  void flush();  // publish what changed since the last flush
  void log_event(std::string message);
  void log_event(Event e);  // unix_ms is set here
  int iface_index(std::string_view name) const;
  unsigned demotion() const;  // the node's demotion as advertised (0 = healthy)
  std::string maintenance_path() const;  // its existence = maintenance mode on
  void persist_maintenance();
  void set_maintenance(bool on);
  // The "bulk sync pending" demotion follows the sync module's bulk.
  void follow_bulk();
  nlohmann::json sync_status_json() const;
  // The secondary: a configuration the primary pushed, arrived whole.
  void on_synced_config(const std::string& text);
  ConfigSyncRole config_sync_role() const;
  void publish_topology();
  void publish_policy();
  // Per interface whose link is down, its "link down" demotion cause as
  // the VHIDs now on it want it (after a reload moved VHIDs).
  void refresh_link_causes();
  ApplyResult rejected(ApplyResult r, const std::string& source);
  nlohmann::json reload_json(const nlohmann::json& args);

  nlohmann::json status_json() const;
  nlohmann::json carp_json() const;
  nlohmann::json carp_status_json() const;
  nlohmann::json events_json() const;
  void stats_json(nlohmann::json& out) const;
  nlohmann::json rules_json() const;
  nlohmann::json states_summary_json() const;
  nlohmann::json states_list_json(const nlohmann::json& args) const;
  nlohmann::json state_json(dp::StateIndex s, uint32_t now_s) const;

  config::Config cfg_;
  nlohmann::json running_;
  dp::PacketIo& io_;
  const Clock& clock_;
  Time started_{};
  carp::Carp carp_;
  NeighborManager neighbors_;
  std::deque<Event> events_;      // newest last, capped
  std::vector<std::function<void(const Event&)>> sinks_;
  bool vips_dirty_ = false;       // CARP ownership changed since the last flush
  uint64_t neighbors_published_ = 0;  // neighbors_.version() last published
  bool maintenance_ = false;
  carp::Demotion demotion_;       // by cause; every VHID advertises the total
  std::vector<bool> link_up_;     // as last polled, per interface
  Time next_link_poll_{};
  uint64_t control_drops_ = 0;    // punts the control thread could not use
  uint64_t neighbors_warmed_ = 0; // ARP requests and NS sent for next hops of synced states
  Time last_sweep_{};             // when reap() last swept
  uint64_t states_reaped_ = 0;    // states the reaper removed (expired or killed)
  std::unique_ptr<Sync> sync_;    // null without a sync section
  std::string config_file_;       // what hafwd was started with
  std::string config_sync_last_;  // the last config sync event: the same one is not logged again
  // The workers' vmac_from_other per VHID as last read (with the link poll).
  std::array<uint64_t, 256> vmac_from_other_{};
};

}  // namespace hafw::control
