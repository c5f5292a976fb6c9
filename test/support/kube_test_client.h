// A deliberately small HTTPS client for integration tests of the control plane itself
// (cpp-httplib + nlohmann/json). The product's Kubernetes client lives in src/k8s_sync.
#pragma once

#include <functional>
#include <string>

#include <absl/status/statusor.h>
#include <absl/time/time.h>
#include <nlohmann/json.hpp>

#include "support/control_plane.h"

namespace aiops::testing {

struct HttpResponse {
  int status = 0;
  std::string body;
  nlohmann::json json;  // discarded when the body is not JSON
};

class KubeTestClient {
 public:
  enum class Auth { kToken, kViewerToken, kClientCert, kNone };

  KubeTestClient(const ControlPlaneInfo& info, Auth auth);
  // A client presenting an arbitrary bearer token (for authentication failure tests).
  KubeTestClient(const ControlPlaneInfo& info, std::string token);

  absl::StatusOr<HttpResponse> Get(const std::string& path) const;
  absl::StatusOr<HttpResponse> Post(const std::string& path, const nlohmann::json& body) const;
  absl::StatusOr<HttpResponse> Delete(const std::string& path) const;

  // Streams a watch (`path` must carry watch=1) and calls `on_event` for each event object until
  // it returns false or `timeout` passes. Returns the number of events delivered.
  absl::StatusOr<int> Watch(const std::string& path,
                            const std::function<bool(const nlohmann::json&)>& on_event,
                            absl::Duration timeout) const;

 private:
  ControlPlaneInfo info_;
  Auth auth_;
  std::string token_;
};

}  // namespace aiops::testing
