# The `aiops log ...` tools and the export file format (docs/export_format.md).
aiops_add_test(log_tools_test unit
  SOURCES eventlog/export_file_test.cc server/log_commands_test.cc eventlog/test_events.cc
  LIBS aiops::server aiops::eventlog aiops_test_support RocksDB::rocksdb
       nlohmann_json::nlohmann_json GTest::gtest_main
  TIMEOUT 60)
target_include_directories(log_tools_test PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/eventlog)
