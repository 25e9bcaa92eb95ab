/* Host build of the UART target: the real core + ADS1298 driver, a simulated
 * ADS1298 serving a PTB-XL record, and a POSIX byte pipe instead of a UART.
 *
 *   tgll_uart_host [options]            stream to stdout (starts at once)
 *   tgll_uart_host --pty [options]      create a pseudo-terminal, print
 *                                       "PTY <path>" on stdout, serve it
 * Options:
 *   --samples N      stop after N DRDY periods (0 = run until SIGINT/SIGTERM);
 *                    default: one pass of the record on stdout, 0 with --pty
 *   --realtime       pace DRDY at the data rate (default: as fast as possible)
 *   --autostart      start streaming without waiting for START (default on stdout)
 *   --wait-start     wait for a START command (default with --pty)
 *   --stdin-commands read COMMAND packets from stdin (stdout mode)
 *   --spp N          samples per DATA packet (default 10)
 *   --fs HZ          initial data rate 250/500/1000 (default 500)
 *   --stall-at N --stall-for M   the sender takes no sample from index N on
 *                    until DRDY period N + M (forces an overflow of exactly
 *                    M - ring capacity samples; the M4 target does the same)
 *   --device-id ID   INFO's device id (default TGLL-HOST-SIM)
 *   --link PATH      with --pty: also create a symlink PATH -> the pty
 *   --linger S       seconds to keep the pty open after the last sample (default 2)
 */
#define _XOPEN_SOURCE 600
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "ads1298_sim.h"
#include "ptbxl_00001_hr_2s.h"
#include "tgll_device.h"

typedef struct {
    int pty;
    long samples;
    int realtime;
    int autostart;
    int stdin_commands;
    int spp;
    int fs;
    long stall_at;
    long stall_for;
    const char *link;
    const char *device_id;
    double linger;
} options_t;

static volatile sig_atomic_t g_stop = 0;
static int g_out_fd = 1;
static int g_write_failed = 0;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void usage(void)
{
    fprintf(stderr, "usage: tgll_uart_host [--pty [--link PATH]] [--samples N] [--realtime]\n"
                    "       [--autostart|--wait-start] [--stdin-commands] [--spp N] [--fs HZ]\n"
                    "       [--stall-at N --stall-for M] [--device-id ID] [--linger S]\n");
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *s == '\0' || *end != '\0' || v < lo || v > hi) {
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, options_t *o)
{
    int i;
    int start_given = 0;
    long v;
    memset(o, 0, sizeof *o);
    o->samples = -1;
    o->spp = 10;
    o->fs = 500;
    o->stall_at = -1;
    o->linger = 2.0;
    o->device_id = "TGLL-HOST-SIM";
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = (i + 1 < argc) ? argv[i + 1] : NULL;
        if (strcmp(a, "--pty") == 0) {
            o->pty = 1;
        } else if (strcmp(a, "--realtime") == 0) {
            o->realtime = 1;
        } else if (strcmp(a, "--autostart") == 0) {
            o->autostart = 1;
            start_given = 1;
        } else if (strcmp(a, "--wait-start") == 0) {
            o->autostart = 0;
            start_given = 1;
        } else if (strcmp(a, "--stdin-commands") == 0) {
            o->stdin_commands = 1;
        } else if (val != NULL && strcmp(a, "--samples") == 0) {
            if (parse_long(val, 0, 2000000000L, &o->samples) != 0) return -1;
            i++;
        } else if (val != NULL && strcmp(a, "--spp") == 0) {
            if (parse_long(val, 1, tgll_data_max_samples(8), &v) != 0) return -1;
            o->spp = (int)v;
            i++;
        } else if (val != NULL && strcmp(a, "--fs") == 0) {
            if (parse_long(val, 1, 65535, &v) != 0) return -1;
            o->fs = (int)v;
            i++;
        } else if (val != NULL && strcmp(a, "--stall-at") == 0) {
            if (parse_long(val, 0, 2000000000L, &o->stall_at) != 0) return -1;
            i++;
        } else if (val != NULL && strcmp(a, "--stall-for") == 0) {
            if (parse_long(val, 0, 2000000000L, &o->stall_for) != 0) return -1;
            i++;
        } else if (val != NULL && strcmp(a, "--link") == 0) {
            o->link = val;
            i++;
        } else if (val != NULL && strcmp(a, "--device-id") == 0) {
            o->device_id = val;
            i++;
        } else if (val != NULL && strcmp(a, "--linger") == 0) {
            o->linger = atof(val);
            i++;
        } else {
            return -1;
        }
    }
    if (!start_given) {
        o->autostart = !o->pty;
    }
    if (o->samples < 0) {
        o->samples = o->pty ? 0 : TGLL_RECORD_SAMPLES;
    }
    return 0;
}

