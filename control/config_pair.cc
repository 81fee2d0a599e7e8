// The pair rules: two nodes' files that each pass alone must also agree, or
// CARP elects two masters (password, VIP list or advbase differ: each node
// drops the other's adverts) or the wrong one (skew), and failover moves
// traffic to a node that is wired or filtering differently.
//
// Diagnostics point into the second file ("peer:" + its JSON path); the
// first file is "the other node" in messages.
#include <algorithm>
#include <map>

#include "control/config.h"
#include "control/config_draft.h"

namespace hafw::config {

namespace {

using detail::child;
using detail::elem;
using detail::quote;

class Pair {
 public:
  Pair(const Config& a, const Config& b) : a_(a), b_(b) {}

  std::vector<Diagnostic> run() {
    nodes();
    interfaces();
    sync();
    vips();
    policy();
    return std::move(out_);
  }

 private:
  void error(const std::string& path, std::string msg) {
    out_.push_back({Diagnostic::Severity::Error, std::string(kPeerPathPrefix) + path, std::move(msg)});
  }
  void warning(const std::string& path, std::string msg) {
    out_.push_back({Diagnostic::Severity::Warning, std::string(kPeerPathPrefix) + path, std::move(msg)});
  }

  static const char* role_name(Role r) { return r == Role::Primary ? "primary" : "secondary"; }
  static std::string seg(const net::Prefix& p) { return net::Prefix{p.network(), p.len}.str(); }

  void nodes() {
    if (a_.node.role == b_.node.role)
      error("node.role", std::string("both nodes are ") + role_name(b_.node.role) +
                             "; one must be primary and the other secondary");
    if (a_.node.name == b_.node.name)
      warning("node.name", "both nodes are named " + quote(b_.node.name) + "; events and logs cannot tell them apart");
  }

  void interfaces() {
    const auto &ai = a_.interfaces, &bi = b_.interfaces;
    size_t n = std::min(ai.size(), bi.size());
    for (size_t k = 0; k < n; ++k) {
      const Interface &a = ai[k], &b = bi[k];
      std::string path = elem("interfaces", k);
      if (a.name != b.name) {
        error(child(path, "name"), quote(b.name) + " where the other node has " + quote(a.name) +
                                       "; both nodes need the same interfaces in the same order");
        continue;
      }
      if (a.address.network() != b.address.network() || a.address.len != b.address.len) {
        error(child(path, "address"), "subnet " + seg(b.address) + " differs from the other node's " + seg(a.address) +
                                          " on " + b.name);
        continue;
      }
      if (a.address.addr == b.address.addr) {
        error(child(path, "address"), b.address.addr.str() + " is also the other node's address on " + b.name +
                                          "; node addresses must differ");
        continue;
      }
      // Each side's peer names the other's address on the segment.
      if (!b.peer)
        warning(child(path, "peer"), "not set; the other node's address on " + b.name + " is " + a.address.addr.str());
      else if (*b.peer != a.address.addr)
        error(child(path, "peer"), b.peer->str() + " is not the other node's address on " + b.name + " (" +
                                       a.address.addr.str() + ")");
      if (!a.peer)
        warning(child(path, "address"), "the other node sets no peer on " + b.name + "; it should be " +
                                             b.address.addr.str());
      else if (*a.peer != b.address.addr)
        error(child(path, "address"), "the other node's peer on " + b.name + " is " + a.peer->str() +
                                          ", but this node's address is " + b.address.addr.str());
    }
    if (ai.size() != bi.size())
      error("interfaces", "has " + std::to_string(bi.size()) + " interfaces, the other node " +
                              std::to_string(ai.size()) + "; both nodes need the same interfaces in the same order");
  }

  void sync() {
    if (!a_.sync || !b_.sync) {
      if (a_.sync) error("sync", "missing, but the other node syncs state; both nodes need a sync section");
      if (b_.sync) error("sync", "set, but the other node has no sync section; both nodes need one");
      return;
    }
    const Sync &a = *a_.sync, &b = *b_.sync;
    if (a.interface != b.interface) {
      error("sync.interface", quote(b.interface) + " while the other node syncs over " + quote(a.interface));
      return;
    }
    if (const Interface* ai = a_.find_interface(a.interface)) {
      if (b.peer != ai->address.addr)
        error("sync.peer", b.peer.str() + " is not the other node's sync address " + ai->address.addr.str());
    }
    if (const Interface* bi = b_.find_interface(b.interface)) {
      if (a.peer != bi->address.addr)
        error("sync.peer", "the other node's sync.peer is " + a.peer.str() + ", but this node's sync address is " +
                               bi->address.addr.str());
    }
    if (a.key != b.key)
      error("sync.key", std::string(a.key.empty() || b.key.empty() ? "set on one node only" : "differs from the other node's") +
                            "; each node rejects the other's sync frames");
    if (a.config_sync && b.config_sync)
      warning("sync.config_sync", "set on both nodes; only the primary should push its configuration");
  }

