// kcoro-fake-apiserver: kcoro's in-process fake Kubernetes API server as a program, for scripts
// (curl, kubectl) and for other processes' tests.
//
//   kcoro-fake-apiserver [--port N] [--tls] [--token T] [--pods N] [--namespaces M] [--churn R]
//                        [--throughput-events M] [--threads N] [--kubeconfig-out PATH]
//                        [--ca-out PATH]
//
// Once listening it writes the kubeconfig (and the CA) if asked, then prints one line,
// "kcoro-fake-apiserver listening on URL", and flushes stdout. SIGINT or SIGTERM stops it; the
// exit status is then 0.
#include "kcoro/testing/fake_apiserver.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <string>
#include <string_view>

#include <pthread.h>

namespace {

constexpr const char* kUsage =
    "usage: kcoro-fake-apiserver [options]\n"
    "  --port N               port on 127.0.0.1 (default 0: an ephemeral port)\n"
    "  --tls                  serve HTTPS with a throwaway CA (see --ca-out, --kubeconfig-out)\n"
    "  --token T              accept only this bearer token (user kcoro-admin)\n"
    "  --pods N               seed N pods (PodGenerator)\n"
    "  --namespaces M         spread the seeded pods over M namespaces ns-0.. (default 1)\n"
    "  --churn R              R pod creates/updates/deletes per second, keeping N pods (+-1)\n"
    "  --throughput-events M  pods watches stream M pre-rendered MODIFIED events, then end\n"
    "  --threads N            serve on N threads (default 1)\n"
    "  --kubeconfig-out PATH  write a kubeconfig for this server once listening\n"
    "  --ca-out PATH          write the CA certificate (PEM) once listening (with --tls)\n";

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "kcoro-fake-apiserver: %s\n%s", message.c_str(), kUsage);
  std::exit(2);
}

unsigned long long number(std::string_view flag, const char* value) {
  char* end = nullptr;
  const unsigned long long v = std::strtoull(value, &end, 10);
  if (!*value || *end) usage_error(std::string(flag) + ": not a number: " + value);
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  kcoro::testing::FakeApiServerOptions opts;
  std::string kubeconfig_out, ca_out;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage_error(std::string(arg) + " needs a value");
      return argv[++i];
    };
    if (arg == "--port") {
      const auto port = number(arg, value());
      if (port > 65535) usage_error("--port: out of range");
      opts.port = static_cast<uint16_t>(port);
    } else if (arg == "--tls") {
      opts.tls = true;
    } else if (arg == "--token") {
      opts.tokens[value()] = "kcoro-admin";
    } else if (arg == "--pods") {
      opts.seed_pods = number(arg, value());
    } else if (arg == "--namespaces") {
      opts.seed_namespaces = number(arg, value());
      if (opts.seed_namespaces == 0) usage_error("--namespaces: must be at least 1");
    } else if (arg == "--churn") {
      opts.churn_per_second = std::strtod(value(), nullptr);
    } else if (arg == "--throughput-events") {
      opts.throughput.events = number(arg, value());
    } else if (arg == "--threads") {
      const auto n = number(arg, value());
      if (n == 0 || n > 256) usage_error("--threads: must be between 1 and 256");
      opts.threads = static_cast<unsigned>(n);
    } else if (arg == "--kubeconfig-out") {
      kubeconfig_out = value();
    } else if (arg == "--ca-out") {
      ca_out = value();
    } else if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      usage_error("unknown option " + std::string(arg));
    }
  }

  // The server's threads inherit this mask; the main thread takes the signals with sigwait.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  try {
    kcoro::testing::FakeApiServer server(opts);
    if (!kubeconfig_out.empty()) server.write_kubeconfig(kubeconfig_out);
    if (!ca_out.empty()) {
      std::ofstream(ca_out, std::ios::binary | std::ios::trunc) << server.ca_pem();
    }
    std::printf("kcoro-fake-apiserver listening on %s\n", server.url().c_str());
    std::fflush(stdout);

    int sig = 0;
    sigwait(&signals, &sig);
    server.stop();
    const auto s = server.stats();
    std::fprintf(stderr,
                 "kcoro-fake-apiserver: stopped (%s): %llu requests, %llu bytes sent, "
                 "%llu watches\n",
                 sig == SIGINT ? "SIGINT" : "SIGTERM", static_cast<unsigned long long>(s.requests),
                 static_cast<unsigned long long>(s.bytes_sent),
                 static_cast<unsigned long long>(s.watches));
    if (opts.throughput.events) {
      const auto t = server.throughput();
      std::fprintf(stderr, "kcoro-fake-apiserver: throughput: %llu streams, %.1f MB/s\n",
                   static_cast<unsigned long long>(t.streams), t.bytes_per_second() / 1e6);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kcoro-fake-apiserver: %s\n", e.what());
    return 1;
  }
  return 0;
}
