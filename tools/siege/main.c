/*
 * main.c - bulwark-siege's command line: build the run, start the engine,
 * fetch the origin's counts, write the reports.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "counts.h"
#include "engine.h"
#include "report.h"
#include "scenario.h"
#include "siege.h"

static void usage(FILE *f)
{
    fputs(
        "Usage: bulwark-siege --target HOST:PORT --scenario SPEC [--scenario SPEC ...] [options]\n"
        "\n"
        "Replays the attacks of the seed incident (HTTP floods from botnets that rotate\n"
        "their addresses, floods through proxies, cache busting, expensive POSTs, password\n"
        "cracking, slow connections) against a proxy, with real users alongside, and\n"
        "reports what reached the origin.  Every client binds its own source address in\n"
        "127.0.0.0/8; targets must be on loopback.  Every run stops by itself.\n"
        "\n"
        "Options:\n"
        "  -t, --target HOST:PORT  where clients connect (the proxy, or the probe directly)\n"
        "  -p, --probe HOST:PORT   the origin probe (bulwark-probe) to ask what reached it;\n"
        "                          without it the 'reached origin' columns say n/a\n"
        "  -s, --scenario SPEC     NAME[:key=value,...]; repeat for several at once\n"
        "  -d, --duration S        default duration of each scenario (default 10)\n"
        "  -H, --host NAME         Host header (default localhost)\n"
        "      --mimic browser     attack scenarios copy a browser's headers (random UA)\n"
        "      --max-requests N    stop sending after N requests in all (default 10000000)\n"
        "      --timeout MS        a request unanswered this long is an error (default 5000)\n"
        "      --report FILE       write the report as JSON\n"
        "      --svg FILE          write the timeline plot as SVG\n"
        "      --label TEXT        what is under attack, for the report title\n"
        "      --seed N            random seed (default 1: runs are repeatable)\n"
        "      --no-rst            bots close with FIN instead of RST\n"
        "  -q, --quiet             no per-second progress line\n"
        "  -h, --help              this text\n"
        "\n"
        "Scenarios (NAME) and their defaults:\n"
        "  legit          browser-like users: pages, assets, cookies, redirects, 2% logins\n"
        "                 (users=20 think=1000)\n"
        "  http-flood     GET / from rotating addresses (rate=1000 per-ip=3 conns=4096)\n"
        "  proxy-flood    the same through a few proxies (rate=1000 ips=200 per-ip=3)\n"
        "  cache-bust     random paths and query strings (rate=1000)\n"
        "  post-flood     POST /api/chat, the expensive route (rate=200)\n"
        "  cred-stuffing  POST /login, many usernames, rotating addresses (rate=100)\n"
        "  brute-force    POST /login as admin, rotating addresses (rate=100)\n"
        "  slowloris      connections sending a head a byte at a time (rate=500 conns/s,\n"
        "                 conns=1000 interval=5000 ms)\n"
        "  slow-post      a POST body a byte at a time (same keys as slowloris)\n"
        "  seed-replay    the seed's phases on a compressed clock: baseline, proxy flood,\n"
        "                 L7 quiet, rotating-IP flood with password cracking\n"
        "                 (duration=60 rate=5000 users=20)\n"
        "Keys: rate (req/s; slow scenarios: connections/s), start (s), duration (s),\n"
        "      per-ip (requests per address before rotating; 0 = never), ips, conns (max\n"
        "      open), users, think (ms), interval (ms), mimic (bot|browser), name.\n"
        "\n"
        "Example:\n"
        "  bulwark-siege -t 127.0.0.1:8080 -p 127.0.0.1:9000 -d 30 \\\n"
        "      -s legit:users=50 -s http-flood:rate=20000,start=10,duration=15 --svg run.svg\n"
        "\n"
        "Exit status: 0 when the run completed, 1 on a run error, 2 on a usage error.\n",
        f);
}

enum { OPT_MIMIC = 256, OPT_MAX, OPT_TIMEOUT, OPT_REPORT, OPT_SVG, OPT_LABEL, OPT_SEED,
       OPT_NORST };

typedef struct cli {
    sg_run *run;
    sg_engine_opts eng;
    const char *report, *svg;
    const char *specs[64];
    int nspecs;
    sg_defaults def;
} cli;

static int bad(const char *what, const char *arg)
{
    fprintf(stderr, "bulwark-siege: %s: '%s' (see --help)\n", what, arg);
    return 2;
}

static int copy_opt(char *dst, size_t cap, const char *v, const char *what)
{
    if (strlen(v) >= cap)
        return bad(what, v);
    snprintf(dst, cap, "%s", v);
    return 0;
}

static bool loopback_only(const char *spec)
{
    struct sockaddr_in sa;
    return sg_parse_addr(spec, &sa) == 0 && (ntohl(sa.sin_addr.s_addr) >> 24) == 127;
}

static int parse_args(cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        { "target", 1, 0, 't' },         { "probe", 1, 0, 'p' },
        { "scenario", 1, 0, 's' },       { "duration", 1, 0, 'd' },
        { "host", 1, 0, 'H' },           { "quiet", 0, 0, 'q' },
        { "help", 0, 0, 'h' },           { "mimic", 1, 0, OPT_MIMIC },
        { "max-requests", 1, 0, OPT_MAX }, { "timeout", 1, 0, OPT_TIMEOUT },
        { "report", 1, 0, OPT_REPORT },  { "svg", 1, 0, OPT_SVG },
        { "label", 1, 0, OPT_LABEL },    { "seed", 1, 0, OPT_SEED },
        { "no-rst", 0, 0, OPT_NORST },   { 0, 0, 0, 0 },
    };
    sg_run *r = c->run;
    int o, rc = 0;
    char *end;
    while (rc == 0 && (o = getopt_long(argc, argv, "t:p:s:d:H:qh", opts, NULL)) != -1) {
        switch (o) {
        case 't': rc = copy_opt(r->target, sizeof r->target, optarg, "--target"); break;
        case 'p': rc = copy_opt(r->probe, sizeof r->probe, optarg, "--probe"); break;
        case 'H': rc = copy_opt(r->host, sizeof r->host, optarg, "--host"); break;
        case OPT_LABEL: rc = copy_opt(r->label, sizeof r->label, optarg, "--label"); break;
        case 's':
            if (c->nspecs == 64)
                return bad("too many --scenario options", optarg);
            c->specs[c->nspecs++] = optarg;
            break;
        case 'd':
            c->def.duration_s = strtod(optarg, &end);
            if (*end || c->def.duration_s <= 0 || c->def.duration_s > SG_MAX_SECONDS)
                return bad("--duration wants seconds from 0 to 3600", optarg);
            break;
        case 'q': c->eng.quiet = true; break;
        case 'h': usage(stdout); exit(0);
        case OPT_MIMIC:
            if (strcmp(optarg, "browser") && strcmp(optarg, "bot"))
                return bad("--mimic wants 'browser' or 'bot'", optarg);
            c->def.mimic_browser = strcmp(optarg, "browser") == 0;
            break;
        case OPT_MAX:
            r->max_requests = strtoull(optarg, &end, 10);
            if (*end || r->max_requests == 0)
                return bad("--max-requests wants a positive number", optarg);
            break;
        case OPT_TIMEOUT:
            r->timeout_ms = (uint32_t)strtoul(optarg, &end, 10);
            if (*end || r->timeout_ms == 0 || r->timeout_ms > 600000)
                return bad("--timeout wants milliseconds from 1 to 600000", optarg);
            break;
        case OPT_REPORT: c->report = optarg; break;
        case OPT_SVG: c->svg = optarg; break;
        case OPT_SEED: r->seed = strtoull(optarg, &end, 10); break;
        case OPT_NORST: c->eng.rst_bots = false; break;
        default: return 2;
        }
    }
    if (rc)
        return rc;
    if (optind < argc)
        return bad("unexpected argument", argv[optind]);
    if (!r->target[0] || c->nspecs == 0) {
        fprintf(stderr, "bulwark-siege: --target and at least one --scenario are required "
                        "(see --help)\n");
        return 2;
    }
    if (!loopback_only(r->target))
        return bad("--target must be an IPv4 address in 127.0.0.0/8", r->target);
    if (r->probe[0] && !loopback_only(r->probe))
        return bad("--probe must be an IPv4 address in 127.0.0.0/8", r->probe);
    return 0;
}

static int build_scenarios(cli *c)
{
    char err[256];
    for (int i = 0; i < c->nspecs; i++)
        if (sg_scenario_add(c->run, c->specs[i], &c->def, err, sizeof err) < 0) {
            fprintf(stderr, "bulwark-siege: --scenario %s: %s\n", c->specs[i], err);
            return 2;
        }
    c->run->nsec = sg_run_seconds(c->run);
    for (int i = 0; i < c->run->nscen; i++)
        c->run->scen[i].tot.reached = -1;
    return 0;
}

static int write_file(const char *path, int (*fn)(const sg_run *, FILE *), const sg_run *r)
{
    FILE *f = fopen(path, "w");
    if (!f || fn(r, f) < 0 || fclose(f) != 0) {
        perror(path);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static sg_run run;
    cli c = { .run = &run, .eng = { .quiet = false, .rst_bots = true },
              .def = { .duration_s = 10, .mimic_browser = 0 } };
    snprintf(run.host, sizeof run.host, "localhost");
    run.max_requests = 10000000;
    run.timeout_ms = 5000;
    run.seed = 1;
    int rc = parse_args(&c, argc, argv);
    if (rc == 0)
        rc = build_scenarios(&c);
    if (rc)
        return rc;
    if (!run.label[0])
        snprintf(run.label, sizeof run.label, "%s", run.target);
    if (sg_run_alloc_timelines(&run) < 0 || sg_engine_run(&run, &c.eng) < 0) {
        sg_run_free(&run);
        return 1;
    }
    if (run.probe[0])
        sg_counts_fetch(&run);
    sg_report_table(&run, stdout);
    rc = 0;
    if (c.report && write_file(c.report, sg_report_json, &run) < 0)
        rc = 1;
    if (c.svg && write_file(c.svg, sg_report_svg, &run) < 0)
        rc = 1;
    sg_run_free(&run);
    return rc;
}
