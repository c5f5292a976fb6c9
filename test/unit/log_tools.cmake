# The `aiops log ...` tools and the export file format (docs/export_format.md).
aiops_add_test(log_tools_test unit
  SOURCES eventlog/export_file_test.cc server/log_commands_test.cc
  LIBS aiops::server aiops::eventlog RocksDB::rocksdb nlohmann_json::nlohmann_json
       GTest::gtest_main
  TIMEOUT 60)
