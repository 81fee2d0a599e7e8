#include <sys/stat.h>
#include <sys/wait.h>

#include <atomic>
#include <fstream>
#include <vector>

#include <catch2/catch.hpp>

#include "control/client.h"
#include "control/socket.h"
#include "tests/unit/tools/server_fixture.h"

using namespace hafw::control;
using hafw::test::RawClient;
using hafw::test::ServerThread;
using hafw::test::TempDir;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// A daemon in miniature: two commands, the unknown-command rule, and the
// kinds of failure a real handler can have.
json fake_handler(std::string_view cmd, const json& args) {
  if (cmd == "status") return json{{"node", {{"name", "fw1"}, {"role", "primary"}}}};
  if (cmd == "echo") return args;
  if (cmd == "carp.maintenance") return json{{"maintenance", args.at("enter").get<bool>()}};
  if (cmd == "boom") throw std::runtime_error("disk on fire");
  if (cmd == "events") return json{{"events", json::array({{{"n", 0}}})}};
  throw CommandError("unknown command '" + std::string(cmd) + "'");
}

std::string error_of(const json& reply) {
  REQUIRE(reply.is_object());
  REQUIRE(reply.at("ok") == false);
  return reply.at("error").get<std::string>();
}

}  // namespace

TEST_CASE("handle_line answers a good request with its result", "[control][socket]") {
  ControlStats st;
  json r = handle_line(R"({"cmd": "status"})", fake_handler, st);
  CHECK(r == json{{"ok", true}, {"result", {{"node", {{"name", "fw1"}, {"role", "primary"}}}}}});
  // args absent reaches the handler as an empty object, present as given.
  CHECK(handle_line(R"({"cmd":"echo"})", fake_handler)["result"] == json::object());
  CHECK(handle_line(R"({"cmd":"echo","args":{"limit":5}})", fake_handler)["result"] == json{{"limit", 5}});
  CHECK(st.requests == 1);
  CHECK(st.errors == 0);
}

TEST_CASE("handle_line turns every malformed request into an error reply", "[control][socket]") {
  ControlStats st;
  // Invalid JSON: say where, without nlohmann's internal prefix.
  std::string e = error_of(handle_line(R"({"cmd": "status")", fake_handler, st));
  CHECK(e.starts_with("invalid JSON: parse error at line 1, column "));
  CHECK(e.find("[json.exception") == std::string::npos);
  CHECK(error_of(handle_line("", fake_handler, st)).starts_with("invalid JSON"));
  CHECK(st.bad_json == 2);

  CHECK(error_of(handle_line(R"(["status"])", fake_handler, st)) == "request must be a JSON object, got array");
  CHECK(error_of(handle_line(R"({})", fake_handler, st)) == "missing \"cmd\"");
  CHECK(error_of(handle_line(R"({"cmd": 7})", fake_handler, st)) == "\"cmd\" must be a non-empty string");
  CHECK(error_of(handle_line(R"({"cmd": ""})", fake_handler, st)) == "\"cmd\" must be a non-empty string");
  CHECK(error_of(handle_line(R"({"cmd":"echo","args":[1]})", fake_handler, st)) ==
        "\"args\" must be a JSON object, got array");
  CHECK(error_of(handle_line(R"({"cmd":"echo","args":null})", fake_handler, st)) ==
        "\"args\" must be a JSON object, got null");
  // A typo in "args" must not run the command without them.
  CHECK(error_of(handle_line(R"({"cmd":"echo","arg":{"limit":5}})", fake_handler, st)) ==
        "unknown request key 'arg' (a request has \"cmd\" and \"args\")");
  CHECK(st.bad_request == 7);
  CHECK(st.requests == 9);
  CHECK(st.errors == 9);
}

