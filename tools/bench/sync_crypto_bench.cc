// hafw-bench-sync-crypto: MB/s of sealing and opening sync frames.
//
// Two SyncCrypto objects with swapped addresses, as on the two nodes: one
// seals frames of --size bytes (1400: a full frame of five 264-byte state
// records plus headers), the other opens them. Output cycles through 1024
// buffers (1.4 MB, about what a burst of the sync link keeps in cache).
// Opening is timed in batches of 1024 frames sealed untimed just before, so
// every frame is fresh to the replay window. MB are 10^6 bytes of pfsync
// frame (plaintext). Prints one JSON object and a one-line summary with the
// time a bulk update of 1M states (264 MB of records) spends in both.
//
//   hafw-bench-sync-crypto [--frames N] [--size BYTES]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "pfsync/crypto.h"

using namespace hafw;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  long frames = 200'000;  // 280 MB of 1400-byte frames: about one bulk update of 1M states
  size_t size = 1400;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--frames") frames = std::stol(argv[i + 1]);
    else if (a == "--size") size = std::stoul(argv[i + 1]);
  }
  if (frames <= 0 || size > pfsync::kMaxSyncPayload - pfsync::SyncCrypto::kOverhead) {
    std::fprintf(stderr, "hafw-bench-sync-crypto: --frames must be positive and --size at most %zu\n",
                 pfsync::kMaxSyncPayload - pfsync::SyncCrypto::kOverhead);
    return 2;
  }
  const uint8_t a_addr[4] = {10, 0, 9, 1}, b_addr[4] = {10, 0, 9, 2};
  pfsync::SyncCrypto a("bench key", a_addr, b_addr, 1);
  pfsync::SyncCrypto b("bench key", b_addr, a_addr, 1);
  if (!a.ready() || !b.ready()) {
    std::fprintf(stderr, "hafw-bench-sync-crypto: OpenSSL has no AES-256-GCM or HKDF\n");
    return 1;
  }
  constexpr size_t kRing = 1024;
  std::vector<uint8_t> plain(size);
  for (size_t i = 0; i < size; ++i) plain[i] = uint8_t(i * 7);
  std::vector<std::vector<uint8_t>> sealed(kRing, std::vector<uint8_t>(size + a.overhead()));
  std::vector<uint8_t> opened(size + a.overhead());

  // Warm-up: the key schedule, the branch predictors, the buffers.
  for (size_t i = 0; i < kRing; ++i) a.seal(plain, sealed[i]);

  bool ok = true;
  const auto s0 = Clock::now();
  for (long i = 0; i < frames; ++i) ok &= a.seal(plain, sealed[size_t(i) % kRing]) == size + a.overhead();
  const double seal_s = std::chrono::duration<double>(Clock::now() - s0).count();

  Clock::duration open_t{};
  uint64_t accepted = 0;
  for (long done = 0; done < frames;) {
    const size_t n = size_t(std::min<long>(long(kRing), frames - done));
    for (size_t i = 0; i < n; ++i) ok &= a.seal(plain, sealed[i]) == size + a.overhead();
    const auto t0 = Clock::now();
    for (size_t i = 0; i < n; ++i) {
      const auto r = b.open(sealed[i], opened);
      accepted += !r.error && r.len == size;
    }
    open_t += Clock::now() - t0;
    done += long(n);
  }
  const double open_s = std::chrono::duration<double>(open_t).count();
  ok &= accepted == uint64_t(frames);

  const double mb = double(frames) * double(size) / 1e6;
  const double seal_mbs = mb / seal_s, open_mbs = mb / open_s;
  const double bulk_mb = 264;  // 1M full state records of 264 bytes
  const double bulk_s = bulk_mb / seal_mbs + bulk_mb / open_mbs;
  std::printf(
      "{\"bench\": \"sync_crypto\", \"cipher\": \"aes-256-gcm\", \"frame_bytes\": %zu, \"frames\": %ld, "
      "\"seal_mb_s\": %.0f, \"open_mb_s\": %.0f, \"seal_ns_per_frame\": %.0f, \"open_ns_per_frame\": %.0f, "
      "\"bulk_1m_states_s\": %.3f, \"all_opened\": %s}\n",
      size, frames, seal_mbs, open_mbs, seal_s * 1e9 / double(frames), open_s * 1e9 / double(frames), bulk_s,
      ok ? "true" : "false");
  std::printf("sync crypto, %zu-byte frames on one core: seal %.0f MB/s, open %.0f MB/s; 1M states (264 MB) %.2f s "
              "for both (%s)\n",
              size, seal_mbs, open_mbs, bulk_s, ok ? "every frame opened" : "NOT every frame opened");
  return ok ? 0 : 1;
}
