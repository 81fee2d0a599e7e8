// `hafwctl import keepalived`: realistic keepalived.conf files converted to
// the carp section an operator pastes into a node's file, every feature that
// does not convert named with its line, and broken files refused with theirs.
#include <catch2/catch.hpp>

#include <fnmatch.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <unistd.h>

#include "control/keepalived.h"
#include "tests/unit/control/config_fixture.h"

using namespace hafw::config;
using namespace hafw::config::keepalived;
using namespace hafw::config::test;

namespace {

// Files for `include`, by path; a pattern matches with fnmatch(3), as glob does.
struct Files {
  std::map<std::string, std::string> files;
  std::vector<std::string> asked;  // every pattern include asked for, as resolved

  Includer includer() {
    return [this](const std::string& pattern, const std::string& dir) {
      const std::string full = pattern.starts_with('/') || dir.empty() ? pattern : dir + "/" + pattern;
      asked.push_back(full);
      const std::string norm = std::filesystem::path(full).lexically_normal().string();
      std::vector<Source> out;
      for (const auto& [path, text] : files)
        if (::fnmatch(norm.c_str(), path.c_str(), FNM_PATHNAME) == 0) out.push_back({path, text});
      if (out.empty() && full.find_first_of("*?[") == std::string::npos)
        throw std::runtime_error("cannot read " + full + ": No such file or directory");
      return out;
    };
  }
};

Result run(const std::string& text) {
  Files none;
  return convert(text, "/etc/keepalived", none.includer());
}

std::vector<std::string> warning_lines(const Result& r) {
  std::vector<std::string> out;
  for (const auto& w : r.warnings) out.push_back((w.where.line ? w.where.str() + ": " : "") + w.message);
  return out;
}

std::string error_line(const Result& r) {
  REQUIRE(r.error);
  return (r.error->where.line ? r.error->where.str() + ": " : "") + r.error->message;
}

// The primary example with its carp section replaced by a converted one.
LoadResult with_carp(const json& converted) {
  json node = primary();
  node["carp"] = converted["carp"];
  return parse(node.dump());
}

bool contains(const std::vector<std::string>& lines, const std::string& part) {
  for (const auto& l : lines)
    if (l.find(part) != std::string::npos) return true;
  return false;
}

// A typical keepalived pair's master: HAProxy checked by a script, two
// instances held together by a sync group, notify scripts, comments in both
// styles, a brace on its own line.
const char* const kTypical = R"KA(! Configuration File for keepalived
global_defs {
   notification_email {
     ops@example.com
   }
   router_id LB1
   enable_script_security
}

vrrp_script chk_haproxy {
    script "/usr/bin/killall -0 haproxy"   # cheaper than curl
    interval 2
    weight 2
}

vrrp_sync_group VG1 {
    group {
        VI_WAN
        VI_LAN
    }
}

vrrp_instance VI_WAN {
    state MASTER
    interface wan
    virtual_router_id 51
    priority 150
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass s3cr#t!      # a '#' inside a word is not a comment
    }
    virtual_ipaddress {
        198.51.100.200/24 dev wan label wan:0
    }
    track_script {
        chk_haproxy
    }
    notify_master "/etc/keepalived/notify.sh MASTER"
}

vrrp_instance VI_LAN
{
    state MASTER
    interface lan
    virtual_router_id 52
    priority 150
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass lansecret
    }
    virtual_ipaddress {
        192.168.1.1
    }
}
)KA";

}  // namespace

TEST_CASE("keepalived: priority maps to advskew inverted, order kept", "[keepalived]") {
  CHECK(advskew_for_priority(255) == 0);
  CHECK(advskew_for_priority(254) == 2);
  CHECK(advskew_for_priority(200) == 56);
  CHECK(advskew_for_priority(150) == 106);
  CHECK(advskew_for_priority(101) == 155);
  CHECK(advskew_for_priority(100) == 156);
  CHECK(advskew_for_priority(16) == 240);
  CHECK(advskew_for_priority(1) == 254);  // never 255, the bow-out advert
  // The node keepalived elected is the node CARP elects: a higher priority is
  // a strictly lower skew, except that 1 and 2 both take 254 (256 - 1 would be
  // the bow-out advert; both warn, being above 240).
  for (unsigned p = 2; p < 255; ++p) CHECK(advskew_for_priority(p + 1) < advskew_for_priority(p));
  CHECK(advskew_for_priority(2) == 254);
}

