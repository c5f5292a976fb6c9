// The chatcli.v1 wire contract, read from the generated descriptors: package, service, the
// GetAlerts, AnalyzeIssue and Health methods, and every field (number, name, type, label) of
// their messages exactly as upstream defines them (shared/reference/chatcli-upstream.md §1).
// Renumbering, renaming or retyping a field breaks compatibility with upstream servers and
// clients silently on the wire; this test makes it loud.
#include <string>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <gtest/gtest.h>

#include "chatcli/v1/chatcli.grpc.pb.h"
#include "chatcli/v1/chatcli.pb.h"

namespace aiops::analysis {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::DescriptorPool;
using google::protobuf::FieldDescriptor;
using google::protobuf::FileDescriptor;
using google::protobuf::MethodDescriptor;
using google::protobuf::ServiceDescriptor;

struct Field {
  int number;
  std::string name;
  FieldDescriptor::Type type;
  bool repeated;
  std::string message_type = "";  // full name, for TYPE_MESSAGE and TYPE_ENUM
};

constexpr auto kString = FieldDescriptor::TYPE_STRING;
constexpr auto kInt32 = FieldDescriptor::TYPE_INT32;
constexpr auto kInt64 = FieldDescriptor::TYPE_INT64;
constexpr auto kFloat = FieldDescriptor::TYPE_FLOAT;
constexpr auto kMessage = FieldDescriptor::TYPE_MESSAGE;
constexpr auto kEnum = FieldDescriptor::TYPE_ENUM;

const Descriptor* Message(const std::string& name) {
  return DescriptorPool::generated_pool()->FindMessageTypeByName("chatcli.v1." + name);
}

// `message` has exactly `fields` (no more, no fewer), each with its number, name, type and label.
void ExpectFields(const std::string& message, const std::vector<Field>& fields) {
  SCOPED_TRACE(message);
  const Descriptor* d = Message(message);
  ASSERT_NE(d, nullptr) << "chatcli.v1." << message << " is missing";
  EXPECT_EQ(d->field_count(), static_cast<int>(fields.size()));
  for (const Field& want : fields) {
    SCOPED_TRACE(want.name);
    const FieldDescriptor* f = d->FindFieldByNumber(want.number);
    ASSERT_NE(f, nullptr) << "no field number " << want.number;
    EXPECT_EQ(f->name(), want.name);
    EXPECT_EQ(f->type(), want.type) << f->type_name();
    EXPECT_EQ(f->is_repeated(), want.repeated);
    if (want.type == kMessage) {
      ASSERT_NE(f->message_type(), nullptr);
      EXPECT_EQ(f->message_type()->full_name(), want.message_type);
    } else if (want.type == kEnum) {
      ASSERT_NE(f->enum_type(), nullptr);
      EXPECT_EQ(f->enum_type()->full_name(), want.message_type);
    }
  }
}

TEST(ChatCliProtoContractTest, FileAndPackageMatchUpstream) {
  const FileDescriptor* file = chatcli::v1::AnalyzeIssueRequest::descriptor()->file();
  EXPECT_EQ(file->package(), "chatcli.v1");
  EXPECT_EQ(file->syntax(), FileDescriptor::SYNTAX_PROTO3);
  EXPECT_EQ(file->options().go_package(), "github.com/diillson/chatcli/proto/chatcli/v1;chatcliv1");
}

TEST(ChatCliProtoContractTest, ServiceAndMethodsMatchUpstream) {
  const ServiceDescriptor* service =
      DescriptorPool::generated_pool()->FindServiceByName("chatcli.v1.ChatCLIService");
  ASSERT_NE(service, nullptr);
  EXPECT_EQ(std::string(chatcli::v1::ChatCLIService::service_full_name()),
            "chatcli.v1.ChatCLIService");
  struct Method {
    std::string name;
    std::string input;
    std::string output;
  };
  const std::vector<Method> methods = {
      {"GetAlerts", "chatcli.v1.GetAlertsRequest", "chatcli.v1.GetAlertsResponse"},
      {"AnalyzeIssue", "chatcli.v1.AnalyzeIssueRequest", "chatcli.v1.AnalyzeIssueResponse"},
      {"Health", "chatcli.v1.HealthRequest", "chatcli.v1.HealthResponse"},
  };
  // Only these three: the other upstream RPCs are deliberately absent (UNIMPLEMENTED).
  EXPECT_EQ(service->method_count(), static_cast<int>(methods.size()));
  for (const Method& want : methods) {
    SCOPED_TRACE(want.name);
    const MethodDescriptor* m = service->FindMethodByName(want.name);
    ASSERT_NE(m, nullptr);
    // The path gRPC puts on the wire: /chatcli.v1.ChatCLIService/<Rpc>.
    EXPECT_EQ("/" + service->full_name() + "/" + m->name(),
              "/chatcli.v1.ChatCLIService/" + want.name);
    EXPECT_EQ(m->input_type()->full_name(), want.input);
    EXPECT_EQ(m->output_type()->full_name(), want.output);
    EXPECT_FALSE(m->client_streaming());
    EXPECT_FALSE(m->server_streaming());
  }
}

TEST(ChatCliProtoContractTest, GetAlertsMessagesMatchUpstream) {
  ExpectFields("GetAlertsRequest", {{1, "namespace", kString, false},  //
                                    {2, "deployment", kString, false}});
  ExpectFields("GetAlertsResponse", {{1, "alerts", kMessage, true, "chatcli.v1.WatcherAlert"}});
  ExpectFields("WatcherAlert", {{1, "type", kString, false},
                                {2, "severity", kString, false},
                                {3, "message", kString, false},
                                {4, "object", kString, false},
                                {5, "namespace", kString, false},
                                {6, "deployment", kString, false},
                                {7, "timestamp_unix", kInt64, false}});
}

TEST(ChatCliProtoContractTest, AnalyzeIssueMessagesMatchUpstream) {
  ExpectFields("AnalyzeIssueRequest", {{1, "issue_name", kString, false},
                                       {2, "namespace", kString, false},
                                       {3, "resource_kind", kString, false},
                                       {4, "resource_name", kString, false},
                                       {5, "signal_type", kString, false},
                                       {6, "severity", kString, false},
                                       {7, "description", kString, false},
                                       {8, "risk_score", kInt32, false},
                                       {9, "provider", kString, false},
                                       {10, "model", kString, false},
                                       {11, "kubernetes_context", kString, false},
                                       {12, "previous_failure_context", kString, false}});
  ExpectFields("AnalyzeIssueResponse",
               {{1, "analysis", kString, false},
                {2, "confidence", kFloat, false},  // 32-bit on the wire
                {3, "recommendations", kString, true},
                {4, "model", kString, false},
                {5, "provider", kString, false},
                {6, "suggested_actions", kMessage, true, "chatcli.v1.SuggestedAction"}});
  ExpectFields("SuggestedAction",
               {{1, "name", kString, false},
                {2, "action", kString, false},
                {3, "description", kString, false},
                {4, "params", kMessage, true, "chatcli.v1.SuggestedAction.ParamsEntry"}});
  // params is map<string, string>: a map entry with a string key (1) and a string value (2).
  const FieldDescriptor* params = Message("SuggestedAction")->FindFieldByName("params");
  ASSERT_NE(params, nullptr);
  ASSERT_TRUE(params->is_map());
  const Descriptor* entry = params->message_type();
  ASSERT_EQ(entry->field_count(), 2);
  EXPECT_EQ(entry->map_key()->number(), 1);
  EXPECT_EQ(entry->map_key()->type(), kString);
  EXPECT_EQ(entry->map_value()->number(), 2);
  EXPECT_EQ(entry->map_value()->type(), kString);
}

TEST(ChatCliProtoContractTest, HealthMessagesMatchUpstream) {
  ExpectFields("HealthRequest", {});
  ExpectFields("HealthResponse", {{1, "status", kEnum, false, "chatcli.v1.HealthResponse.Status"},
                                  {2, "version", kString, false}});
  const google::protobuf::EnumDescriptor* status =
      DescriptorPool::generated_pool()->FindEnumTypeByName("chatcli.v1.HealthResponse.Status");
  ASSERT_NE(status, nullptr);
  ASSERT_EQ(status->value_count(), 2);
  ASSERT_NE(status->FindValueByName("SERVING"), nullptr);
  EXPECT_EQ(status->FindValueByName("SERVING")->number(), 0);
  ASSERT_NE(status->FindValueByName("NOT_SERVING"), nullptr);
  EXPECT_EQ(status->FindValueByName("NOT_SERVING")->number(), 1);
}

}  // namespace
}  // namespace aiops::analysis
