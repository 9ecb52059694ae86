#pragma once
// The job's flags in groups, shared by the subcommands that take them: each group adds its
// flags with JobConfig's defaults (job_config.hpp, the one place of a default) and reads them
// back into a JobConfig, checking what can be checked within the group. Cross-group rules
// (a flag valid only in some modes, with the parameter server, ...) stay with the command.
//
//   group        flags                                                         used by
//   data         dataset data-dir ls-matrix model batch seed                   run, local
//   optimizer    optimizer lr momentum nesterov weight-decay lr-schedule
//                lr-gamma warmup-epochs                                        run, local
//   k            policy k-base k-max                                           run, coordinator
//   averaging    local-lr global-lr weighting drift-correction overlap k-fixed run
//   ps           servers max-workers delay-adaptive async-cached dc-lambda
//                dc-adaptive on-failure                                        run
//   emulation    slowdown slowdown-basis delay slow-worker                     run
//   liveness     heartbeat-timeout heartbeat-interval                          run, coordinator
#include <cxxopts.hpp>
#include <set>
#include <string>

#include "esync/job_config.hpp"

namespace esync::cli {

void add_data_flags(cxxopts::Options& o);
void read_data_flags(const cxxopts::ParseResult& r, JobConfig& c);
// schedule: the default --lr-schedule (esync local: cosine; a job: none, as its end may be a time budget).
void add_optimizer_flags(cxxopts::Options& o, const std::string& schedule = "none");
void read_optimizer_flags(const cxxopts::ParseResult& r, JobConfig& c);
void add_k_flags(cxxopts::Options& o);
// only_given: keep what `c` holds (a job file's settings) where a flag was not given.
void read_k_flags(const cxxopts::ParseResult& r, JobConfig& c, bool only_given = false);
void add_averaging_flags(cxxopts::Options& o);
void read_averaging_flags(const cxxopts::ParseResult& r, JobConfig& c);
void add_ps_flags(cxxopts::Options& o);
void read_ps_flags(const cxxopts::ParseResult& r, JobConfig& c);
void add_emulation_flags(cxxopts::Options& o);
void read_emulation_flags(const cxxopts::ParseResult& r, JobConfig& c);
// interval: the worker-side heartbeat interval too (run); the coordinator takes the timeout only.
void add_liveness_flags(cxxopts::Options& o, bool interval);
void read_liveness_flags(const cxxopts::ParseResult& r, JobConfig& c, bool interval, bool only_given = false);

// A flag given on the command line that the settings in `c` do not use is refused, in one line
// that says what uses it, instead of being ignored. job: c is a distributed job (its mode's
// flags are checked too); otherwise esync local (optimiser and data flags only).
void refuse_unused_flags(const cxxopts::ParseResult& r, const JobConfig& c, bool job);

// ConfigError "FLAG 'v': expected a | b | c" unless v is one of `allowed`.
void check_one_of(const std::string& v, const std::set<std::string>& allowed, const char* flag);
// A default as a flag's text: 0.02, not 0.020000.
std::string text(double v);

}  // namespace esync::cli
