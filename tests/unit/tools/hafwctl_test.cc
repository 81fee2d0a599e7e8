// The real hafwctl binary (path in $HAFWCTL) against a fake daemon: what an
// operator types, what they read, and the exit status scripts rely on.
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

#include <catch2/catch.hpp>

#include "tests/unit/tools/server_fixture.h"

using namespace hafw::control;
using hafw::test::ServerThread;
using hafw::test::TempDir;
using nlohmann::json;

namespace {

struct Run {
  int status;
  std::string out;  // stdout, or stderr when asked for
};

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Runs `PREFIX hafwctl ARGS` in a shell (PREFIX: "VAR=x" or "cd DIR &&") and
// returns its exit status and either its stdout or its stderr.
Run hafwctl(const std::string& args, bool want_stderr = false, const std::string& prefix = "") {
  const char* bin = std::getenv("HAFWCTL");
  REQUIRE(bin);
  std::string cmd = prefix + " " + shell_quote(bin) + " " + args + (want_stderr ? " 2>&1 >/dev/null" : " 2>/dev/null");
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int st = ::pclose(p);
  REQUIRE(WIFEXITED(st));
  return {WEXITSTATUS(st), out};
}

const json kVhids = json::parse(R"([
  {"interface": "wan", "vhid": 200, "state": "MASTER", "advbase": 1, "advskew": 0, "demotion": 0,
   "addresses": ["198.51.100.200"], "adverts_sent": 5, "adverts_received": 0, "last_transition": "x"}
])");

// The fake daemon records what it was asked so the tests can check the request.
struct FakeDaemon {
  std::mutex mu;
  std::string last_cmd;
  json last_args;

  json handle(std::string_view cmd, const json& args) {
    {
      std::lock_guard lock(mu);
      last_cmd = cmd;
      last_args = args;
    }
    if (cmd == "carp.status" || cmd == "carp.maintenance")
      return json{{"maintenance", cmd == "carp.maintenance" && args.at("enter").get<bool>()},
                  {"demotion", 0},
                  {"vhids", kVhids}};
    if (cmd == "config.reload") return json::object();
    if (cmd == "stats") return json{{"dataplane", {{"rx", 10}, {"drops", {{"no_route", 2}, {"bad_ttl", 0}}}}}};
    throw CommandError("unknown command '" + std::string(cmd) + "'");
  }
  std::pair<std::string, json> last() {
    std::lock_guard lock(mu);
    return {last_cmd, last_args};
  }
};

}  // namespace

TEST_CASE("hafwctl talks to the daemon and prints what operators expect", "[tools][hafwctl]") {
  TempDir dir;
  const std::string path = (dir.path / "hafwd.sock").string();
  FakeDaemon fake;
  ServerThread srv(path, [&](std::string_view c, const json& a) { return fake.handle(c, a); });
  const std::string sock = "--socket " + shell_quote(path) + " ";

  SECTION("carp prints the BSD ifconfig line") {
    Run r = hafwctl(sock + "carp");
    CHECK(r.status == 0);
    CHECK(r.out ==
          "wan: carp: MASTER vhid 200 advbase 1 advskew 0\n"
          "        vip 198.51.100.200\n"
          "demotion 0, maintenance off\n");
    CHECK(fake.last().first == "carp.status");
    CHECK(hafwctl(sock + "carp status").out == r.out);
  }
  SECTION("--json prints the result for scripts, wherever it is given") {
    Run r = hafwctl(sock + "--json carp");
    CHECK(r.status == 0);
    CHECK(json::parse(r.out)["vhids"] == kVhids);
    CHECK(json::parse(hafwctl(sock + "carp --json").out)["vhids"] == kVhids);
  }
  SECTION("HAFW_SOCKET names the socket when --socket is absent") {
    Run r = hafwctl("carp", false, "HAFW_SOCKET=" + shell_quote(path));
    CHECK(r.status == 0);
    CHECK(r.out.starts_with("wan: carp: MASTER vhid 200 advbase 1 advskew 0\n"));
  }
  SECTION("carp maintenance on|off sends carp.maintenance {enter}") {
    Run r = hafwctl(sock + "carp maintenance on");
    CHECK(r.status == 0);
    CHECK(fake.last() == std::pair<std::string, json>{"carp.maintenance", {{"enter", true}}});
    CHECK(r.out.ends_with("demotion 0, maintenance on\n"));
    CHECK(hafwctl(sock + "carp maintenance off").status == 0);
    CHECK(fake.last().second == json{{"enter", false}});
  }
  SECTION("reload sends an absolute path, since the daemon has its own cwd") {
    Run r = hafwctl(sock + "reload ./fw1.json", false, "cd " + shell_quote(dir.path.string()) + " &&");
    CHECK(r.status == 0);
    CHECK(fake.last() == std::pair<std::string, json>{"config.reload", {{"path", (dir.path / "fw1.json").string()}}});
    CHECK(r.out == "configuration reloaded from " + (dir.path / "fw1.json").string() + "\n");
  }
  SECTION("stats lists non-zero drops by reason") {
    Run r = hafwctl(sock + "stats");
    CHECK(r.status == 0);
    CHECK(r.out ==
          "dataplane.drops            2\n"
          "dataplane.drops.no_route   2\n"
          "dataplane.rx              10\n");
  }
  SECTION("a daemon error is printed as 'hafwctl: <message>' with exit 1") {
    Run r = hafwctl(sock + "raw bogus.cmd", true);
    CHECK(r.status == 1);
    CHECK(r.out == "hafwctl: unknown command 'bogus.cmd'\n");
  }
  SECTION("raw sends any command with JSON args") {
    Run r = hafwctl(sock + "raw carp.maintenance '{\"enter\": true}'");
    CHECK(r.status == 0);
    CHECK(fake.last() == std::pair<std::string, json>{"carp.maintenance", {{"enter", true}}});
    CHECK(json::parse(r.out)["maintenance"] == true);
    CHECK(hafwctl(sock + "raw carp.maintenance '[1]'").status == 2);
  }
}

TEST_CASE("hafwctl explains a missing daemon and bad usage", "[tools][hafwctl]") {
  TempDir dir;
  const std::string path = (dir.path / "hafwd.sock").string();
  Run r = hafwctl("--socket " + shell_quote(path) + " status", true);
  CHECK(r.status == 1);
  CHECK(r.out == "hafwctl: cannot connect to " + path + ": No such file or directory (is hafwd running?)\n");

  CHECK(hafwctl("").status == 2);
  CHECK(hafwctl("frobnicate").status == 2);
  CHECK(hafwctl("carp maintenance maybe").status == 2);
  CHECK(hafwctl("check").status == 2);
  CHECK(hafwctl("--socket").status == 2);
  CHECK(hafwctl("--bogus status").status == 2);
  Run u = hafwctl("frobnicate", true);
  CHECK(u.out.starts_with("hafwctl: unknown verb 'frobnicate'\n"));
  CHECK(u.out.find("usage: hafwctl") != std::string::npos);

  Run h = hafwctl("help");
  CHECK(h.status == 0);
  CHECK(h.out.starts_with("usage: hafwctl [--socket PATH] [--json]"));
}
