// kcoro-bench: runs kcoro-fake-apiserver as a child process (its memory and CPU stay out of the
// measured process) and reads the URL it prints once listening.
#pragma once

#include "bench.hpp"

#include "kcoro/kubeconfig.hpp"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

namespace kcoro::bench {

/// The fake server binary: $KCORO_FAKE_APISERVER, the build tree's, or beside kcoro-bench.
inline std::string fake_apiserver_path(const char* argv0) {
  if (const char* env = std::getenv("KCORO_FAKE_APISERVER")) return env;
#ifdef KCORO_FAKE_APISERVER_BIN
  if (std::filesystem::exists(KCORO_FAKE_APISERVER_BIN)) return KCORO_FAKE_APISERVER_BIN;
#endif
  auto beside = std::filesystem::path(argv0).parent_path() / "kcoro-fake-apiserver";
  if (std::filesystem::exists(beside)) return beside.string();
  return "kcoro-fake-apiserver";
}

class FakeProcess {
 public:
  FakeProcess(const std::string& binary, const std::vector<std::string>& args) {
    int out[2];
    if (::pipe(out) != 0) throw std::runtime_error("pipe failed");
    std::vector<std::string> all{binary};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    const int rc = ::posix_spawnp(&pid_, binary.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(out[1]);
    if (rc != 0) {
      ::close(out[0]);
      throw std::runtime_error("cannot start " + binary);
    }
    FILE* f = ::fdopen(out[0], "r");
    char line[512];
    while (std::fgets(line, sizeof line, f)) {
      std::string s(line);
      const auto at = s.find("listening on ");
      if (at != std::string::npos) {
        url_ = s.substr(at + 13);
        while (!url_.empty() && (url_.back() == '\n' || url_.back() == '\r'))
          url_.pop_back();
        break;
      }
    }
    std::fclose(f);
    if (url_.empty()) throw std::runtime_error(binary + " did not report its URL");
  }
  ~FakeProcess() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    // A server saturated by churn may not get to its signal handler: give it 5 s, then kill.
    for (int i = 0; i < 500; ++i) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) return;
      ::usleep(10000);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
  }
  const std::string& url() const { return url_; }

 private:
  pid_t pid_ = 0;
  std::string url_;
};

/// The cluster a benchmark reads: --kubeconfig PATH, --server URL, or else a
/// kcoro-fake-apiserver child started with `fake_args` (kept in `fake`).
ClusterConfig bench_config(Args& args, std::optional<FakeProcess>& fake,
                           const std::vector<std::string>& fake_args, const char* argv0);

/// bench_config for the list-and-watch benchmarks: without a server, a fake seeded with `pods`
/// pods over 10 namespaces and `events` pre-rendered watch events (throughput mode). False, after
/// saying why on stderr, when the server cannot be had or a flag is not understood. The fake
/// serves on `server_threads` threads.
bool throughput_config(Args& args, std::optional<FakeProcess>& fake, std::size_t pods,
                       std::size_t events, const char* argv0, const char* bench, ClusterConfig& cfg,
                       unsigned server_threads = 1);

/// Reads the whole response to GET `target` with a plain socket and returns MB/s: the ceiling
/// for the same bytes. `bytes` receives how many were read.
double raw_read_mb_per_s(const ClusterConfig& cfg, const std::string& target, uint64_t& bytes);

/// Peak resident set size of this process, in bytes.
long peak_rss_bytes();
/// Current resident set size, in bytes.
long current_rss_bytes();
/// Bytes the allocator has handed out and not had back (glibc's mallinfo2, every arena), or -1
/// where that is not known. Beside the RSS it tells live data from memory the allocator keeps.
long heap_in_use_bytes();

}  // namespace kcoro::bench
