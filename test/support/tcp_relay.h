// A TCP relay on loopback for tests: LISTEN_HOST:PORT forwards to a target (the real API
// server). Bytes pass through untouched, so TLS is between the client and the server. A test
// can make it silent (a server that accepts and never answers) or cut it (nothing listens and
// every open connection is closed: an unreachable server) and restore it on the same port.
#pragma once

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <absl/synchronization/mutex.h>

namespace aiops::testing {

class TcpRelay {
 public:
  TcpRelay(std::string target_host, int target_port);
  ~TcpRelay();
  TcpRelay(const TcpRelay&) = delete;
  TcpRelay& operator=(const TcpRelay&) = delete;

  // Listens on `listen_host`:`port` (0: any free port). False when it cannot.
  bool Start(const std::string& listen_host, int port = 0);
  int port() const { return port_; }
  // From now on nothing is forwarded either way, on open and new connections alike: a server
  // that accepts connections and never answers.
  void GoSilent() { silent_.store(true); }
  // Closes the listening socket and every open connection: connects are refused until
  // Restore(), which listens again on the same port. Both return once it is done.
  void Cut();
  void Restore();

 private:
  int ConnectTarget() const;
  int Listen();  // a listening socket on listen_host_:port_, or -1
  void AcceptLoop();
  void Pump(int a, int b);  // copies both ways until either side closes or the relay is cut

  const std::string target_host_;
  const int target_port_;
  std::string listen_host_;
  int port_ = 0;
  std::atomic<int> listen_fd_{-1};  // -1 while cut (owned by the accept thread then)
  std::atomic<bool> stop_{false};
  std::atomic<bool> silent_{false};
  std::atomic<bool> cut_{false};
  std::atomic<int> generation_{0};  // bumped by each Cut: pumps of older ones close
  std::thread accept_thread_;
  absl::Mutex pumps_mu_;
  std::vector<std::thread> pumps_ ABSL_GUARDED_BY(pumps_mu_);
};

}  // namespace aiops::testing
