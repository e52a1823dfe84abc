/*
 * The passthrough list of one colo-compare object (docs/colo-proxy.md, spec/passthrough.md):
 * flows that are never compared. A matching primary packet is released at once, a matching
 * secondary packet is dropped, and neither ever asks for a checkpoint.
 *
 * Readers are the compare's iothread, once per packet; writers are QMP/HMP, rarely. Writers build
 * a new immutable snapshot (an array of rule pointers) under the mutex, swap it in and bump the
 * generation. A reader keeps a reference to the snapshot it last took and only goes back to the
 * mutex when the generation moved, so the per-packet cost is one atomic load. Callers cache each
 * connection's decision together with the generation it was made in.
 *
 *   writer: lock -> copy array +/- one rule -> swap snapshot -> gen++ -> unlock -> unref old
 *   reader: gen == cached gen ? use cached snapshot : lock -> ref snapshot -> unlock
 */
#ifndef NET_COLO_PASSTHROUGH_H
#define NET_COLO_PASSTHROUGH_H

#include <glib.h>
#include "net/colo.h"

G_BEGIN_DECLS

typedef struct ColoPassthroughRule {
    gboolean has_proto; /* FALSE: any protocol */
    guint8 proto;
    guint32 src_ip; /* network byte order; 0 = any */
    guint32 dst_ip;
    guint16 src_port; /* 0 = any */
    guint16 dst_port;
    /* Matched so far; updated by the packet path with atomic adds. */
    guint64 packets;
    guint64 bytes;
    gint ref; /* one per snapshot holding the rule */
} ColoPassthroughRule;

typedef struct ColoPassthroughIndex ColoPassthroughIndex;

typedef struct ColoPassthroughSnapshot {
    gint ref;
    guint generation;
    /*
     * Long lists are matched through a hash index built on first use: one table per combination
     * of wildcard fields (at most 32), so a lookup costs at most 32 probes whatever the length.
     */
    ColoPassthroughIndex *index; /* g_once_init_enter() */
    guint n_rules;
    ColoPassthroughRule *rules[]; /* match order */
} ColoPassthroughSnapshot;

typedef struct ColoPassthrough {
    GMutex lock;
    ColoPassthroughSnapshot *snap; /* under lock */
    guint generation;              /* atomic; bumped on every change */
} ColoPassthrough;

void colo_passthrough_init(ColoPassthrough *pt);
void colo_passthrough_destroy(ColoPassthrough *pt);

/* The five fields equal (counters not compared). */
gboolean colo_passthrough_rule_same(const ColoPassthroughRule *a, const ColoPassthroughRule *b);
/* Appends a copy of @rule; refuses a duplicate ("The pass through connection already exists"). */
gboolean colo_passthrough_add(ColoPassthrough *pt, const ColoPassthroughRule *rule, GError **errp);
/* Removes the rule with exactly these five fields. */
gboolean colo_passthrough_del(ColoPassthrough *pt, const ColoPassthroughRule *rule, GError **errp);

static inline guint colo_passthrough_generation(ColoPassthrough *pt)
{
    return g_atomic_int_get(&pt->generation);
}
/* The current snapshot with a reference taken. */
ColoPassthroughSnapshot *colo_passthrough_get(ColoPassthrough *pt);
void colo_passthrough_snapshot_unref(ColoPassthroughSnapshot *snap);

/* The first rule of @snap that matches a packet with this tuple, or NULL. */
ColoPassthroughRule *colo_passthrough_match(ColoPassthroughSnapshot *snap, const ColoConnKey *key);
void colo_passthrough_rule_count(ColoPassthroughRule *rule, guint32 bytes);

/* ---- building rules from the command arguments ---- */

/*
 * A protocol by name ("tcp", "icmp", ... or what getprotobyname(3) knows) or decimal number.
 * Error: "Invalid protocol 'x'".
 */
gboolean colo_passthrough_parse_proto(const char *name, guint8 *proto, GError **errp);
/* Dotted IPv4 for parameter @param; NULL or "" means any. */
gboolean colo_passthrough_parse_ip(const char *param, const char *str, guint32 *ip, GError **errp);
/* A port for parameter @param, 0..65535. */
gboolean colo_passthrough_check_port(const char *param, gint64 port, GError **errp);
/* Decimal port string ("3389"); NULL or "" means any. */
gboolean colo_passthrough_parse_port(const char *param, const char *str, guint16 *port,
                                     GError **errp);
/* Refuses ports on a protocol that has none ("Protocol 'icmp' has no ports"). */
gboolean colo_passthrough_rule_check(const ColoPassthroughRule *rule, GError **errp);
/*
 * A whole rule from the arguments of a passthrough command (docs/colo-proxy.md); the caller
 * still applies colo_passthrough_rule_check(). The V4 shape (colo-passthrough-add/del): @protocol
 * is required, a NULL port is absent. The later shape (passthrough-filter-add/del): every part may
 * be NULL (any), so a rule may name only a host or only a port of either end; ports are decimal
 * strings.
 */
gboolean colo_passthrough_rule_from_v4(ColoPassthroughRule *rule, const char *protocol,
                                       const char *src_ip, const char *dst_ip,
                                       const gint64 *src_port, const gint64 *dst_port,
                                       GError **errp);
gboolean colo_passthrough_rule_from_flow(ColoPassthroughRule *rule, const char *protocol,
                                         const char *src_host, const char *src_port,
                                         const char *dst_host, const char *dst_port, GError **errp);
/* "tcp 0.0.0.0:0 -> 10.0.0.2:3389" style, for HMP and logs; caller frees. */
char *colo_passthrough_rule_str(const ColoPassthroughRule *rule);

G_END_DECLS

#endif
