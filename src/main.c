/*
 * main.c - bulwark's entry point: command line, config load, start-up, and
 * the main thread's job afterwards: signals.
 *
 *   SIGHUP          reload the config file; an invalid one is refused with
 *                   file:line in the error log and the running one stays
 *   SIGTERM/SIGINT  graceful stop (drain, bounded by shutdown_timeout)
 *
 * Threads: N workers (src/proxy/worker.c), the admin listener
 * (src/admin/admin.c), the health checker (src/proxy/health.c); the main
 * thread sleeps in read() on a signalfd.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "admin/admin.h"
#include "admin/stats.h"
#include "core/conf.h"
#include "core/fdlimit.h"
#include "core/log.h"
#include "proxy/health.h"
#include "proxy/worker.h"
#include "shield/shield.h"

#include "core/version.h"

typedef struct options {
    const char *config;
    const char *listen;
    const char *origin;
    const char *admin;
    const char *access_log;
    const char *pid_file;
    unsigned workers;
    bool test;
} options;

static void usage(FILE *f)
{
    fputs(
        "Usage: bulwark [OPTIONS]\n"
        "       bulwark -t -c FILE\n"
        "       bulwark --listen ADDR --origin ADDR[,ADDR...]\n"
        "\n"
        "bulwark is an edge node: a reverse proxy that keeps the sites behind it online\n"
        "and fast while they are under attack.\n"
        "\n"
        "Without -c or --listen, bulwark runs its built-in configuration: listen on\n"
        "0.0.0.0:8080 in front of an origin on 127.0.0.1:9000, admin on 127.0.0.1:9090.\n"
        "\n"
        "Options:\n"
        "  -c, --config FILE      read the configuration from FILE (see docs/CONFIG.md)\n"
        "  -t, --test             check the configuration, print the result, and exit\n"
        "                         (status 0 if valid, 1 if not; errors name FILE:LINE)\n"
        "      --listen ADDR      quick mode: accept clients on ADDR (e.g. 127.0.0.1:8080)\n"
        "      --origin LIST      quick mode: proxy every request to these origin servers\n"
        "                         (comma-separated, round-robin, keep-alive)\n"
        "  -w, --workers N        worker threads (default: config, else one per core)\n"
        "      --admin ADDR|off   admin listener for /metrics, /healthz, /api/v1/stats,\n"
        "                         /api/v1/attacks (default 127.0.0.1:9090)\n"
        "      --access-log DEST  off, stdout or a file path (JSON lines)\n"
        "      --pid FILE         write the process id to FILE\n"
        "      --help-config      list every configuration directive and exit\n"
        "  -v, --version          print the version and exit\n"
        "  -h, --help             print this help and exit\n"
        "\n"
        "Protection:\n"
        "  The shield is on for every site: it learns each site's normal traffic,\n"
        "  detects a flood within a tick or two (100 ms each) and blocks or\n"
        "  challenges what the flood has in common; attacks are listed at\n"
        "  /api/v1/attacks.  Site directives shield, under_attack, challenge and\n"
        "  rule (docs/SHIELD.md, docs/POLICY.md).\n"
        "\n"
        "Signals:\n"
        "  HUP        reload the configuration file without dropping connections; an\n"
        "             invalid file is refused (error logged with FILE:LINE) and the\n"
        "             running configuration stays in force\n"
        "  TERM, INT  graceful stop: stop accepting, finish requests in flight (at most\n"
        "             shutdown_timeout), then exit 0\n"
        "\n"
        "Examples:\n"
        "  bulwark --listen 0.0.0.0:8080 --origin 127.0.0.1:9000\n"
        "  bulwark -t -c /etc/bulwark/bulwark.conf\n"
        "  bulwark -c /etc/bulwark/bulwark.conf\n"
        "  curl -s 127.0.0.1:9090/metrics\n",
        f);
}

static int parse_options(int argc, char **argv, options *o)
{
    enum { OPT_LISTEN = 256, OPT_ORIGIN, OPT_ADMIN, OPT_ACCESS_LOG, OPT_PID, OPT_HELP_CONFIG };
    static const struct option longopts[] = {
        { "config", required_argument, NULL, 'c' },
        { "test", no_argument, NULL, 't' },
        { "listen", required_argument, NULL, OPT_LISTEN },
        { "origin", required_argument, NULL, OPT_ORIGIN },
        { "workers", required_argument, NULL, 'w' },
        { "admin", required_argument, NULL, OPT_ADMIN },
        { "access-log", required_argument, NULL, OPT_ACCESS_LOG },
        { "pid", required_argument, NULL, OPT_PID },
        { "help-config", no_argument, NULL, OPT_HELP_CONFIG },
        { "version", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "c:tw:vh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c': o->config = optarg; break;
        case 't': o->test = true; break;
        case OPT_LISTEN: o->listen = optarg; break;
        case OPT_ORIGIN: o->origin = optarg; break;
        case OPT_ADMIN: o->admin = optarg; break;
        case OPT_ACCESS_LOG: o->access_log = optarg; break;
        case OPT_PID: o->pid_file = optarg; break;
        case 'w': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end || n < 1 || n > BW_STATS_MAX_WORKERS) {
                fprintf(stderr, "bulwark: --workers expects a number from 1 to %d, got \"%s\"\n",
                        BW_STATS_MAX_WORKERS, optarg);
                return -1;
            }
            o->workers = (unsigned)n;
            break;
        }
        case OPT_HELP_CONFIG: bw_conf_print_directives(STDOUT_FILENO); exit(0);
        case 'v': printf("bulwark " BW_VERSION "\n"); exit(0);
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "bulwark: unexpected argument \"%s\" (see --help)\n", argv[optind]);
        return -1;
    }
    if ((o->listen != NULL) != (o->origin != NULL)) {
        fprintf(stderr, "bulwark: quick mode needs both --listen and --origin\n");
        return -1;
    }
    if (o->listen && o->config) {
        fprintf(stderr, "bulwark: use either -c FILE or --listen/--origin, not both\n");
        return -1;
    }
    return 0;
}

/* Load the config the options ask for, with command-line overrides applied.
 * Used at start-up and for each reload. */
