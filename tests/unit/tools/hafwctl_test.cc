// The real hafwctl binary (path in $HAFWCTL) against real daemons: each node
// of a two-node Cluster (server_fixture.h) served on a control socket by its
// own command registry, as hafwd assembles it. What an operator types, what
// they read, the exit status scripts rely on, and that `hafwctl help` offers
// only what the daemon serves.
#include <poll.h>
#include <sys/wait.h>

#include <csignal>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "control/client.h"
#include "tests/unit/tools/server_fixture.h"

using namespace hafw::control;
using hafw::test::Cluster;
using hafw::test::Daemon;
using hafw::test::ServerThread;
using hafw::test::TempDir;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

struct Run {
  int status;
  std::string out;
  std::string err;
};

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Runs `PREFIX hafwctl ARGS` in a shell (PREFIX: "VAR=x" or "cd DIR &&") and
// returns its exit status, stdout and stderr.
Run hafwctl(const std::string& args, const std::string& prefix = "") {
  const char* bin = std::getenv("HAFWCTL");
  REQUIRE(bin);
  static TempDir tmp;
  const std::string err_path = (tmp.path / "stderr").string();
  std::string cmd = prefix + " " + shell_quote(bin) + " " + args + " 2>" + shell_quote(err_path);
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p);
  Run r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  int st = ::pclose(p);
  REQUIRE(WIFEXITED(st));
  r.status = WEXITSTATUS(st);
  std::ifstream f(err_path);
  r.err.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  return r;
}

// One node on its socket (the path its config names), as hafwd serves it:
// the node's commands plus the socket's own stats section. Every request is
// recorded so the tests can check what hafwctl sent. The handler runs on the
// server's thread under the cluster's mutex, never while the test steps.
struct Served {
  Cluster& cluster;
  Daemon& daemon;
  std::vector<std::pair<std::string, json>> requests;  // guarded by cluster.mu
  ServerThread srv;

  Served(Cluster& c, Daemon& d, const std::string& path)
      : cluster(c), daemon(d), srv(
                                   path,
                                   [this](std::string_view cmd, const json& args) {
                                     std::lock_guard lock(cluster.mu);
                                     requests.emplace_back(cmd, args);
                                     return daemon.handle(cmd, args);
                                   },
                                   {}, [this](ControlServer& s) { daemon.controller.serve_event_feed(s); }) {
    std::lock_guard lock(cluster.mu);
    daemon.commands.add_stats([this](json& out) { out["control"]["socket"] = srv.server->stats().to_json(); });
  }
  std::pair<std::string, json> last() {
    std::lock_guard lock(cluster.mu);
    return requests.empty() ? std::pair<std::string, json>{} : requests.back();
  }
  std::vector<std::string> commands_seen() {
    std::lock_guard lock(cluster.mu);
    std::vector<std::string> out;
    for (const auto& [cmd, args] : requests) out.push_back(cmd);
    return out;
  }
  std::vector<std::string> registered() {
    std::lock_guard lock(cluster.mu);
    std::vector<std::string> out;
    for (const auto& c : daemon.commands.list()) out.push_back(c.name);
    return out;
  }
};

// The verb forms `hafwctl help` lists: the first column of the lines under
// "verbs:", up to the next blank line ("carp maintenance on|off", ...).
std::vector<std::string> help_verbs(const std::string& help) {
  std::vector<std::string> forms;
  std::istringstream in(help);
  std::string line;
  while (std::getline(in, line) && line != "verbs:") {
  }
  while (std::getline(in, line) && !line.empty()) {
    // "  FORM   description": the form ends at the first run of two spaces.
    size_t start = line.find_first_not_of(' ');
    size_t end = line.find("  ", start);
    forms.push_back(line.substr(start, end - start));
  }
  return forms;
}

