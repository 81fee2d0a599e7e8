// hafwctl: the operator's CLI for a hafw node (docs/control.md).
//
//   hafwctl [--socket PATH] [--json] [--timeout SECONDS] VERB [ARGS]
//
// Every verb but `check`, `import` and `help` is one request on the daemon's control
// socket (docs/control.md), and each is one the daemon serves
// (tests/unit/tools/hafwctl_test.cc runs every verb `help` lists against the
// real commands). Exit status: 0 success, 1 error (printed to stderr as
// "hafwctl: <message>"), 2 usage; `config reload`: 0 applied, 1 refused,
// 2 no answer from the daemon.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "control/check.h"
#include "control/client.h"
#include "control/format.h"
#include "control/keepalived.h"

namespace {

using nlohmann::json;
namespace ctl = hafw::control;

constexpr const char* kDefaultSocket = "/run/hafw/hafwd.sock";
// Generous for a control thread busy with a failover, while a dead daemon is
// still reported promptly (connect fails at once).
constexpr int kDefaultTimeoutS = 10;

constexpr const char* kUsage = R"(usage: hafwctl [--socket PATH] [--json] [--timeout SECONDS] VERB [ARGS]

verbs:
  check NODE.json [PEER.json]   validate config files offline (no daemon needed)
  import keepalived FILE        convert keepalived.conf's VRRP instances to hafw's carp section (offline)
  status                        node, interfaces, CARP, demotion, maintenance
  carp [status]                 one line per VHID, as BSD ifconfig prints it
  carp maintenance on|off       enter/leave persistent maintenance mode
  carp demote +N|-N             raise/lower the operator's part of the node's demotion
  stats [--prometheus]          counters (non-zero drops by reason), per-rule counters; Prometheus text format
  states [LIMIT] [FILTER...]    the states, pfctl -ss style (FILTER: address=A port=N protocol=tcp|udp|icmp)
  states summary                state table size, memory, created/reaped, timeouts
  sync                          state sync: peer, link, bulk update, frames, drops
  events [-f]                   recent events: CARP transitions, maintenance, start/stop; -f: then follow
  config                        the running configuration
  config reload [NODE.json]     check and apply NODE.json (default: the daemon's own file) without a restart
  raw CMD [JSON-ARGS]           send any control command, print its result
  help                          this text

options:
  --socket PATH     control socket (default $HAFW_SOCKET, else /run/hafw/hafwd.sock)
  --prometheus      (stats) the Prometheus text format, for node_exporter's textfile collector
  -f, --follow      (events) keep printing each new event as it happens, until interrupted
  --json            print the daemon's result as JSON, for scripts
  --timeout SECONDS give up waiting for the daemon after this long (default 10)
)";

struct Usage {
  std::string message;
};

struct Options {
  std::string socket;
  bool json = false;
  bool prometheus = false;  // stats only
  bool follow = false;      // events only
  int timeout_s = kDefaultTimeoutS;
  std::vector<std::string> words;  // verb and its arguments
};

// A whole number, all of `s` (std::stoll alone accepts "12abc"), or nullopt.
std::optional<long long> whole_number(const std::string& s) {
  size_t end = 0;
  long long n = 0;
  try {
    n = std::stoll(s, &end);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (s.empty() || end != s.size()) return std::nullopt;
  return n;
}

Options parse_options(int argc, char** argv) {
  Options o;
  const char* env = std::getenv("HAFW_SOCKET");
  o.socket = env && *env ? env : kDefaultSocket;
  std::vector<std::string> args(argv + 1, argv + argc);
  bool options_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    // Options may come before or after the verb (`hafwctl carp --json`), but
    // not after "--" nor as raw's JSON argument. A negative number
    // (`carp demote -10`) is an argument, not an option.
    const bool negative_number = a.size() > 1 && a[0] == '-' && a[1] >= '0' && a[1] <= '9';
    if (options_done || a.empty() || a[0] != '-' || a == "-" || negative_number) {
      o.words.push_back(a);
      continue;
    }
    auto value = [&](const std::string& name) -> std::string {
      if (a.size() > name.size() && a.compare(0, name.size() + 1, name + "=") == 0) return a.substr(name.size() + 1);
      if (i + 1 >= args.size()) throw Usage{name + " needs a value"};
      return args[++i];
    };
    if (a == "--") {
      options_done = true;
    } else if (a == "--prometheus") {
      o.prometheus = true;
    } else if (a == "-f" || a == "--follow") {
      o.follow = true;
    } else if (a == "--json") {
      o.json = true;
    } else if (a == "-h" || a == "--help") {
      o.words.insert(o.words.begin(), "help");
    } else if (a == "--socket" || a.starts_with("--socket=")) {
      o.socket = value("--socket");
      if (o.socket.empty()) throw Usage{"--socket needs a path"};
    } else if (a == "--timeout" || a.starts_with("--timeout=")) {
      const std::optional<long long> t = whole_number(value("--timeout"));
      if (!t || *t <= 0 || *t > 86400) throw Usage{"--timeout needs a positive number of seconds"};
      o.timeout_s = int(*t);
    } else {
      throw Usage{"unknown option " + a};
    }
  }
  return o;
}

void want_args(const std::vector<std::string>& w, size_t min, size_t max, const std::string& form) {
  if (w.size() - 1 < min || w.size() - 1 > max) throw Usage{"usage: hafwctl " + form};
}

// `config reload [NODE.json]`: 0 applied, 1 refused (the checker's lines on
// stderr, as `hafwctl check` prints them), 2 the daemon did not answer.
int reload(const Options& o, const std::string& file) {
  json args = json::object();
  if (!file.empty()) {
    // The daemon reads the file from its own working directory.
    std::error_code ec;
    const std::filesystem::path abs = std::filesystem::absolute(file, ec);
    args["path"] = ec ? file : abs.lexically_normal().string();
  }
  json result;
  try {
    result = ctl::request(o.socket, "config.reload", args, std::chrono::seconds(o.timeout_s));
  } catch (const ctl::RemoteError& e) {
    const std::string lines = e.what();
    if (o.json) {
      json errors = json::array();
      std::istringstream in(lines);
      for (std::string l; std::getline(in, l);) errors.push_back(l);
      std::cout << json{{"applied", false}, {"errors", errors}}.dump(2, ' ', false, json::error_handler_t::replace)
                << '\n';
    } else {
      std::cerr << lines << "\nhafwctl: config rejected; the running configuration stays in force\n";
    }
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "hafwctl: " << e.what() << '\n';
    return 2;
  }
  if (o.json)
    std::cout << result.dump(2, ' ', false, json::error_handler_t::replace) << '\n';
  else
    std::cout << ctl::format_reload(result);
  return 0;
}

int run(const Options& o) {
  const auto& w = o.words;
  if (w.empty()) throw Usage{"missing verb"};
  const std::string& verb = w[0];

  if (o.prometheus && verb != "stats") throw Usage{"--prometheus goes with stats only"};
  if (o.follow && verb != "events") throw Usage{"-f goes with events only"};
  if (verb == "help") {
    std::cout << kUsage;
    return 0;
  }
  if (verb == "check") {
    want_args(w, 1, 2, "check NODE.json [PEER.json]");
    return hafw::config::check_command({w.begin() + 1, w.end()}, std::cout);
  }
  if (verb == "import") {
    want_args(w, 2, 2, "import keepalived FILE");
    if (w[1] != "keepalived") throw Usage{"import: only keepalived configs can be imported (import keepalived FILE)"};
    return hafw::config::keepalived::import_command(w[2], std::cout, std::cerr);
  }

  // Everything else asks the daemon: pick the command, its args and how to
  // print the result.
  std::string cmd;
  json args = json::object();
  std::string (*human)(const json&) = nullptr;  // nullptr: pretty JSON
  if (verb == "status") {
    want_args(w, 0, 0, "status");
    cmd = "status";
    human = ctl::format_status;
  } else if (verb == "carp") {
    if (w.size() == 1 || (w.size() == 2 && w[1] == "status")) {
      cmd = "carp.status";
      human = ctl::format_carp;
    } else if (w[1] == "maintenance") {
      want_args(w, 2, 2, "carp maintenance on|off");
      if (w[2] != "on" && w[2] != "off") throw Usage{"usage: hafwctl carp maintenance on|off"};
      cmd = "carp.maintenance";
      args["enter"] = w[2] == "on";
      human = ctl::format_carp;
    } else if (w[1] == "demote") {
      want_args(w, 2, 2, "carp demote +N|-N");
      const std::string& n = w[2];
      const std::optional<long long> by = whole_number(n);
      if (!by || (n[0] != '+' && n[0] != '-'))
        throw Usage{"usage: hafwctl carp demote +N|-N (a signed whole number, e.g. +10 or -10)"};
      cmd = "carp.demote";
      args["by"] = *by;
      human = ctl::format_carp;
    } else {
      throw Usage{"usage: hafwctl carp [status | maintenance on|off | demote +N|-N]"};
    }
  } else if (verb == "stats") {
    want_args(w, 0, 0, "stats [--prometheus]");
    cmd = "stats";
    human = o.prometheus ? ctl::format_prometheus : ctl::format_stats;
  } else if (verb == "states") {
    if (w.size() == 2 && w[1] == "summary") {
      cmd = "states.summary";
      human = ctl::format_states_summary;
    } else {
      cmd = "states.list";
      human = ctl::format_states;
      for (size_t i = 1; i < w.size(); ++i) {
        const std::string& a = w[i];
        const size_t eq = a.find('=');
        if (eq == std::string::npos) {
          const std::optional<long long> limit = whole_number(a);
          if (!limit) throw Usage{"usage: hafwctl states [summary | LIMIT] [address=A port=N protocol=P]"};
          args["limit"] = *limit;
        } else if (const std::string k = a.substr(0, eq), v = a.substr(eq + 1); k == "address" || k == "protocol") {
          args[k] = v;
        } else if (k == "port") {
          const std::optional<long long> port = whole_number(v);
          if (!port) throw Usage{"states: port=N needs a number"};
          args["port"] = *port;
        } else {
          throw Usage{"states: unknown filter '" + k + "' (address=, port=, protocol=)"};
        }
      }
    }
  } else if (verb == "sync") {
    want_args(w, 0, 0, "sync");
    cmd = "sync.status";
    human = ctl::format_sync;
  } else if (verb == "events") {
    want_args(w, 0, 0, "events [-f]");
    cmd = "events";
    human = ctl::format_events;
    if (o.follow) {
      // The recent events, then each new one as it comes (one line each,
      // flushed, so `| grep` sees it at once).
      args["follow"] = true;
      auto print_list = [&](const json& result) {
        if (o.json) {
          for (const auto& e : result.value("events", json::array()))
            std::cout << e.dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
        } else if (!result.value("events", json::array()).empty()) {
          std::cout << ctl::format_events(result);
        }
        std::cout << std::flush;
      };
      ctl::follow(o.socket, cmd, args, std::chrono::seconds(o.timeout_s), print_list,
                  [&](const json& item) { print_list(json{{"events", json::array({item})}}); });
    }
  } else if (verb == "config") {
    if (w.size() >= 2 && w[1] == "reload") {
      want_args(w, 1, 2, "config reload [NODE.json]");
      return reload(o, w.size() == 3 ? w[2] : std::string());
    }
    want_args(w, 0, 0, "config | config reload [NODE.json]");
    cmd = "config.get";
  } else if (verb == "raw") {
    want_args(w, 1, 2, "raw CMD [JSON-ARGS]");
    cmd = w[1];
    if (w.size() == 3) {
      args = json::parse(w[2], nullptr, /*allow_exceptions=*/false);
      if (args.is_discarded() || !args.is_object()) throw Usage{"raw: JSON-ARGS must be a JSON object"};
    }
  } else {
    throw Usage{"unknown verb '" + verb + "'"};
  }

  json result = ctl::request(o.socket, cmd, args, std::chrono::seconds(o.timeout_s));
  if (human && !o.json)
    std::cout << human(result);
  else
    std::cout << result.dump(2, ' ', false, json::error_handler_t::replace) << '\n';
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse_options(argc, argv));
  } catch (const Usage& u) {
    std::cerr << "hafwctl: " << u.message << "\n\n" << kUsage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "hafwctl: " << e.what() << '\n';
    return 1;
  }
}
