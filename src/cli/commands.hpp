#pragma once
// One entry point per subcommand: (argc, argv) with argv[0] the subcommand name.
namespace esync::cli {
int cmd_local(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_version(int argc, char** argv);
int cmd_coordinator(int argc, char** argv);
int cmd_keys(int argc, char** argv);
int cmd_worker(int argc, char** argv);
int cmd_run(int argc, char** argv);
int cmd_server(int argc, char** argv);
int cmd_summarize(int argc, char** argv);
int cmd_simulate(int argc, char** argv);
int cmd_export(int argc, char** argv);
int bench_kernels(int argc, char** argv);
int bench_step(int argc, char** argv);
int bench_allreduce(int argc, char** argv);
int bench_ps(int argc, char** argv);
int bench_coordinator(int argc, char** argv);
}  // namespace esync::cli