// Every invocation a verb form stands for: "[x]" with and without x,
// "a|b" as each alternative, a PLACEHOLDER replaced by a sample from `samples`
// (a form with a placeholder missing there fails the test: give it a sample).
std::vector<std::string> expand(const std::string& form, const std::map<std::string, std::string>& samples) {
  std::vector<std::string> out{""};
  std::istringstream words(form);
  for (std::string w; words >> w;) {
    bool optional = w.front() == '[' && w.back() == ']';
    if (optional) w = w.substr(1, w.size() - 2);
    std::vector<std::string> choices;
    std::istringstream alts(w);
    for (std::string a; std::getline(alts, a, '|');) {
      if (std::any_of(a.begin(), a.end(), [](char c) { return std::isupper(static_cast<unsigned char>(c)); })) {
        auto s = samples.find(a);
        INFO("help lists '" << form << "': no sample value for " << a);
        REQUIRE(s != samples.end());
        choices.push_back(s->second);
      } else {
        choices.push_back(a);
      }
    }
    std::vector<std::string> next;
    for (const auto& prefix : out) {
      if (optional) next.push_back(prefix);
      for (const auto& c : choices) next.push_back(prefix.empty() ? c : prefix + " " + c);
    }
    out = std::move(next);
  }
  return out;
}

}  // namespace

TEST_CASE("hafwctl talks to the daemon and prints what operators expect", "[tools][hafwctl]") {
  Cluster cluster;
  Served fw1(cluster, *cluster.fw1, cluster.socket_path("fw1"));
  Served fw2(cluster, *cluster.fw2, cluster.socket_path("fw2"));
  const std::string sock = "--socket " + shell_quote(cluster.socket_path("fw1")) + " ";
  const std::string sock2 = "--socket " + shell_quote(cluster.socket_path("fw2")) + " ";

  SECTION("carp prints the BSD ifconfig line") {
    Run r = hafwctl(sock + "carp");
    CHECK(r.status == 0);
    CHECK(r.out ==
          "wan: carp: MASTER vhid 200 advbase 1 advskew 0\n"
          "        vip 198.51.100.200\n"
          "lan: carp: MASTER vhid 1 advbase 1 advskew 0\n"
          "        vip 192.168.1.1\n"
          "demotion 0, maintenance off\n");
    CHECK(fw1.last() == std::pair<std::string, json>{"carp.status", json::object()});
    CHECK(hafwctl(sock + "carp status").out == r.out);
    CHECK(hafwctl(sock2 + "carp").out.starts_with("wan: carp: BACKUP vhid 200 advbase 1 advskew 100\n"));
  }
  SECTION("--json prints the result for scripts, wherever it is given") {
    Run r = hafwctl(sock + "--json carp");
    CHECK(r.status == 0);
    json expected;
    {
      std::lock_guard lock(cluster.mu);
      expected = cluster.fw1->handle("carp.status", {});
    }
    CHECK(json::parse(r.out) == expected);
    CHECK(json::parse(hafwctl(sock + "carp --json").out) == expected);
  }
  SECTION("HAFW_SOCKET names the socket when --socket is absent") {
    Run r = hafwctl("carp", "HAFW_SOCKET=" + shell_quote(cluster.socket_path("fw1")));
    CHECK(r.status == 0);
    CHECK(r.out.starts_with("wan: carp: MASTER vhid 200 advbase 1 advskew 0\n"));
  }
  SECTION("carp maintenance on|off sends carp.maintenance {enter} and moves the VIPs") {
    Run r = hafwctl(sock + "carp maintenance on");
    CHECK(r.status == 0);
    CHECK(fw1.last() == std::pair<std::string, json>{"carp.maintenance", {{"enter", true}}});
    CHECK(r.out.ends_with("demotion 0, maintenance on\n"));
    cluster.run_for(50ms);
    CHECK(cluster.state(*cluster.fw1, "wan") == "BACKUP");
    CHECK(hafwctl(sock2 + "carp").out.starts_with("wan: carp: MASTER vhid 200 advbase 1 advskew 100\n"));

    r = hafwctl(sock + "carp maintenance off");
    CHECK(r.status == 0);
    CHECK(fw1.last().second == json{{"enter", false}});
    CHECK(r.out.ends_with("demotion 0, maintenance off\n"));
    cluster.run_for(2s);  // preempt: fw1 takes its VIPs back
    CHECK(cluster.state(*cluster.fw1, "wan") == "MASTER");
    CHECK(cluster.state(*cluster.fw2, "wan") == "BACKUP");
  }
  SECTION("status shows the node, its interfaces and CARP") {
    Run r = hafwctl(sock + "status");
    CHECK(r.status == 0);
    CHECK(r.out.starts_with("node fw1 (primary), up 5s\nmaintenance off, demotion 0\n\n"
                            "interface  port  mac                address            link  rx_packets  tx_packets\n"));
    CHECK(r.out.ends_with("lan: carp: MASTER vhid 1 advbase 1 advskew 0\n        vip 192.168.1.1\n"));
  }
  SECTION("stats has every section, the socket's own counters included") {
    Run r = hafwctl(sock + "stats");
    CHECK(r.status == 0);
    CHECK(r.out.starts_with("dataplane."));
    CHECK(r.out.find("\ncarp.drops ") != std::string::npos);
    CHECK(r.out.find("\ncontrol.unusable_punts ") != std::string::npos);
    CHECK(r.out.find("\ncontrol.socket.requests ") != std::string::npos);
    CHECK(r.out.find('?') == std::string::npos);
    json j = json::parse(hafwctl(sock + "--json stats").out);
    CHECK(j["control"]["socket"]["connections"] >= 2);
  }
  SECTION("events lists the node's transitions") {
    Run r = hafwctl(sock + "events");
    CHECK(r.status == 0);
    CHECK(r.out.find("Z  wan vhid 200: BACKUP -> MASTER (master down timer expired)\n") != std::string::npos);
  }
  SECTION("config prints the running configuration as JSON, passwords hidden") {
    Run r = hafwctl(sock + "config");
    CHECK(r.status == 0);
    CHECK(fw1.last().first == "config.get");
    std::ifstream f(cluster.config_path("fw1"));
    json want = json::parse(f);
    for (auto& v : want["carp"]["vips"]) v["password"] = "(hidden)";
    CHECK(json::parse(r.out) == want);
    CHECK(r.out.find("wan-secret") == std::string::npos);
    // Asked for, the secrets come too: the file as it was loaded.
    Run all = hafwctl(sock + "raw config.get '{\"secrets\": true}'");
    CHECK(all.status == 0);
    std::ifstream f2(cluster.config_path("fw1"));
    CHECK(json::parse(all.out) == json::parse(f2));
  }
  SECTION("a daemon error is printed as 'hafwctl: <message>' with exit 1") {
    Run r = hafwctl(sock + "raw bogus.cmd");
    CHECK(r.status == 1);
    CHECK(r.out == "");
    CHECK(r.err == "hafwctl: unknown command 'bogus.cmd' (try 'help')\n");
    r = hafwctl(sock + "raw carp.maintenance '{\"enter\": \"yes\"}'");
    CHECK(r.status == 1);
    CHECK(r.err == "hafwctl: carp.maintenance needs {\"enter\": true|false}\n");
    CHECK(cluster.state(*cluster.fw1, "wan") == "MASTER");
  }
  SECTION("raw sends any command with JSON args") {
    Run r = hafwctl(sock + "raw carp.maintenance '{\"enter\": true}'");
    CHECK(r.status == 0);
    CHECK(fw1.last() == std::pair<std::string, json>{"carp.maintenance", {{"enter", true}}});
    CHECK(json::parse(r.out)["maintenance"] == true);
    CHECK(hafwctl(sock + "raw carp.maintenance '[1]'").status == 2);
  }
}

