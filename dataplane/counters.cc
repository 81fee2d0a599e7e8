#include "dataplane/counters.h"

namespace hafw::dp {

namespace {

template <class A>
void add_all(A& into, const A& from) {
  for (size_t i = 0; i < into.size(); ++i) into[i] += from[i];
}

template <class Out, class In>
void read_all(Out& out, const In& in) {
  for (size_t i = 0; i < out.size(); ++i) out[i] = in[i].load(std::memory_order_relaxed);
}

}  // namespace

Counters& Counters::operator+=(const Counters& o) {
  add_all(io, o.io);
  add_all(drops, o.drops);
  add_all(punts, o.punts);
  add_all(icmp, o.icmp);
  add_all(states, o.states);
  add_all(nat, o.nat);
  add_all(carp, o.carp);
  add_all(vmac_from_other, o.vmac_from_other);
  return *this;
}

Counters WorkerCounters::read() const {
  Counters c;
  read_all(c.io, io_);
  read_all(c.drops, drops_);
  read_all(c.punts, punts_);
  read_all(c.icmp, icmp_);
  read_all(c.states, states_);
  read_all(c.nat, nat_);
  read_all(c.carp, carp_);
  read_all(c.vmac_from_other, vmac_from_other_);
  return c;
}

}  // namespace hafw::dp