TEST_CASE("keepalived: a typical master converts, with a warning per feature left behind", "[keepalived]") {
  Result r = run(kTypical);
  REQUIRE_FALSE(r.error);
  REQUIRE(r.carp);
  const json want = json::parse(R"KA({"carp": {"preempt": true, "vips": [
    {"interface": "wan", "vhid": 51, "addresses": ["198.51.100.200/24"], "password": "s3cr#t!",
     "advbase": 1, "advskew": 106, "description": "VI_WAN"},
    {"interface": "lan", "vhid": 52, "addresses": ["192.168.1.1"], "password": "lansecre",
     "advbase": 1, "advskew": 106, "description": "VI_LAN"}]}})KA");
  // lansecret is 9 bytes: kept whole (both nodes move to hafw together), with a note.
  json got = *r.carp;
  CHECK(got["carp"]["vips"][1]["password"] == "lansecret");
  got["carp"]["vips"][1]["password"] = "lansecre";
  CHECK(got == want);

  const std::vector<std::string> w = warning_lines(r);
  CHECK(w == std::vector<std::string>{
                 "line 2: global_defs has no hafw equivalent: its router_id, notification e-mail and script "
                 "settings are keepalived's own (the node's name is node.name)",
                 "line 10: vrrp_script chk_haproxy has no hafw equivalent: hafw runs no check scripts; run the check "
                 "from a systemd timer or cron and call `hafwctl carp demote +N` when it fails, `-N` when it "
                 "recovers",
                 "line 16: vrrp_sync_group VG1 has no hafw equivalent: hafw has no sync groups; a failed link demotes "
                 "the whole node, so every VHID moves to the peer together, as a sync group would",
                 "line 36: track_script has no hafw equivalent: hafw runs no check scripts; run the check from a "
                 "systemd timer or cron and call `hafwctl carp demote +N` when it fails, `-N` when it recovers",
                 "line 39: notify_master /etc/keepalived/notify.sh MASTER has no hafw equivalent: hafw runs no notify "
                 "scripts; follow `hafwctl events -f` or the log (event=state_change)",
                 "line 51: auth_pass is 9 bytes: keepalived sent only its first 8, hafw uses all of it (fine when both "
                 "nodes move to hafw)",
             });

  // What it prints is a carp section hafw takes as it is.
  LoadResult cfg = with_carp(*r.carp);
  INFO(lines(cfg.diagnostics, true).size());
  CHECK(lines(cfg.diagnostics, true).empty());
}

TEST_CASE("keepalived: the documented example converts cleanly to the primary example's VIPs", "[keepalived]") {
  std::ostringstream out, err;
  const std::string path = std::string(HAFW_SOURCE_DIR) + "/docs/examples/keepalived.conf";
  REQUIRE(import_command(path, out, err) == 0);
  CHECK(err.str() == "");
  const json got = json::parse(out.str());
  const json ex = primary()["carp"]["vips"];
  REQUIRE(got["carp"]["vips"].size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    INFO(i);
    const json& v = got["carp"]["vips"][i];
    CHECK(v["interface"] == ex[i]["interface"]);
    CHECK(v["vhid"] == ex[i]["vhid"]);
    CHECK(v["advbase"] == ex[i]["advbase"]);
    CHECK(v["advskew"] == ex[i]["advskew"]);  // priority 255 -> 0
  }
  CHECK(got["carp"]["vips"][1]["addresses"] == json{"192.168.1.1/24"});
  CHECK(lines(with_carp(got).diagnostics, true).empty());
}