static bw_conf *load_config(const options *o, char *err, size_t errlen)
{
    bw_conf *conf;
    if (o->listen)
        conf = bw_conf_quick(o->listen, o->origin, err, errlen);
    else if (o->config)
        conf = bw_conf_load(o->config, err, errlen);
    else
        conf = bw_conf_parse_string(bw_conf_builtin_text, "<builtin>", err, errlen);
    if (!conf)
        return NULL;
    if (o->workers)
        conf->workers = o->workers;
    if (o->admin) {
        if (strcmp(o->admin, "off") == 0) {
            conf->admin_enabled = false;
        } else if (bw_addr_parse(o->admin, &conf->admin) < 0) {
            snprintf(err, errlen, "--admin: expected an address like 127.0.0.1:9090 or off, got \"%s\"",
                     o->admin);
            bw_conf_free(conf);
            return NULL;
        } else {
            conf->admin_enabled = true;
        }
        /* Same rule as the config file: never an open admin without a token. */
        if (bw_conf_admin_unprotected(conf)) {
            snprintf(err, errlen, "--admin %s: a non-loopback admin address requires admin_token in the config",
                     conf->admin.text);
            bw_conf_free(conf);
            return NULL;
        }
    }
    if (o->access_log) {
        free(conf->access_log);
        conf->access_log = strcmp(o->access_log, "off") == 0 ? NULL : strdup(o->access_log);
    }
    for (size_t i = 0; i < conf->nsites; i++)
        conf->sites[i].stats_slot = bw_stats_site_slot(conf->sites[i].name);
    return conf;
}

static unsigned worker_count(const bw_conf *conf)
{
    if (conf->workers)
        return conf->workers;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (n > BW_STATS_MAX_WORKERS ? BW_STATS_MAX_WORKERS : (unsigned)n);
}

static void reload(const options *o)
{
    char err[1024];
    bw_conf *old = bw_conf_current();
    bw_log(BW_LOG_NOTICE, "reloading configuration");
    bw_conf *conf = load_config(o, err, sizeof(err));
    if (!conf) {
        bw_log(BW_LOG_ERROR, "reload refused, the running configuration stays: %s", err);
        return;
    }
    if (bw_listeners_check(conf, old, err, sizeof(err)) < 0) {
        bw_log(BW_LOG_ERROR, "reload refused, the running configuration stays: %s", err);
        bw_conf_free(conf);
        return;
    }
    if (bw_shield_reload_check(conf, err, sizeof(err)) < 0) {
        bw_log(BW_LOG_ERROR, "reload refused, the running configuration stays: %s", err);
        bw_conf_free(conf);
        return;
    }
    if (worker_count(conf) != bw_workers_count())
        bw_log(BW_LOG_WARN, "the number of workers changes only on restart (running %u)",
               bw_workers_count());
    if (conf->admin_enabled != old->admin_enabled ||
        strcmp(conf->admin.text, old->admin.text) != 0)
        bw_log(BW_LOG_WARN, "the admin address changes only on restart (running %s)", old->admin.text);
    if (bw_log_open(conf->error_log, conf->log_level) < 0)
        bw_log(BW_LOG_ERROR, "error_log %s: %s", conf->error_log, strerror(errno));
    bw_conf_publish(conf);
    bw_workers_wake();
    bw_log(BW_LOG_NOTICE, "configuration %llu loaded from %s: %zu sites, %zu origins",
           (unsigned long long)conf->generation, conf->path, conf->nsites, conf->nservers);
}

