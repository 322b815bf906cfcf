// kcoro-bench: measures kcoro's pipeline stages. `kcoro-bench SUBCOMMAND [--json] [options]`.
#include <cstdio>
#include <cstring>
#include <string_view>

int kcoro_bench_decode(int argc, char** argv);
int kcoro_bench_queue(int argc, char** argv);
int kcoro_bench_client(int argc, char** argv);
int kcoro_bench_informer(int argc, char** argv);
int kcoro_bench_controller(int argc, char** argv);
int kcoro_bench_soak(int argc, char** argv);
int kcoro_bench_typed(int argc, char** argv);

namespace {

void usage() {
  std::puts(
      "usage: kcoro-bench SUBCOMMAND [options] [--json]\n"
      "  decode [--events N] [--objects K]  watch and list decoding on one core\n"
      "  queue                              work queue add/get/done cycles\n"
      "  client   [--kubeconfig PATH | --server URL] [--pods N] [--events M]\n"
      "                                     list and watch through kcoro::Client\n"
      "  informer [--kubeconfig PATH | --server URL] [--pods N] [--events M]\n"
      "           [--informers N] [--list-from-cache]\n"
      "                                     the whole informer pipeline on one thread, against\n"
      "                                     the same bytes read raw; then N informers on N "
      "threads\n"
      "  controller [--json]                event-to-reconcile latency through the whole pipeline\n"
      "  soak [--minutes N] [--json]        an informer and a controller under churn: RSS over "
      "time\n"
      "  typed [--pods N] [--rounds R]      Pod JSON <-> typed core::v1::Pod vs Boost.JSON's DOM");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    usage();
    return argc < 2 ? 2 : 0;
  }
  const std::string_view cmd = argv[1];
  if (cmd == "decode") return kcoro_bench_decode(argc - 1, argv + 1);
  if (cmd == "queue") return kcoro_bench_queue(argc - 1, argv + 1);
  if (cmd == "client") return kcoro_bench_client(argc - 1, argv + 1);
  if (cmd == "informer") return kcoro_bench_informer(argc - 1, argv + 1);
  if (cmd == "controller") return kcoro_bench_controller(argc - 1, argv + 1);
  if (cmd == "soak") return kcoro_bench_soak(argc - 1, argv + 1);
  if (cmd == "typed") return kcoro_bench_typed(argc - 1, argv + 1);
  std::fprintf(stderr, "kcoro-bench: unknown subcommand '%s'\n", argv[1]);
  usage();
  return 2;
}
