// The control socket's command registry. Each part of the daemon registers
// the commands it serves (Controller: status, carp.*, events, config.get;
// the socket: its own counters under stats), and the socket dispatches
// through here: no if-chain, nothing intercepted in main. `help` lists what
// is registered, so the daemon always tells the truth about what it serves.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/socket.h"

namespace hafw::control {

struct Command {
  std::string name;     // "carp.maintenance"
  std::string args;     // argument schema for help, e.g. "{\"enter\": bool}"; empty = none
  std::string summary;  // one line for help
  Handler run;          // throws CommandError for the user's mistakes
};

class Commands {
 public:
  Commands();

  // Throws std::logic_error on a duplicate name (a programming error).
  void add(Command c);
  // `stats` is assembled from every part's section: fill(out) adds its keys.
  void add_stats(std::function<void(nlohmann::json& out)> fill);

  // Dispatch; throws CommandError("unknown command 'x' (try 'help')").
  nlohmann::json run(std::string_view cmd, const nlohmann::json& args) const;
  Handler handler() const {
    return [this](std::string_view cmd, const nlohmann::json& args) { return run(cmd, args); };
  }
  const std::vector<Command>& list() const { return commands_; }

 private:
  std::vector<Command> commands_;
  std::vector<std::function<void(nlohmann::json&)>> stats_;
};

}  // namespace hafw::control
