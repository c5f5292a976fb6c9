#include "test_servers.h"

#include <absl/time/clock.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/check.h"

namespace aiops::analysis::testing {
namespace {

std::string BioToString(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);  // NOLINT(google-runtime-int): OpenSSL's type
  return std::string(data, static_cast<size_t>(size));
}

}  // namespace

TestCertificate MakeSelfSignedCertificate() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  AIOPS_CHECK(key != nullptr);
  X509* cert = X509_new();
  AIOPS_CHECK(cert != nullptr);
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), int64_t{24} * 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  const std::pair<int, const char*> extensions[] = {
      {NID_basic_constraints, "critical,CA:TRUE"},
      {NID_key_usage, "critical,digitalSignature,keyCertSign"},
      {NID_ext_key_usage, "serverAuth,clientAuth"},
      {NID_subject_key_identifier, "hash"},
      {NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1"},
  };
  for (const auto& [nid, value] : extensions) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    AIOPS_CHECK(ext != nullptr);
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }
  AIOPS_CHECK(X509_sign(cert, key, EVP_sha256()) > 0);

  TestCertificate out;
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  out.cert_pem = BioToString(bio);
  BIO_free(bio);
  bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  out.key_pem = BioToString(bio);
  BIO_free(bio);
  X509_free(cert);
  EVP_PKEY_free(key);
  return out;
}

FakeHttpServer::FakeHttpServer(const TestCertificate* certificate) {
  std::string scheme = "http";
  if (certificate != nullptr) {
    BIO* cert_bio = BIO_new_mem_buf(certificate->cert_pem.data(),
                                    static_cast<int>(certificate->cert_pem.size()));
    BIO* key_bio =
        BIO_new_mem_buf(certificate->key_pem.data(), static_cast<int>(certificate->key_pem.size()));
    X509* cert = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
    EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
    AIOPS_CHECK(cert != nullptr && key != nullptr);
    server_ = std::make_unique<httplib::SSLServer>(cert, key);
    X509_free(cert);  // SSLServer keeps its own references
    EVP_PKEY_free(key);
    BIO_free(cert_bio);
    BIO_free(key_bio);
    scheme = "https";
  } else {
    server_ = std::make_unique<httplib::Server>();
  }
  server_->Post(".*", [this](const httplib::Request& req, httplib::Response& res) {
    Reply reply;
    {
      absl::MutexLock lock(&mu_);
      requests_.push_back({req.path, req.headers, req.body});
      if (replies_.empty()) {
        reply.status = 500;
        reply.body = R"({"error":{"type":"test","message":"no scripted reply"}})";
      } else {
        reply = std::move(replies_.front());
        replies_.pop_front();
      }
      if (reply.delay > absl::ZeroDuration()) {
        mu_.AwaitWithTimeout(absl::Condition(&closing_), reply.delay);
      }
    }
    res.status = reply.status;
    for (const auto& [key, value] : reply.headers) {
      res.set_header(key, value);
    }
    res.set_content(reply.body, "application/json");
  });
  const int port = server_->bind_to_any_port("127.0.0.1");
  AIOPS_CHECK(port > 0);
  base_url_ = fmt::format("{}://127.0.0.1:{}", scheme, port);
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // stop() is a no-op until the accept loop runs: wait for it, or a quick destructor hangs.
  while (!server_->is_running()) {
    absl::SleepFor(absl::Milliseconds(1));
  }
}

FakeHttpServer::~FakeHttpServer() {
  {
    absl::MutexLock lock(&mu_);
    closing_ = true;
  }
  server_->stop();
  thread_.join();
}

void FakeHttpServer::Enqueue(Reply reply) {
  absl::MutexLock lock(&mu_);
  replies_.push_back(std::move(reply));
}

std::vector<FakeHttpServer::Request> FakeHttpServer::Requests() const {
  absl::MutexLock lock(&mu_);
  return requests_;
}

absl::Time TickingClock::Now() const {
  absl::MutexLock lock(&mu_);
  now_ += step_;
  return now_;
}

absl::StatusOr<v1::AnalysisCompleted> ScriptedAnalyzer::Analyze(const AnalysisRequest&) {
  absl::MutexLock lock(&mu_);
  ++calls_;
  return answer_;
}

int ScriptedAnalyzer::Calls() const {
  absl::MutexLock lock(&mu_);
  return calls_;
}

std::string MakeContext(const ContextSpec& spec) {
  const std::string image = spec.new_revision ? "registry/api:v2" : "registry/api:v1";
  std::string out = "## Deployment Status\nName: production/api\n";
  out += fmt::format("Replicas: desired={} ready={} updated={} available={} unavailable={}\n",
                     spec.desired, spec.ready, spec.desired, spec.ready, spec.desired - spec.ready);
  out += "Generation: 5 (observed: 5)\n";
  out += fmt::format("Container: {} image={}", spec.container, image);
  if (!spec.memory_limit.empty()) {
    out +=
        fmt::format(" requests=[cpu=100m mem=128Mi] limits=[cpu=500m mem={}]", spec.memory_limit);
  }
  out += "\n";
  if (spec.ready < spec.desired) {
    out +=
        "Condition: Available=False reason=MinimumReplicasUnavailable message=\"Deployment "
        "does not have minimum availability.\"\n";
  } else {
    out += "Condition: Available=True reason=MinimumReplicasAvailable message=\"ok\"\n";
  }
  out += "\n## Pod Details (showing 1 pods)\nPod: api-7d9f8-abcde phase=Running\n";
  out += fmt::format("  Container: {} ready={} restarts=5\n", spec.container,
                     spec.ready < spec.desired ? "false" : "true");
  if (!spec.waiting_reason.empty()) {
    out += fmt::format("    State: Waiting reason={} message=\"back-off restarting\"\n",
                       spec.waiting_reason);
  }
  if (!spec.last_termination.empty()) {
    out += fmt::format("    LastTermination: reason={} exitCode=137\n", spec.last_termination);
  }
  out +=
      "\n## Recent Events (last 1)\nWarning BackOff: Back-off restarting failed container "
      "(count=12 object=api-7d9f8-abcde)\n";
  if (spec.new_revision) {
    out += "\n## Revision History (last 2 revisions)\n";
    out += fmt::format("Revision 5: replicas={}/{} [{}=registry/api:v2]\n",
                       spec.newest_unready ? 0 : spec.desired, spec.desired, spec.container);
    out += fmt::format("  Changed: {} image: registry/api:v1 → registry/api:v2\n", spec.container);
    out += fmt::format("Revision 4: replicas=0/0 [{}=registry/api:v1]\n", spec.container);
  } else {
    out += "\n## Revision History (last 1 revisions)\n";
    out += fmt::format("Revision 4: replicas={}/{} [{}=registry/api:v1]\n", spec.ready,
                       spec.desired, spec.container);
  }
  return out;
}

std::string ValidAnswerJson() {
  return R"({"analysis": "The pods hold a stale connection pool.", "confidence": 0.8,
"recommendations": ["Add a readiness check on the database connection."],
"actions": [{"name": "Restart", "action": "RestartDeployment",
"description": "Recreate the connection pool", "params": {}}]})";
}

}  // namespace aiops::analysis::testing
