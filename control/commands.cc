#include "control/commands.h"

#include <algorithm>
#include <stdexcept>

namespace hafw::control {

using nlohmann::json;

Commands::Commands() {
  add({.name = "help",
       .args = "",
       .summary = "the commands this daemon serves, with their arguments",
       .run = [this](std::string_view, const json&) {
         json out = json::array();
         for (const auto& c : commands_) out.push_back({{"cmd", c.name}, {"args", c.args}, {"summary", c.summary}});
         return out;
       }});
  add({.name = "stats",
       .args = "",
       .summary = "counters: dataplane (drops and punts by reason), CARP, control thread, control socket",
       .run = [this](std::string_view, const json&) {
         json out = json::object();
         for (const auto& fill : stats_) fill(out);
         return out;
       }});
}

void Commands::add(Command c) {
  auto same = [&](const Command& o) { return o.name == c.name; };
  if (std::any_of(commands_.begin(), commands_.end(), same))
    throw std::logic_error("command '" + c.name + "' registered twice");
  commands_.push_back(std::move(c));
}

void Commands::add_stats(std::function<void(json&)> fill) { stats_.push_back(std::move(fill)); }

json Commands::run(std::string_view cmd, const json& args) const {
  for (const auto& c : commands_)
    if (c.name == cmd) return c.run(cmd, args);
  throw CommandError("unknown command '" + std::string(cmd) + "' (try 'help')");
}

}  // namespace hafw::control
