// Redaction of secrets before text leaves the cluster (docs/analysis.md, "Redaction").
#include "server/analysis/redact.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test_servers.h"

namespace aiops::analysis {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Found by the fuzzer: a "-----BEGIN " inside a bearer token, whose dashes close on a later
// line, hid the real private key block after it on the first pass (its body was sent as is).
// Redact(text), checked to be a fixed point: a second call changes nothing.
std::string RedactedStable(const std::string& text) {
  const std::string once = Redact(text);
  EXPECT_EQ(once, Redact(once)) << once;
  return once;
}

TEST(RedactTest, AFalseBeginDoesNotHideTheNextPrivateKeyBlock) {
  const std::string text =
      "Authorization: Bearer xyzD-----BEGIN PRIVassword: x\n"
      "-----BEGIN PRIVATE KEY-----\nMIIEsecret\n-----END PRIVATE KEY-----\n";
  const std::string once = Redact(text);
  EXPECT_EQ(std::string::npos, once.find("MIIEsecret")) << once;
  EXPECT_EQ(once, Redact(once));
  // The same with a one-line false BEGIN whose closing dashes open the real block.
  const std::string glued =
      "Bearer x-----BEGIN Pfoo-----BEGIN PRIVATE KEY-----\nMIIEsecret\n-----END PRIVATE KEY-----\n";
  EXPECT_EQ(std::string::npos, Redact(glued).find("MIIEsecret")) << Redact(glued);
}

// Found by the fuzzer: the first pass masks a bearer token whose dashes ended a false PEM label;
// without them the label reaches a real "PRIVATE KEY" line, which a second pass then masked.
// Redact repeats its pass until nothing changes, so one call masks it and a second changes nothing.
TEST(RedactTest, WhatOnePassUncoversIsMaskedByTheSameCall) {
  const std::string text =
      "Authorization: Bearer xyzD-----BEGIN PRfidenc-----BEGIN PRIVzation: Bearer "
      "xyzD-----BEFIN PRfi-dnce----BEGIN PRIVATE KEY-----\nMIIEsecret\n-----END PRIVATE "
      "KEY-----\nkind: Secret\n";
  const std::string once = RedactedStable(text);
  EXPECT_EQ(std::string::npos, once.find("MIIEsecret")) << once;
}

TEST(RedactTest, MasksKeyValueSecrets) {
  EXPECT_EQ(Redact("password: hunter2"), "password: [REDACTED]");
  EXPECT_EQ(Redact("  DB_PASSWORD=hunter2 other=1"), "  DB_PASSWORD=[REDACTED] other=1");
  EXPECT_EQ(Redact(R"({"api_key": "abc123", "user": "bob"})"),
            R"({"api_key": "[REDACTED]", "user": "bob"})");
  EXPECT_EQ(Redact("--client-secret=s3cr3t --verbose"), "--client-secret=[REDACTED] --verbose");
  EXPECT_EQ(Redact("GITHUB_TOKEN: 'ghx'"), "GITHUB_TOKEN: '[REDACTED]'");
  EXPECT_EQ(Redact("auth: dXNlcjpwYXNz"), "auth: [REDACTED]");
  EXPECT_EQ(Redact("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI"), "AWS_SECRET_ACCESS_KEY=[REDACTED]");
}

TEST(RedactTest, MasksBearerAndAuthorizationCredentials) {
  EXPECT_EQ(Redact("Authorization: Bearer xyz"), "Authorization: Bearer [REDACTED]");
  EXPECT_EQ(Redact("authorization: Basic dXNlcjpwYXNz"), "authorization: Basic [REDACTED]");
  EXPECT_EQ(Redact("curl -H 'Authorization: bearer eyJhbGciOi.x.y' http://svc"),
            "curl -H 'Authorization: bearer [REDACTED]' http://svc");
}

TEST(RedactTest, MasksPemPrivateKeysButKeepsCertificates) {
  const std::string key =
      "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAsecretkeymaterial\n"
      "-----END RSA PRIVATE KEY-----\n";
  const std::string cert =
      "-----BEGIN CERTIFICATE-----\nMIIBpublicstuff\n-----END CERTIFICATE-----\n";
  const std::string out = Redact("tls.key:\n" + key + cert);
  EXPECT_THAT(out, Not(HasSubstr("secretkeymaterial")));
  EXPECT_THAT(out, HasSubstr("-----BEGIN RSA PRIVATE KEY-----[REDACTED]-----END RSA PRIVATE KEY"));
  EXPECT_THAT(out, HasSubstr("MIIBpublicstuff"));
  // A key cut off by truncation is masked to the end.
  EXPECT_EQ(Redact("x -----BEGIN PRIVATE KEY-----\nMIIEvQIBADAN"),
            "x -----BEGIN PRIVATE KEY-----[REDACTED]");
}

TEST(RedactTest, MasksWellKnownKeyShapes) {
  for (const std::string& secret :
       {std::string("sk-ant-api03-AbCdEfGhIjKlMnOp_qrs-TUV"),
        std::string("sk-proj-abcdefghijklmnopqrstuvwxyz012345"),
        std::string("sk-abcdefghijklmnopqrstuvwx"),
        std::string("ghp_ABCDEFGHIJKLMNOPQRSTUVWXyz012345"),
        std::string("github_pat_11ABCDEFG0123456789_abcdefghijklmnop"),
        std::string("glpat-abcdefghijklmnopqrst"), std::string("xoxb-1234567890-abcdefghij"),
        std::string("AKIAIOSFODNN7EXAMPLE"),
        std::string(
            "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2lnbmF0dXJl")}) {
    SCOPED_TRACE(secret);
    const std::string out = Redact("the value " + secret + " appeared in a log line");
    EXPECT_EQ(out, "the value [REDACTED] appeared in a log line");
  }
  // Look-alikes stay.
  EXPECT_EQ(Redact("task-runner sk-short desk-lamp"), "task-runner sk-short desk-lamp");
}

TEST(RedactTest, MasksUrlPasswords) {
  EXPECT_EQ(Redact("DATABASE_URL is postgres://app:hunter2@db:5432/app"),
            "DATABASE_URL is postgres://app:[REDACTED]@db:5432/app");
  EXPECT_EQ(Redact("see https://example.com/a:b@c"), "see https://example.com/a:b@c");
}

TEST(RedactTest, MasksDataOfYamlSecretDumps) {
  const std::string dump =
      "apiVersion: v1\n"
      "data:\n"
      "  password: aHVudGVyMg==\n"
      "  username: YWRtaW4=\n"
      "kind: Secret\n"
      "metadata:\n"
      "  name: db-credentials\n"
      "type: Opaque\n"
      "---\n"
      "apiVersion: v1\n"
      "data:\n"
      "  LOG_LEVEL: debug\n"
      "kind: ConfigMap\n";
  const std::string out = Redact(dump);
  EXPECT_THAT(out, Not(HasSubstr("aHVudGVyMg==")));
  EXPECT_THAT(out, Not(HasSubstr("YWRtaW4=")));
  EXPECT_THAT(out, HasSubstr("  username: [REDACTED]\n"));
  EXPECT_THAT(out, HasSubstr("name: db-credentials"));
  EXPECT_THAT(out, HasSubstr("LOG_LEVEL: debug"));  // a ConfigMap's data stays
}

TEST(RedactTest, MasksDataOfSecretsInAKubectlList) {
  const std::string dump =
      "items:\n"
      "- apiVersion: v1\n"
      "  data:\n"
      "    tls.crt: LS0tLS1CRUdJTi\n"
      "    tls.key: LS0tLS1CRUdJTiBQUklW\n"
      "  kind: Secret\n"
      "  type: kubernetes.io/tls\n";
  const std::string out = Redact(dump);
  EXPECT_THAT(out, Not(HasSubstr("LS0tLS1CRUdJTiBQUklW")));
  EXPECT_THAT(out, HasSubstr("    tls.crt: [REDACTED]\n"));
}

TEST(RedactTest, MasksDataOfJsonSecretDumps) {
  const std::string dump = R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},)"
                           R"("data":{"token":"c2VjcmV0","ca.crt":"Y2VydA=="},"type":"Opaque"})";
  const std::string out = Redact(dump);
  EXPECT_THAT(out, Not(HasSubstr("c2VjcmV0")));
  EXPECT_THAT(out, Not(HasSubstr("Y2VydA==")));
  EXPECT_THAT(out, HasSubstr(R"("name":"s")"));
}

