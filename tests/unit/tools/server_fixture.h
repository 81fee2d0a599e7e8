// A ControlServer on a temporary socket, driven by its own io_context thread,
// plus a raw client for the byte-level cases request() cannot produce, and a
// two-node cluster of real daemons (tests/unit/control/fake_link.h) whose
// replies hafwctl's tests read instead of hand-written JSON.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "control/clock.h"
#include "control/config.h"
#include "control/socket.h"
#include "tests/unit/control/fake_link.h"

namespace hafw::test {

// mkdtemp under TMPDIR; removed with everything in it.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "hafw-ctl-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

struct ServerThread {
  boost::asio::io_context io;
  std::unique_ptr<control::ControlServer> server;
  std::thread thread;

  // `setup` runs before the server's thread starts (add_feed and the like).
  ServerThread(const std::string& path, control::Handler h, control::ServerOptions options = {},
               const std::function<void(control::ControlServer&)>& setup = {})
      : server(std::make_unique<control::ControlServer>(io, path, std::move(h), std::move(options))) {
    if (setup) setup(*server);
    thread = std::thread([this] { io.run(); });
  }
  // Stops the loop first, so stats() and the handler's captures are read
  // only by this thread afterwards.
  void stop() {
    if (thread.joinable()) {
      io.stop();
      thread.join();
    }
  }
  ~ServerThread() {
    stop();
    server.reset();
  }
};

class RawClient {
 public:
  explicit RawClient(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, path.data(), path.size());
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0)
      throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
    // A test that would hang fails instead.
    timeval tv{.tv_sec = 10, .tv_usec = 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  ~RawClient() { close(); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // Sends as much as the peer takes; a peer that hangs up early is not an error here.
  void send(const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = ::send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<size_t>(n);
    }
  }
  // Waits (up to `ms`) for the server to hang up, without reading what it
  // sent; true if it did.
  bool wait_hangup(int ms) {
    pollfd p{.fd = fd_, .events = POLLRDHUP, .revents = 0};
    return ::poll(&p, 1, ms) == 1 && (p.revents & (POLLRDHUP | POLLHUP)) != 0;
  }
  // The next line without its '\n'; "<eof>" if the server hung up first.
  std::string line() {
    for (;;) {
      if (auto nl = buf_.find('\n'); nl != std::string::npos) {
        std::string l = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return l;
      }
      char b[4096];
      ssize_t n = ::recv(fd_, b, sizeof(b), 0);
      if (n <= 0) return "<eof>";
      buf_.append(b, static_cast<size_t>(n));
    }
  }

 private:
  int fd_ = -1;
  std::string buf_;
};

// Two nodes as controller_test.cc builds them (the guide's WAN/LAN/sync
// plan: fw1 primary advskew 0, fw2 secondary advskew 100), started and run
// under a manual clock until fw1 is MASTER of both VHIDs. Each node's config
// is also written to DIR/fwN.json (the file it was started with, for
// config.reload), and names DIR/fwN.sock as its socket.
//
// `mu` guards the daemons and the clock: a ControlServer answers on its own
// thread, so its handler takes `mu` (handler()), and so does every step the
// test makes (run_for()).
class Cluster {
 public:
  TempDir dir;
  std::mutex mu;
  ManualClock clock;
  Segment wan, lan, sync;
  std::unique_ptr<FakeIo> io1, io2;
  std::unique_ptr<Daemon> fw1, fw2;

  Cluster() {
    io1 = std::make_unique<FakeIo>(std::vector<Segment*>{&wan, &lan, &sync}, macs(1));
    io2 = std::make_unique<FakeIo>(std::vector<Segment*>{&wan, &lan, &sync}, macs(2));
    io1->set_clock(clock);
    io2->set_clock(clock);
    fw1 = make(*io1, node_json("fw1", "primary", 2, 0));
    fw2 = make(*io2, node_json("fw2", "secondary", 3, 100));
    fw1->start();
    fw2->start();
    // fw1's master-down timer (3 s) runs out before fw2's (3 s + 100/256 s).
    run_for(std::chrono::seconds(5));
  }

  std::string config_path(const std::string& node) const { return (dir.path / (node + ".json")).string(); }
  std::string socket_path(const std::string& node) const { return (dir.path / (node + ".sock")).string(); }

  // Advance the clock in 10 ms steps, letting both nodes work after each.
  void run_for(Time d) {
    std::lock_guard lock(mu);
    for (Time t{}; t < d; t += std::chrono::milliseconds(10)) {
      clock.advance(std::chrono::milliseconds(10));
      for (int i = 0; i < 100; ++i) {
        bool worked = fw1->step();
        worked = fw2->step() || worked;
        if (!worked) break;
      }
    }
  }

  // A node's commands as a socket handler, serialised with the test's steps.
  control::Handler handler(Daemon& d) {
    return [this, &d](std::string_view cmd, const nlohmann::json& args) {
      std::lock_guard lock(mu);
      return d.handle(cmd, args);
    };
  }

  // A VHID's state as the node's CARP sees it ("MASTER", ...).
  std::string state(const Daemon& d, const std::string& iface) {
    std::lock_guard lock(mu);
    for (const auto& s : d.carp().status())
      if (s.interface == iface) return carp::state_name(s.state);
    return "none";
  }

 private:
  static std::vector<net::Mac> macs(uint8_t node) {
    return {net::Mac{{0x02, 0, 0, 0, node, 0}}, net::Mac{{0x02, 0, 0, 0, node, 1}},
            net::Mac{{0x02, 0, 0, 0, node, 2}}};
  }

  std::string node_json(const std::string& name, const std::string& role, int host, int skew) const {
    return lab_node_json(name, role, host, skew, socket_path(name), (dir.path / name).string());
  }

  std::unique_ptr<Daemon> make(FakeIo& io, const std::string& text) {
    auto r = config::parse(text);
    if (!r.ok()) {
      std::string why;
      for (const auto& d : r.diagnostics) why += d.str() + "\n";
      throw std::runtime_error("test config rejected:\n" + why);
    }
    auto name = r.config->node.name;
    std::ofstream(config_path(name)) << text;
    auto d = std::make_unique<Daemon>(*r.config, nlohmann::json::parse(text), io, clock);
    d->controller.set_config_file(config_path(name));  // as hafwd does with --config
    return d;
  }
};

}  // namespace hafw::test
