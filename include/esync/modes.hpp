#pragma once
// The training modes, one row each. Every layer asks this table what a mode does (what a round
// exchanges, where K comes from, whether it needs the parameter server, its server rule, its
// optimiser defaults) instead of comparing mode names. Adding a mode is one row here (plus, when
// it brings a new server rule, one rule file in src/ps/rules/ and its row in the rule table).
#include <span>
#include <string>
#include <string_view>

namespace esync {

// What a worker hands to its group each synchronisation.
enum class Exchange {
  gradients,  // a gradient every step; the group (or the server) applies one update
  models,     // its change after K local steps; the group averages the changes (averaging.hpp)
};

// Where a model-exchanging mode's K (local steps a round) comes from.
enum class KSource {
  one,           // gradient modes: one step a round
  fixed,         // --k-fixed on every worker (local-SGD)
  state_server,  // the state server's plan, by --policy assign | deadline | poll (ESync)
};

// Variants of a mode's server rule, from the command line; a mode refuses those it has none of.
struct RuleFlags {
  bool delay_adaptive = false;  // asgd
  bool async_cached = false;    // asgd
  bool dc_adaptive = false;     // dcasgd
};

struct Mode {
  std::string_view name;
  std::string_view summary;  // one line for --help and the docs
  Exchange exchange;
  KSource k;
  // Pushes are applied one at a time, whenever they arrive: only a parameter server can do that
  // (so the job gets one shard when --servers is 0), rounds are not global, and a checkpoint holds
  // the shards' weights rather than one model every worker agrees on.
  bool asynchronous;
  // The server computes a delay compensation per push (its cost in the performance model).
  bool compensates_delay;
  // The server's update rule for these flags (src/ps/rules/); ConfigError for a flag the mode
  // does not have.
  std::string (*server_rule)(const RuleFlags&);
  // Server-side optimiser defaults. The asynchronous modes default to plain SGD: momentum on top
  // of stale gradients acts as extra, implicit momentum (ASGD ended at 0.76 with it where plain
  // SGD reached 0.83; Fashion-MNIST, 3 workers slowed 1,2,4, one epoch).
  std::string_view default_optimizer;
  double default_lr;

  bool syncs_gradients() const { return exchange == Exchange::gradients; }
  bool averages_models() const { return exchange == Exchange::models; }
  // Every worker holds the same model at a round boundary: each writes it into a job checkpoint,
  // and a worker joining the job continues the job's round numbers.
  bool synchronous() const { return !asynchronous; }
};

std::span<const Mode> modes();
// ConfigError naming the known modes for anything else.
const Mode& find_mode(std::string_view name);
// nullptr for an unknown name (a mode read from an old or foreign log).
const Mode* lookup_mode(std::string_view name);
// "ssgd | asgd | dcasgd | esync | local-sgd"
std::string mode_names(std::string_view separator = " | ");

}  // namespace esync