TEST(RedactTest, MasksYamlBlockScalarsUnderSensitiveKeys) {
  const std::string out = Redact(
      "stringData:\n  private_key: |\n    line-one-secret\n    line-two-secret\n  user: bob\n");
  EXPECT_THAT(out, Not(HasSubstr("line-one-secret")));
  EXPECT_THAT(out, Not(HasSubstr("line-two-secret")));
  EXPECT_THAT(out, HasSubstr("user: bob"));
}

TEST(RedactTest, LeavesAnOrdinaryContextUnchanged) {
  testing::ContextSpec spec;
  spec.waiting_reason = "CrashLoopBackOff";
  spec.last_termination = "OOMKilled";
  spec.new_revision = true;
  const std::string context = testing::MakeContext(spec);
  EXPECT_EQ(Redact(context), context);
}

// Text that already holds masks (a context redacted once, or one that quotes "[REDACTED]"):
// no rule may cut into a mask or mask an empty span, which is what makes the repeated pass end
// (see Redact). Each of these changed on every pass, or unmasked a mask's tail, before.
TEST(RedactTest, LeavesExistingMasksWholeAndSettles) {
  // An unquoted value stops before an existing mask instead of cutting it ("[REDACTED]]").
  EXPECT_EQ(RedactedStable("password: x[REDACTED]"), "password: [REDACTED][REDACTED]");
  // What is glued after a mask is masked too: it may be the rest of the secret.
  EXPECT_EQ(RedactedStable("token: [REDACTED]tail"), "token: [REDACTED][REDACTED]");
  EXPECT_EQ(RedactedStable("token: [REDACTED]tail other=1"), "token: [REDACTED][REDACTED] other=1");
  EXPECT_EQ(RedactedStable("password=[REDACTED]a[REDACTED]b"),
            "password=[REDACTED][REDACTED][REDACTED][REDACTED]");
  EXPECT_EQ(RedactedStable("token: '[REDACTED]tail'"), "token: '[REDACTED]'");
  EXPECT_EQ(RedactedStable("Authorization: Bearer [REDACTED]tail"),
            "Authorization: Bearer [REDACTED]");
  EXPECT_EQ(RedactedStable("token: [REDACTED]"), "token: [REDACTED]");
  EXPECT_EQ(RedactedStable("token: '[REDACTED]'"), "token: '[REDACTED]'");
  // A Secret's inline data map keeps its spacing: "data:[REDACTED]" is already masked.
  EXPECT_EQ(RedactedStable("kind: Secret\ndata:[REDACTED]\n"), "kind: Secret\ndata:[REDACTED]\n");
  // An empty PEM body and an empty JSON data string hide nothing and stay empty.
  EXPECT_EQ(RedactedStable("-----BEGIN PRIVATE KEY----------END PRIVATE KEY-----"),
            "-----BEGIN PRIVATE KEY----------END PRIVATE KEY-----");
  EXPECT_EQ(RedactedStable(R"({"kind": "Secret", "data": {"a": "", "b": "c2VjcmV0"}})"),
            R"({"kind": "Secret", "data": {"a": "", "b": "[REDACTED]"}})");
  // An unterminated data string (a cut context) is masked to the end, its mask kept whole.
  EXPECT_EQ(RedactedStable(R"({"kind": "Secret", "data": {"a": "x[REDACTED])"),
            R"({"kind": "Secret", "data": {"a": "[REDACTED])");
}

TEST(RedactTest, IsIdempotent) {
  const std::string text =
      "password: hunter2\nAuthorization: Bearer xyz\nkey sk-ant-api03-abcdefghijkl\n"
      "-----BEGIN EC PRIVATE KEY-----\nabc\n-----END EC PRIVATE KEY-----\n"
      "url: https://u:p@h/x\n"
      "token: [REDACTED]tail\n"
      "Bearer [REDACTED][REDACTED]\n";
  const std::string once = RedactedStable(text);
  for (const char* secret : {"hunter2", "xyz", "abcdefghijkl", "\nabc\n", ":p@", "tail"}) {
    EXPECT_THAT(once, Not(HasSubstr(secret)));
  }
}

}  // namespace
}  // namespace aiops::analysis