TEST_CASE("keepalived: a backup with nopreempt, unicast peers and sub-second adverts", "[keepalived]") {
  Result r = run(R"KA(
vrrp_instance VI_1 {
  state BACKUP
  nopreempt
  interface eth1
  virtual_router_id 10
  priority 90
  advert_int 0.5
  version 3
  unicast_src_ip 10.0.0.3
  unicast_peer {
    10.0.0.2
    10.0.0.4
  }
  authentication { auth_type AH
    auth_pass "pa ss"
  }
  virtual_ipaddress { 10.0.0.1/24 }
  virtual_ipaddress_excluded {
    10.0.0.9/24
    203.0.113.7/32 dev eth2
  }
  track_interface {
    eth0 weight -10
  }
  preempt_delay 30
  garp_master_delay 5
  fancy_new_option yes
}
)KA");
  REQUIRE_FALSE(r.error);
  const json want = json::parse(R"KA({"carp": {"preempt": false, "vips": [
    {"interface": "eth1", "vhid": 10, "addresses": ["10.0.0.1/24", "10.0.0.9/24"], "password": "pa ss",
     "advbase": 1, "advskew": 166, "peer": "10.0.0.2", "description": "VI_1"},
    {"interface": "eth2", "vhid": 10, "addresses": ["203.0.113.7/32"], "password": "pa ss",
     "advbase": 1, "advskew": 166, "peer": "10.0.0.2", "description": "VI_1 (dev eth2)"}]}})KA");
  CHECK(*r.carp == want);
  const std::vector<std::string> w = warning_lines(r);
  CHECK(contains(w, "line 9: version 3 has no hafw equivalent: hafw speaks CARP"));
  CHECK(contains(w, "line 10: unicast_src_ip 10.0.0.3 has no hafw equivalent: hafw sends unicast adverts from "
                    "the interface's own address"));
  CHECK(contains(w, "line 13: unicast_peer 10.0.0.4: hafw sends unicast adverts to one peer; only 10.0.0.2 kept"));
  CHECK(contains(w, "line 15: auth_type AH has no hafw equivalent"));
  CHECK(contains(w, "line 19: virtual_ipaddress_excluded: added to the VIP's addresses"));
  CHECK(contains(w, "line 23: track_interface has no hafw equivalent: hafw watches the link of every interface "
                    "that carries a VHID"));
  CHECK(contains(w, "line 26: preempt_delay 30 has no hafw equivalent"));
  CHECK(contains(w, "line 27: garp_master_delay 5 has no hafw equivalent"));
  CHECK(contains(w, "line 28: fancy_new_option yes: not converted (not a keyword this converter knows)"));
  CHECK(contains(w, "line 8: advert_int 0.5: CARP's advbase is whole seconds; rounded up to 1"));
  CHECK(contains(w, "line 21: addresses on dev eth2, not on eth1: written as a VHID of their own on eth2"));
  CHECK(w.size() == 11);
}

TEST_CASE("keepalived: defaults, no authentication, mixed preemption", "[keepalived]") {
  Result r = run(R"KA(vrrp_instance A {
  interface wan
  virtual_router_id 1
  virtual_ipaddress {
    192.0.2.1
  }
}
vrrp_instance B {
  interface lan
  virtual_router_id 2
  nopreempt
  priority 10
  advert_int 3
  authentication {
    auth_pass abc
  }
  virtual_ipaddress {
    2001:db8::1
  }
}
)KA");
  REQUIRE_FALSE(r.error);
  const json& vips = (*r.carp)["carp"]["vips"];
  // keepalived's defaults: priority 100, advert_int 1.
  CHECK(vips[0] == json::parse(R"KA({"interface": "wan", "vhid": 1, "addresses": ["192.0.2.1"], "advbase": 1,
                                   "advskew": 156, "description": "A"})KA"));
  CHECK(vips[1]["advbase"] == 3);
  CHECK(vips[1]["advskew"] == 246);
  CHECK(vips[1]["addresses"] == json{"2001:db8::1"});
  CHECK((*r.carp)["carp"]["preempt"] == false);
  CHECK(warning_lines(r) == std::vector<std::string>{
                                "line 1: vrrp_instance A has no authentication: hafw requires a password (the key of "
                                "CARP's HMAC); set carp.vips[].password, the same on both nodes",
                                "line 12: priority 10 gives advskew 246, above 240: a FreeBSD peer could not demote it "
                                "further; use a priority of 16 or more",
                                "nopreempt is set on B but not on A: hafw's carp.preempt is one switch for the node; "
                                "written as false",
                            });
  // Without a password the section is incomplete on purpose: check says so.
  CHECK(contains(lines(with_carp(*r.carp).diagnostics, true), "carp.vips[0].password: missing (required)"));
}

