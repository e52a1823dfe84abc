/* Self-announcement (include/net/announce.h). */
#include <string.h>

#include "net/announce.h"
#include "net/net.h"

typedef struct AnnounceTimer {
    AnnounceParameters params; /* copy: interfaces and id owned here */
    int64_t round;             /* rounds still to send */
    guint source;
    const char *name; /* announce-self's id (the table's key), NULL for the migration's */
} AnnounceTimer;

static GHashTable *named_timers; /* id -> AnnounceTimer */
static AnnounceTimer migration_timer;

void announce_build_rarp(const uint8_t mac[6], uint8_t frame[ANNOUNCE_FRAME_LEN])
{
    static const uint8_t rarp_head[] = {
        0x80, 0x35, /* ethertype: RARP */
        0x00, 0x01, /* hardware: Ethernet */
        0x08, 0x00, /* protocol: IPv4 */
        6,    4,    /* address lengths */
        0x00, 0x03, /* opcode: reverse request */
    };
    memset(frame, 0, ANNOUNCE_FRAME_LEN);
    memset(frame, 0xff, 6);
    memcpy(frame + 6, mac, 6);
    memcpy(frame + 12, rarp_head, sizeof(rarp_head));
    memcpy(frame + 22, mac, 6); /* sender hardware address; sender IP 0.0.0.0 */
    memcpy(frame + 32, mac, 6); /* target hardware address; target IP 0.0.0.0 */
}

static bool wanted(const AnnounceTimer *t, const char *name)
{
    GPtrArray *ifs = t->params.interfaces;
    if (!ifs) {
        return true;
    }
    for (guint i = 0; i < ifs->len; i++) {
        if (strcmp(g_ptr_array_index(ifs, i), name) == 0) {
            return true;
        }
    }
    return false;
}

static void announce_round(AnnounceTimer *t)
{
    for (GList *l = qemu_net_clients(); l; l = l->next) {
        NetClientState *nc = l->data;
        if (nc->info->type != NET_CLIENT_DRIVER_NIC || !nc->has_macaddr || !wanted(t, nc->name)) {
            continue;
        }
        uint8_t frame[ANNOUNCE_FRAME_LEN];
        announce_build_rarp(nc->macaddr, frame);
        qemu_send_packet(nc, frame, sizeof(frame));
    }
}

static void timer_clear(AnnounceTimer *t)
{
    if (t->source) {
        g_source_remove(t->source);
        t->source = 0;
    }
    qapi_free_members_AnnounceParameters(&t->params);
    memset(&t->params, 0, sizeof(t->params));
}

static void timer_end(AnnounceTimer *t)
{
    if (t->name) {
        g_hash_table_remove(named_timers, t->name);
    } else {
        timer_clear(t);
    }
}

static gboolean timer_fire(gpointer opaque);

/* The gap after the round just sent, as 7.2 computes it. */
static void timer_schedule(AnnounceTimer *t)
{
    int64_t gap = t->params.initial + (t->params.rounds - t->round - 1) * t->params.step;
    if (gap < 0 || gap > t->params.max) {
        gap = t->params.max;
    }
    t->source = g_timeout_add_full(G_PRIORITY_DEFAULT, (guint)MIN(gap, (int64_t)G_MAXUINT),
                                   timer_fire, t, NULL);
}

static void timer_step(AnnounceTimer *t)
{
    announce_round(t);
    if (--t->round) {
        timer_schedule(t);
    } else {
        timer_end(t);
    }
}

static gboolean timer_fire(gpointer opaque)
{
    AnnounceTimer *t = opaque;
    t->source = 0;
    timer_step(t);
    return G_SOURCE_REMOVE;
}

static void timer_start(AnnounceTimer *t, const AnnounceParameters *p)
{
    timer_clear(t);
    t->params = *p;
    t->params.id = g_strdup(p->id);
    t->params.interfaces = NULL;
    if (p->interfaces) {
        t->params.interfaces = g_ptr_array_new_with_free_func(g_free);
        for (guint i = 0; i < p->interfaces->len; i++) {
            g_ptr_array_add(t->params.interfaces, g_strdup(g_ptr_array_index(p->interfaces, i)));
        }
    }
    t->round = p->rounds;
    if (t->round) {
        timer_step(t);
    } else {
        timer_end(t);
    }
}

static void named_timer_free(gpointer data)
{
    AnnounceTimer *t = data;
    timer_clear(t);
    g_free(t);
}

void announce_self_named(const AnnounceParameters *params)
{
    if (!named_timers) {
        named_timers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, named_timer_free);
    }
    const char *id = params->id ? params->id : "";
    AnnounceTimer *t = g_hash_table_lookup(named_timers, id);
    if (!t) {
        t = g_new0(AnnounceTimer, 1);
        t->name = g_strdup(id); /* freed by the table, with @t */
        g_hash_table_insert(named_timers, (char *)t->name, t);
    }
    timer_start(t, params);
}

void announce_self_after_migration(const AnnounceParameters *params)
{
    timer_start(&migration_timer, params);
}

void announce_stop_all(void)
{
    if (named_timers) {
        g_hash_table_remove_all(named_timers);
    }
    timer_clear(&migration_timer);
}
