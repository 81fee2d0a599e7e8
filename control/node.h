// The control thread's logic for one node: CARP, neighbour resolution, the
// workers' view, the event log and the control socket's commands.
//
// It owns no thread, socket or clock: hafwd's loop calls step() and hands it
// socket requests; tests drive two Nodes over an in-memory link with a
// ManualClock. See docs/architecture.md.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "carp/node.h"
#include "control/clock.h"
#include "control/config.h"
#include "dataplane/io.h"
#include "dataplane/neighbor.h"
#include "dataplane/view.h"

namespace hafw {

struct Event {
  int64_t unix_ms;
  std::string message;
};

class Node {
 public:
  Node(config::Config cfg, dp::PacketIo& io, const Clock& clock);

  // Bring CARP up (INIT -> BACKUP) and publish the first view.
  void start();
  // One pass of the control loop: punted frames, due timers, neighbour
  // upkeep. Returns true when it did any work (the caller backs off if not).
  bool step();
  // Leave the cluster politely: a MASTER sends its bow-out advert.
  void shutdown();

  // A control-socket command; throws control::CommandError on a user error.
  nlohmann::json handle(std::string_view cmd, const nlohmann::json& args);

  const config::Config& config() const { return cfg_; }
  const carp::Carp& carp() const { return carp_; }
  Time next_deadline() const { return carp_.next_deadline(); }
  const std::deque<Event>& events() const { return events_; }

 private:
  void on_punt(const dp::Punt& p);
  void apply(const carp::Output& out);
  void publish_view();
  void log_event(std::string message);
  int iface_index(std::string_view name) const;
  unsigned demotion() const;  // the node's demotion as advertised (0 = healthy)
  std::string maintenance_path() const;  // its existence = maintenance mode on
  void persist_maintenance();

  nlohmann::json status_json() const;
  nlohmann::json carp_json() const;
  nlohmann::json stats_json() const;

  config::Config cfg_;
  dp::PacketIo& io_;
  const Clock& clock_;
  Time started_{};
  dp::View base_;                 // interfaces and routes; VIPs and neighbours added per publish
  carp::Carp carp_;
  dp::NeighborManager neighbors_;
  std::deque<Event> events_;      // newest last, capped
  uint64_t generation_ = 0;
  bool maintenance_ = false;
  uint64_t control_drops_ = 0;    // punts the control thread could not use
};

}  // namespace hafw
