// Internal to the config module: the half-parsed form the rules run on.
//
// Reading JSON (config.cc) and checking the operator's rules (config_rules.cc)
// are separate passes. Between them sits a Draft: every element the file
// declares, with the JSON path it came from, and only the fields that parsed
// (optional / empty otherwise). A field that failed to parse already has its
// error, so the rules skip it instead of piling a second, misleading error on
// top (a VIP on an interface whose address is malformed is not "outside the
// subnet").
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "control/config.h"

namespace hafw::config::detail {

class Diags {
 public:
  void error(std::string path, std::string message) {
    list_.push_back({Diagnostic::Severity::Error, std::move(path), std::move(message)});
  }
  void warning(std::string path, std::string message) {
    list_.push_back({Diagnostic::Severity::Warning, std::move(path), std::move(message)});
  }
  bool has_error() const;
  std::vector<Diagnostic> take() { return std::move(list_); }

 private:
  std::vector<Diagnostic> list_;
};

// JSON paths: root "$", then "carp.vips[0].vhid".
std::string child(const std::string& path, std::string_view key);
std::string elem(const std::string& path, size_t index);
// A user-supplied string fit to quote in a diagnostic: control characters
// escaped, long strings cut, so a hostile file cannot garble the terminal.
std::string quote(std::string_view s);

struct InterfaceDraft {
  std::string path;          // "interfaces[1]"
  Interface v;               // name/port empty when missing or invalid
  bool address_ok = false;   // v.address parsed; address6/peer are set only when valid
};

struct VipAddrDraft {
  std::string path;                // "carp.vips[0].addresses[1]"
  net::IpAddr addr;
  std::optional<uint8_t> len;      // when written with a prefix length
};

struct VipDraft {
  std::string path;
  Vip v;                           // vhid 0 = missing/invalid; v.addresses filled at the end
  std::vector<VipAddrDraft> addrs; // the addresses that parsed
  bool password_ok = false;
};

struct SyncDraft {
  std::string path;  // "sync"
  Sync v;
  bool peer_ok = false;
};

struct RouteDraft {
  std::string path;
  Route v;
  bool destination_ok = false, gateway_ok = false;
};

struct OutboundDraft {
  std::string path;
  OutboundNat v;
  bool source_ok = false, translation_ok = false;
};

struct ForwardDraft {
  std::string path;
  PortForward v;
  bool destination_ok = false, target_ok = false;
};

struct RuleDraft {
  std::string path;
  Rule v;
};

struct Draft {
  NodeIdentity node;
  bool role_ok = false;
  Dataplane dataplane;
  std::vector<InterfaceDraft> interfaces;
  bool carp_present = false;
  Carp carp;  // vips are built from vips below
  std::vector<VipDraft> vips;
  std::optional<SyncDraft> sync;
  std::vector<RouteDraft> routes;
  std::vector<OutboundDraft> outbound;
  std::vector<ForwardDraft> forwards;
  std::vector<RuleDraft> rules;
  Control control;
  // Names of interfaces present in the file, valid or not: a reference to
  // one of them is not "undefined" even if its own entry has errors.
  std::vector<std::string> declared_interfaces;
};

// The operator's rules (docs/config.md), run on what parsed.
void check_rules(const Draft& d, Diags& diags);

// Optimal string alignment distance (a transposition counts 1): "advksew" is
// one step from "advskew".
size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace hafw::config::detail
