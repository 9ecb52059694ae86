// The state server's Prometheus metrics (--metrics-port): what it knows of each worker (device,
// host, state, K planned) and what the workers' heartbeats report (round, samples, step time,
// throughput, staleness, bytes; the evaluator's test accuracy), in the text exposition format.
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "coordinator_impl.hpp"
#include "esync/clock.hpp"

namespace esync::coord {
namespace {

// "a\"b" as a label value: backslash, quote and newline escaped.
std::string label(const std::string& v) {
  std::string out;
  for (const char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

class Text {
 public:
  void family(const char* name, const char* type, const char* help) {
    out_ += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  void sample(const char* name, const std::string& labels, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.10g", v);
    out_ += std::string(name) + (labels.empty() ? "" : "{" + labels + "}") + " " + buf + "\n";
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace

void Coordinator::Impl::start_metrics() {
  if (cfg.metrics_port < 0) return;
  metrics = std::make_unique<MetricsHttp>(cfg.bind, cfg.metrics_port);
  metrics->set(metrics_text());
  std::fprintf(stderr, "coordinator: Prometheus metrics at http://%s:%d/metrics\n", cfg.bind.c_str(),
               metrics->port());
  if (!cfg.log_dir.empty()) std::ofstream(cfg.log_dir + "/metrics.port") << metrics->port() << "\n";
}

std::string Coordinator::Impl::metrics_text() const {
  Text t;
  const auto num = [](const json& status, const char* key) {
    const auto it = status.find(key);
    return it != status.end() && it->is_number() ? it->get<double>() : 0.0;
  };
  t.family("esync_job_info", "gauge", "The job's mode and K policy");
  t.sample("esync_job_info", "mode=\"" + label(cfg.job.mode) + "\",policy=\"" + label(cfg.job.policy) + "\"",
           1);
  int live = 0, lost = 0, done = 0;
  double round = 0, seen = 0, acc = -1;
  for (const auto& mem : members) {
    if (mem.identity.empty()) continue;
    (mem.done ? done : !mem.alive ? lost : live) += 1;
    round = std::max(round, num(mem.status, "round"));
    seen = std::max(seen, num(mem.status, "seen"));
    if (mem.status.contains("acc")) acc = num(mem.status, "acc");
  }
  t.family("esync_job_workers", "gauge", "Workers by state: live, lost, done");
  t.sample("esync_job_workers", "state=\"live\"", live);
  t.sample("esync_job_workers", "state=\"lost\"", lost);
  t.sample("esync_job_workers", "state=\"done\"", done);
  t.family("esync_job_round", "gauge", "The most advanced worker's last completed round");
  t.sample("esync_job_round", "", round);
  t.family("esync_job_samples_seen", "gauge", "Samples the whole job has trained on");
  t.sample("esync_job_samples_seen", "", seen);
  // How far the job is: the epochs' share (an epoch as rank 0 loaded it) or the time budget's,
  // counted from the first worker's report, whichever is further.
  const auto train = kv.find("data/train");
  const double per_epoch = train != kv.end() ? std::atof(train->second.c_str()) : 0;
  double progress = 0, eta = -1, rate = 0;
  for (const auto& mem : members)
    if (mem.alive && !mem.done) rate += num(mem.status, "samples_per_s");
  t.family("esync_job_epochs_target", "gauge", "Epochs the job trains for (0: a time budget alone)");
  t.sample("esync_job_epochs_target", "", cfg.job.epochs);
  if (per_epoch > 0) {
    t.family("esync_job_epochs", "gauge", "Epochs the job has trained");
    t.sample("esync_job_epochs", "", seen / per_epoch);
    if (cfg.job.epochs > 0) {
      progress = seen / (per_epoch * cfg.job.epochs);
      if (rate > 0) eta = std::max(0.0, per_epoch * cfg.job.epochs - seen) / rate;
    }
  }
  if (cfg.job.time_budget_s > 0 && first_report > 0) {
    const double spent = mono_s() - first_report;
    if (spent / cfg.job.time_budget_s > progress) {
      progress = spent / cfg.job.time_budget_s;
      eta = std::max(0.0, cfg.job.time_budget_s - spent);
    }
  }
  t.family("esync_job_progress_ratio", "gauge", "How far the job is, 0 to 1 (epochs or time budget)");
  t.sample("esync_job_progress_ratio", "", std::min(1.0, progress));
  if (eta >= 0) {
    t.family("esync_job_eta_seconds", "gauge",
             "Time left at the live workers' throughput (or of the time budget)");
    t.sample("esync_job_eta_seconds", "", eta);
  }
  if (acc >= 0) {
    t.family("esync_job_test_accuracy", "gauge", "The evaluator's last test accuracy");
    t.sample("esync_job_test_accuracy", "", acc);
  }
  // One family at a time, every worker in it (the exposition format wants families contiguous).
  const auto per_worker = [&](const char* name, const char* type, const char* help, auto value) {
    t.family(name, type, help);
    for (std::size_t r = 0; r < members.size(); ++r) {
      const auto& mem = members[r];
      if (mem.identity.empty()) continue;
      t.sample(name, "rank=\"" + std::to_string(r) + "\",device=\"" + label(mem.device) + "\"", value(mem));
    }
  };
  // A few states, not the round: a label that changes every round would make a series per round.
  const auto state = [](const Member& m) -> std::string {
    if (!m.alive) return "lost";
    if (m.done) return m.state == "ok" ? "done" : m.state;
    return m.state.rfind("round ", 0) == 0 ? "training" : m.state;
  };
  t.family("esync_worker_info", "gauge", "A worker's host and state (registered, training, lost, done, ...)");
  for (std::size_t r = 0; r < members.size(); ++r)
    if (const auto& mem = members[r]; !mem.identity.empty())
      t.sample("esync_worker_info",
               "rank=\"" + std::to_string(r) + "\",device=\"" + label(mem.device) + "\",host=\"" +
                   label(mem.host) + "\",state=\"" + label(state(mem)) + "\"",
               1);
  per_worker("esync_worker_up", "gauge", "1 while the worker is in the job",
             [](const Member& m) { return m.alive && !m.done ? 1.0 : 0.0; });
  per_worker("esync_worker_k", "gauge",
             "Local steps of the worker's last round (planned by the state server, or done)",
             [&](const Member& m) { return m.k > 0 ? double(m.k) : num(m.status, "k_done"); });
  per_worker(
      "esync_worker_step_seconds", "gauge", "Mean step time of the worker's last round",
      [&](const Member& m) { return m.status.contains("step_s") ? num(m.status, "step_s") : m.step_s; });
  per_worker("esync_worker_samples_per_second", "gauge", "The worker's throughput since its previous report",
             [&](const Member& m) { return num(m.status, "samples_per_s"); });
  per_worker("esync_worker_round", "gauge", "The worker's last completed round",
             [&](const Member& m) { return num(m.status, "round"); });
  per_worker("esync_worker_samples_total", "counter", "Samples the worker has trained on",
             [&](const Member& m) { return num(m.status, "samples"); });
  per_worker("esync_worker_staleness", "gauge",
             "Parameter server: versions applied since the worker's weights",
             [&](const Member& m) { return num(m.status, "staleness"); });
  per_worker("esync_worker_sent_bytes_total", "counter", "Bytes the worker sent in synchronisations",
             [&](const Member& m) { return num(m.status, "bytes_sent"); });
  per_worker("esync_worker_received_bytes_total", "counter", "Bytes the worker received in synchronisations",
             [&](const Member& m) { return num(m.status, "bytes_recv"); });
  t.family("esync_coordinator_messages_total", "counter", "Messages the state server handled");
  t.sample("esync_coordinator_messages_total", "", double(stats.messages));
  t.family("esync_coordinator_malformed_total", "counter", "Malformed messages dropped");
  t.sample("esync_coordinator_malformed_total", "", double(stats.malformed));
  t.family("esync_coordinator_rejected_total", "counter", "Messages refused (no token, unknown rank, ...)");
  t.sample("esync_coordinator_rejected_total", "", double(stats.rejected));
  return t.take();
}

}  // namespace esync::coord