TEST_CASE("every verb hafwctl help lists works against the real daemon", "[tools][hafwctl]") {
  Cluster cluster;
  Served fw1(cluster, *cluster.fw1, cluster.socket_path("fw1"));
  const std::string sock = "--socket " + shell_quote(cluster.socket_path("fw1")) + " ";

  Run help = hafwctl("help");
  REQUIRE(help.status == 0);
  std::vector<std::string> forms = help_verbs(help.out);
  REQUIRE(forms.size() >= 5);
  const std::string keepalived_conf = (cluster.dir.path / "keepalived.conf").string();
  std::ofstream(keepalived_conf) << "vrrp_instance V {\n interface wan\n virtual_router_id 9\n"
                                    " authentication {\n  auth_pass pw\n }\n virtual_ipaddress {\n  198.51.100.9\n }\n}\n";

  // A sample for each placeholder help uses. raw's CMD is `help`: with the
  // other verbs that reaches every registered command (checked below).
  const std::map<std::string, std::string> samples{
      {"NODE.json", shell_quote(cluster.config_path("fw1"))},
      {"PEER.json", shell_quote(cluster.config_path("fw2"))},
      {"CMD", "help"},
      {"+N", "+3"},
      {"-N", "-3"},
      {"JSON-ARGS", "'{}'"},
      {"LIMIT", "5"},
      {"FILTER...", "protocol=udp"},
      {"FILE", shell_quote(keepalived_conf)},
  };
  std::set<std::string> verbs;
  for (const auto& form : forms) {
    for (const auto& args : expand(form, samples)) {
      // `events -f` runs until interrupted: its own test below runs it.
      if (args == "events -f") continue;
      INFO("help lists '" << form << "'; `hafwctl " << args << "` must succeed");
      Run r = hafwctl(sock + args);
      INFO("stderr: " << r.err);
      CHECK(r.status == 0);
      CHECK_FALSE(r.out.empty());
      CHECK(r.err == "");
      verbs.insert(args.substr(0, args.find(' ')));
    }
  }
  CHECK(verbs == std::set<std::string>{"check", "import", "status", "carp", "stats", "states", "sync", "events", "config", "raw", "help"});

  // ...and together they reach every command the daemon serves.
  std::vector<std::string> seen = fw1.commands_seen();
  for (const auto& cmd : fw1.registered()) {
    INFO("no verb in `hafwctl help` reaches the daemon's " << cmd);
    CHECK(std::find(seen.begin(), seen.end(), cmd) != seen.end());
  }
}

