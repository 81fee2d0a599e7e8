// hafw-ping: ICMP echo at a fixed rate, whatever comes back, for failover
// measurements (docs/benchmarks.md "Failover per timer setting").
//
//   hafw-ping [-i INTERVAL_MS] [-w SECONDS] [-s BYTES] DEST
//
// iputils ping does not keep its interval while replies are missing: with
// -i below the scheduler tick (10 ms) and a request unanswered, it waits up
// to 10 ms for a reply before it sends the next (ping_common.c, the poll
// with MININTERVAL). During an outage it sends every 10 ms, so the gap it
// reports is the outage rounded up to the next 10 ms. This one sends on an
// absolute schedule and prints one line (tools/bench/ping_gaps.h):
//
//   sent=N received=M duplicates=D gap_ms=G gap_at_s=T longest_loss=L unexpected=U
//
// Root (a raw socket). IPv4 or IPv6 by the form of DEST.
#include <arpa/inet.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <thread>
#include <vector>

#include "tools/bench/ping_gaps.h"

namespace {

using Nanos = std::chrono::nanoseconds;

// In every request's payload, after the ICMP header: a magic of this run and
// the 32-bit request number (ICMP's own sequence wraps after 65 s at 1 ms).
struct Payload {
  uint32_t magic;
  uint32_t seq;
};

Nanos monotonic() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return Nanos(int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec);
}

uint16_t checksum(const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += uint32_t(p[i] << 8 | p[i + 1]);
  if (n & 1) sum += uint32_t(p[n - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return htons(uint16_t(~sum));
}

struct Arrival {
  uint32_t seq;
  Nanos at;
};

[[noreturn]] void usage() {
  std::fprintf(stderr, "usage: hafw-ping [-i INTERVAL_MS] [-w SECONDS] [-s BYTES] DEST\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  double interval_ms = 1, seconds = 5;
  size_t size = 56;
  int opt;
  while ((opt = getopt(argc, argv, "i:w:s:")) != -1) {
    char* end = nullptr;
    switch (opt) {
      case 'i': interval_ms = std::strtod(optarg, &end); break;
      case 'w': seconds = std::strtod(optarg, &end); break;
      case 's': size = std::strtoul(optarg, &end, 10); break;
      default: usage();
    }
    if (!end || *end) usage();
  }
  if (optind + 1 != argc || !(interval_ms >= 0.01) || !(seconds > 0) || size < sizeof(Payload) || size > 1400)
    usage();

  sockaddr_storage dest{};
  socklen_t dest_len = 0;
  bool v6 = false;
  if (auto* a = reinterpret_cast<sockaddr_in*>(&dest); inet_pton(AF_INET, argv[optind], &a->sin_addr) == 1) {
    a->sin_family = AF_INET;
    dest_len = sizeof *a;
  } else if (auto* a6 = reinterpret_cast<sockaddr_in6*>(&dest); inet_pton(AF_INET6, argv[optind], &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    dest_len = sizeof *a6;
    v6 = true;
  } else {
    std::fprintf(stderr, "hafw-ping: %s: not an IPv4 or IPv6 address\n", argv[optind]);
    return 2;
  }

  const int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_RAW, v6 ? int(IPPROTO_ICMPV6) : int(IPPROTO_ICMP));
  if (fd < 0) {
    std::fprintf(stderr, "hafw-ping: raw socket: %s (needs root)\n", std::strerror(errno));
    return 2;
  }
  if (v6) {
    icmp6_filter f;
    ICMP6_FILTER_SETBLOCKALL(&f);
    ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &f);
    setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &f, sizeof f);
  }
  // The receiver looks at the stop flag this often.
  timeval tv{.tv_sec = 0, .tv_usec = 50'000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

  std::random_device rd;
  const uint32_t magic = rd();
  const uint16_t ident = uint16_t(rd());

  const Nanos start = monotonic();
  std::atomic<bool> stop{false};
  std::vector<Arrival> arrivals;
  arrivals.reserve(size_t(seconds * 1000 / interval_ms) + 16);
  std::thread receiver([&] {
    uint8_t buf[2048];
    while (!stop.load(std::memory_order_relaxed)) {
      const ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) continue;
      const Nanos at = monotonic() - start;
      size_t off = 0;
      if (!v6) {  // a raw IPv4 socket gives the IP header too
        if (size_t(n) < sizeof(iphdr)) continue;
        off = size_t(buf[0] & 0x0f) * 4;
      }
      if (size_t(n) < off + 8 + sizeof(Payload)) continue;
      const uint8_t type = buf[off];
      if (type != (v6 ? ICMP6_ECHO_REPLY : ICMP_ECHOREPLY)) continue;
      uint16_t id;
      std::memcpy(&id, buf + off + 4, 2);
      Payload pl;
      std::memcpy(&pl, buf + off + 8, sizeof pl);
      if (id != htons(ident) || pl.magic != magic) continue;  // another ping's
      arrivals.push_back({pl.seq, at});
    }
  });

  // Requests on an absolute schedule. A sender that fell more than one
  // interval behind (the machine stalled it) starts the schedule again from
  // now rather than sending a burst.
  std::vector<uint8_t> pkt(8 + size, 0);
  const Nanos step(int64_t(interval_ms * 1e6));
  const Nanos end = start + Nanos(int64_t(seconds * 1e9));
  Nanos next = start;
  uint32_t sent = 0;
  for (;; ++sent) {
    const Nanos now = monotonic();
    if (now - next > step) next = now;
    if (next >= end) break;
    if (now < next) {
      timespec ts{.tv_sec = time_t(next.count() / 1'000'000'000), .tv_nsec = long(next.count() % 1'000'000'000)};
      clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
    }
    next += step;
    pkt[0] = v6 ? ICMP6_ECHO_REQUEST : ICMP_ECHO;
    pkt[1] = 0;
    pkt[2] = pkt[3] = 0;
    const uint16_t id = htons(ident), seq16 = htons(uint16_t(sent));
    std::memcpy(&pkt[4], &id, 2);
    std::memcpy(&pkt[6], &seq16, 2);
    const Payload pl{magic, sent};
    std::memcpy(&pkt[8], &pl, sizeof pl);
    if (!v6) {  // the kernel fills in ICMPv6's checksum, not ICMP's
      const uint16_t c = checksum(pkt.data(), pkt.size());
      std::memcpy(&pkt[2], &c, 2);
    }
    // A send that fails (no route for a moment, a full queue) is a request
    // lost like any other.
    sendto(fd, pkt.data(), pkt.size(), 0, reinterpret_cast<sockaddr*>(&dest), dest_len);
  }
  // Replies still on their way.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  stop = true;
  receiver.join();
  close(fd);

  hafw::tools::PingGaps gaps;
  gaps.set_sent(sent);
  for (const auto& a : arrivals) gaps.reply(a.seq, a.at);
  std::printf("%s\n", gaps.summary().c_str());
  return 0;
}
