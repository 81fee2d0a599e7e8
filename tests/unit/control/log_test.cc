// The structured log: every event as one logfmt line a SIEM can parse, with
// the particulars of CARP transitions as their own keys.
#include <catch2/catch.hpp>

#include "control/controller.h"
#include "control/log.h"
#include "tests/unit/tools/server_fixture.h"

using namespace hafw::control;

TEST_CASE("logfmt: keys in order, values quoted and escaped only when needed", "[control][log]") {
  Event e{.unix_ms = 1764583203120,
          .message = "wan vhid 1: BACKUP -> MASTER (master down timer expired)",
          .subsys = "carp",
          .kind = "state_change",
          .fields = {{"vhid", "1"}, {"iface", "wan"}, {"from", "BACKUP"}, {"to", "MASTER"},
                     {"reason", "master down timer expired"}},
          .warning = false};
  CHECK(logfmt(e, "fw1") ==
        "ts=2025-12-01T10:00:03.120Z level=info node=fw1 subsys=carp event=state_change vhid=1 iface=wan "
        "from=BACKUP to=MASTER reason=\"master down timer expired\" "
        "msg=\"wan vhid 1: BACKUP -> MASTER (master down timer expired)\"");
  // Whatever a message holds, it stays one line.
  Event odd{.unix_ms = 0, .message = "a \"q\" b\\c\nnext\x01", .subsys = "node", .kind = "message",
            .fields = {{"empty", ""}, {"eq", "a=b"}}, .warning = true};
  CHECK(logfmt(odd, "n") == "ts=1970-01-01T00:00:00.000Z level=warn node=n subsys=node event=message empty=\"\" "
                            "eq=\"a=b\" msg=\"a \\\"q\\\" b\\\\c\\nnext\\x01\"");
}

TEST_CASE("the controller's events carry their particulars and reach its sinks", "[control][log]") {
  hafw::test::Cluster cluster;  // fw1 has become MASTER of wan and lan
  const auto& events = cluster.fw1->controller.events();
  const Event* takeover = nullptr;
  for (const auto& e : events)
    if (e.kind == "state_change" && e.message.starts_with("wan vhid 200: BACKUP -> MASTER")) takeover = &e;
  REQUIRE(takeover);
  CHECK(takeover->subsys == "carp");
  CHECK(takeover->fields == std::vector<std::pair<std::string, std::string>>{
                                {"vhid", "200"}, {"iface", "wan"}, {"from", "BACKUP"}, {"to", "MASTER"},
                                {"reason", "master down timer expired"}});
  CHECK(logfmt(*takeover, "fw1").find(" subsys=carp event=state_change vhid=200 iface=wan from=BACKUP to=MASTER "
                                      "reason=\"master down timer expired\" msg=") != std::string::npos);
  // The sync module's bulk update is named, and a sink sees each new event.
  bool bulk = false;
  for (const auto& e : events) bulk = bulk || (e.subsys == "sync" && e.kind == "bulk_receive_end");
  CHECK(bulk);
  std::vector<std::string> lines;
  cluster.fw1->controller.add_event_sink([&](const Event& e) { lines.push_back(logfmt(e, "fw1")); });
  {
    std::lock_guard lock(cluster.mu);
    cluster.fw1->handle("carp.maintenance", {{"enter", true}});
  }
  REQUIRE_FALSE(lines.empty());
  CHECK(lines[0].find(" level=info node=fw1 subsys=carp event=maintenance_on msg=\"entering maintenance mode\"") !=
        std::string::npos);
}

TEST_CASE("config reloads are logged as the config subsystem's applied and rejected events", "[control][log]") {
  hafw::test::Cluster cluster;
  std::vector<std::string> lines;
  cluster.fw1->controller.add_event_sink([&](const Event& e) { lines.push_back(logfmt(e, "fw1")); });
  {
    std::lock_guard lock(cluster.mu);
    const nlohmann::json running = cluster.fw1->handle("config.get", {{"secrets", true}});
    cluster.fw1->handle("config.reload", {{"config", running}});
    nlohmann::json broken = running;
    broken["carp"]["vips"][0]["vhid"] = 0;
    CHECK_THROWS(cluster.fw1->handle("config.reload", {{"config", broken}}));
  }
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].find(" level=info node=fw1 subsys=config event=applied source=\"an inline config (config.reload)\" "
                      "changes=0 msg=\"config applied: no changes from an inline config (config.reload)\"") !=
        std::string::npos);
  CHECK(lines[1].find(" level=warn node=fw1 subsys=config event=rejected source=\"an inline config (config.reload)\" "
                      "errors=1 msg=\"config rejected: 1 error (carp.vips[0].vhid: ") != std::string::npos);
}
