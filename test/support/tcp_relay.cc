#include "support/tcp_relay.h"

#include <utility>

#include <absl/time/clock.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace aiops::testing {

TcpRelay::TcpRelay(std::string target_host, int target_port)
    : target_host_(std::move(target_host)), target_port_(target_port) {}

TcpRelay::~TcpRelay() {
  stop_.store(true);
  if (accept_thread_.joinable()) {
    accept_thread_.join();
  }
  absl::MutexLock lock(&pumps_mu_);
  for (std::thread& t : pumps_) {
    t.join();
  }
  if (listen_fd_.load() >= 0) {
    close(listen_fd_.load());
  }
}

int TcpRelay::Listen() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port_));
  if (fd < 0 || inet_pton(AF_INET, listen_host_.c_str(), &addr.sin_addr) != 1 ||
      bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 16) != 0) {
    if (fd >= 0) {
      close(fd);
    }
    return -1;
  }
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  return fd;
}

bool TcpRelay::Start(const std::string& listen_host, int port) {
  listen_host_ = listen_host;
  port_ = port;
  const int fd = Listen();
  if (fd < 0) {
    return false;
  }
  listen_fd_.store(fd);
  accept_thread_ = std::thread([this] { AcceptLoop(); });
  return true;
}

void TcpRelay::Cut() {
  cut_.store(true);
  generation_.fetch_add(1);
  // The accept thread closes the listener; wait until it has.
  while (listen_fd_.load() >= 0) {
    absl::SleepFor(absl::Milliseconds(10));
  }
}

void TcpRelay::Restore() {
  cut_.store(false);
  while (listen_fd_.load() < 0) {
    absl::SleepFor(absl::Milliseconds(10));
  }
}

int TcpRelay::ConnectTarget() const {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(target_port_));
  inet_pton(AF_INET, target_host_.c_str(), &addr.sin_addr);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (fd >= 0) {
      close(fd);
    }
    return -1;
  }
  return fd;
}

void TcpRelay::AcceptLoop() {
  while (!stop_.load()) {
    int fd = listen_fd_.load();
    if (cut_.load()) {
      if (fd >= 0) {
        close(fd);
        listen_fd_.store(-1);
      }
      absl::SleepFor(absl::Milliseconds(20));
      continue;
    }
    if (fd < 0) {
      fd = Listen();  // restored: the same port again (SO_REUSEADDR)
      listen_fd_.store(fd);
      if (fd < 0) {
        absl::SleepFor(absl::Milliseconds(50));
      }
      continue;
    }
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) {
      continue;
    }
    const int client = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) {
      continue;
    }
    const int upstream = ConnectTarget();
    if (upstream < 0) {
      close(client);
      continue;
    }
    absl::MutexLock lock(&pumps_mu_);
    pumps_.emplace_back([this, client, upstream] { Pump(client, upstream); });
  }
}

void TcpRelay::Pump(int a, int b) {
  const int generation = generation_.load();
  char buffer[16384];
  pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
  bool open = true;
  while (open && !stop_.load() && generation_.load() == generation) {
    if (silent_.load()) {
      absl::SleepFor(absl::Milliseconds(50));  // bytes stay unread in the socket buffers
      continue;
    }
    if (poll(fds, 2, 50) <= 0) {
      continue;
    }
    for (int i = 0; i < 2 && open; ++i) {
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) {
        continue;
      }
      const ssize_t n = read(fds[i].fd, buffer, sizeof(buffer));
      open = n > 0;
      for (ssize_t sent = 0; open && sent < n;) {
        const ssize_t w =
            send(fds[1 - i].fd, buffer + sent, static_cast<size_t>(n - sent), MSG_NOSIGNAL);
        open = w > 0;
        sent += open ? w : 0;
      }
    }
  }
  close(a);
  close(b);
}

}  // namespace aiops::testing
