// aiops-workload: the test workload image of the real test node (tools/node.sh). One static
// binary with modes that play the failures the operator must see, driven by its arguments:
//
//   aiops-workload [sleep]                 run until SIGTERM (exits 0 at once on SIGTERM/SIGINT)
//   aiops-workload exit CODE [DELAY_S]     exit with CODE, after DELAY_S seconds (default 0)
//   aiops-workload oom [STEP_MIB] [INTERVAL_MS]
//                                          allocate and touch STEP_MIB (default 16) every
//                                          INTERVAL_MS (default 100) until the OOM killer ends it
//   aiops-workload alloc MIB               allocate and touch MIB MiB at start, then run forever:
//                                          OOM-killed under a lower memory limit, healthy once
//                                          the limit is raised above it (what a fix changes)
//   aiops-workload ready-file [PATH]       run forever; a readiness probe `cat PATH` (default
//                                          /tmp/ready) passes only while the file exists:
//                                          `kubectl exec POD -- touch /tmp/ready` / `rm /tmp/ready`
//   aiops-workload slow-start SECONDS [PORT]
//                                          sleep SECONDS, then create /tmp/ready and serve HTTP
//   aiops-workload serve [PORT]            serve HTTP on PORT (default 8080): GET /ready answers
//                                          200 while /tmp/ready exists, else 503; GET /healthz
//                                          answers 500 while /tmp/unhealthy exists, else 200;
//                                          anything else 200
//   aiops-workload config [PATH]           read a setting from $AIOPS_WORKLOAD_SETTING, else from
//                                          the first line of PATH (default
//                                          /etc/aiops-workload/setting); crash (exit 3, message on
//                                          stderr) unless it is an integer in 1..10000, else run
//                                          forever (a bad ConfigMap -> crash loop)
//   aiops-workload probe-file PATH         exit 0 if PATH exists, else 1 (an exec probe)
//
// Multi-call: invoked as cat, touch, rm, sleep, true or false (symlinks in the image), it acts as
// a tiny version of that tool, so exec probes such as `cat /tmp/ready` work in an image without
// a shell. Built static by tools/build_images.sh.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define READY_FILE "/tmp/ready"
#define UNHEALTHY_FILE "/tmp/unhealthy"

static void on_term(int sig) {
  (void)sig;
  static const char msg[] = "aiops-workload: terminated\n";
  ssize_t n = write(STDOUT_FILENO, msg, sizeof msg - 1);
  (void)n;
  _exit(0);
}

static void say(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("aiops-workload: ");
  vprintf(fmt, ap);
  printf("\n");
  fflush(stdout);
  va_end(ap);
}

static long arg_long(int argc, char** argv, int i, long fallback) {
  if (i >= argc) return fallback;
  char* end = NULL;
  long v = strtol(argv[i], &end, 10);
  if (end == argv[i] || *end != '\0') {
    fprintf(stderr, "aiops-workload: bad number '%s'\n", argv[i]);
    exit(2);
  }
  return v;
}