TEST_CASE("hafwctl raw help lists exactly the commands the daemon registered", "[tools][hafwctl]") {
  Cluster cluster;
  Served fw1(cluster, *cluster.fw1, cluster.socket_path("fw1"));
  Run r = hafwctl("--socket " + shell_quote(cluster.socket_path("fw1")) + " raw help");
  REQUIRE(r.status == 0);
  std::vector<std::string> listed;
  for (const auto& c : json::parse(r.out)) {
    listed.push_back(c.at("cmd"));
    CHECK_FALSE(c.at("summary").get<std::string>().empty());
  }
  CHECK(listed == fw1.registered());
  CHECK(listed == std::vector<std::string>{"help", "stats", "status", "carp.status", "carp.maintenance",
                                           "carp.demote", "events", "config.get", "config.reload", "states.summary",
                                           "states.list", "sync.status"});
}

TEST_CASE("hafwctl explains a missing daemon and bad usage", "[tools][hafwctl]") {
  TempDir dir;
  const std::string path = (dir.path / "hafwd.sock").string();
  Run r = hafwctl("--socket " + shell_quote(path) + " status");
  CHECK(r.status == 1);
  CHECK(r.err == "hafwctl: cannot connect to " + path + ": No such file or directory (is hafwd running?)\n");

  CHECK(hafwctl("").status == 2);
  CHECK(hafwctl("frobnicate").status == 2);
  CHECK(hafwctl("carp maintenance maybe").status == 2);
  CHECK(hafwctl("carp status now").status == 2);
  CHECK(hafwctl("status extra").status == 2);
  CHECK(hafwctl("check").status == 2);
  CHECK(hafwctl("raw").status == 2);
  CHECK(hafwctl("--socket").status == 2);
  CHECK(hafwctl("--bogus status").status == 2);
  CHECK(hafwctl("--timeout 0 status").status == 2);
  Run u = hafwctl("frobnicate");
  CHECK(u.out == "");
  CHECK(u.err.starts_with("hafwctl: unknown verb 'frobnicate'\n"));
  CHECK(u.err.find("usage: hafwctl") != std::string::npos);

  // Verbs for commands the daemon does not serve are not offered.
  for (const char* removed : {"reload /etc/hafw/fw1.json"}) {
    INFO(removed);
    Run x = hafwctl("--socket " + shell_quote(path) + " " + removed);
    CHECK(x.status == 2);
    CHECK(x.err.starts_with("hafwctl: unknown verb '"));
  }

  Run h = hafwctl("help");
  CHECK(h.status == 0);
  CHECK(h.out.starts_with("usage: hafwctl [--socket PATH] [--json]"));
}

