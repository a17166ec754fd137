/*
 * pulsegen — the Pi in a box's pulse source: a square wave on a gpio-sim
 * line, made by writing "pull-up" and "pull-down" to the line's sysfs pull
 * attribute (the simulated level seen by whoever requested the line, with
 * its edge interrupts through irq_sim).
 *
 *   pulsegen PULLFILE COUNT PERIOD_US
 *
 * Leaves the line low, then sends COUNT pulses, one every PERIOD_US
 * microseconds: the line goes high and straight back low (two writes, so
 * the pulse is as wide as a write takes; a counter counts the rising
 * edge), then pulsegen waits for the next (wait_until). The
 * rising edges follow a fixed schedule (pulse k at start + k periods), so
 * the mean rate is the nominal one: pulses sent late (the box's one CPU
 * busy elsewhere) are caught up, but never closer than 0.6 of a period
 * after the rising edge before, so that the burst is still a train of
 * distinct pulses to a counter that debounces for half a period. It prints
 * one line:
 *
 *   pulses COUNT period_ns P elapsed_ns E min_gap_ns G late COUNT
 *
 * where E runs from the first rising edge to the last, G is the shortest
 * time between two rising edges (both as measured after each write) and
 * late counts the pulses sent more than 0.4 of a period after their time.
 *
 * Built without a C library (Debian's cross compiler comes without one for
 * arm64): raw Linux system calls, static, no relocations.
 */

typedef unsigned long u64;
typedef long s64;

#define SYS_openat 56
#define SYS_close 57
#define SYS_write 64
#define SYS_pwrite64 68
#define SYS_exit_group 94
#define SYS_clock_gettime 113
#define SYS_clock_nanosleep 115

#define AT_FDCWD (-100)
#define O_WRONLY 1
#define CLOCK_MONOTONIC 1
#define TIMER_ABSTIME 1
#define EINTR 4

struct timespec {
	s64 tv_sec;
	s64 tv_nsec;
};

static s64 sys4(s64 n, s64 a, s64 b, s64 c, s64 d)
{
	register s64 x8 __asm__("x8") = n;
	register s64 x0 __asm__("x0") = a;
	register s64 x1 __asm__("x1") = b;
	register s64 x2 __asm__("x2") = c;
	register s64 x3 __asm__("x3") = d;
	__asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
	return x0;
}

static u64 slen(const char *s)
{
	u64 n = 0;
	while (s[n])
		n++;
	return n;
}

static void out(int fd, const char *s) { sys4(SYS_write, fd, (s64)s, (s64)slen(s), 0); }

static void die(const char *what)
{
	out(2, "pulsegen: ");
	out(2, what);
	out(2, "\n");
	sys4(SYS_exit_group, 1, 0, 0, 0);
	for (;;)
		;
}

/* num parses a decimal number; 0 for anything else. */
static u64 num(const char *s)
{
	u64 n = 0;
	if (!*s)
		return 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || n > 1000000000000UL)
			return 0;
		n = n * 10 + (u64)(*s - '0');
	}
	return n;
}

static void outnum(u64 n)
{
	char b[24];
	int i = 23;
	b[i] = 0;
	do {
		b[--i] = (char)('0' + n % 10);
		n /= 10;
	} while (n);
	out(1, b + i);
}

static u64 now(void)
{
	struct timespec ts;
	if (sys4(SYS_clock_gettime, CLOCK_MONOTONIC, (s64)&ts, 0, 0) != 0)
		die("clock_gettime failed");
	return (u64)ts.tv_sec * 1000000000UL + (u64)ts.tv_nsec;
}

/*
 * wait_until waits until t: it sleeps until a millisecond before, then
 * spins on the clock, since a timer's wakeup under qemu without KVM comes
 * too late for a 1 kHz schedule. The reader the box tests still gets the
 * CPU in turn (the scheduler shares it), and the kernel's queue of 1024
 * edges, with their timestamps, bridges the wait.
 */
static void wait_until(u64 t)
{
	u64 n = now();
	if (t > n + 2000000UL) {
		u64 s = t - 1000000UL;
		struct timespec ts = {(s64)(s / 1000000000UL), (s64)(s % 1000000000UL)};
		s64 r;
		while ((r = sys4(SYS_clock_nanosleep, CLOCK_MONOTONIC, TIMER_ABSTIME, (s64)&ts, 0)) == -EINTR)
			;
		if (r != 0)
			die("clock_nanosleep failed");
	}
	while (now() < t)
		;
}

static void level(int fd, int high)
{
	const char *s = high ? "pull-up\n" : "pull-down\n";
	u64 n = slen(s);
	if (sys4(SYS_pwrite64, fd, (s64)s, (s64)n, 0) != (s64)n)
		die("write to the pull attribute failed");
}

static int run(int argc, char **argv)
{
	if (argc != 4)
		die("usage: pulsegen PULLFILE COUNT PERIOD_US");
	u64 count = num(argv[2]), period = num(argv[3]) * 1000;
	if (count == 0 || period < 2000)
		die("COUNT must be a number above 0 and PERIOD_US a number of at least 2");
	int fd = (int)sys4(SYS_openat, AT_FDCWD, (s64)argv[1], O_WRONLY, 0);
	if (fd < 0)
		die("cannot open the pull attribute");
	level(fd, 0);
	u64 next = now() + period, first = 0, last = 0, mingap = ~0UL, late = 0;
	for (u64 k = 0; k < count; k++) {
		u64 at = next;
		if (k > 0 && at < last + period * 3 / 5)
			at = last + period * 3 / 5; /* catching up: still 0.6 periods apart */
		wait_until(at);
		level(fd, 1);
		u64 t = now();
		if (k == 0)
			first = t;
		else if (t - last < mingap)
			mingap = t - last;
		last = t;
		level(fd, 0);
		if (t > next + period * 2 / 5)
			late++;
		next += period;
	}
	sys4(SYS_close, fd, 0, 0, 0);
	if (count == 1)
		mingap = 0;
	out(1, "pulses ");
	outnum(count);
	out(1, " period_ns ");
	outnum(period);
	out(1, " elapsed_ns ");
	outnum(last - first);
	out(1, " min_gap_ns ");
	outnum(mingap);
	out(1, " late ");
	outnum(late);
	out(1, "\n");
	return 0;
}

/* cstart gets the initial stack: argc, then argv. */
void cstart(s64 *sp)
{
	sys4(SYS_exit_group, run((int)sp[0], (char **)(sp + 1)), 0, 0, 0);
	for (;;)
		;
}

__asm__(".text\n.global _start\n_start:\n\tmov x0, sp\n\tbl cstart\n");
