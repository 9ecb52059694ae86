// A job on a host whose every core is busy with something else. Rank 0 evaluates snapshots on a
// thread at idle CPU priority (SCHED_IDLE), which such a host starves: the snapshots queue up.
// The job must still end, and end well: the workers leave the parameter-server shards when their
// training is over (not after rank 0's evaluations, which the shards would wait for until their
// silence timeout stops the job), and the queued evaluations run at normal priority once
// training is over. The whole job is pinned to one core that a busy loop also spins on, so the
// starvation is certain on any machine, however fast or loaded.
#include <sched.h>
#include <signal.h>

#include "fault_job.hpp"

using namespace esync::test;

namespace {

// The first core this process may run on.
int first_cpu() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return 0;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) return c;
  return 0;
}

bool pin(pid_t pid, int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return ::sched_setaffinity(pid, sizeof set, &set) == 0;
}

TEST(BusyHost, ParameterServerJobEndsWhileItsCoreSpinsForSomeoneElse) {
  const int cpu = first_cpu();
  cpu_set_t saved;
  ASSERT_EQ(::sched_getaffinity(0, sizeof saved, &saved), 0);
  const pid_t hog = ::fork();
  if (hog == 0) {
    pin(0, cpu);
    for (;;) asm volatile("" ::: "memory");  // spins; the compiler may not drop the loop
  }
  ASSERT_GT(hog, 0);
  ASSERT_TRUE(pin(0, cpu));  // the job's processes inherit the one core
  const auto dir = temp_dir("busy-host");
  // Snapshots every 0.1 s queue up behind the starved evaluator; the shard gives up on 20 s of
  // silence, which the old end of the job (rank 0 waiting for its evaluator first) always reached.
  const pid_t job = spawn(
      {ESYNC_BINARY,   "run",   "--log-dir",      dir.string(), "--timeout", "280", "--workers",  "2",
       "--mode",       "esync", "--servers",      "1",          "--model",   "mlp", "--epochs",   "1",
       "--threads",    "1",     "--k-base",       "2",          "--k-max",   "4",   "--local-lr", "0.05",
       "--eval-every", "0.1",   "--wait-timeout", "20"},
      dir.string() + ".out");
  ::sched_setaffinity(0, sizeof saved, &saved);
  const int code = wait_exit(job, 290);
  ::kill(hog, SIGKILL);
  ::waitpid(hog, nullptr, 0);
  ASSERT_EQ(code, 0) << slurp(dir.string() + ".out");
  const auto evals = events(dir / "worker-0.jsonl", "eval");
  ASSERT_GE(evals.size(), 2u) << "the initial and the final evaluation at least";
  // The final evaluation is of the trained model (an MLP reaches ~0.8 in one epoch; chance is 0.1).
  EXPECT_GT(evals.back().value("acc", 0.0), 0.6) << evals.back().dump();
  const auto end = events(dir / "worker-0.jsonl", "end");
  ASSERT_EQ(end.size(), 1u);
  EXPECT_EQ(end[0]["status"], "ok");
  EXPECT_EQ(events(dir / "server-0.jsonl", "end").size(), 1u) << slurp(dir.string() + ".out");
}

}  // namespace