TEST_CASE("hafwctl config reload applies a file, or refuses it with check's lines; exit 0, 1, 2", "[tools][hafwctl]") {
  Cluster cluster;
  Served fw1(cluster, *cluster.fw1, cluster.socket_path("fw1"));
  const std::string sock = "--socket " + shell_quote(cluster.socket_path("fw1")) + " ";

  // A new VIP, in a file named relative to hafwctl's directory: the daemon
  // gets it absolute.
  json cfg = json::parse(std::ifstream(cluster.config_path("fw1")));
  cfg["carp"]["vips"].push_back({{"interface", "lan"}, {"vhid", 2}, {"addresses", {"192.168.1.250"}},
                                 {"password", "lan2-secret"}, {"advbase", 1}, {"advskew", 0}});
  std::ofstream(cluster.dir.path / "new.json") << cfg.dump(2);
  const std::string abs = (cluster.dir.path / "new.json").string();
  Run r = hafwctl(sock + "config reload new.json", "cd " + shell_quote(cluster.dir.path.string()) + " &&");
  CHECK(r.status == 0);
  CHECK(r.err == "");
  CHECK(fw1.last() == std::pair<std::string, json>{"config.reload", {{"path", abs}}});
  CHECK(r.out == "config applied from " + abs + ": 1 change\n  lan vhid 2 added\n"
                 "warning: sync.key: not set: state sync travels in cleartext; keep the sync link a crossover "
                 "cable or isolated VLAN\n");
  CHECK(hafwctl(sock + "carp").out.find("lan: carp: BACKUP vhid 2 advbase 1 advskew 0\n") != std::string::npos);

  // Again, --json: nothing changed.
  r = hafwctl(sock + "--json config reload " + shell_quote(abs));
  CHECK(r.status == 0);
  CHECK(json::parse(r.out)["changes"] == json::array());

  // Refused: the checker's lines on stderr, exactly as `hafwctl check` prints them.
  cfg["carp"]["vips"][2]["vhid"] = 300;
  std::ofstream(cluster.dir.path / "bad.json") << cfg.dump(2);
  const std::string bad = shell_quote((cluster.dir.path / "bad.json").string());
  Run check = hafwctl("check " + bad);
  REQUIRE(check.status == 1);
  r = hafwctl(sock + "config reload " + bad);
  CHECK(r.status == 1);
  CHECK(r.out == "");
  CHECK(r.err == check.out + "hafwctl: config rejected; the running configuration stays in force\n");
  r = hafwctl(sock + "--json config reload " + bad);
  CHECK(r.status == 1);
  json lines = json::array();
  std::istringstream check_lines(check.out);
  for (std::string l; std::getline(check_lines, l);) lines.push_back(l);
  CHECK(json::parse(r.out) == json{{"applied", false}, {"errors", lines}});
  CHECK(hafwctl(sock + "carp").out.find("vhid 2 ") != std::string::npos);

  // No daemon: 2, and usage errors stay 2.
  r = hafwctl("--socket " + shell_quote((cluster.dir.path / "none.sock").string()) + " config reload");
  CHECK(r.status == 2);
  CHECK(r.err.starts_with("hafwctl: cannot connect to "));
  CHECK(hafwctl(sock + "config reload a.json b.json").status == 2);
  CHECK(hafwctl(sock + "config bogus").status == 2);
}

TEST_CASE("hafwctl carp demote moves the node's demotion and shows its causes", "[tools][hafwctl]") {
  Cluster cluster;
  Served fw1(cluster, *cluster.fw1, cluster.socket_path("fw1"));
  const std::string sock = "--socket " + shell_quote(cluster.socket_path("fw1")) + " ";
  Run up = hafwctl(sock + "carp demote +20");
  REQUIRE(up.status == 0);
  CHECK(up.out.find("demotion 20 (operator 20), maintenance off\n") != std::string::npos);
  Run down = hafwctl(sock + "carp demote -25");
  REQUIRE(down.status == 0);
  CHECK(down.out.find("demotion 0, maintenance off\n") != std::string::npos);
  // Not a signed number: a usage error, nothing sent.
  for (const char* bad : {"carp demote 5", "carp demote +x", "carp demote", "carp demote +1 +2"}) {
    INFO(bad);
    CHECK(hafwctl(sock + bad).status == 2);
  }
}

TEST_CASE("hafwctl import keepalived: JSON on stdout, what did not convert on stderr", "[tools][hafwctl]") {
  TempDir dir;
  const std::string conf = (dir.path / "keepalived.conf").string();
  std::ofstream(conf) << "vrrp_instance VI_1 {\n  interface wan\n  virtual_router_id 51\n  priority 100\n"
                         "  authentication {\n    auth_pass pw\n  }\n  virtual_ipaddress {\n    198.51.100.9/24\n"
                         "  }\n  track_script {\n    chk\n  }\n}\n";
  Run r = hafwctl("import keepalived " + shell_quote(conf));
  CHECK(r.status == 0);
  CHECK(json::parse(r.out) == json::parse(R"({"carp": {"preempt": true, "vips": [{"interface": "wan", "vhid": 51,
      "addresses": ["198.51.100.9/24"], "password": "pw", "advbase": 1, "advskew": 156, "description": "VI_1"}]}})"));
  CHECK(r.err ==
        "warning: line 11: track_script has no hafw equivalent: hafw runs no check scripts; run the check from a "
        "systemd timer or cron and call `hafwctl carp demote +N` when it fails, `-N` when it recovers\n");

  std::ofstream(conf) << "vrrp_instance VI_1 {\n  interface wan\n  virtual_router_id 300\n}\n";
  r = hafwctl("import keepalived " + shell_quote(conf));
  CHECK(r.status == 1);
  CHECK(r.out == "");
  CHECK(r.err == "error: line 3: virtual_router_id '300': must be a whole number 1-255\n");

  CHECK(hafwctl("import keepalived").status == 2);
  CHECK(hafwctl("import vyos " + shell_quote(conf)).status == 2);
}

