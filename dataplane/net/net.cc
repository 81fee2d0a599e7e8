#include "dataplane/net/net.h"

#include <arpa/inet.h>

#include <cstdio>
#include <string>

namespace hafw::net {

std::optional<Mac> Mac::parse(std::string_view s) {
  Mac m{};
  if (s.size() != 17) return std::nullopt;
  for (size_t i = 0; i < 6; ++i) {
    unsigned v = 0;
    for (size_t j = 0; j < 2; ++j) {
      char c = s[i * 3 + j];
      unsigned d;
      if (c >= '0' && c <= '9') d = unsigned(c - '0');
      else if (c >= 'a' && c <= 'f') d = unsigned(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') d = unsigned(c - 'A' + 10);
      else return std::nullopt;
      v = v * 16 + d;
    }
    if (i < 5 && s[i * 3 + 2] != ':') return std::nullopt;
    m.b[i] = uint8_t(v);
  }
  return m;
}

std::string Mac::str() const {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
  return buf;
}

IpAddr IpAddr::v4(uint32_t h) {
  IpAddr a;
  a.af = Family::V4;
  a.b[0] = uint8_t(h >> 24);
  a.b[1] = uint8_t(h >> 16);
  a.b[2] = uint8_t(h >> 8);
  a.b[3] = uint8_t(h);
  return a;
}

std::optional<IpAddr> IpAddr::parse(std::string_view s) {
  if (s.empty() || s.size() > 45) return std::nullopt;
  std::string z(s);
  IpAddr a;
  if (z.find(':') == std::string::npos) {
    a.af = Family::V4;
    if (inet_pton(AF_INET, z.c_str(), a.b.data()) != 1) return std::nullopt;
  } else {
    a.af = Family::V6;
    if (inet_pton(AF_INET6, z.c_str(), a.b.data()) != 1) return std::nullopt;
  }
  return a;
}

std::string IpAddr::str() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(is_v4() ? AF_INET : AF_INET6, b.data(), buf, sizeof buf);
  return buf;
}

std::optional<Prefix> Prefix::parse(std::string_view s) {
  auto slash = s.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto addr = IpAddr::parse(s.substr(0, slash));
  if (!addr) return std::nullopt;
  auto lens = s.substr(slash + 1);
  if (lens.empty() || lens.size() > 3) return std::nullopt;
  unsigned len = 0;
  for (char c : lens) {
    if (c < '0' || c > '9') return std::nullopt;
    len = len * 10 + unsigned(c - '0');
  }
  Prefix p{*addr, 0};
  if (len > p.max_len()) return std::nullopt;
  p.len = uint8_t(len);
  return p;
}

bool Prefix::contains(const IpAddr& a) const {
  if (a.af != addr.af) return false;
  unsigned full = len / 8, rest = len % 8;
  if (std::memcmp(a.b.data(), addr.b.data(), full) != 0) return false;
  if (rest == 0) return true;
  uint8_t mask = uint8_t(0xff << (8 - rest));
  return (a.b[full] & mask) == (addr.b[full] & mask);
}

IpAddr Prefix::network() const {
  IpAddr n = addr;
  for (unsigned i = 0; i < 16; ++i) {
    unsigned bit = i * 8;
    if (bit >= len) n.b[i] = 0;
    else if (bit + 8 > len) n.b[i] &= uint8_t(0xff << (8 - (len - bit)));
  }
  return n;
}

std::string Prefix::str() const { return addr.str() + "/" + std::to_string(len); }

uint16_t inet_checksum(std::span<const uint8_t> data) {
  uint64_t sum = 0;
  size_t i = 0;
  for (; i + 1 < data.size(); i += 2) sum += uint32_t(data[i]) << 8 | data[i + 1];
  if (i < data.size()) sum += uint32_t(data[i]) << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return be16(uint16_t(~sum));
}

}  // namespace hafw::net
