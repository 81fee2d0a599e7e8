// Quiescent-state-based reclamation behind one small interface.
//
// Workers never lock. When the control thread replaces something they read
// (a snapshot today, a state-table entry later) it retires the old object
// here instead of freeing it; reclaim() frees it once every worker has passed
// a quiescent state since the retire (a point between bursts where it holds
// no pointer into shared tables). Nothing ever blocks: the control thread
// calls reclaim() once per step.
//
// hafwd implements it with DPDK's rte_rcu_qsbr (dataplane/dpdk/dpdk.cc);
// Qsbr below is the same protocol in portable C++, used by the unit and
// ThreadSanitizer tests, the in-memory test network and the benchmarks.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>

namespace hafw::dp {

class Rcu {
 public:
  virtual ~Rcu() = default;
  // Free `p` with `free_fn(p)` once no reader can hold it any more.
  virtual void retire(void* p, void (*free_fn)(void*)) = 0;
  // Free what is safe to free now; never waits. Returns how many were freed.
  virtual size_t reclaim() = 0;
  // Retired and not yet freed.
  virtual size_t pending() const = 0;

  template <class T>
  void retire(const T* p) {
    if (p) retire(const_cast<T*>(p), [](void* q) { delete static_cast<T*>(q); });
  }
};

// Readers are numbered 0..readers-1; each calls quiescent(id) between bursts
// and offline(id)/online(id) around sleeps, so an idle worker never holds
// reclamation back. retire() and reclaim() belong to one writer thread.
class Qsbr final : public Rcu {
 public:
  explicit Qsbr(unsigned readers);
  ~Qsbr() override;  // frees everything still pending: readers must be gone

  void quiescent(unsigned id);
  void offline(unsigned id);
  void online(unsigned id);

  using Rcu::retire;
  void retire(void* p, void (*free_fn)(void*)) override;
  size_t reclaim() override;
  size_t pending() const override { return retired_.size(); }

 private:
  static constexpr uint64_t kOffline = ~uint64_t(0);
  // One cache line per reader: readers write only their own.
  struct alignas(64) Slot {
    std::atomic<uint64_t> seen{kOffline};
  };
  struct Retired {
    uint64_t token;
    void* p;
    void (*free_fn)(void*);
  };
  bool safe(uint64_t token) const;

  std::atomic<uint64_t> epoch_{1};
  unsigned readers_;
  std::unique_ptr<Slot[]> slots_;
  std::deque<Retired> retired_;  // tokens ascending
};

}  // namespace hafw::dp