/* Write everything, waiting for the fd to drain when it is non-blocking. */
static void write_all(void *ctx, const uint8_t *data, size_t n)
{
    (void)ctx;
    while (n > 0 && !g_write_failed) {
        ssize_t w = write(g_out_fd, data, n);
        if (w > 0) {
            data += w;
            n -= (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            struct pollfd p;
            p.fd = g_out_fd;
            p.events = POLLOUT;
            p.revents = 0;
            if (poll(&p, 1, 200) < 0 && errno != EINTR) {
                g_write_failed = 1;
            }
            if (g_stop) {
                g_write_failed = 1; /* don't hang on exit when nobody reads */
            }
        } else {
            g_write_failed = 1;
        }
    }
}

static int open_pty(const options_t *o, int *slave_fd)
{
    struct termios t;
    const char *name;
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0 || grantpt(m) != 0 || unlockpt(m) != 0 || (name = ptsname(m)) == NULL) {
        perror("tgll_uart_host: pty");
        return -1;
    }
    /* Hold the slave open ourselves: a reader that closes and reopens the port
     * must not make the master see EIO, and the line discipline must be raw
     * from the first byte (no echo, no CR/LF translation, no line buffering). */
    *slave_fd = open(name, O_RDWR | O_NOCTTY);
    if (*slave_fd < 0 || tcgetattr(*slave_fd, &t) != 0) {
        perror("tgll_uart_host: pty slave");
        return -1;
    }
    t.c_iflag &= (tcflag_t) ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    t.c_oflag &= (tcflag_t) ~OPOST;
    t.c_lflag &= (tcflag_t) ~(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    t.c_cflag &= (tcflag_t) ~(CSIZE | PARENB);
    t.c_cflag |= CS8;
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    if (tcsetattr(*slave_fd, TCSANOW, &t) != 0) {
        perror("tgll_uart_host: tcsetattr");
        return -1;
    }
    if (o->link != NULL) {
        unlink(o->link);
        if (symlink(name, o->link) != 0) {
            perror("tgll_uart_host: symlink");
            return -1;
        }
    }
    fcntl(m, F_SETFL, fcntl(m, F_GETFL) | O_NONBLOCK);
    printf("PTY %s\n", name);
    fflush(stdout);
    return m;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_s(double s)
{
    struct timespec ts;
    if (s <= 0) {
        return;
    }
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    nanosleep(&ts, NULL);
}

/* Read whatever command bytes are waiting (non-blocking). Returns -1 on EOF. */
static int pump_input(int fd, tgll_device_t *dev, int timeout_ms)
{
    uint8_t buf[256];
    struct pollfd p;
    ssize_t r;
    p.fd = fd;
    p.events = POLLIN;
    p.revents = 0;
    if (poll(&p, 1, timeout_ms) <= 0 || !(p.revents & (POLLIN | POLLHUP))) {
        return 0;
    }
    r = read(fd, buf, sizeof buf);
    if (r > 0) {
        tgll_device_receive(dev, buf, (size_t)r);
        return 0;
    }
    if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        return -1;
    }
    return 0;
}

static tgll_device_t g_dev; /* static: the ring lives in .bss, as on the MCU */
static ads_sim_t g_sim;

int main(int argc, char **argv)
{
    options_t o;
    ads1298_hal_t hal;
    tgll_device_config_t cfg;
    ads1298_config_t ads_cfg = ADS1298_DEFAULT_CONFIG;
    int in_fd = -1;
    int slave_fd = -1;
    long ticks = 0;
    double t0 = 0.0;
    long started_ticks = 0;
    long taken = 0; /* samples the sender took since START */
    int rc;

    if (parse_args(argc, argv, &o) != 0) {
        usage();
        return 2;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);

    if (o.pty) {
        g_out_fd = open_pty(&o, &slave_fd);
        if (g_out_fd < 0) {
            return 1;
        }
        in_fd = g_out_fd;
    } else if (o.stdin_commands) {
        in_fd = 0;
        fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
    }

    ads_sim_init(&g_sim, tgll_record_counts, TGLL_RECORD_SAMPLES);
    ads_sim_hal(&g_sim, &hal);
    ads_cfg.fs_hz = (uint16_t)o.fs;
    memset(&cfg, 0, sizeof cfg);
    cfg.hal = &hal;
    cfg.ads = ads_cfg;
    cfg.samples_per_packet = (uint8_t)o.spp;
    cfg.device_id = o.device_id;
    cfg.write = write_all;
    cfg.write_ctx = NULL;
    rc = tgll_device_init(&g_dev, &cfg);
    if (rc != 0) {
        fprintf(stderr, "tgll_uart_host: device init failed (%d)\n", rc);
        return 1;
    }
    fprintf(stderr, "tgll_uart_host: ADS1298 id 0x%02X, %d SPS, %.7f uV/count, record %s (PTB-XL, CC BY 4.0)\n",
            g_dev.ads.id, o.fs, (double)g_dev.app.info.uv_per_count, TGLL_RECORD_NAME);
    tgll_device_boot(&g_dev);
    if (o.autostart) {
        tgll_app_start(&g_dev.app);
    }

    while (!g_stop && !g_write_failed) {
        int streaming = g_dev.app.streaming;
        int stalled;
        long due;
        if (in_fd >= 0 && pump_input(in_fd, &g_dev, streaming ? 0 : 20) < 0) {
            in_fd = -1; /* stdin closed: keep streaming */
        }
        if (!g_dev.app.streaming) {
            if (in_fd < 0) {
                sleep_s(0.02);
            }
            t0 = 0.0;
            taken = 0;
            continue;
        }
        if (t0 == 0.0) {
            t0 = now_s();
            started_ticks = ticks;
        }
        if (o.realtime) {
            uint16_t fs = ads_sim_rate(&g_sim);
            due = (long)((now_s() - t0) * (double)(fs ? fs : 500)) - (ticks - started_ticks);
            if (due <= 0) {
                sleep_s(0.002);
                continue;
            }
            if (due > 100) {
                due = 100;
            }
        } else {
            due = 20;
        }
        while (due-- > 0) {
            if (o.samples > 0 && ticks >= o.samples) {
                break;
            }
            ads_sim_tick(&g_sim); /* DRDY -> tgll_device_drdy -> ring */
            ticks++;
            if (o.stall_at >= 0 && ticks == o.stall_at + o.stall_for) {
                break; /* the sender resumes exactly here */
            }
        }
        stalled = o.stall_at >= 0 && taken >= o.stall_at && ticks < o.stall_at + o.stall_for;
        if (!stalled) {
            uint32_t max = (o.stall_at >= 0 && taken < o.stall_at) ? (uint32_t)(o.stall_at - taken) : 0u;
            taken += (long)tgll_app_poll(&g_dev.app, max);
        }
        if (o.samples > 0 && ticks >= o.samples) {
            tgll_app_stop(&g_dev.app); /* drains the ring, flushes the last packet */
            break;
        }
    }
    if (g_dev.app.streaming) {
        g_stop = 0; /* let the final flush be written */
        tgll_app_stop(&g_dev.app);
    }
    fprintf(stderr,
            "tgll_uart_host: %ld DRDY, %lu packets, %lu bytes, %lu samples sent, %lu dropped, "
            "%lu commands\n",
            ticks, (unsigned long)g_dev.app.tx.packets, (unsigned long)g_dev.app.tx.bytes,
            (unsigned long)g_dev.app.stats.samples_sent,
            (unsigned long)g_dev.app.stats.samples_dropped, (unsigned long)g_dev.app.stats.commands);
    if (o.pty) {
        double end = now_s() + o.linger;
        while (!g_stop && now_s() < end) {
            if (pump_input(g_out_fd, &g_dev, 50) < 0) {
                break;
            }
        }
        if (o.link != NULL) {
            unlink(o.link);
        }
        close(slave_fd);
    }
    return g_write_failed && !o.pty ? 1 : 0;
}
