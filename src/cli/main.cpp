// esync: one binary, one subcommand per process role or tool. Errors are caught here, once:
// one line on stderr, exit 2 for bad usage or input, 1 otherwise.
#include <malloc.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <string>

#include "cli/commands.hpp"
#include "esync/config.h"
#include "esync/error.hpp"

namespace {

void usage() {
  std::printf(
      "esync %s - a trainer for heterogeneous clusters\n\n"
      "usage: esync <command> [options]   (esync <command> --help for its options; esync --version)\n\n"
      "commands:\n"
      "  local      train on one device, no network\n"
      "  coordinator  the state server (registration, rendezvous, K per round)\n"
      "  server     a parameter-server shard\n"
      "  summarize  fold job logs into one summary JSON\n"
      "  simulate   predict throughput per mode at scale, calibrated from a summary\n"
      "  export     write a checkpoint's model for PyTorch (torch.load / torch.jit.load)\n"
      "  run        start coordinator, servers and workers on this host\n"
      "  worker     one device process of a distributed job\n"
      "  keys       print a new CURVE keypair as environment lines (launch/cluster.sh --curve)\n"
      "  bench      micro-benchmarks: kernels, step, allreduce, ps, coordinator\n"
      "  version    print version and build features\n",
      ESYNC_VERSION);
}

}  // namespace

int main(int argc, char** argv) {
  // Training allocates and frees the same activation-sized blocks every step. glibc's defaults
  // hand blocks over 128 KB back to the kernel (munmap, heap trim) and fault them in again on
  // the next step; page faults are slow on VMs (measured here: half the wall time of a
  // Fashion-MNIST epoch). Keep freed memory in the heap instead.
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  // Line-buffered even into a pipe, so `esync run` shows its children's lines as they happen.
  setvbuf(stdout, nullptr, _IOLBF, 0);
  const std::map<std::string, int (*)(int, char**)> commands = {
      {"local", esync::cli::cmd_local},
      {"bench", esync::cli::cmd_bench},
      {"version", esync::cli::cmd_version},
      {"coordinator", esync::cli::cmd_coordinator},
      {"keys", esync::cli::cmd_keys},
      {"worker", esync::cli::cmd_worker},
      {"run", esync::cli::cmd_run},
      {"server", esync::cli::cmd_server},
      {"summarize", esync::cli::cmd_summarize},
      {"simulate", esync::cli::cmd_simulate},
      {"export", esync::cli::cmd_export},
  };
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    usage();
    return argc < 2 ? 2 : 0;
  }
  // --version as every other tool has it, the same as `esync version`.
  const std::string cmd =
      !std::strcmp(argv[1], "--version") || !std::strcmp(argv[1], "-V") ? "version" : argv[1];
  const auto it = commands.find(cmd);
  if (it == commands.end()) {
    std::fprintf(stderr, "esync: unknown command '%s' (see esync --help)\n", cmd.c_str());
    return 2;
  }
  try {
    return it->second(argc - 1, argv + 1);
  } catch (const esync::Error& e) {
    return esync::report_error(cmd, e);
  } catch (const std::exception& e) {
    // LibTorch errors carry a multi-line backtrace: keep the first line.
    std::string what = e.what();
    what = what.substr(0, what.find('\n'));
    std::fprintf(stderr, "esync %s: error: %s\n", cmd.c_str(), what.c_str());
    return 1;
  }
}