static int write_pid(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "%ld\n", (long)getpid());
    return fclose(f);
}

/* Take the whole open-files limit, and say so when the connection caps
 * cannot all be met.  Past the limit a worker sheds and refuses (worker.c),
 * it does not fail. */
static void raise_fd_limit(const bw_conf *conf, unsigned workers)
{
    uint64_t limit = bw_fd_limit_raise();
    uint64_t want = (uint64_t)conf->max_connections * workers;
    if (want > limit)
        bw_log(BW_LOG_WARN,
               "open files limit %llu is below max_connections x workers (%llu): past it, "
               "workers shed idle and slow clients and refuse new ones",
               (unsigned long long)limit, (unsigned long long)want);
}

static int serve(const options *o, bw_conf *conf)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    /* Blocked before any thread starts, so all of them inherit the mask and
     * only the signalfd sees these signals. */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    if (sfd < 0) {
        bw_log(BW_LOG_ERROR, "signalfd: %s", strerror(errno));
        return 1;
    }
    bw_conf_publish(conf);
    unsigned n = worker_count(conf);
    raise_fd_limit(conf, n);
    char err[512];
    if (bw_shield_start(conf, err, sizeof err) < 0) {
        bw_log(BW_LOG_ERROR, "cannot start: %s", err);
        return 1;
    }
    if (bw_workers_start(n) < 0) {
        bw_log(BW_LOG_ERROR, "cannot start: see the errors above");
        return 1;
    }
    if (conf->admin_enabled && bw_admin_start(conf) < 0) {
        bw_workers_stop();
        bw_workers_join();
        return 1;
    }
    if (bw_health_start() < 0)
        bw_log(BW_LOG_WARN, "cannot start the health checker");
    if (o->pid_file && write_pid(o->pid_file) < 0)
        bw_log(BW_LOG_WARN, "--pid %s: %s", o->pid_file, strerror(errno));
    for (size_t i = 0; i < conf->nlistens; i++)
        bw_log(BW_LOG_NOTICE, "listening on %s%s", conf->listens[i].addr.text,
               conf->listens[i].proxy_protocol ? " (PROXY protocol)" : "");
    bw_log(BW_LOG_NOTICE, "bulwark %s started: %u workers, %zu sites, admin %s", BW_VERSION, n,
           conf->nsites, conf->admin_enabled ? conf->admin.text : "off");

    for (;;) {
        struct signalfd_siginfo si;
        ssize_t r = read(sfd, &si, sizeof(si));
        if (r != sizeof(si)) {
            if (r < 0 && errno == EINTR)
                continue;
            break;
        }
        if (si.ssi_signo == SIGHUP) {
            reload(o);
            continue;
        }
        bw_log(BW_LOG_NOTICE, "signal %d: stopping gracefully (at most %u ms)", (int)si.ssi_signo,
               bw_conf_current()->shutdown_timeout_ms);
        break;
    }
    bw_workers_stop();
    bw_workers_join();
    bw_health_stop();
    bw_admin_stop();
    bw_shield_stop();
    close(sfd);
    if (o->pid_file)
        unlink(o->pid_file);
    bw_log(BW_LOG_NOTICE, "stopped");
    return 0;
}

int main(int argc, char **argv)
{
    options o = { 0 };
    if (parse_options(argc, argv, &o) < 0)
        return 2;
    char err[1024];
    bw_conf *conf = load_config(&o, err, sizeof(err));
    const char *name = o.config ? o.config : (o.listen ? "<command line>" : "<builtin>");
    if (!conf) {
        fprintf(stderr, "bulwark: %s\n", err);
        if (o.test)
            fprintf(stderr, "bulwark: configuration %s test failed\n", name);
        return 1;
    }
    if (o.test) {
        char lerr[256];
        int rc = bw_listeners_check(conf, NULL, lerr, sizeof(lerr));
        if (rc < 0)
            fprintf(stderr, "bulwark: warning: %s (in use or not permitted now)\n", lerr);
        fprintf(stderr, "bulwark: configuration %s test is successful\n", name);
        bw_conf_free(conf);
        return 0;
    }
    if (bw_log_open(conf->error_log, conf->log_level) < 0) {
        fprintf(stderr, "bulwark: error_log %s: %s\n", conf->error_log, strerror(errno));
        bw_conf_free(conf);
        return 1;
    }
    int rc = serve(&o, conf);
    bw_conf_free_all();
    bw_stats_free_all();
    return rc;
}