TEST_CASE("keepalived: includes are followed relative to the including file", "[keepalived]") {
  Files fs;
  fs.files["/etc/keepalived/conf.d/wan.conf"] = "vrrp_instance WAN {\n  interface wan\n  virtual_router_id 200\n"
                                                "  include ../auth.inc\n  virtual_ipaddress {\n    198.51.100.200\n"
                                                "  }\n  notify /bin/true\n}\n";
  fs.files["/etc/keepalived/conf.d/lan.conf"] = "vrrp_instance LAN {\n  interface lan\n  virtual_router_id 1\n"
                                                "  include ../auth.inc\n  virtual_ipaddress {\n    192.168.1.1\n  }\n}\n";
  fs.files["/etc/keepalived/conf.d/README"] = "not a config";
  fs.files["/etc/keepalived/auth.inc"] = "authentication {\n  auth_pass shared\n}\n";
  Result r = convert("# main\ninclude conf.d/*.conf\ninclude /etc/keepalived/none/*.conf\n", "/etc/keepalived",
                     fs.includer());
  REQUIRE_FALSE(r.error);
  const json& vips = (*r.carp)["carp"]["vips"];
  REQUIRE(vips.size() == 2);  // glob order: lan.conf before wan.conf
  CHECK(vips[0]["description"] == "LAN");
  CHECK(vips[1]["description"] == "WAN");
  CHECK(vips[0]["password"] == "shared");
  CHECK(vips[1]["password"] == "shared");
  CHECK(fs.asked == std::vector<std::string>{"/etc/keepalived/conf.d/*.conf", "/etc/keepalived/conf.d/../auth.inc",
                                             "/etc/keepalived/conf.d/../auth.inc", "/etc/keepalived/none/*.conf"});
  // A warning in an included file names that file.
  CHECK(warning_lines(r) == std::vector<std::string>{
                                "/etc/keepalived/conf.d/wan.conf: line 8: notify /bin/true has no hafw equivalent: "
                                "hafw runs no notify scripts; follow `hafwctl events -f` or the log "
                                "(event=state_change)"});

  // A missing file and a file that includes itself are errors on the include line.
  fs.files["/etc/keepalived/loop.conf"] = "\ninclude loop.conf\n";
  Result loop = convert("include loop.conf\n", "/etc/keepalived", fs.includer());
  CHECK(error_line(loop) == "/etc/keepalived/loop.conf: line 2: includes nested deeper than 8 (does a file include "
                            "itself?)");
  Result missing = convert("\n\ninclude nothere.conf\n", "/etc/keepalived", fs.includer());
  CHECK(error_line(missing) ==
        "line 3: include nothere.conf: cannot read /etc/keepalived/nothere.conf: No such file or directory");
  CHECK_FALSE(missing.carp);
}

TEST_CASE("keepalived: the real includer reads files through glob", "[keepalived]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("hafw-keepalived-" + std::to_string(::getpid()));
  fs::create_directories(dir / "conf.d");
  std::ofstream(dir / "keepalived.conf") << "include conf.d/*.conf\n";
  std::ofstream(dir / "conf.d" / "a.conf")
      << "vrrp_instance A {\n interface wan\n virtual_router_id 7\n authentication {\n  auth_pass x\n }\n"
         " virtual_ipaddress {\n  192.0.2.7\n }\n}\n";
  std::ostringstream out, err;
  CHECK(import_command((dir / "keepalived.conf").string(), out, err) == 0);
  CHECK(err.str() == "");
  CHECK(json::parse(out.str())["carp"]["vips"][0]["vhid"] == 7);

  std::ostringstream out2, err2;
  CHECK(import_command((dir / "absent.conf").string(), out2, err2) == 1);
  CHECK(err2.str() == "error: " + (dir / "absent.conf").string() + ": cannot read: No such file or directory\n");
  CHECK(out2.str() == "");
  fs::remove_all(dir);
}

