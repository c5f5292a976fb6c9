// Entry point of the `aiops` binary; everything else lives in the aiops::server library.
#include <iostream>
#include <string_view>
#include <vector>

#include "server/cli.h"

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  return aiops::server::RunCli(args, std::cout, std::cerr);
}
