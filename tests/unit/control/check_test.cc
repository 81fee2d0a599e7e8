// `hafwctl check`: what the operator reads and the exit code scripts see.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>
#include <unistd.h>

#include "control/check.h"
#include "tests/unit/control/config_fixture.h"

using namespace hafw::config;
using namespace hafw::config::test;
namespace fs = std::filesystem;

namespace {

// A scratch directory holding the files under test, removed afterwards.
struct Dir {
  fs::path path = fs::temp_directory_path() / ("hafw-check-" + std::to_string(::getpid()));
  Dir() { fs::create_directories(path); }
  ~Dir() { fs::remove_all(path); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name) << text;
    return (path / name).string();
  }
};

struct Run {
  int rc;
  std::string out;
};

Run check(const std::vector<std::string>& files) {
  std::ostringstream out;
  int rc = check_command(files, out);
  return {rc, out.str()};
}

}  // namespace

TEST_CASE("check: the examples pass alone and as a pair", "[check]") {
  // The primary sets config_sync (with sync.key): nothing to warn about.
  std::string p = std::string(HAFW_SOURCE_DIR) + "/docs/examples/primary.json";
  std::string s = std::string(HAFW_SOURCE_DIR) + "/docs/examples/secondary.json";
  auto r = check({p});
  CHECK(r.rc == 0);
  CHECK(r.out == "OK: " + p + "\n");
  r = check({p, s});
  CHECK(r.rc == 0);
  CHECK(r.out == "OK: " + p + " + " + s + " (pair)\n");
}

TEST_CASE("check: errors print one line each and exit 1", "[check]") {
  Dir d;
  json j = primary();
  j["carp"]["vips"][0]["vhid"] = 0;
  j["carp"]["vips"][1]["advksew"] = 3;
  auto f = d.write("primary.json", j.dump());
  auto r = check({f});
  CHECK(r.rc == 1);
  CHECK(r.out ==
        "error: carp.vips[0].vhid: must be 1-255, got 0\n"
        "error: carp.vips[1]: unknown key 'advksew'; did you mean 'advskew'?\n");
}

TEST_CASE("check: warnings keep exit 0", "[check]") {
  Dir d;
  json j = primary();
  j.erase("sync");
  auto f = d.write("primary.json", j.dump());
  auto r = check({f});
  CHECK(r.rc == 0);
  CHECK(r.out == "warning: sync: not set: without state sync every connection through the master is lost at failover\n"
                 "OK: " + f + "\n");
}

TEST_CASE("check: rules, NAT, max_states and config sync print nothing", "[check]") {
  Dir d;
  json j = primary();  // rules, outbound NAT, a port forward, max_states and sync
  j.erase("sync");
  auto f = d.write("primary.json", j.dump());
  auto r = check({f});
  CHECK(r.rc == 0);
  CHECK(r.out == "warning: sync: not set: without state sync every connection through the master is lost at failover\n"
                 "OK: " + f + "\n");
  j["sync"] = primary()["sync"];
  f = d.write("primary.json", j.dump());
  r = check({f});
  CHECK(r.rc == 0);
  CHECK(r.out == "OK: " + f + "\n");
}

TEST_CASE("check: a node over a limit gets one error line and exit 1", "[check]") {
  Dir d;
  json j = primary();
  for (int k = 4; k < 17; ++k)
    j["interfaces"].push_back({{"name", "if" + std::to_string(k)},
                               {"port", "net_af_packet" + std::to_string(k)},
                               {"address", "10.1" + std::to_string(k) + ".0.2/24"}});
  auto f = d.write("primary.json", j.dump());
  auto r = check({f});
  CHECK(r.rc == 1);
  CHECK(r.out == "error: interfaces: at most 16 interfaces per node, got 17\n");
}

TEST_CASE("check: the second file's lines carry its name", "[check]") {
  Dir d;
  auto a = d.write("primary.json", primary().dump());
  json j = secondary();
  j["carp"]["vips"][0]["password"] = std::string(20, 'x');
  auto b = d.write("secondary.json", j.dump());
  auto r = check({a, b});
  CHECK(r.rc == 1);
  CHECK(r.out == "error: " + b +
                     ": carp.vips[0].password: is 20 bytes; at most 19 (BSD peers read at most 19 bytes, "
                     "longer passwords fail their HMAC check)\n");
  // A pair problem points into the second file the same way.
  j = secondary();
  j["carp"]["vips"][0]["advskew"] = 0;
  b = d.write("secondary.json", j.dump());
  r = check({a, b});
  CHECK(r.rc == 1);
  CHECK(r.out ==
        "warning: " + b +
            ": carp.vips[0].advskew: advskew 0 on the secondary ties the primary, so start order "
            "decides the MASTER; the secondary normally runs 100\n" +
            "error: " + b +
            ": carp.vips[0].advskew: vhid 200: the secondary's advskew (0) must be above the "
            "primary's (0), or the secondary wins or ties the election\n");
}

TEST_CASE("check: usage and unreadable files exit 2", "[check]") {
  auto r = check({});
  CHECK(r.rc == 2);
  CHECK(r.out == "error: usage: hafwctl check NODE.json [PEER.json]\n");
  CHECK(check({"a", "b", "c"}).rc == 2);
  r = check({"/nonexistent/x.json"});
  CHECK(r.rc == 2);
  CHECK(r.out == "error: /nonexistent/x.json: cannot read: No such file or directory\n");
  Dir d;
  r = check({d.path.string()});  // a directory opens but does not read
  CHECK(r.rc == 2);
  CHECK(r.out == "error: " + d.path.string() + ": cannot read: Is a directory\n");
}

TEST_CASE("check: invalid JSON exits 1 with line and column", "[check]") {
  Dir d;
  auto f = d.write("bad.json", "{\n  \"node\": [1,,2]\n}\n");
  auto r = check({f});
  CHECK(r.rc == 1);
  CHECK(r.out.starts_with("error: $: invalid JSON at line 2, column 14: "));
}

TEST_CASE("check: carp.demotion_scope is checked by hafwctl check, alone and as a pair", "[check]") {
  Dir d;
  json j = primary();
  j["carp"]["demotion_scope"] = "iface";
  auto f = d.write("primary.json", j.dump());
  auto r = check({f});
  CHECK(r.rc == 1);
  CHECK(r.out == "error: carp.demotion_scope: must be node or interface, got 'iface'\n");
  j["carp"]["demotion_scope"] = "interface";
  f = d.write("primary.json", j.dump());
  json s = secondary();
  s["carp"]["demotion_scope"] = "interface";
  auto g = d.write("secondary.json", s.dump());
  r = check({f, g});
  CHECK(r.rc == 0);
  CHECK(r.out == "OK: " + f + " + " + g + " (pair)\n");
}
