// PacketIo over DPDK: EAL, ports, worker lcores and the rings between the
// workers and the control thread. The only place that includes DPDK headers.
#pragma once

#include <memory>
#include <string>

#include "control/config.h"
#include "dataplane/io.h"

namespace hafw::dp {

class DpdkIo : public PacketIo {
 public:
  // Starts the EAL with cfg.dataplane.eal and opens every interface's port.
  // On failure returns null and a message naming the config key at fault.
  static std::unique_ptr<DpdkIo> create(const config::Config& cfg, std::string& error);
  ~DpdkIo() override;

  // Launch the worker lcores (they read the view published before).
  void start_workers();
  // Stop and join the workers; pending control frames are sent first.
  void stop_workers();
};

}  // namespace hafw::dp