TEST_CASE("hafwctl events -f prints the recent events, then each new one as it is logged", "[tools][hafwctl]") {
  Cluster cluster;
  Served fw1(cluster, *cluster.fw1, cluster.socket_path("fw1"));
  const char* bin = std::getenv("HAFWCTL");
  REQUIRE(bin);
  int out[2];
  REQUIRE(::pipe(out) == 0);
  const std::string sock = cluster.socket_path("fw1");
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::close(out[0]);
    ::close(out[1]);
    ::execl(bin, bin, "--socket", sock.c_str(), "events", "-f", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(out[1]);
  // Reads hafwctl's output until `want` appears (or 10 s pass, or it exits).
  std::string got;
  auto read_until = [&](const std::string& want, size_t from = 0) {
    while (got.find(want, from) == std::string::npos) {
      pollfd p{.fd = out[0], .events = POLLIN, .revents = 0};
      if (::poll(&p, 1, 10000) != 1) return false;
      char buf[4096];
      const ssize_t n = ::read(out[0], buf, sizeof buf);
      if (n <= 0) return false;
      got.append(buf, size_t(n));
    }
    return true;
  };
  // The recent events first: the node's start and its takeover.
  CHECK(read_until("lan vhid 1: BACKUP -> MASTER"));
  CHECK(got.find("node fw1 starting (primary)") != std::string::npos);
  CHECK(got.find("entering maintenance mode") == std::string::npos);
  // An event logged now, through the real command on the real socket,
  // reaches the follower as one more line.
  hafw::control::request(sock, "carp.maintenance", {{"enter", true}}, 5s);
  CHECK(read_until("entering maintenance mode\n"));
  cluster.run_for(std::chrono::seconds(5));
  CHECK(read_until("wan vhid 200: MASTER -> BACKUP"));
  // Events of the control loop's own timers (no request behind them) too:
  // out of maintenance, fw1 takes MASTER back from fw2.
  const size_t mark = got.size();
  hafw::control::request(sock, "carp.maintenance", {{"enter", false}}, 5s);
  cluster.run_for(std::chrono::seconds(10));
  CHECK(read_until("wan vhid 200: BACKUP -> MASTER", mark));
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(out[0]);
  CHECK(WIFSIGNALED(status));
  // Each line is TIME  MESSAGE, as `hafwctl events` prints.
  std::istringstream lines(got);
  for (std::string l; std::getline(lines, l);) {
    INFO(l);
    CHECK(l.size() > 26);
    CHECK(l.substr(24, 2) == "  ");
  }
}

TEST_CASE("hafwctl events -f says so when the daemon goes away", "[tools][hafwctl]") {
  Cluster cluster;
  auto fw1 = std::make_unique<Served>(cluster, *cluster.fw1, cluster.socket_path("fw1"));
  const std::string sock = cluster.socket_path("fw1");
  // hafwctl connects, gets the backlog, then the server is destroyed.
  const char* bin = std::getenv("HAFWCTL");
  REQUIRE(bin);
  FILE* p = ::popen((shell_quote(bin) + " --socket " + shell_quote(sock) + " events -f 2>&1").c_str(), "r");
  REQUIRE(p);
  std::string got;
  char buf[4096];
  while (got.find("BACKUP -> MASTER") == std::string::npos && std::fgets(buf, sizeof buf, p)) got += buf;
  fw1.reset();
  while (std::fgets(buf, sizeof buf, p)) got += buf;
  const int st = ::pclose(p);
  REQUIRE(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 1);
  CHECK(got.ends_with("hafwctl: hafwd on " + sock + " closed the connection\n"));
}
