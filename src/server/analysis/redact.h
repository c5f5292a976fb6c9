// Redaction of secrets from text before it leaves the cluster (the Kubernetes context, the issue
// description and the failure context sent to an analyzer). Pure, deterministic, thread-safe.
//
// What is masked (docs/analysis.md has the table):
// - PEM private key blocks (the body between BEGIN/END ... PRIVATE KEY lines);
// - values of keys whose name contains password, passwd, passphrase, secret, token, apikey,
//   api_key, api-key, accesskey, access_key, privatekey, private_key, credential or
//   authorization, or that is exactly auth, pwd or pass (`password: x`, `DB_PASSWORD=x`, `"token":
//   "x"`, `--client-secret=x`), including YAML block scalars (`password: |` and the lines indented
//   under it);
// - bearer and basic credentials (`Authorization: Bearer x` -> `Authorization: Bearer
//   [REDACTED]`);
// - passwords in URLs (`scheme://user:pass@host`);
// - well-known key shapes anywhere: `sk-...` / `sk-ant-...` (OpenAI, Anthropic), `ghp_...` /
//   `github_pat_...` (GitHub), `glpat-...` (GitLab), `xox?-...` (Slack), `AKIA...` (AWS access
//   key ids), `AIza...` (Google API keys), JSON Web Tokens (`eyJ...`.`...`.`...`, e.g.
//   service-account tokens);
// - every value under `data:` / `stringData:` in a YAML Secret dump (a document whose kind is
//   Secret), and every string value of a `"data"` / `"stringData"` object in JSON text that
//   contains a Secret.
#pragma once

#include <string>
#include <string_view>

namespace aiops::analysis {

inline constexpr char kRedacted[] = "[REDACTED]";

// `text` with every secret listed above replaced by kRedacted. Text without secrets is returned
// unchanged; the result never contains more of a secret than the input did.
std::string Redact(std::string_view text);

}  // namespace aiops::analysis
