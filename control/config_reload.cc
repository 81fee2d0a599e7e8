// What a running daemon cannot take without a restart (config.reload): the
// keys it set up once at start. Everything else is applied in place
// (control/controller.cc, Controller::apply_config).
#include <string>

#include "control/config.h"
#include "control/config_draft.h"

namespace hafw::config {

using detail::child;
using detail::Diags;
using detail::elem;
using detail::quote;

namespace {

constexpr const char* kRestart = "requires a restart";

std::string role_name(Role r) { return r == Role::Primary ? "primary" : "secondary"; }

// "requires a restart (running X, new Y)"; without values for lists and secrets.
void refuse(Diags& d, const std::string& path, const std::string& was = {}, const std::string& now = {}) {
  std::string m = kRestart;
  if (!was.empty() || !now.empty()) m += " (running " + was + ", new " + now + ")";
  d.error(path, m);
}

template <class T>
void same(Diags& d, const std::string& path, const T& was, const T& now) {
  if (was != now) refuse(d, path, std::to_string(was), std::to_string(now));
}
void same(Diags& d, const std::string& path, const std::string& was, const std::string& now) {
  if (was != now) refuse(d, path, quote(was), quote(now));
}

}  // namespace

std::vector<Diagnostic> check_reload(const Config& running, const Config& next) {
  Diags d;
  // Who the node is: its logs, its peer's view and config sync's direction.
  same(d, "node.name", running.node.name, next.node.name);
  if (running.node.role != next.node.role)
    refuse(d, "node.role", role_name(running.node.role), role_name(next.node.role));
  // The EAL, the worker lcores and the state table are made once, before
  // any packet moves (their memory is the dataplane's).
  if (running.dataplane.eal != next.dataplane.eal) refuse(d, "dataplane.eal");
  same(d, "dataplane.workers", running.dataplane.workers, next.dataplane.workers);
  same(d, "dataplane.max_states", running.dataplane.max_states, next.dataplane.max_states);
  // Each worker's reassembly table and the mbufs it may hold are sized at start.
  same(d, "dataplane.fragments.max_packets", running.dataplane.fragments.max_packets,
       next.dataplane.fragments.max_packets);
  same(d, "dataplane.fragments.timeout_ms", running.dataplane.fragments.timeout_ms,
       next.dataplane.fragments.timeout_ms);
  // Interfaces are the DPDK ports opened at start, and every part of the
  // daemon numbers them by their place in the list.
  if (running.interfaces.size() != next.interfaces.size()) {
    refuse(d, "interfaces", std::to_string(running.interfaces.size()) + " interfaces",
           std::to_string(next.interfaces.size()));
  } else {
    for (size_t i = 0; i < running.interfaces.size(); ++i) {
      const Interface &was = running.interfaces[i], &now = next.interfaces[i];
      const std::string path = elem("interfaces", i);
      same(d, child(path, "name"), was.name, now.name);
      same(d, child(path, "port"), was.port, now.port);
    }
  }
  // State sync is set up once: the workers' event rings, its seal, its
  // sequence numbers and its peer's address. config_sync is not.
  if (running.sync.has_value() != next.sync.has_value()) {
    refuse(d, "sync", running.sync ? "with state sync" : "without state sync",
           next.sync ? "with state sync" : "without");
  } else if (running.sync) {
    same(d, "sync.interface", running.sync->interface, next.sync->interface);
    if (running.sync->peer != next.sync->peer) refuse(d, "sync.peer", running.sync->peer.str(), next.sync->peer.str());
    if (running.sync->key != next.sync->key) refuse(d, "sync.key");  // a secret: no values
    const Interface* was = running.find_interface(running.sync->interface);
    const Interface* now = next.find_interface(next.sync->interface);
    if (was && now && was->address != now->address)
      d.error(child(elem("interfaces", size_t(now - next.interfaces.data())), "address"),
              std::string(kRestart) + " on the sync interface (running " + was->address.str() + ", new " +
                  now->address.str() + ")");
  }
  // The socket is bound and the state directory read at start.
  same(d, "control.socket", running.control.socket, next.control.socket);
  same(d, "control.state_dir", running.control.state_dir, next.control.state_dir);
  same(d, "control.realtime_priority", running.control.realtime_priority, next.control.realtime_priority);
  return d.take();
}

}  // namespace hafw::config
