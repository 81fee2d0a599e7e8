// hafwd: one firewall node. Reads the config, starts the DPDK dataplane, then
// runs the control thread on the EAL main lcore: punted frames, CARP timers,
// the control socket. Logs go to stderr; systemd or the lab supervises it.
// SIGTERM/SIGINT: bow out and exit; SIGHUP: reload the config file.
#include <sys/stat.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <utility>  // before asio: Boost 1.74 + g++ 12 C++20 needs std::exchange declared

#include <boost/asio.hpp>
#include <nlohmann/json.hpp>

#include "control/clock.h"
#include "control/commands.h"
#include "control/config.h"
#include "control/controller.h"
#include "control/log.h"
#include "control/sched.h"
#include "control/socket.h"
#include "control/telemetry.h"
#include "control/telemetry_broker.h"
#include "dataplane/dpdk/dpdk.h"
#include "dataplane/dpdk/telemetry.h"

namespace {

std::atomic<bool> g_stop{false};
std::atomic<bool> g_reload{false};

void on_signal(int) { g_stop = true; }
// SIGHUP: reload the file we were started with, on the control thread.
void on_hangup(int) { g_reload = true; }

// The control loop's longest nap when idle: bounds socket latency and how
// late a CARP timer can fire (1 ms against advert intervals of >= 1/256 s).
constexpr auto kMaxNap = std::chrono::milliseconds(1);
// How long a telemetry command waits for the control thread: a step is
// normally well under a millisecond, but a bulk state update can hold one.
constexpr auto kTelemetryWait = std::chrono::milliseconds(2000);

int usage(int rc) {
  std::fprintf(rc ? stderr : stdout,
               "usage: hafwd --config FILE\n"
               "Runs one hafw firewall node in the foreground (logs to stderr).\n"
               "Check a config first with: hafwctl check FILE\n");
  return rc;
}

bool make_dirs(const std::string& path) {
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos != path.size() && path[pos] != '/') continue;
    std::string sub = path.substr(0, pos);
    if (mkdir(sub.c_str(), 0700) != 0 && errno != EEXIST) return false;
  }
  return true;
}