TEST_CASE("keepalived: broken files are refused with the line", "[keepalived]") {
  const std::string inst = "vrrp_instance V {\n interface wan\n virtual_router_id 1\n";
  struct Case {
    std::string text;
    std::string error;
  };
  const Case cases[] = {
      {inst + " virtual_ipaddress {\n  192.0.2.1\n", "line 4: '{' is never closed"},
      {inst + "}\n}\n", "line 5: '}' without a block to close"},
      {inst + " auth_pass \"abc\n}\n", "line 4: unterminated quoted string"},
      {"vrrp_instance V {\n interface wan\n virtual_router_id 256\n}\n",
       "line 3: virtual_router_id '256': must be a whole number 1-255"},
      {"vrrp_instance V {\n interface wan\n virtual_router_id 0x10\n}\n",
       "line 3: virtual_router_id '0x10': must be a whole number 1-255"},
      {inst + " priority 0\n}\n", "line 4: priority '0': must be a whole number 1-255"},
      {inst + " advert_int 0\n}\n", "line 4: advert_int '0': must be a number of seconds above 0, at most 255"},
      {inst + " advert_int fast\n}\n",
       "line 4: advert_int 'fast': must be a number of seconds above 0, at most 255"},
      {inst + " state PRIMARY\n}\n", "line 4: state 'PRIMARY': must be MASTER or BACKUP"},
      {inst + " virtual_ipaddress {\n  192.0.2.300/24\n }\n}\n",
       "line 5: '192.0.2.300/24' is not an address (a.b.c.d, a.b.c.d/len or an IPv6 address)"},
      {inst + " virtual_ipaddress {\n  192.0.2.3 dev\n }\n}\n", "line 5: dev needs an interface name"},
      {inst + " virtual_ipaddress 192.0.2.1\n}\n", "line 4: virtual_ipaddress needs a { ... } block of addresses"},
      {inst + " authentication {\n  auth_type MD5\n }\n}\n", "line 5: auth_type 'MD5': must be PASS or AH"},
      {inst + " unicast_peer {\n  peer.example\n }\n}\n",
       "line 5: 'peer.example' is not an address (a.b.c.d, a.b.c.d/len or an IPv6 address)"},
      {"vrrp_instance V {\n virtual_router_id 1\n}\n", "line 1: vrrp_instance V: no interface"},
      {"vrrp_instance V {\n interface wan\n}\n", "line 1: vrrp_instance V: no virtual_router_id"},
      {"vrrp_instance {\n interface wan\n}\n", "line 1: vrrp_instance needs one name"},
      {"vrrp_instance A B {\n}\n", "line 1: vrrp_instance needs one name"},
      {"{\n}\n", "line 1: '{' without a keyword before it"},
      {inst + " interface\n}\n", "line 4: interface needs one value, got 0"},
      {"include\n", "line 1: include needs one file name or pattern"},
      {"global_defs {\n}\n", "no vrrp_instance in the file: nothing to convert"},
      {"", "no vrrp_instance in the file: nothing to convert"},
      {std::string(40, '{'), "line 1: '{' without a keyword before it"},
      {[] {
         std::string s;
         for (int i = 0; i < 40; ++i) s += "a {";
         return s;
       }(),
       "line 1: blocks nested deeper than 32"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    Result r = run(c.text);
    CHECK(error_line(r) == c.error);
    CHECK_FALSE(r.carp);
  }
}

TEST_CASE("keepalived: layout variations parse alike", "[keepalived]") {
  // One-line blocks, braces glued to words, CRLF, tabs, a trailing comment
  // after a brace and a file without a final newline.
  const std::string a = "vrrp_instance X {\n interface wan\n virtual_router_id 9\n authentication {\n"
                        "  auth_pass pw\n }\n virtual_ipaddress {\n  192.0.2.9\n }\n}\n";
  const std::string b = "vrrp_instance X{ # comment\r\n\tinterface wan\r\n\tvirtual_router_id 9\r\n"
                        "\tauthentication { auth_pass pw }\r\n\tvirtual_ipaddress {\r\n192.0.2.9 }}";
  Result ra = run(a), rb = run(b);
  REQUIRE_FALSE(ra.error);
  INFO((rb.error ? error_line(rb) : ""));
  REQUIRE_FALSE(rb.error);
  CHECK(*ra.carp == *rb.carp);
  CHECK(rb.warnings.empty());
}
