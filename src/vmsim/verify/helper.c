/*
 * vmsim live-kernel helper: runs memory system calls on request, for differential testing.
 *
 * The harness (vmsim/verify/live.py) compares this process's /proc/pid/{maps,smaps,pagemap}
 * with the model after every call, so the helper must never change its own address space
 * between requests: no malloc, no stdio, only static buffers in .bss, and everything that
 * could fault in a page of its own (first calls into libc, the vdso, the signal path, the
 * .bss buffers, the signal stack) is done once before it reports ready.  It is linked with
 * -z now so that lazy symbol binding does not dirty the GOT on a first call later.
 *
 * The calls may name any fd, and the model knows only the ones the harness opens: so the
 * helper moves the pipes it was started with (stdin, stdout) up to PIPE_IN and PIPE_OUT,
 * which no call of the harness names, and closes 0, 1 and 2; the first file the harness
 * opens is fd 0.
 *
 * Protocol (native endian, over the pipes that were stdin and stdout):
 *   request  = struct req (64 bytes), then for OP_WRITE a[1] bytes of data and for
 *              OP_OPEN a[2] bytes of path (no NUL); OP_SYSCALL makes system call a[0] with
 *              the registers a[1..6] as they are (the kernel casts them to its types);
 *   response = struct resp (64 bytes), then len bytes of data (OP_READ).
 * At start-up the helper sends one response with ret = READY_MAGIC before reading anything.
 * ret is the system call's return value (-1 on failure), err its errno (0 on success) and ns
 * the CLOCK_MONOTONIC nanoseconds spent in the call (or in the memory access) alone.  A
 * memory access that faults reports sig/code/addr from the siginfo; ret is then -1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define READY_MAGIC 0x766d73696d2d3032LL /* "vmsim-02": bump with the protocol */
#define IO_MAX 65536
#define PAGE 4096UL
#define PIPE_IN 100
#define PIPE_OUT 101

enum {
	OP_EXIT = 0,
	OP_SYSCALL = 1,   /* nr, then six registers */
	OP_READ = 2,      /* addr, n (<= IO_MAX) */
	OP_WRITE = 3,     /* addr, n (<= IO_MAX), then n bytes */
	OP_OPEN = 4,      /* flags, mode, pathlen (< IO_MAX), then the path */
	OP_CLOSE = 5,     /* fd */
	OP_SETRLIMIT = 6, /* resource, cur, max */
	OP_TOUCH = 7,     /* addr, len, stride, value */
};

struct req {
	uint64_t op;
	uint64_t a[7];
};

struct resp {
	int64_t ret;
	uint64_t err;
	uint64_t ns;
	uint64_t sig;
	uint64_t code;
	uint64_t addr;
	uint64_t len;
	uint64_t pad;
};

static struct req rq;
static struct resp rs;
/* +1 so that an OP_OPEN path of IO_MAX - 1 bytes still has room for its NUL. */
static unsigned char iobuf[IO_MAX + 1];
static unsigned char altstack[65536] __attribute__((aligned(4096)));
static sigjmp_buf fault_env;
static volatile sig_atomic_t armed;
static volatile uint64_t f_sig, f_code, f_addr;

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (!armed) {
		/* A fault outside a guarded access is a helper bug: die of it, visibly. */
		signal(sig, SIG_DFL);
		return;
	}
	f_sig = (uint64_t)sig;
	f_code = (uint64_t)(int64_t)si->si_code;
	f_addr = (uint64_t)(uintptr_t)si->si_addr;
	armed = 0;
	siglongjmp(fault_env, 1);
}

static inline uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

