#pragma once
// Internal to the summariser. summary_read.cpp reads one job directory's logs, tolerant of a
// process killed mid-line; summary_job.cpp derives the job-level parts (accuracy, servers,
// speed-up); summary.cpp the per-worker numbers and the document.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "esync/log_events.hpp"

namespace esync::summary_detail {

using nlohmann::json;

// An event of log_events.hpp as read from one line, with the line's unix time.
template <class E>
struct Line : E {
  std::optional<double> t;
};

template <class E>
Line<E> line_as(const json& j) {
  Line<E> l;
  read(j, static_cast<E&>(l));
  l.t = logev::time_of(j);
  return l;
}

struct LogFile {
  std::string name;                   // "worker-1.jsonl": what warnings name
  std::vector<json> events;           // the objects that parsed, in file order
  std::vector<std::string> warnings;  // each starts with name
  const json* first(const std::string& ev) const;
  const json* last(const std::string& ev) const;
  std::vector<const json*> all(const std::string& ev) const;
  // The same, read as E (the event named E::kName).
  template <class E>
  std::optional<Line<E>> first() const {
    const json* j = first(E::kName);
    return j ? std::optional(line_as<E>(*j)) : std::nullopt;
  }
  template <class E>
  std::optional<Line<E>> last() const {
    const json* j = last(E::kName);
    return j ? std::optional(line_as<E>(*j)) : std::nullopt;
  }
  template <class E>
  std::vector<Line<E>> all() const {
    std::vector<Line<E>> out;
    for (const json* j : all(E::kName)) out.push_back(line_as<E>(*j));
    return out;
  }
};

struct RunLogs {
  std::string dir, label;
  std::vector<std::pair<int, LogFile>> workers;  // sorted by rank
  std::vector<std::pair<int, LogFile>> servers;  // sorted by shard
  std::optional<LogFile> coordinator;
  std::optional<LogFile> launcher;  // esync run's own record (launcher-0.jsonl), if any
};

// IoError naming the file when it cannot be opened or read.
LogFile read_log(const std::string& path);
// IoError when dir is not a directory or has no worker-*.jsonl.
RunLogs read_run(const std::string& dir);

// Field access that never throws: a hand-edited or half-written log may hold anything.
double num(const json& e, const char* key, double fallback = 0.0);
std::optional<double> opt_num(const json& e, const char* key);
std::string str(const json& e, const char* key, const std::string& fallback = "");

// Counts (steps, samples, bytes, rounds) come back from the logs as doubles; written as
// integers when whole, so that readers see 539 rather than 539.0.
json whole(double v);
// Seconds and fractions of their sum (0 when the sum is 0).
// delay: the part of injected that is --delay; hidden: reduction time behind the steps (not in
// the total).
json time_split(double compute, double comm, double wait, double injected, double delay, double hidden);
double median(std::vector<double> v);
// The "accuracy" object of a run (curve, final, time_to_target); warns when there is none.
json accuracy(const RunLogs& run, const std::vector<double>& targets, const std::vector<double>& loss_targets,
              std::vector<std::string>& warnings);
// The "servers" list; t0 for the lost events' t_rel, which go to lost.
json servers(const RunLogs& run, double t0, json& lost, std::vector<std::string>& warnings);
// The "speedup" object of run against base (both runs of esync.summary/1 documents).
json speedup(const json& run, const json& base);

}  // namespace esync::summary_detail
