#include "support/kube_test_client.h"

#include <memory>

#include <absl/strings/str_cat.h>
#include <httplib.h>

namespace aiops::testing {
namespace {

HttpResponse ToResponse(const httplib::Response& r) {
  HttpResponse out;
  out.status = r.status;
  out.body = r.body;
  out.json = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  return out;
}

}  // namespace

KubeTestClient::KubeTestClient(const ControlPlaneInfo& info, Auth auth) : info_(info), auth_(auth) {
  if (auth == Auth::kToken) {
    token_ = info.token;
  } else if (auth == Auth::kViewerToken) {
    token_ = info.viewer_token;
  }
}

KubeTestClient::KubeTestClient(const ControlPlaneInfo& info, std::string token)
    : info_(info), auth_(Auth::kToken), token_(std::move(token)) {}

namespace {

std::unique_ptr<httplib::SSLClient> MakeClient(const ControlPlaneInfo& info,
                                               KubeTestClient::Auth auth, const std::string& token,
                                               absl::Duration read_timeout) {
  std::unique_ptr<httplib::SSLClient> client;
  if (auth == KubeTestClient::Auth::kClientCert) {
    client = std::make_unique<httplib::SSLClient>(info.host, info.port, info.client_cert_file,
                                                  info.client_key_file);
  } else {
    client = std::make_unique<httplib::SSLClient>(info.host, info.port);
  }
  client->set_ca_cert_path(info.ca_file.c_str());
  client->enable_server_certificate_verification(true);
  client->set_connection_timeout(5, 0);
  client->set_read_timeout(static_cast<time_t>(absl::ToInt64Seconds(read_timeout)), 0);
  if (!token.empty()) {
    client->set_bearer_token_auth(token.c_str());
  }
  return client;
}

absl::StatusOr<HttpResponse> Check(const httplib::Result& result, const std::string& what) {
  if (!result) {
    return absl::UnavailableError(absl::StrCat(what, ": ", httplib::to_string(result.error())));
  }
  return ToResponse(*result);
}

}  // namespace

absl::StatusOr<HttpResponse> KubeTestClient::Get(const std::string& path) const {
  auto client = MakeClient(info_, auth_, token_, absl::Seconds(30));
  return Check(client->Get(path.c_str()), absl::StrCat("GET ", path));
}

absl::StatusOr<HttpResponse> KubeTestClient::Post(const std::string& path,
                                                  const nlohmann::json& body) const {
  auto client = MakeClient(info_, auth_, token_, absl::Seconds(30));
  return Check(client->Post(path.c_str(), body.dump(), "application/json"),
               absl::StrCat("POST ", path));
}

absl::StatusOr<HttpResponse> KubeTestClient::Delete(const std::string& path) const {
  auto client = MakeClient(info_, auth_, token_, absl::Seconds(30));
  return Check(client->Delete(path.c_str()), absl::StrCat("DELETE ", path));
}

absl::StatusOr<int> KubeTestClient::Watch(
    const std::string& path, const std::function<bool(const nlohmann::json&)>& on_event,
    absl::Duration timeout) const {
  auto client = MakeClient(info_, auth_, token_, timeout);
  std::string pending;
  int delivered = 0;
  bool stopped_by_caller = false;
  const absl::Time deadline = absl::Now() + timeout;
  int status = 0;
  auto result = client->Get(
      path.c_str(), httplib::Headers{},
      [&](const httplib::Response& response) {
        status = response.status;
        return true;
      },
      [&](const char* data, size_t size) {
        pending.append(data, size);
        size_t nl;
        while ((nl = pending.find('\n')) != std::string::npos) {
          const std::string line = pending.substr(0, nl);
          pending.erase(0, nl + 1);
          auto event = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
          if (event.is_discarded()) {
            continue;
          }
          ++delivered;
          if (!on_event(event)) {
            stopped_by_caller = true;
            return false;
          }
        }
        return absl::Now() < deadline;
      });
  if (stopped_by_caller) {
    return delivered;
  }
  if (status != 0 && status != 200) {
    return absl::FailedPreconditionError(absl::StrCat("watch ", path, ": HTTP ", status));
  }
  if (!result && result.error() != httplib::Error::Canceled &&
      result.error() != httplib::Error::Read) {
    return absl::UnavailableError(
        absl::StrCat("watch ", path, ": ", httplib::to_string(result.error())));
  }
  return delivered;
}

}  // namespace aiops::testing