static void read_full(void *buf, size_t n)
{
	unsigned char *p = buf;

	while (n > 0) {
		ssize_t r = read(PIPE_IN, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			_exit(0); /* the harness went away */
		p += r;
		n -= (size_t)r;
	}
}

static void write_full(const void *buf, size_t n)
{
	const unsigned char *p = buf;

	while (n > 0) {
		ssize_t r = write(PIPE_OUT, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			_exit(0);
		p += r;
		n -= (size_t)r;
	}
}

static void do_syscall(long nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3,
		       uint64_t a4, uint64_t a5)
{
	uint64_t t0, t1;
	long r;
	int e;

	errno = 0;
	t0 = now_ns();
	r = syscall(nr, a0, a1, a2, a3, a4, a5);
	e = errno;
	t1 = now_ns();
	rs.ret = r;
	/*
	 * syscall() reports -4095..-1 as -1/errno; no call made here can succeed with -1
	 * (brk never fails: it returns the break, which is never -1).
	 */
	rs.err = r == -1 ? (uint64_t)e : 0;
	rs.ns = t1 - t0;
}

/*
 * Loads, stores and touches go page segment by page segment, in ascending order, each
 * starting with a single-byte access: access rights are per page, so if that byte does not
 * fault the rest of the segment cannot either, and si_addr is then exactly the first byte
 * of the first inaccessible page, as the model reports it (memcpy alone may touch bytes out
 * of order).  Earlier segments stay written, as they would in a byte-wise loop.
 */
enum { ACC_READ, ACC_WRITE, ACC_TOUCH };

static void do_access(int kind, uint64_t addr, uint64_t n, uint64_t stride, unsigned char val)
{
	uint64_t t0, t1;

	f_sig = f_code = f_addr = 0;
	t0 = now_ns();
	if (sigsetjmp(fault_env, 1)) {
		t1 = now_ns();
		rs.ret = -1;
		rs.err = 0;
		rs.ns = t1 - t0;
		rs.sig = f_sig;
		rs.code = f_code;
		rs.addr = f_addr;
		return;
	}
	armed = 1;
	if (kind == ACC_TOUCH) {
		for (uint64_t off = 0; off < n; off += stride)
			*(volatile unsigned char *)(uintptr_t)(addr + off) = val;
	} else {
		uint64_t pos = 0;

		while (pos < n) {
			uint64_t cur = addr + pos;
			uint64_t chunk = PAGE - (cur & (PAGE - 1));
			unsigned char *mem = (unsigned char *)(uintptr_t)cur;

			if (chunk > n - pos)
				chunk = n - pos;
			if (kind == ACC_READ) {
				iobuf[pos] = *(volatile unsigned char *)mem;
				memcpy(iobuf + pos + 1, mem + 1, chunk - 1);
			} else {
				*(volatile unsigned char *)mem = iobuf[pos];
				memcpy(mem + 1, iobuf + pos + 1, chunk - 1);
			}
			pos += chunk;
		}
	}
	armed = 0;
	t1 = now_ns();
	rs.ret = 0;
	rs.err = 0;
	rs.ns = t1 - t0;
	if (kind == ACC_READ)
		rs.len = n;
}

static void dispatch(void)
{
	uint64_t *a = rq.a;

	memset(&rs, 0, sizeof(rs));
	switch (rq.op) {
	case OP_SYSCALL:
		/*
		 * The raw call, whatever it is: no libc wrapper in between (glibc's mremap()
		 * would drop new_address without MREMAP_FIXED, its brk() keeps its own break).
		 */
		do_syscall((long)a[0], a[1], a[2], a[3], a[4], a[5], a[6]);
		break;
	case OP_READ:
		if (a[1] > IO_MAX) {
			rs.ret = -1;
			rs.err = EMSGSIZE;
			break;
		}
		do_access(ACC_READ, a[0], a[1], 0, 0);
		break;
	case OP_WRITE:
		if (a[1] > IO_MAX)
			_exit(3); /* the payload cannot be skipped safely: protocol error */
		read_full(iobuf, a[1]);
		do_access(ACC_WRITE, a[0], a[1], 0, 0);
		break;
	case OP_TOUCH:
		do_access(ACC_TOUCH, a[0], a[1], a[2] ? a[2] : PAGE, (unsigned char)a[3]);
		break;
	case OP_OPEN:
		if (a[2] >= IO_MAX)
			_exit(3);
		read_full(iobuf, a[2]);
		iobuf[a[2]] = 0;
		do_syscall(SYS_openat, (uint64_t)(int64_t)AT_FDCWD, (uint64_t)(uintptr_t)iobuf,
			   a[0], a[1], 0, 0);
		break;
	case OP_CLOSE:
		do_syscall(SYS_close, a[0], 0, 0, 0, 0, 0);
		break;
	case OP_SETRLIMIT: {
		/* Static so that the call reads .bss, not a stack page it may never have used. */
		static uint64_t lim[2];

		lim[0] = a[1];
		lim[1] = a[2];
		do_syscall(SYS_prlimit64, 0, a[0], (uint64_t)(uintptr_t)lim, 0, 0, 0);
		break;
	}
	case OP_EXIT:
		write_full(&rs, sizeof(rs));
		_exit(0);
	default:
		rs.ret = -1;
		rs.err = ENOSYS;
		break;
	}
}

/* Run the code paths of the request loop once so their pages are in before "ready". */
static void warm_up(void)
{
	static const struct req reqs[] = {
		/* mmap(0, 0, ...): EINVAL, length 0 */
		{ OP_SYSCALL, { SYS_mmap, 0, 0, 0, 0x22, (uint64_t)-1, 0 } },
		{ OP_SYSCALL, { SYS_brk, 0 } },             /* a query */
		{ OP_READ, { 0, 1 } },                      /* SIGSEGV: the fault path */
		{ OP_TOUCH, { 0, PAGE, PAGE, 0 } },         /* SIGSEGV */
		{ OP_SETRLIMIT, { (uint64_t)-1, 0, 0 } },   /* EINVAL: no such resource */
	};

	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		rq = reqs[i];
		dispatch();
	}
	/* Loads and stores of every size memcpy distinguishes, on the helper's own buffers. */
	for (uint64_t n = 1; n <= IO_MAX; n <<= 1) {
		do_access(ACC_READ, (uint64_t)(uintptr_t)altstack, n, 0, 0);
		do_access(ACC_WRITE, (uint64_t)(uintptr_t)altstack, n, 0, 0);
	}
	memset(&rq, 0, sizeof(rq));
	memset(&rs, 0, sizeof(rs));
}

int main(void)
{
	stack_t ss;
	struct sigaction sa;

	if (dup2(0, PIPE_IN) != PIPE_IN || dup2(1, PIPE_OUT) != PIPE_OUT)
		_exit(2);
	close(0);
	close(1);
	close(2);

	/* Fault in the .bss buffers now, not on the first request that uses them. */
	memset(iobuf, 0, sizeof(iobuf));
	memset(altstack, 0, sizeof(altstack));

	memset(&ss, 0, sizeof(ss));
	ss.ss_sp = altstack;
	ss.ss_size = sizeof(altstack);
	if (sigaltstack(&ss, NULL))
		_exit(2);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, NULL) || sigaction(SIGBUS, &sa, NULL))
		_exit(2);

	warm_up();

	rs.ret = READY_MAGIC;
	write_full(&rs, sizeof(rs));

	for (;;) {
		read_full(&rq, sizeof(rq));
		dispatch();
		write_full(&rs, sizeof(rs));
		if (rs.len)
			write_full(iobuf, rs.len);
	}
}