TEST_CASE("handle_line reports handler failures without letting them escape", "[control][socket]") {
  ControlStats st;
  CHECK(error_of(handle_line(R"({"cmd":"nope"})", fake_handler, st)) == "unknown command 'nope'");
  // Wrong argument type: the user's mistake, named with the command.
  std::string e = error_of(handle_line(R"({"cmd":"carp.maintenance","args":{"enter":"yes"}})", fake_handler, st));
  CHECK(e.starts_with("invalid arguments for 'carp.maintenance': "));
  CHECK(st.command_errors == 2);
  CHECK(error_of(handle_line(R"({"cmd":"boom"})", fake_handler, st)) == "internal error in 'boom': disk on fire");
  CHECK(st.internal_errors == 1);
  // A server built without a handler still answers.
  CHECK(error_of(handle_line(R"({"cmd":"status"})", Handler{}, st)).starts_with("internal error in 'status'"));
  CHECK(st.errors == 4);
}

TEST_CASE("reply_line is one line of JSON even for bytes that are not UTF-8", "[control][socket]") {
  json r{{"ok", false}, {"error", std::string("bad \xff\xfe name\nwith newline")}};
  std::string l = reply_line(r);
  REQUIRE(l.back() == '\n');
  CHECK(l.find('\n') == l.size() - 1);
  CHECK(json::parse(l)["ok"] == false);
}

TEST_CASE("control socket round trip through request()", "[control][socket]") {
  TempDir dir;
  // The parent directory does not exist yet: the server makes it.
  const std::string path = (dir.path / "run" / "hafw" / "hafwd.sock").string();
  ServerThread srv(path, fake_handler);

  struct stat st{};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 0777) == 0600);

  CHECK(request(path, "status", json::object(), 5s)["node"]["name"] == "fw1");
  CHECK(request(path, "echo", json{{"x", 1}}, 5s) == json{{"x", 1}});
  try {
    request(path, "nope", json::object(), 5s);
    FAIL("no exception");
  } catch (const RemoteError& e) {
    CHECK(std::string(e.what()) == "unknown command 'nope'");
  }

  srv.stop();
  CHECK(srv.server->stats().requests == 3);
  CHECK(srv.server->stats().errors == 1);
  CHECK(srv.server->stats().connections == 3);
  srv.server.reset();
  // Leaving removes the file, so the next start finds no stale socket.
  CHECK_FALSE(std::filesystem::exists(path));
}

TEST_CASE("request() explains a missing daemon", "[control][socket]") {
  TempDir dir;
  const std::string path = (dir.path / "hafwd.sock").string();
  try {
    request(path, "status", json::object(), 1s);
    FAIL("no exception");
  } catch (const RemoteError&) {
    FAIL("transport failure reported as a daemon error");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()) == "cannot connect to " + path + ": No such file or directory (is hafwd running?)");
  }
}

TEST_CASE("request() times out on a daemon that never answers", "[control][socket]") {
  TempDir dir;
  const std::string path = (dir.path / "hafwd.sock").string();
  boost::asio::io_context io;  // never run: connections queue, nothing answers
  ControlServer server(io, path, fake_handler);
  try {
    request(path, "status", json::object(), 50ms);
    FAIL("no exception");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()) == "no reply from hafwd on " + path + " within 50 ms");
  }
}

TEST_CASE("a second daemon on a live socket is refused, a stale socket is replaced", "[control][socket]") {
  TempDir dir;
  const std::string path = (dir.path / "hafwd.sock").string();
  {
    ServerThread live(path, fake_handler);
    boost::asio::io_context io2;
    try {
      ControlServer second(io2, path, fake_handler);
      FAIL("second server bound a live socket");
    } catch (const std::runtime_error& e) {
      CHECK(std::string(e.what()).find("is in use: another hafwd is running") != std::string::npos);
    }
    // The first one is untouched and still answers.
    CHECK(request(path, "status", json::object(), 5s)["node"]["name"] == "fw1");
  }

  // A daemon killed with SIGKILL leaves its socket file behind: bound, nobody listening.
  {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, path.data(), path.size());
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0);
    ::close(fd);
  }
  REQUIRE(std::filesystem::exists(path));
  ServerThread fresh(path, fake_handler);
  CHECK(request(path, "status", json::object(), 5s)["node"]["name"] == "fw1");
}

