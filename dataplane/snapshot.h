// Publication of the workers' snapshots (dataplane/view.h): one atomic
// pointer each, replaced by the control thread and retired to an RCU domain.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "dataplane/rcu.h"
#include "dataplane/view.h"

namespace hafw::dp {

template <class T>
class Snapshot {
 public:
  Snapshot() = default;
  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;
  ~Snapshot() { delete p_.load(std::memory_order_relaxed); }

  // seq_cst rather than acquire: see the ordering note in dataplane/rcu.cc.
  // On x86 both are a plain load.
  const T* load() const { return p_.load(std::memory_order_seq_cst); }
  void publish(std::unique_ptr<const T> next, Rcu& rcu) {
    rcu.retire(p_.exchange(next.release(), std::memory_order_seq_cst));
  }

 private:
  std::atomic<const T*> p_{nullptr};
};

// Everything the workers read, published piecewise.
class Snapshots {
 public:
  explicit Snapshots(Rcu& rcu) : rcu_(rcu) {}

  void publish(std::unique_ptr<const Topology> t) { publish(topology_, std::move(t)); }
  void publish(std::unique_ptr<const VipSet> v) { publish(owned_, std::move(v)); }
  void publish(std::unique_ptr<const NeighborTable> n) { publish(neighbors_, std::move(n)); }
  void publish(std::unique_ptr<const Policy> p) { publish(policy_, std::move(p)); }

  // A worker's view for one pass; not ready() until all four are published.
  View load() const { return View{topology_.load(), owned_.load(), neighbors_.load(), policy_.load()}; }
  uint64_t publications() const { return publications_; }
  Rcu& rcu() { return rcu_; }

 private:
  template <class T>
  void publish(Snapshot<T>& s, std::unique_ptr<const T> next) {
    s.publish(std::move(next), rcu_);
    ++publications_;
  }

  Rcu& rcu_;
  Snapshot<Topology> topology_;
  Snapshot<VipSet> owned_;
  Snapshot<NeighborTable> neighbors_;
  Snapshot<Policy> policy_;
  uint64_t publications_ = 0;
};

}  // namespace hafw::dp
