// How DPDK's telemetry thread asks the control thread
// (control/telemetry_broker.h), on real threads: also run under
// ThreadSanitizer (the concurrency suite).
#include <catch2/catch.hpp>

#include <functional>
#include <stdexcept>
#include <string>
#include <thread>

#include "control/telemetry_broker.h"

using namespace hafw;
using nlohmann::json;

TEST_CASE("the broker runs the command on the serving thread", "[telemetry][concurrency]") {
  std::thread::id ran_on;
  int counter = 0;
  const std::function<json(const std::string&)> commands = [&](const std::string& cmd) {
    if (cmd != "count") throw std::runtime_error("unknown command '" + cmd + "' (try 'help')");
    ran_on = std::this_thread::get_id();
    return json{{"n", ++counter}};
  };
  control::TelemetryBroker broker;
  CHECK_FALSE(broker.serve(commands));  // nobody asked

  for (int round = 1; round <= 50; ++round) {
    json got;
    std::thread asker([&] { got = broker.ask("count", std::chrono::seconds(30)); });
    while (!broker.serve(commands)) std::this_thread::yield();
    asker.join();
    CHECK(got == json{{"n", round}});
    CHECK(ran_on == std::this_thread::get_id());
  }
  // Errors of the command come back as {"error": ...}.
  json got;
  std::thread asker([&] { got = broker.ask("no.such", std::chrono::seconds(30)); });
  while (!broker.serve(commands)) std::this_thread::yield();
  asker.join();
  CHECK(got == json{{"error", "unknown command 'no.such' (try 'help')"}});
  CHECK(broker.stats_json() == json{{"requests", 51}, {"timeouts", 0}});
}

TEST_CASE("an ask nobody serves gives up, and a closed broker answers at once", "[telemetry]") {
  const std::function<json(const std::string&)> commands = [](const std::string&) { return json::object(); };
  control::TelemetryBroker broker;
  const json late = broker.ask("stats", std::chrono::milliseconds(0));
  CHECK(late == json{{"error", "hafwd's control thread did not answer within 0 ms"}});
  // The abandoned ask leaves nothing behind for the next serve.
  CHECK_FALSE(broker.serve(commands));
  CHECK(broker.stats_json() == json{{"requests", 0}, {"timeouts", 1}});

  std::thread asker([&] { CHECK(broker.ask("stats", std::chrono::hours(1)) == json{{"error", "hafwd is stopping"}}); });
  broker.close();  // wakes the waiting ask, if it got in first
  asker.join();
  CHECK(broker.ask("stats", std::chrono::hours(1)) == json{{"error", "hafwd is stopping"}});
}