TEST_CASE("the server refuses to replace a file that is not a socket", "[control][socket]") {
  TempDir dir;
  const std::string path = (dir.path / "hafwd.sock").string();
  std::ofstream(path) << "operator's notes\n";
  boost::asio::io_context io;
  CHECK_THROWS_WITH(ControlServer(io, path, fake_handler),
                    "control socket path " + path + " exists and is not a socket; refusing to replace it");
  std::ifstream in(path);
  std::string kept;
  std::getline(in, kept);
  CHECK(kept == "operator's notes");
}

TEST_CASE("bad clients get error replies and the server keeps serving", "[control][socket]") {
  TempDir dir;
  const std::string path = (dir.path / "hafwd.sock").string();
  ServerThread srv(path, fake_handler);

  {
    RawClient c(path);
    // Pipelined requests, a blank line and garbage: one reply per request, in order.
    c.send("{\"cmd\":\"echo\",\"args\":{\"n\":1}}\n\n  \r\nnot json\n{\"cmd\":\"echo\",\"args\":{\"n\":2}}\r\n");
    CHECK(json::parse(c.line()) == json{{"ok", true}, {"result", {{"n", 1}}}});
    CHECK(error_of(json::parse(c.line())).starts_with("invalid JSON"));
    CHECK(json::parse(c.line()) == json{{"ok", true}, {"result", {{"n", 2}}}});
  }
  {
    // Half a request, then gone.
    RawClient c(path);
    c.send("{\"cmd\": \"sta");
  }
  {
    // An endless line: one error reply, then the server hangs up.
    RawClient c(path);
    c.send(std::string(kMaxLine + 100, 'x'));
    CHECK(error_of(json::parse(c.line())) == "request line longer than 1048576 bytes");
    CHECK(c.line() == "<eof>");
  }
  {
    // A line of exactly kMaxLine bytes is still a request.
    RawClient c(path);
    std::string pad(kMaxLine - 40, ' ');
    std::string req = R"({"cmd":"echo","args":{}})" + pad;
    req.resize(kMaxLine, ' ');
    c.send(req + "\n");
    CHECK(json::parse(c.line())["ok"] == true);
  }
  CHECK(request(path, "status", json::object(), 5s)["node"]["name"] == "fw1");

  srv.stop();
  const auto& st = srv.server->stats();
  CHECK(st.too_long == 1);
  CHECK(st.truncated == 1);
  CHECK(st.bad_json == 1);
  CHECK(st.requests == 6);
  CHECK(st.errors == 2);
}

TEST_CASE("many clients at once each get their own answers", "[control][socket]") {
  TempDir dir;
  const std::string path = (dir.path / "hafwd.sock").string();
  ServerThread srv(path, fake_handler);

  // Idle connections held open while others work must not block them.
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 8; ++i) idle.push_back(std::make_unique<RawClient>(path));

  constexpr int kThreads = 16, kEach = 25;
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        json args{{"t", t}, {"i", i}};
        if (request(path, "echo", args, 10s) == args) ++good;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(good == kThreads * kEach);
  idle.clear();

  srv.stop();
  CHECK(srv.server->stats().requests == kThreads * kEach);
  CHECK(srv.server->stats().errors == 0);
}

TEST_CASE("clients beyond kMaxClients are told why and turned away", "[control][socket]") {
  TempDir dir;
  const std::string path = (dir.path / "hafwd.sock").string();
  ServerThread srv(path, fake_handler);
  std::vector<std::unique_ptr<RawClient>> held;
  for (size_t i = 0; i < kMaxClients; ++i) {
    held.push_back(std::make_unique<RawClient>(path));
    // A round trip proves the server has accepted this one.
    held.back()->send("{\"cmd\":\"status\"}\n");
    REQUIRE(json::parse(held.back()->line())["ok"] == true);
  }
  try {
    request(path, "status", json::object(), 5s);
    FAIL("no exception");
  } catch (const RemoteError& e) {
    CHECK(std::string(e.what()) == "too many control clients (64)");
  }
  held.pop_back();
  // Once one leaves there is room again (the server notices the close first).
  json r;
  for (int attempt = 0; attempt < 100; ++attempt) {
    try {
      r = request(path, "status", json::object(), 5s);
      break;
    } catch (const RemoteError&) {
      std::this_thread::sleep_for(10ms);
    }
  }
  CHECK(r["node"]["name"] == "fw1");
  srv.stop();
  CHECK(srv.server->stats().refused_busy >= 1);
}

