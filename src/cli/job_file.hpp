#pragma once
// esync run --config FILE: a job file (the LOGDIR/job.json every run writes, or one written by
// hand with any subset of its keys) turned back into esync run's flags, which the command line
// then overrides: one validation path for both.
#include <string>
#include <vector>

namespace esync::cli {

// The flags that give the job in `path`. ConfigError naming every key esync does not know, or a
// value of the wrong type; IoError for a file that cannot be read. Keys at their default, and
// those esync run settles itself from the others (the mode's optimiser, one shard for the
// asynchronous modes, the backend, ...), give no flag, so an override such as --mode or
// --workers settles them anew. `resume` is a record of what a run resumed, not a setting.
std::vector<std::string> job_file_flags(const std::string& path);

// argv split into --config's FILE (--config FILE or --config=FILE; empty without it) and the
// rest of the command line (argv[0] first).
struct CommandLine {
  std::string config;
  std::vector<std::string> rest;
};
CommandLine split_config(int argc, char** argv);

}  // namespace esync::cli
