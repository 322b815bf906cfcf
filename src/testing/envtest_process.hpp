// Internal (EnvTest): one child process, its output appended to a log file.
//
// spawn() forks and execs with stdin on /dev/null, stdout and stderr on the log, the signal mask
// and the dispositions of the usual termination signals reset, and PR_SET_PDEATHSIG=SIGKILL: the
// kernel kills the child when the spawning thread (or the whole test process) dies. stop() sends
// SIGTERM, waits up to a bound, then SIGKILL, and always reaps the child: no zombie is left.
// Not thread-safe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace kcoro::testing {

class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  /// Starts argv[0] (a path) with argv. Throws EnvTestError when fork or the log file fails; an
  /// exec failure shows as an exit with status 127 and a line in the log.
  void spawn(std::string name, const std::vector<std::string>& argv,
             const std::filesystem::path& log);
  /// When the child has exited: how ("exit status 1", "killed by signal 9"), and it is reaped.
  std::optional<std::string> poll_exit();
  /// SIGTERM, then SIGKILL after `grace`; reaps. Returns how it ended ("exit status 0",
  /// "killed by signal 15", "killed by signal 9 after the grace"), "not running" when it was not.
  std::string stop(std::chrono::milliseconds grace);
  /// SIGKILL and reap at once.
  void kill();

  bool running() const noexcept { return pid_ > 0; }
  const std::string& name() const noexcept { return name_; }

 private:
  pid_t pid_ = -1;
  std::string name_;
};

}  // namespace kcoro::testing