TEST_CASE("a client that stalls in the middle of a request is told and dropped; idle ones stay", "[control][socket]") {
  TempDir dir;
  const std::string path = (dir.path / "hafwd.sock").string();
  ServerThread srv(path, fake_handler, ServerOptions{.timeout = 50ms, .allowed_uids = {}});

  RawClient idle(path);  // connected, sends nothing: an operator's socat
  {
    // A request in pieces, each within the timeout of the first byte.
    RawClient c(path);
    c.send("{\"cmd\":");
    c.send("\"status\"}\n{\"cmd\":\"echo\",");
    c.send("\"args\":{\"n\":1}}\n");
    CHECK(json::parse(c.line())["result"]["node"]["name"] == "fw1");
    CHECK(json::parse(c.line())["result"] == json{{"n", 1}});
  }
  {
    // Half a request, then nothing: an error reply once the timeout passes.
    RawClient c(path);
    const auto t0 = std::chrono::steady_clock::now();
    c.send("{\"cmd\": \"sta");
    CHECK(error_of(json::parse(c.line())) == "request not completed within 50 ms; closing");
    CHECK(c.line() == "<eof>");
    CHECK(std::chrono::steady_clock::now() - t0 >= 50ms);
  }
  // The idle client has been connected longer than the timeout and is served.
  idle.send("{\"cmd\":\"status\"}\n");
  CHECK(json::parse(idle.line())["ok"] == true);

  srv.stop();
  const auto& st = srv.server->stats();
  CHECK(st.request_timeouts == 1);
  CHECK(st.truncated == 0);
  CHECK(st.requests == 3);
  CHECK(st.errors == 0);
}

TEST_CASE("a client that does not read its replies is dropped after the timeout", "[control][socket]") {
  TempDir dir;
  const std::string path = (dir.path / "hafwd.sock").string();
  ServerThread srv(path, fake_handler, ServerOptions{.timeout = 50ms, .allowed_uids = {}});
  RawClient c(path);
  // A reply far bigger than both socket buffers, never read.
  const std::string big(4u << 20, 'x');
  c.send("{\"cmd\":\"echo\",\"args\":{\"s\":\"" + big.substr(0, kMaxLine - 100) + "\"}}\n");
  REQUIRE(c.wait_hangup(10000));
  // Serving goes on for everyone else.
  CHECK(request(path, "status", json::object(), 5s)["node"]["name"] == "fw1");
  srv.stop();
  CHECK(srv.server->stats().reply_timeouts == 1);
  CHECK(srv.server->stats().request_timeouts == 0);
}

TEST_CASE("only allowed uids may use the socket; others are told why and counted", "[control][socket]") {
  TempDir dir;
  const std::string path = (dir.path / "hafwd.sock").string();
  const uid_t other = ::geteuid() + 4242;
  ServerThread srv(path, fake_handler, ServerOptions{.timeout = kRequestTimeout, .allowed_uids = {{other}}});
  const std::string why = "permission denied: uid " + std::to_string(::geteuid()) +
                          " may not use this control socket (allowed: uid " + std::to_string(other) + ")";
  try {
    request(path, "status", json::object(), 5s);
    FAIL("no exception");
  } catch (const RemoteError& e) {
    CHECK(std::string(e.what()) == why);
  }
  RawClient c(path);
  c.send("{\"cmd\":\"status\"}\n");
  CHECK(error_of(json::parse(c.line())) == why);
  CHECK(c.line() == "<eof>");
  srv.stop();
  CHECK(srv.server->stats().refused_uid == 2);
  CHECK(srv.server->stats().connections == 0);
  CHECK(srv.server->stats().requests == 0);
}