// The DPDK glue's view of the config: EAL arguments, workers, one port per
// interface, each with the config key an error should name.
hafw::dp::DpdkSetup dpdk_setup(const hafw::config::Config& cfg) {
  hafw::dp::DpdkSetup s;
  s.eal = cfg.dataplane.eal;
  s.workers = cfg.dataplane.workers;
  s.state_events = cfg.sync.has_value();
  s.fragments = {.max_packets = cfg.dataplane.fragments.max_packets, .timeout_ms = cfg.dataplane.fragments.timeout_ms};
  for (size_t i = 0; i < cfg.interfaces.size(); ++i)
    s.ports.push_back({.device = cfg.interfaces[i].port, .key = "interfaces[" + std::to_string(i) + "].port"});
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "--config" || a == "-c") && i + 1 < argc) config_path = argv[++i];
    else if (a.rfind("--config=", 0) == 0) config_path = a.substr(9);
    else if (a == "--help" || a == "-h") return usage(0);
    else {
      std::fprintf(stderr, "hafwd: unknown argument '%s'\n", a.c_str());
      return usage(2);
    }
  }
  if (config_path.empty()) return usage(2);

  // config.reload and SIGHUP read it again later: make it independent of
  // the working directory.
  {
    std::error_code ec;
    std::filesystem::path abs = std::filesystem::absolute(config_path, ec);
    if (!ec) config_path = abs.lexically_normal().string();
  }
  std::string config_text;
  auto loaded = hafw::config::load(config_path, &config_text);
  for (const auto& d : loaded.diagnostics) std::fprintf(stderr, "hafwd: %s: %s\n", config_path.c_str(), d.str().c_str());
  if (!loaded.ok()) {
    std::fprintf(stderr, "hafwd: %s is invalid; not starting\n", config_path.c_str());
    return 1;
  }
  hafw::config::Config cfg = *loaded.config;
  // The text has just parsed: config.get returns it as read, once.
  nlohmann::json config_json = nlohmann::json::parse(config_text);

  if (!make_dirs(cfg.control.state_dir)) {
    std::fprintf(stderr, "hafwd: control.state_dir: cannot create %s: %s\n", cfg.control.state_dir.c_str(),
                 std::strerror(errno));
    return 1;
  }

  // The state table outlives the ports and workers that use it.
  std::unique_ptr<hafw::dp::StateTable> states;
  try {
    states = std::make_unique<hafw::dp::StateTable>(cfg.dataplane.max_states);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hafwd: dataplane.max_states: cannot make a table of %u states: %s\n",
                 cfg.dataplane.max_states, e.what());
    return 1;
  }
  std::random_device entropy;
  // pf's host id: a random 32-bit creator id that names this node's states
  // to the peer.
  states->set_own_creator(uint32_t(entropy()) | 1);
  hafw::dp::DpdkSetup setup = dpdk_setup(cfg);
  setup.states = states.get();
  setup.nat_seed = uint64_t(entropy()) << 32 | entropy();
  // State ids start at the wall clock's seconds in the high half, as pf's
  // do, so a restarted node does not reuse the ids of its previous run.
  setup.first_state_id =
      uint64_t(std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                   .count())
      << 32;

  std::string error;
  auto io = hafw::dp::DpdkIo::create(setup, error);
  if (!io) {
    std::fprintf(stderr, "hafwd: %s\n", error.c_str());
    return 1;
  }

  hafw::SteadyClock clock;
  hafw::control::Controller controller(cfg, config_json, *io, clock);
  controller.set_config_file(config_path);
  hafw::control::Commands commands;
  controller.register_commands(commands);

  boost::asio::io_context ioc;
  std::unique_ptr<hafw::control::ControlServer> server;
  try {
    server = std::make_unique<hafw::control::ControlServer>(ioc, cfg.control.socket, commands.handler());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hafwd: control.socket: %s\n", e.what());
    return 1;
  }
  commands.add_stats([&](nlohmann::json& out) { out["control"]["socket"] = server->stats().to_json(); });
  controller.serve_event_feed(*server);
  hafw::control::open_syslog();
  controller.add_event_sink([&cfg](const hafw::control::Event& e) { hafw::control::to_syslog(e, cfg.node.name); });

  // dpdk-telemetry.py's /hafw/... commands, answered by the control thread
  // in its loop. DPDK's telemetry thread outlives main, so the broker it
  // asks does too (never freed).
  auto* telemetry = new hafw::control::TelemetryBroker;
  std::vector<hafw::dp::TelemetryPath> paths;
  for (const auto& t : hafw::control::kTelemetryCommands) paths.push_back({t.path, t.help});
  auto answer = [telemetry](std::string_view path, std::string_view params) {
    for (const auto& t : hafw::control::kTelemetryCommands)
      if (path == t.path) return hafw::control::telemetry_answer(path, params, telemetry->ask(t.command, kTelemetryWait));
    return nlohmann::json{{"error", "unknown path"}};
  };
  if (!hafw::dp::register_telemetry(paths, answer, error)) {
    std::fprintf(stderr, "hafwd: %s\n", error.c_str());
    return 1;
  }
  commands.add_stats([telemetry](nlohmann::json& out) { out["control"]["telemetry"] = telemetry->stats_json(); });

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGHUP, on_hangup);
  std::signal(SIGPIPE, SIG_IGN);

  const std::function<nlohmann::json(const std::string&)> run_command = [&](const std::string& cmd) {
    return commands.run(cmd, nlohmann::json::object());
  };

  // The control thread (this one; the EAL made the workers' threads before,
  // at normal priority) takes its real-time priority: CARP's sub-second
  // timers must not wait behind other work for a CPU (control/sched.h).
  hafw::control::LinuxScheduler scheduler;
  hafw::control::ControlScheduling sched(scheduler, cfg.control.realtime_priority);
  if (std::string why = sched.start(); !why.empty())
    controller.note({.unix_ms = 0,
                     .message = "control thread stays at normal priority: " + why +
                                " (control.realtime_priority; sub-second CARP timers may flap on a busy machine)",
                     .subsys = "node",
                     .kind = "realtime_refused",
                     .fields = {{"priority", std::to_string(cfg.control.realtime_priority)}, {"error", why}},
                     .warning = true});
  commands.add_stats([&sched](nlohmann::json& out) { out["control"]["scheduling"] = sched.stats_json(); });

  controller.start();
  io->start_workers();
  while (!g_stop) {
    if (g_reload.exchange(false)) {
      // The event says applied or rejected; the whole of a refusal goes to
      // the log too, as hafwctl check would print it.
      auto r = controller.reload_file(config_path, "SIGHUP");
      if (!r.ok)
        for (const auto& d : r.diagnostics) std::fprintf(stderr, "hafwd: SIGHUP: %s\n", d.str().c_str());
    }
    const hafw::Time pass_start = clock.now();
    bool worked = controller.step();
    worked = ioc.poll() > 0 || worked;
    worked = telemetry->serve(run_command) || worked;
    const hafw::Time pass_end = clock.now();
    sched.pass(worked, pass_start, pass_end);
    if (!worked) {
      auto until = controller.next_deadline() - pass_end;
      if (until > kMaxNap) until = kMaxNap;
      if (until > hafw::Time::zero()) {
        std::this_thread::sleep_for(until);
        const hafw::Time woke = clock.now();
        if (const hafw::Time stalled = sched.napped(until, woke - pass_end); stalled > hafw::Time::zero())
          controller.discount_stall(stalled);
        if (std::string m = sched.take_stall_report(woke); !m.empty())
          controller.note({.unix_ms = 0, .message = std::move(m), .subsys = "node", .kind = "control_stall",
                           .fields = {}, .warning = true});
      }
    }
  }
  telemetry->close();
  controller.shutdown();
  io->stop_workers();
  server.reset();
  std::fprintf(stderr, "hafwd: stopped\n");
  return 0;
}
