/* SPDX-License-Identifier: MIT */
/*
 * 9P2000.L wire format: the one place its constants are defined (Linux has no
 * UAPI header for 9p message types), and the bounded little-endian reader
 * and writer every message goes through.
 *
 * A message is size[4] type[1] tag[2] body; integers are little-endian;
 * a string s is len[2] bytes (no NUL); a qid is type[1] version[4] path[8].
 * Used by the server (src/devices/9p), the client (src/devices/9p/client.c),
 * the tests and the fuzz target.
 */
#ifndef VQ_P9_WIRE_H
#define VQ_P9_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- message types (T = request, R = T + 1 = response) */
enum {
	P9_TLERROR = 6,     P9_RLERROR = 7,
	P9_TSTATFS = 8,     P9_RSTATFS = 9,
	P9_TLOPEN = 12,     P9_RLOPEN = 13,
	P9_TLCREATE = 14,   P9_RLCREATE = 15,
	P9_TSYMLINK = 16,   P9_RSYMLINK = 17,
	P9_TMKNOD = 18,     P9_RMKNOD = 19,
	P9_TRENAME = 20,    P9_RRENAME = 21,
	P9_TREADLINK = 22,  P9_RREADLINK = 23,
	P9_TGETATTR = 24,   P9_RGETATTR = 25,
	P9_TSETATTR = 26,   P9_RSETATTR = 27,
	P9_TXATTRWALK = 30, P9_RXATTRWALK = 31,
	P9_TXATTRCREATE = 32, P9_RXATTRCREATE = 33,
	P9_TREADDIR = 40,   P9_RREADDIR = 41,
	P9_TFSYNC = 50,     P9_RFSYNC = 51,
	P9_TLOCK = 52,      P9_RLOCK = 53,
	P9_TGETLOCK = 54,   P9_RGETLOCK = 55,
	P9_TLINK = 70,      P9_RLINK = 71,
	P9_TMKDIR = 72,     P9_RMKDIR = 73,
	P9_TRENAMEAT = 74,  P9_RRENAMEAT = 75,
	P9_TUNLINKAT = 76,  P9_RUNLINKAT = 77,
	P9_TVERSION = 100,  P9_RVERSION = 101,
	P9_TAUTH = 102,     P9_RAUTH = 103,
	P9_TATTACH = 104,   P9_RATTACH = 105,
	P9_TFLUSH = 108,    P9_RFLUSH = 109,
	P9_TWALK = 110,     P9_RWALK = 111,
	P9_TREAD = 116,     P9_RREAD = 117,
	P9_TWRITE = 118,    P9_RWRITE = 119,
	P9_TCLUNK = 120,    P9_RCLUNK = 121,
	P9_TREMOVE = 122,   P9_RREMOVE = 123,
};

#define P9_VERSION_L   "9P2000.L"
#define P9_NOTAG       0xffffu
#define P9_NOFID       0xffffffffu
#define P9_NONUNAME    0xffffffffu
#define P9_MAXWELEM    16u      /* names in one Twalk */

/* Fixed sizes */
#define P9_HDR         7u       /* size[4] type[1] tag[2] */
#define P9_QID_SIZE    13u
#define P9_IOHDR       23u      /* Twrite: hdr fid[4] offset[8] count[4] */
#define P9_RREAD_HDR   11u      /* Rread / Rreaddir: hdr count[4] */
#define P9_IOHDRSZ     24u      /* what a client leaves of msize for headers
				 * (Linux's and diod's iounit: msize - 24) */
#define P9_RLERROR_LEN 11u      /* hdr ecode[4] */
#define P9_MIN_MSIZE   4096u    /* smaller msize values are refused */

/* qid.type */
#define P9_QTDIR     0x80u
#define P9_QTSYMLINK 0x02u
#define P9_QTFILE    0x00u

/* Tgetattr request_mask / Rgetattr valid */
#define P9_GETATTR_BASIC 0x000007ffull /* mode..blocks: what stat(2) gives */

/* Tsetattr valid */
#define P9_SETATTR_MODE      0x001u
#define P9_SETATTR_UID       0x002u
#define P9_SETATTR_GID       0x004u
#define P9_SETATTR_SIZE      0x008u
#define P9_SETATTR_ATIME     0x010u
#define P9_SETATTR_MTIME     0x020u
#define P9_SETATTR_CTIME     0x040u
#define P9_SETATTR_ATIME_SET 0x080u
#define P9_SETATTR_MTIME_SET 0x100u

/* Tlopen / Tlcreate flags (9P2000.L "dotl" flags; values as Linux/x86) */
#define P9_DOTL_ACCMODE   00000003u
#define P9_DOTL_CREATE    00000100u
#define P9_DOTL_EXCL      00000200u
#define P9_DOTL_TRUNC     00001000u
#define P9_DOTL_APPEND    00002000u
#define P9_DOTL_NONBLOCK  00004000u
#define P9_DOTL_DSYNC     00010000u
#define P9_DOTL_DIRECT    00040000u
#define P9_DOTL_DIRECTORY 00200000u
#define P9_DOTL_NOFOLLOW  00400000u
#define P9_DOTL_NOATIME   01000000u
#define P9_DOTL_SYNC      04000000u