static void sleep_ms(long ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static int exists(const char* path) {
  struct stat st;
  return stat(path, &st) == 0;
}

static int run_forever(void) {
  for (;;) pause();
  return 0;  // unreachable
}

static int mode_oom(long step_mib, long interval_ms) {
  if (step_mib <= 0) step_mib = 16;
  long total = 0;
  for (;;) {
    size_t bytes = (size_t)step_mib << 20;
    char* p = malloc(bytes);
    if (p == NULL) {
      say("malloc failed at %ld MiB; retrying", total);
    } else {
      memset(p, 0x5a, bytes);  // touch every page: the memory is charged to the cgroup
      total += step_mib;
      say("allocated %ld MiB", total);
    }
    sleep_ms(interval_ms);
  }
  return 0;  // unreachable
}

// Where mode_alloc keeps its block: a store through a volatile pointer makes the block escape,
// so the compiler cannot drop the malloc and memset of memory that is never read again (at -O2
// gcc did: the container then used 0.3 MiB and was never OOM-killed).
static char* volatile alloc_keep;

static int mode_alloc(long mib) {
  size_t bytes = (size_t)(mib > 0 ? mib : 96) << 20;
  char* p = malloc(bytes);
  if (p == NULL) {
    say("malloc of %ld MiB failed", mib);
    return 1;
  }
  memset(p, 0x5a, bytes);  // touch every page: the memory is charged to the cgroup
  alloc_keep = p;
  say("allocated %ld MiB; running", mib);
  return run_forever();
}

static int serve(long port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    perror("aiops-workload: socket");
    return 1;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  if (bind(fd, (struct sockaddr*)&addr, sizeof addr) != 0 || listen(fd, 16) != 0) {
    perror("aiops-workload: bind/listen");
    return 1;
  }
  say("serving HTTP on port %ld", port);
  for (;;) {
    int c = accept(fd, NULL, NULL);
    if (c < 0) continue;
    char req[1024];
    ssize_t n = read(c, req, sizeof req - 1);
    req[n > 0 ? n : 0] = '\0';
    int code = 200;
    if (strncmp(req, "GET /ready", 10) == 0) {
      code = exists(READY_FILE) ? 200 : 503;
    } else if (strncmp(req, "GET /healthz", 12) == 0) {
      code = exists(UNHEALTHY_FILE) ? 500 : 200;
    }
    char resp[160];
    int len = snprintf(resp, sizeof resp,
                       "HTTP/1.0 %d %s\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\n%s",
                       code, code == 200 ? "OK" : "Unavailable", code == 200 ? "ok\n" : "no\n");
    ssize_t w = write(c, resp, (size_t)len);
    (void)w;
    close(c);
  }
  return 0;  // unreachable
}

static int mode_config(const char* path) {
  char buf[256] = {0};
  const char* value = getenv("AIOPS_WORKLOAD_SETTING");
  const char* from = "$AIOPS_WORKLOAD_SETTING";
  if (value == NULL) {
    from = path;
    FILE* f = fopen(path, "r");
    if (f == NULL) {
      fprintf(stderr, "aiops-workload: config error: cannot read %s: %s\n", path, strerror(errno));
      return 3;
    }
    if (fgets(buf, sizeof buf, f) == NULL) buf[0] = '\0';
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    value = buf;
  }
  char* end = NULL;
  long v = strtol(value, &end, 10);
  if (end == value || *end != '\0' || v < 1 || v > 10000) {
    fprintf(stderr, "aiops-workload: config error: setting '%s' from %s is not an integer in 1..10000\n",
            value, from);
    return 3;
  }
  say("config ok: setting %ld (from %s)", v, from);
  return run_forever();
}

// Multi-call tools, for exec probes and `kubectl exec` in an image without a shell.
static int tool(const char* name, int argc, char** argv) {
  int rc = 0;
  if (strcmp(name, "true") == 0) return 0;
  if (strcmp(name, "false") == 0) return 1;
  if (strcmp(name, "sleep") == 0) {
    sleep_ms(arg_long(argc, argv, 1, 0) * 1000);
    return 0;
  }
  for (int i = 1; i < argc; ++i) {
    if (strcmp(name, "cat") == 0) {
      int fd = open(argv[i], O_RDONLY);
      if (fd < 0) {
        fprintf(stderr, "cat: %s: %s\n", argv[i], strerror(errno));
        rc = 1;
        continue;
      }
      char b[4096];
      ssize_t n;
      while ((n = read(fd, b, sizeof b)) > 0) {
        if (write(STDOUT_FILENO, b, (size_t)n) != n) break;
      }
      close(fd);
    } else if (strcmp(name, "touch") == 0) {
      int fd = open(argv[i], O_WRONLY | O_CREAT, 0644);
      if (fd < 0) {
        fprintf(stderr, "touch: %s: %s\n", argv[i], strerror(errno));
        rc = 1;
      } else {
        close(fd);
      }
    } else if (strcmp(name, "rm") == 0) {
      if (strcmp(argv[i], "-f") == 0) continue;
      if (unlink(argv[i]) != 0 && errno != ENOENT) {
        fprintf(stderr, "rm: %s: %s\n", argv[i], strerror(errno));
        rc = 1;
      }
    }
  }
  return rc;
}

int main(int argc, char** argv) {
  const char* base = strrchr(argv[0], '/');
  base = base ? base + 1 : argv[0];
  static const char* const kTools[] = {"cat", "touch", "rm", "sleep", "true", "false"};
  for (size_t i = 0; i < sizeof kTools / sizeof kTools[0]; ++i) {
    if (strcmp(base, kTools[i]) == 0) return tool(base, argc, argv);
  }

  struct sigaction term = {.sa_handler = on_term};
  sigaction(SIGINT, &term, NULL);
  sigaction(SIGTERM, &term, NULL);
  signal(SIGPIPE, SIG_IGN);
  setvbuf(stdout, NULL, _IOLBF, 0);

  const char* mode = argc > 1 ? argv[1] : "sleep";
  say("mode %s (pid %d)", mode, (int)getpid());
  if (strcmp(mode, "sleep") == 0) return run_forever();
  if (strcmp(mode, "exit") == 0) {
    long code = arg_long(argc, argv, 2, 1);
    long delay_s = arg_long(argc, argv, 3, 0);
    if (delay_s > 0) sleep_ms(delay_s * 1000);
    say("exiting with code %ld", code);
    return (int)code;
  }
  if (strcmp(mode, "oom") == 0) {
    return mode_oom(arg_long(argc, argv, 2, 16), arg_long(argc, argv, 3, 100));
  }
  if (strcmp(mode, "alloc") == 0) return mode_alloc(arg_long(argc, argv, 2, 96));
  if (strcmp(mode, "ready-file") == 0) {
    say("ready while %s exists", argc > 2 ? argv[2] : READY_FILE);
    return run_forever();
  }
  if (strcmp(mode, "slow-start") == 0) {
    long seconds = arg_long(argc, argv, 2, 10);
    sleep_ms(seconds * 1000);
    int fd = open(READY_FILE, O_WRONLY | O_CREAT, 0644);
    if (fd >= 0) close(fd);
    say("started after %ld s", seconds);
    return serve(arg_long(argc, argv, 3, 8080));
  }
  if (strcmp(mode, "serve") == 0) return serve(arg_long(argc, argv, 2, 8080));
  if (strcmp(mode, "config") == 0) {
    return mode_config(argc > 2 ? argv[2] : "/etc/aiops-workload/setting");
  }
  if (strcmp(mode, "probe-file") == 0) return argc > 2 && exists(argv[2]) ? 0 : 1;
  if (strcmp(mode, "-v") == 0 || strcmp(mode, "version") == 0) {
    printf("aiops-workload 1\n");
    return 0;
  }
  fprintf(stderr, "aiops-workload: unknown mode '%s'\n", mode);
  return 2;
}
