#include <catch2/catch.hpp>

#include "control/format.h"

using namespace hafw::control;
using nlohmann::json;

namespace {

// carp.status as the daemon sends it (docs/control.md), for the guide's WAN/LAN plan.
const json kCarpStatus = json::parse(R"({
  "maintenance": false,
  "demotion": 0,
  "vhids": [
    {"interface": "wan", "vhid": 200, "state": "MASTER", "advbase": 1, "advskew": 0, "demotion": 0,
     "addresses": ["198.51.100.200"], "adverts_sent": 12, "adverts_received": 0,
     "last_transition": "2024-05-01T10:00:03Z"},
    {"interface": "lan", "vhid": 1, "state": "BACKUP", "advbase": 1, "advskew": 100, "demotion": 0,
     "addresses": ["192.168.1.1", "2001:db8:1::1"], "adverts_sent": 0, "adverts_received": 40,
     "last_transition": "2024-05-01T10:00:00Z"}
  ]
})");

}  // namespace

TEST_CASE("a VHID prints exactly as BSD ifconfig shows it", "[control][format]") {
  CHECK(format_carp_line(kCarpStatus["vhids"][0]) == "wan: carp: MASTER vhid 200 advbase 1 advskew 0");
  CHECK(format_carp_line(kCarpStatus["vhids"][1]) == "lan: carp: BACKUP vhid 1 advbase 1 advskew 100");
}

TEST_CASE("carp status lists VHIDs with their VIPs, then demotion and maintenance", "[control][format]") {
  CHECK(format_carp(kCarpStatus) ==
        "wan: carp: MASTER vhid 200 advbase 1 advskew 0\n"
        "        vip 198.51.100.200\n"
        "lan: carp: BACKUP vhid 1 advbase 1 advskew 100\n"
        "        vip 192.168.1.1\n"
        "        vip 2001:db8:1::1\n"
        "demotion 0, maintenance off\n");

  json maint = kCarpStatus;
  maint["maintenance"] = true;
  maint["demotion"] = 240;
  for (auto& v : maint["vhids"]) v["state"] = "BACKUP";
  std::string out = format_carp(maint);
  CHECK(out.starts_with("wan: carp: BACKUP vhid 200 advbase 1 advskew 0\n"));
  CHECK(out.ends_with("demotion 240, maintenance on\n"));

  CHECK(format_carp(json{{"maintenance", false}, {"demotion", 0}, {"vhids", json::array()}}) ==
        "no CARP VHIDs configured\ndemotion 0, maintenance off\n");
}

TEST_CASE("a reply missing fields prints '?' instead of failing", "[control][format]") {
  CHECK(format_carp_line(json{{"interface", "wan"}, {"vhid", 200}}) == "wan: carp: ? vhid 200 advbase ? advskew ?");
  CHECK(format_carp_line(json("garbage")) == "?: carp: ? vhid ? advbase ? advskew ?");
  CHECK_NOTHROW(format_status(json::array({1, 2})));
  CHECK_NOTHROW(format_stats(json(42)));
  CHECK(format_events(json::object()) == "no events\n");
}

TEST_CASE("status shows node, interfaces as a table and the CARP lines", "[control][format]") {
  json st = json::parse(R"({
    "node": {"name": "fw1", "role": "primary"},
    "uptime_s": 93784,
    "maintenance": false,
    "demotion": 0,
    "interfaces": [
      {"name": "wan", "port": "net_af_packet0", "mac": "02:00:00:00:01:01", "address": "198.51.100.201/24",
       "link": "up", "rx_packets": 1234567, "tx_packets": 42},
      {"name": "sync", "port": "2", "mac": "02:00:00:00:03:01", "address": "172.16.1.2/24",
       "link": "down", "rx_packets": 0, "tx_packets": 7}
    ]
  })");
  st["carp"] = kCarpStatus["vhids"];
  CHECK(format_status(st) ==
        "node fw1 (primary), up 1d 2h 3m 4s\n"
        "maintenance off, demotion 0\n"
        "\n"
        "interface  port            mac                address            link  rx_packets  tx_packets\n"
        "wan        net_af_packet0  02:00:00:00:01:01  198.51.100.201/24  up       1234567          42\n"
        "sync       2               02:00:00:00:03:01  172.16.1.2/24      down           0           7\n"
        "\n"
        "wan: carp: MASTER vhid 200 advbase 1 advskew 0\n"
        "        vip 198.51.100.200\n"
        "lan: carp: BACKUP vhid 1 advbase 1 advskew 100\n"
        "        vip 192.168.1.1\n"
        "        vip 2001:db8:1::1\n");
}

TEST_CASE("uptime reads as days, hours, minutes, seconds", "[control][format]") {
  CHECK(format_uptime(0) == "0s");
  CHECK(format_uptime(59) == "59s");
  CHECK(format_uptime(3600) == "1h 0m 0s");
  CHECK(format_uptime(93784) == "1d 2h 3m 4s");
}

TEST_CASE("stats are aligned name/value lines with only non-zero drop reasons", "[control][format]") {
  json s = json::parse(R"({
    "control": {"requests": 17, "errors": 2},
    "carp": {"drops": {"bad_ttl": 3, "bad_hmac": 0}, "adverts_sent": 120},
    "dataplane": {"rx": 1000000, "tx": 999000, "drops": {"no_route": 0, "bad_checksum": 12, "state_miss": 988},
                  "punts": {"carp": 40, "arp": 0}}
  })");
  CHECK(format_stats(s) ==
        "dataplane.drops                  1000\n"
        "dataplane.drops.bad_checksum       12\n"
        "dataplane.drops.state_miss        988\n"
        "dataplane.punts.arp                 0\n"
        "dataplane.punts.carp               40\n"
        "dataplane.rx                  1000000\n"
        "dataplane.tx                   999000\n"
        "carp.adverts_sent                 120\n"
        "carp.drops                          3\n"
        "carp.drops.bad_ttl                  3\n"
        "control.errors                      2\n"
        "control.requests                   17\n");
}

TEST_CASE("events print time then message", "[control][format]") {
  json e = json::parse(R"J({"events": [
    {"time": "2024-05-01T10:00:00Z", "message": "wan vhid 200: INIT -> BACKUP"},
    {"time": "2024-05-01T10:00:03Z", "message": "wan vhid 200: BACKUP -> MASTER (master down timer expired)"}
  ]})J");
  CHECK(format_events(e) ==
        "2024-05-01T10:00:00Z  wan vhid 200: INIT -> BACKUP\n"
        "2024-05-01T10:00:03Z  wan vhid 200: BACKUP -> MASTER (master down timer expired)\n");
}

TEST_CASE("other results print as flattened name/value lines", "[control][format]") {
  json s = json::parse(R"({"peer": "172.16.1.3", "bulk": {"done": true, "states": 5}, "link": "up"})");
  CHECK(format_kv(s) ==
        "bulk.done    true\n"
        "bulk.states  5\n"
        "link         up\n"
        "peer         172.16.1.3\n");
}