/* Tunlinkat flags */
#define P9_AT_REMOVEDIR 0x200u

/* Tlock / Tgetlock */
#define P9_LOCK_TYPE_RDLCK 0u
#define P9_LOCK_TYPE_WRLCK 1u
#define P9_LOCK_TYPE_UNLCK 2u
#define P9_LOCK_FLAGS_BLOCK 1u
#define P9_LOCK_SUCCESS 0u
#define P9_LOCK_BLOCKED 1u
#define P9_LOCK_ERROR   2u

struct p9_qid {
	uint8_t type;
	uint32_t version;
	uint64_t path;
};

/* A string inside a message: not NUL-terminated; points into the message. */
struct p9_str {
	const char *s;
	uint16_t len;
};

/*
 * Bounded reader over a linear message.  Every get checks the remaining
 * length; the first failure sets bad and every later get returns zeros.
 */
struct p9_rd {
	const uint8_t *p;
	size_t len, off;
	bool bad;
};

static inline const uint8_t *p9_rd_take(struct p9_rd *r, size_t n)
{
	if (r->bad || n > r->len - r->off) {
		r->bad = true;
		return NULL;
	}
	r->off += n;
	return r->p + r->off - n;
}

static inline uint64_t p9_rd_le(struct p9_rd *r, unsigned n)
{
	const uint8_t *b = p9_rd_take(r, n);
	uint64_t v = 0;

	for (unsigned i = 0; b && i < n; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

static inline uint8_t p9_rd_u8(struct p9_rd *r) { return (uint8_t)p9_rd_le(r, 1); }
static inline uint16_t p9_rd_u16(struct p9_rd *r) { return (uint16_t)p9_rd_le(r, 2); }
static inline uint32_t p9_rd_u32(struct p9_rd *r) { return (uint32_t)p9_rd_le(r, 4); }
static inline uint64_t p9_rd_u64(struct p9_rd *r) { return p9_rd_le(r, 8); }

static inline struct p9_str p9_rd_str(struct p9_rd *r)
{
	struct p9_str s = { "", 0 };
	uint16_t n = p9_rd_u16(r);
	const uint8_t *b = p9_rd_take(r, n);

	if (b) {
		s.s = (const char *)b;
		s.len = n;
	}
	return s;
}

static inline struct p9_qid p9_rd_qid(struct p9_rd *r)
{
	struct p9_qid q;

	q.type = p9_rd_u8(r);
	q.version = p9_rd_u32(r);
	q.path = p9_rd_u64(r);
	return q;
}

/* The whole message was consumed, exactly. */
static inline bool p9_rd_is_done(const struct p9_rd *r)
{
	return !r->bad && r->off == r->len;
}

/* Bounded writer into a linear buffer; overflow sets bad. */
struct p9_wr {
	uint8_t *p;
	size_t cap, off;
	bool bad;
};

static inline uint8_t *p9_wr_take(struct p9_wr *w, size_t n)
{
	if (w->bad || n > w->cap - w->off) {
		w->bad = true;
		return NULL;
	}
	w->off += n;
	return w->p + w->off - n;
}

static inline void p9_wr_le(struct p9_wr *w, uint64_t v, unsigned n)
{
	uint8_t *b = p9_wr_take(w, n);

	for (unsigned i = 0; b && i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

static inline void p9_wr_u8(struct p9_wr *w, uint8_t v) { p9_wr_le(w, v, 1); }
static inline void p9_wr_u16(struct p9_wr *w, uint16_t v) { p9_wr_le(w, v, 2); }
static inline void p9_wr_u32(struct p9_wr *w, uint32_t v) { p9_wr_le(w, v, 4); }
static inline void p9_wr_u64(struct p9_wr *w, uint64_t v) { p9_wr_le(w, v, 8); }

static inline void p9_wr_bytes(struct p9_wr *w, const void *s, size_t n)
{
	uint8_t *b = p9_wr_take(w, n);

	if (b && n)
		memcpy(b, s, n);
}

/* A string of n bytes (n <= 65535, else bad). */
static inline void p9_wr_strn(struct p9_wr *w, const char *s, size_t n)
{
	if (n > 0xffff) {
		w->bad = true;
		return;
	}
	p9_wr_u16(w, (uint16_t)n);
	p9_wr_bytes(w, s, n);
}

static inline void p9_wr_str(struct p9_wr *w, const char *s)
{
	p9_wr_strn(w, s, strlen(s));
}

static inline void p9_wr_qid(struct p9_wr *w, const struct p9_qid *q)
{
	p9_wr_u8(w, q->type);
	p9_wr_u32(w, q->version);
	p9_wr_u64(w, q->path);
}

/* Start a message: room for size[4], then type and tag. */
static inline void p9_wr_hdr(struct p9_wr *w, uint8_t type, uint16_t tag)
{
	p9_wr_u32(w, 0);
	p9_wr_u8(w, type);
	p9_wr_u16(w, tag);
}

/* Finish a message started at offset 0 whose total size is total. */
static inline void p9_wr_set_size(struct p9_wr *w, uint32_t total)
{
	if (w->cap >= 4) {
		for (unsigned i = 0; i < 4; i++)
			w->p[i] = (uint8_t)(total >> (8 * i));
	}
}

#endif /* VQ_P9_WIRE_H */