  static std::vector<net::IpAddr> sorted(std::vector<net::IpAddr> v) {
    std::sort(v.begin(), v.end());
    return v;
  }

  static std::string list(const std::vector<net::IpAddr>& v) {
    std::string s;
    for (const auto& a : v) s += (s.empty() ? "" : ", ") + a.str();
    return "[" + s + "]";
  }

  void vips() {
    std::map<std::pair<std::string, uint8_t>, size_t> in_a;
    for (size_t k = 0; k < a_.carp.vips.size(); ++k) in_a[{a_.carp.vips[k].interface, a_.carp.vips[k].vhid}] = k;
    std::map<std::pair<std::string, uint8_t>, bool> matched;
    bool roles_differ = a_.node.role != b_.node.role;
    for (size_t k = 0; k < b_.carp.vips.size(); ++k) {
      const Vip& b = b_.carp.vips[k];
      std::string path = elem("carp.vips", k);
      std::string vhid = "vhid " + std::to_string(b.vhid);
      auto it = in_a.find({b.interface, b.vhid});
      if (it == in_a.end()) {
        error(child(path, "vhid"), vhid + " on " + b.interface + " does not exist on the other node");
        continue;
      }
      matched[it->first] = true;
      const Vip& a = a_.carp.vips[it->second];
      // The VIP list and the password are both in the advert's HMAC: if they
      // differ, each node drops the other's adverts and both become MASTER.
      if (sorted(a.addresses) != sorted(b.addresses))
        error(child(path, "addresses"), list(b.addresses) + " differ from the other node's " + list(a.addresses) +
                                            " for " + vhid + "; the VIPs are in the advert's HMAC");
      if (a.password != b.password)
        error(child(path, "password"), "differs from the other node's for " + vhid +
                                           "; each node drops the other's adverts and both become MASTER");
      if (a.advbase != b.advbase)
        error(child(path, "advbase"), std::to_string(b.advbase) + " differs from the other node's " +
                                          std::to_string(a.advbase) + " for " + vhid);
      else if (roles_differ) {
        // Lower advbase + advskew/256 wins: the primary must be strictly faster.
        const Vip& pri = a_.node.role == Role::Primary ? a : b;
        const Vip& sec = a_.node.role == Role::Primary ? b : a;
        if (sec.advskew <= pri.advskew)
          error(child(path, "advskew"), vhid + ": the secondary's advskew (" + std::to_string(sec.advskew) +
                                            ") must be above the primary's (" + std::to_string(pri.advskew) +
                                            "), or the secondary wins or ties the election");
      }
    }
    for (const auto& [key, k] : in_a)
      if (!matched.count(key))
        error("carp.vips", "vhid " + std::to_string(key.second) + " on " + key.first + " (the other node's " +
                               elem("carp.vips", k) + ") is missing here");
    if (a_.carp.preempt != b_.carp.preempt)
      warning("carp.preempt", "differs from the other node's; the primary takes its VIPs back only if preempt is on");
    if (a_.carp.demotion_scope != b_.carp.demotion_scope)
      warning("carp.demotion_scope",
              "differs from the other node's; a failed link then moves every VIP from one node and only that "
              "interface's from the other");
  }

  // pfSense syncs these from the primary: a difference means failover
  // changes how traffic is handled.
  void policy() {
    if (a_.routes != b_.routes) warning("routes", "differ from the other node's; after a failover traffic is routed differently");
    if (a_.nat != b_.nat) warning("nat", "differs from the other node's; after a failover traffic is translated differently");
    if (a_.rules != b_.rules) warning("rules", "differ from the other node's; after a failover traffic is filtered differently");
  }

  const Config& a_;
  const Config& b_;
  std::vector<Diagnostic> out_;
};

}  // namespace

std::vector<Diagnostic> check_pair(const Config& node, const Config& peer) { return Pair(node, peer).run(); }

}  // namespace hafw::config
