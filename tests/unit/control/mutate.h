// Byte-level mutations for the seeded fuzz tests of text readers (config,
// keepalived): deterministic for a given generator state.
#pragma once

#include <random>
#include <string>

namespace hafw::test {

// One of: flip a few bits, truncate, delete a span, insert random bytes
// (NUL, CR and invalid UTF-8 included), duplicate a span.
inline std::string mutate_bytes(std::string s, std::mt19937& rng) {
  auto pick = [&](size_t n) { return n == 0 ? size_t(0) : size_t(rng() % n); };
  switch (rng() % 5) {
    case 0:
      for (int k = 0, n = 1 + int(rng() % 4); k < n && !s.empty(); ++k) s[pick(s.size())] ^= char(1 << (rng() % 8));
      break;
    case 1:
      s.resize(pick(s.size() + 1));
      break;
    case 2: {
      size_t a = pick(s.size()), n = pick(64);
      s.erase(a, n);
      break;
    }
    case 3:
      for (int k = 0, n = 1 + int(rng() % 8); k < n; ++k) s.insert(pick(s.size() + 1), 1, char(rng() % 256));
      break;
    default: {
      size_t a = pick(s.size()), n = pick(128);
      s.insert(pick(s.size() + 1), s.substr(a, n));
      break;
    }
  }
  return s;
}

}  // namespace hafw::test