TEST_CASE("by default another uid is refused even where the file mode would let it in", "[control][socket]") {
  if (::geteuid() != 0) {
    WARN("not root: cannot connect as another uid; the uid check itself is tested above");
    return;
  }
  TempDir dir;
  const std::string path = (dir.path / "hafwd.sock").string();
  ServerThread srv(path, fake_handler);
  // Open the file to everyone (and the directory), so only SO_PEERCRED stands in the way.
  REQUIRE(::chmod(path.c_str(), 0666) == 0);
  REQUIRE(::chmod(dir.path.c_str(), 0755) == 0);
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // The child: nobody, connects, sends one request, passes on the reply.
    ::close(fds[0]);
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(3);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, path.data(), path.size());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) ::_exit(4);
    const char req[] = "{\"cmd\":\"status\"}\n";
    (void)!::send(fd, req, sizeof req - 1, MSG_NOSIGNAL);  // the server may have hung up already
    char buf[512];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) (void)!::write(fds[1], buf, size_t(n));
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string reply;
  char buf[512];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) reply.append(buf, size_t(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  CHECK(reply == "{\"error\":\"permission denied: uid 65534 may not use this control socket (allowed: uid 0)\","
                 "\"ok\":false}\n");
  // Root is served.
  CHECK(request(path, "status", json::object(), 5s)["node"]["name"] == "fw1");
  srv.stop();
  CHECK(srv.server->stats().refused_uid == 1);
}

TEST_CASE("a follower gets every item published after its reply, in order; nobody else does", "[control][socket]") {
  TempDir dir;
  const std::string path = (dir.path / "hafwd.sock").string();
  ServerThread srv(path, fake_handler, {}, [](ControlServer& s) { s.add_feed("events"); });

  RawClient f(path);
  f.send("{\"cmd\":\"events\",\"args\":{\"follow\":true}}\n");
  // The reply first (the recent items), and from then on every item.
  CHECK(json::parse(f.line()) == json{{"ok", true}, {"result", {{"events", {{{"n", 0}}}}}}});
  RawClient plain(path);
  plain.send("{\"cmd\":\"events\"}\n");
  CHECK(json::parse(plain.line())["ok"] == true);
  // follow on a command without a feed is an ordinary request.
  RawClient other(path);
  other.send("{\"cmd\":\"status\",\"args\":{\"follow\":true}}\n{\"cmd\":\"echo\",\"args\":{\"n\":5}}\n");
  CHECK(json::parse(other.line())["result"]["node"]["name"] == "fw1");
  CHECK(json::parse(other.line())["result"] == json{{"n", 5}});

  srv.server->publish("events", {{"n", 1}});
  srv.server->publish("events", {{"n", 2}});
  CHECK(json::parse(f.line()) == json{{"n", 1}});
  CHECK(json::parse(f.line()) == json{{"n", 2}});
  // What a follower sends is not answered: the stream stays the stream.
  f.send("{\"cmd\":\"status\"}\n");
  srv.server->publish("events", {{"n", 3}});
  CHECK(json::parse(f.line()) == json{{"n", 3}});
  // The others got nothing: their next line is the answer to their next request.
  plain.send("{\"cmd\":\"echo\",\"args\":{\"n\":6}}\n");
  CHECK(json::parse(plain.line())["result"] == json{{"n", 6}});

  srv.stop();
  CHECK(srv.server->stats().following == 1);
  CHECK(srv.server->stats().follow_overruns == 0);
  CHECK(srv.server->stats().requests == 5);  // the follower's status line is not a request
}

TEST_CASE("a follower that stops reading is dropped once far behind, and counted", "[control][socket]") {
  TempDir dir;
  const std::string path = (dir.path / "hafwd.sock").string();
  ServerThread srv(path, fake_handler, {}, [](ControlServer& s) { s.add_feed("events"); });
  RawClient f(path);
  f.send("{\"cmd\":\"events\",\"args\":{\"follow\":true}}\n");
  REQUIRE(json::parse(f.line())["ok"] == true);
  // Far more than the socket buffers hold, never read.
  const std::string pad(1024, 'p');
  for (size_t i = 0; i < 4 * kMaxFollowBacklog; ++i) srv.server->publish("events", {{"n", i}, {"pad", pad}});
  REQUIRE(f.wait_hangup(10000));
  // Everyone else is still served.
  CHECK(request(path, "status", json::object(), 5s)["node"]["name"] == "fw1");
  srv.stop();
  CHECK(srv.server->stats().follow_overruns == 1);
  CHECK(srv.server->stats().following == 0);
}
