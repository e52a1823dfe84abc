/*
 * Paging and the software TLB.
 *
 *   linear ─► TLB[cpl==3][page slot] hit ─► host pointer (RAM)
 *                 │ miss
 *                 ▼
 *   page walk (none / 32-bit / PAE / 4-level) ─► A/D bits, permission checks, #PF
 *                 ▼
 *   guest physical ─► RAM: fill the TLB        not RAM: bus->mmio_read / mmio_write
 */
#include "target/i386/cpu-internal.h"
#include "memory/rom.h"

#include <stdio.h>

enum { ACC_READ = 0, ACC_WRITE = 1, ACC_EXEC = 2 };

#define PG_P    (1ull << 0)
#define PG_RW   (1ull << 1)
#define PG_US   (1ull << 2)
#define PG_A    (1ull << 5)
#define PG_D    (1ull << 6)
#define PG_PS   (1ull << 7)
#define PG_G    (1ull << 8)
#define PG_NX   (1ull << 63)
#define PG_ADDR 0x000ffffffffff000ull

static void tlb_clear_all(X86CPU *cpu)
{
    memset(cpu->tlb, 0xff, sizeof(cpu->tlb));
    for (int u = 0; u < 2; u++) {
        for (uint32_t i = 0; i < TLB_SIZE; i++) {
            cpu->tlb_side[u][i] = (TLBSide){.page = TLB_INVALID, .mask = GUEST_PAGE_MASK};
        }
    }
    cpu->tlb_large = 0;
    cpu->tlb_global = 0;
    cpu->tlb_local_n = 0;
}

static void tlb_drop(X86CPU *cpu, int u, uint32_t i)
{
    TLBSide *s = &cpu->tlb_side[u][i];
    if (s->page != TLB_INVALID) {
        cpu->tlb_large -= s->mask != GUEST_PAGE_MASK;
        cpu->tlb_global -= s->global;
    }
    *s = (TLBSide){.page = TLB_INVALID, .mask = GUEST_PAGE_MASK};
    memset(&cpu->tlb[u][i], 0xff, sizeof(TLBEntry));
}

/*
 * Every flush bumps the epoch: blocks are linked by linear address for as long as it stays
 * unchanged (cpu.c, jit.c), and any flush may be the guest announcing a new mapping. The
 * translator's links to other pages and its lookup slots also hold while their target page's
 * TLB entry is as it was (jit.c): a flush that keeps an entry keeps those.
 */
void x86_tlb_flush(X86CPU *cpu, X86TlbFlushCause why)
{
    tlb_clear_all(cpu);
    cpu->stats.tlb_flushes++;
    cpu->stats.tlb_flush_cause[why]++;
    cpu->tlb_epoch++;
    cpu->epoch_cause = X86_EPOCH_WHOLE;
    cpu->leave_flushed = 1;
}

/*
 * Linux on a CPU without PCID writes CR3 at every switch to another process; its kernel's
 * pages are global, and keeping them spares the kernel a page walk for each page it touches
 * again after the switch. Every non-global entry was filled since the last CR3 write or
 * whole flush, so the log of those fills finds them without reading the whole table (a
 * few hundred between two switches, against 4096 slots).
 */
G_STATIC_ASSERT(2 * TLB_SIZE <= UINT16_MAX + 1); /* a slot fits tlb_local_log */

void x86_tlb_flush_cr3(X86CPU *cpu)
{
    cpu->stats.tlb_cr3_flushes++;
    cpu->tlb_epoch++;
    cpu->epoch_cause = X86_EPOCH_CR3;
    cpu->leave_flushed = 1;
    if (!cpu->tlb_global) {
        tlb_clear_all(cpu);
        return;
    }
    cpu->stats.tlb_globals_kept += cpu->tlb_global;
    if (cpu->tlb_local_n <= TLB_LOCAL_LOG) {
        for (uint32_t k = 0; k < cpu->tlb_local_n; k++) {
            uint32_t slot = cpu->tlb_local_log[k];
            int u = slot / TLB_SIZE;
            uint32_t i = slot % TLB_SIZE;
            if (!cpu->tlb_side[u][i].global) {
                tlb_drop(cpu, u, i);
            }
        }
    } else {
        for (int u = 0; u < 2; u++) {
            for (uint32_t i = 0; i < TLB_SIZE; i++) {
                if (!cpu->tlb_side[u][i].global) {
                    tlb_drop(cpu, u, i);
                }
            }
        }
    }
    cpu->tlb_local_n = 0;
}

/*
 * A large page fills one entry per 4 KiB page touched: when the TLB holds any, the entries of
 * the large page that holds la are found by their recorded page and mask rather than by
 * flushing everything (Linux maps its kernel and the direct map with 2 MiB pages and
 * invalidates user pages one by one). Those entries can only sit in the slots of the 4 KiB
 * pages of the largest page size present around la, consecutive from its first: 512 slots a
 * table for 2 MiB pages rather than the whole table.
 */
void x86_tlb_flush_page(X86CPU *cpu, uint64_t la)
{
    cpu->stats.tlb_page_flushes++;
    cpu->tlb_epoch++;
    cpu->epoch_cause = X86_EPOCH_INVLPG;
    cpu->leave_flushed = 1;
    uint32_t slot = (la >> GUEST_PAGE_BITS) & (TLB_SIZE - 1);
    for (int u = 0; u < 2; u++) {
        tlb_drop(cpu, u, slot);
    }
    if (!cpu->tlb_large) {
        return;
    }
    bool dropped = false;
    uint64_t pages = (~cpu->tlb_large_mask + 1) >> GUEST_PAGE_BITS;
    uint32_t n = pages < TLB_SIZE ? (uint32_t)pages : TLB_SIZE;
    uint32_t first = ((la & cpu->tlb_large_mask) >> GUEST_PAGE_BITS) & (TLB_SIZE - 1);
    for (int u = 0; u < 2 && cpu->tlb_large; u++) {
        for (uint32_t k = 0; k < n; k++) {
            uint32_t i = (first + k) & (TLB_SIZE - 1);
            const TLBSide *s = &cpu->tlb_side[u][i];
            if (s->mask != GUEST_PAGE_MASK && s->page != TLB_INVALID &&
                !((s->page ^ la) & s->mask)) {
                tlb_drop(cpu, u, i);
                dropped = true;
            }
        }
    }
    cpu->stats.tlb_large_page_flushes += dropped;
}

void x86_tlb_info(const X86CPUStats *cs, GString *out)
{
    const uint64_t *c = cs->tlb_flush_cause;
    g_string_append_printf(out,
                           "TLB full flushes    %" PRIu64 " (CR0 %" PRIu64 ", CR4 %" PRIu64
                           ", EFER %" PRIu64 ", reset or state load %" PRIu64 ")\n",
                           cs->tlb_flushes, c[X86_TLB_FLUSH_CR0], c[X86_TLB_FLUSH_CR4],
                           c[X86_TLB_FLUSH_EFER], c[X86_TLB_FLUSH_STATE]);
    g_string_append_printf(out,
                           "TLB CR3 flushes     %" PRIu64 " (global entries kept %" PRIu64 ")\n",
                           cs->tlb_cr3_flushes, cs->tlb_globals_kept);
    g_string_append_printf(
        out, "TLB page flushes    %" PRIu64 " (invlpg; %" PRIu64 " also dropped a large page)\n",
        cs->tlb_page_flushes, cs->tlb_large_page_flushes);
    g_string_append_printf(out, "TLB page walks      %" PRIu64 "\n", cs->tlb_walks);
}

void x86_note_store_slow(X86CPU *cpu, uint64_t pi)
{
    uint8_t st = cpu->ram->page_state[pi];
    guest_ram_note_store_slow(cpu->ram, pi);
    if (st & PAGE_CODE) {
        cpu->tb_exit = 1;
    }
}

/* A page-table entry in RAM, or NULL. */
static void *pte_ptr(X86CPU *cpu, uint64_t gpa, int size)
{
    return guest_ram_host_ptr(cpu->ram, gpa, size);
}

static uint64_t pte_read(void *p, int size)
{
    if (size == 8) {
        return __atomic_load_n((uint64_t *)p, __ATOMIC_RELAXED);
    }
    return __atomic_load_n((uint32_t *)p, __ATOMIC_RELAXED);
}

static void pte_set(X86CPU *cpu, void *p, int size, uint64_t bits)
{
    if (size == 8) {
        __atomic_fetch_or((uint64_t *)p, bits, __ATOMIC_SEQ_CST);
    } else {
        __atomic_fetch_or((uint32_t *)p, (uint32_t)bits, __ATOMIC_SEQ_CST);
    }
    x86_note_store(cpu, p);
}

typedef struct Walk {
    uint64_t gpa;
    bool writable; /* a write may go through the TLB (permission and D bit) */
    bool exec;
    bool global;   /* the page survives CR3 writes (G bit, CR4.PGE) */
    uint64_t mask; /* of the page that maps it: GUEST_PAGE_MASK, or a large page's */
} Walk;

/*
 * Translates; on a fault returns false with *err the #PF error code. With `commit` the
 * accessed/dirty bits are set; without, nothing in the guest changes.
 */
static bool walk(X86CPU *cpu, uint64_t la, int acc, int user, bool commit, Walk *w, uint32_t *err)
{
    X86CPUState *env = &cpu->env;
    uint32_t ecode = (acc == ACC_WRITE ? PF_W : 0) | (user ? PF_U : 0);
    bool nxe = env->efer & EFER_NXE;

    if (!(env->cr0 & CR0_PG)) {
        w->gpa = cpu->lma ? la : (uint32_t)la;
        w->writable = true;
        w->exec = true;
        w->global = false;
        w->mask = GUEST_PAGE_MASK;
        return true;
    }

    int levels, esz;
    uint64_t table;
    void *pp[4];
    int np = 0;
    bool rw = true, us = true, nx = false;
    uint64_t pte = 0;
    int shift;

    if (env->cr4 & CR4_PAE) {
        esz = 8;
        if (cpu->lma) {
            levels = 4;
            table = env->cr3 & PG_ADDR;
            shift = 39;
        } else {
            /* PAE: the PDPTE comes from cr3 (we read it live rather than caching) */
            levels = 2;
            uint64_t pdpte_gpa = (env->cr3 & 0xffffffe0) + ((la >> 30) & 3) * 8;
            void *p = pte_ptr(cpu, pdpte_gpa, 8);
            if (!p) {
                goto not_present;
            }
            uint64_t e = pte_read(p, 8);
            if (!(e & PG_P)) {
                goto not_present;
            }
            table = e & PG_ADDR;
            shift = 21;
        }
    } else {
        esz = 4;
        levels = 2;
        table = env->cr3 & 0xfffff000;
        shift = 22;
    }

    for (int lvl = levels; lvl >= 1; lvl--, shift -= (esz == 8 ? 9 : 10)) {
        uint64_t idx = (la >> shift) & (esz == 8 ? 511 : 1023);
        void *p = pte_ptr(cpu, table + idx * esz, esz);
        if (!p) {
            goto not_present;
        }
        pte = pte_read(p, esz);
        if (!(pte & PG_P)) {
            goto not_present;
        }
        if (esz == 8 && (pte & PG_NX) && !nxe) {
            *err = ecode | PF_P | PF_RSVD;
            return false;
        }
        pp[np++] = p;
        rw = rw && (pte & PG_RW);
        us = us && (pte & PG_US);
        nx = nx || (esz == 8 && (pte & PG_NX) && nxe);
        bool leaf = lvl == 1;
        if (!leaf && (pte & PG_PS)) {
            bool ok = esz == 8 ? (lvl == 2 || (lvl == 3 && cpu->lma)) : (env->cr4 & CR4_PSE);
            if (ok) {
                uint64_t psize = 1ull << shift;
                uint64_t base;
                if (esz == 8) {
                    base = pte & PG_ADDR & ~(psize - 1);
                } else {
                    /* 4 MiB page; PSE-36 bits 13-16 give address bits 32-35 */
                    base = (pte & 0xffc00000) | ((pte & 0x1e000) << 19);
                }
                w->gpa = base | (la & (psize - 1) & ~0xfffull);
                w->mask = ~(psize - 1);
                goto found;
            }
        }
        if (leaf) {
            w->gpa = pte & (esz == 8 ? PG_ADDR : 0xfffff000);
            w->mask = GUEST_PAGE_MASK;
            goto found;
        }
        table = pte & (esz == 8 ? PG_ADDR : 0xfffff000);
    }
not_present:
    *err = ecode | ((acc == ACC_EXEC && nxe && (env->cr4 & CR4_PAE)) ? PF_I : 0);
    return false;

found:
    if (user && !us) {
        goto protection;
    }
    if (acc == ACC_WRITE && !rw && (user || (env->cr0 & CR0_WP))) {
        goto protection;
    }
    if (acc == ACC_EXEC && nx) {
        goto protection;
    }
    if (commit) {
        for (int i = 0; i < np; i++) {
            if (!(pte_read(pp[i], esz) & PG_A)) {
                pte_set(cpu, pp[i], esz, PG_A);
            }
        }
        if (acc == ACC_WRITE && !(pte & PG_D)) {
            pte_set(cpu, pp[np - 1], esz, PG_D);
            pte |= PG_D;
        }
    }
    w->writable = (rw || (!user && !(env->cr0 & CR0_WP))) && (pte & PG_D);
    w->exec = !nx;
    w->global = (pte & PG_G) && (env->cr4 & CR4_PGE);
    w->gpa |= la & 0xfff;
    return true;

protection:
    *err = ecode | PF_P | ((acc == ACC_EXEC && nxe) ? PF_I : 0);
    return false;
}

static bool canonical(const X86CPU *cpu, uint64_t la)
{
    return !cpu->lma || (uint64_t)((int64_t)(la << 16) >> 16) == la;
}

static void check_canonical(X86CPU *cpu, uint64_t la)
{
    if (!canonical(cpu, la)) {
        x86_raise(cpu, EXCP_GP, 0);
    }
}

/*
 * An entry describes one linear page: another page in its slot, a new host address or a
 * page of another size or globalness drops what it held. Tags of the same page and mapping
 * add up (read, then write once the D bit is set, then code).
 */
static void tlb_fill(X86CPU *cpu, uint64_t la, int user, const Walk *w, uint64_t off)
{
    uint32_t i = (la >> GUEST_PAGE_BITS) & (TLB_SIZE - 1);
    TLBEntry *e = &cpu->tlb[user][i];
    TLBSide *s = &cpu->tlb_side[user][i];
    uint64_t page = la & GUEST_PAGE_MASK;
    uintptr_t addend = (uintptr_t)(cpu->ram->host + off) - page;
    if (e->addend != addend || s->page != page || s->mask != w->mask || s->global != w->global) {
        tlb_drop(cpu, user, i);
        *s = (TLBSide){.page = page, .mask = w->mask, .global = w->global};
        if (w->mask != GUEST_PAGE_MASK) {
            bool larger = !cpu->tlb_large || w->mask < cpu->tlb_large_mask;
            cpu->tlb_large_mask = larger ? w->mask : cpu->tlb_large_mask;
            cpu->tlb_large++;
        }
        cpu->tlb_global += w->global;
        if (!w->global && cpu->tlb_local_n <= TLB_LOCAL_LOG) {
            if (cpu->tlb_local_n < TLB_LOCAL_LOG) {
                cpu->tlb_local_log[cpu->tlb_local_n] = user * TLB_SIZE + i;
            }
            cpu->tlb_local_n++;
        }
        e->addend = addend;
    }
    e->read = page;
    if (w->writable && guest_ram_direct_store(cpu->ram, w->gpa & GUEST_PAGE_MASK, off)) {
        e->write = page;
    }
    if (w->exec) {
        e->code = page;
    }
}

/* Translate for the slow paths; fills the TLB for RAM pages; raises #PF / #GP. */
static uint64_t xlate(X86CPU *cpu, uint64_t la, int acc, int user)
{
    Walk w;
    uint32_t err;
    check_canonical(cpu, la);
    cpu->stats.tlb_walks++;
    if (!walk(cpu, la, acc, user, true, &w, &err)) {
        cpu->env.cr2 = la;
        x86_raise(cpu, EXCP_PF, err);
    }
    uint64_t off = guest_ram_offset(cpu->ram, w.gpa & GUEST_PAGE_MASK);
    if (off != UINT64_MAX) {
        tlb_fill(cpu, la, user, &w, off);
    }
    return w.gpa;
}

bool x86_cpu_translate(X86CPU *cpu, uint64_t la, bool write, uint64_t *gpa)
{
    Walk w;
    uint32_t err;
    if (!walk(cpu, la, write ? ACC_WRITE : ACC_READ, 0, false, &w, &err)) {
        return false;
    }
    *gpa = w.gpa;
    return true;
}

static uint64_t phys_read(X86CPU *cpu, uint64_t gpa, int size)
{
    uint64_t off = guest_ram_offset(cpu->ram, gpa);
    if (off != UINT64_MAX) {
        uint64_t v = 0;
        memcpy(&v, cpu->ram->host + off, size);
        return v;
    }
    if (cpu->bus && cpu->bus->mmio_read) {
        return cpu->bus->mmio_read(cpu->opaque, gpa, size);
    }
    return size_mask(size);
}

static void phys_write(X86CPU *cpu, uint64_t gpa, uint64_t v, int size)
{
    uint64_t off = guest_ram_offset(cpu->ram, gpa);
    if (off != UINT64_MAX && !guest_ram_direct_store(cpu->ram, gpa, off)) {
        if (off < cpu->ram->size) {
            bool code = cpu->ram->page_state[off >> GUEST_PAGE_BITS] & PAGE_CODE;
            guest_shadow_store(cpu->ram, gpa, v, size); /* else the ROM: dropped */
            cpu->tb_exit |= code;
        }
        return;
    }
    if (off != UINT64_MAX) {
        memcpy(cpu->ram->host + off, &v, size);
        x86_note_store(cpu, cpu->ram->host + off);
        return;
    }
    if (cpu->bus && cpu->bus->mmio_write) {
        cpu->bus->mmio_write(cpu->opaque, gpa, v, size);
    }
}

uint64_t x86_ld_slow(X86CPU *cpu, uint64_t la, int size, int user)
{
    if ((la & (GUEST_PAGE_SIZE - 1)) + size > GUEST_PAGE_SIZE) {
        uint64_t v = 0;
        for (int i = 0; i < size; i++) {
            uint64_t bla = cpu->code64 ? la + i : (uint32_t)(la + i);
            v |= x86_ld_user(cpu, bla, 1, user) << (8 * i);
        }
        return v;
    }
    uint64_t gpa = xlate(cpu, la, ACC_READ, user);
    return phys_read(cpu, gpa, size);
}

void x86_st_slow(X86CPU *cpu, uint64_t la, uint64_t val, int size, int user)
{
    if ((la & (GUEST_PAGE_SIZE - 1)) + size > GUEST_PAGE_SIZE) {
        /* both pages must be writable before any byte changes */
        uint64_t la2 = cpu->code64 ? (la | 0xfff) + 1 : (uint32_t)((la | 0xfff) + 1);
        uint64_t g1 = xlate(cpu, la, ACC_WRITE, user);
        uint64_t g2 = xlate(cpu, la2, ACC_WRITE, user);
        int n1 = GUEST_PAGE_SIZE - (la & (GUEST_PAGE_SIZE - 1));
        for (int i = 0; i < size; i++) {
            uint64_t g = i < n1 ? g1 + i : g2 + (i - n1);
            phys_write(cpu, g, (val >> (8 * i)) & 0xff, 1);
        }
        return;
    }
    uint64_t gpa = xlate(cpu, la, ACC_WRITE, user);
    phys_write(cpu, gpa, val, size);
}

uint8_t *x86_code_ptr(X86CPU *cpu, uint64_t la, uint64_t *ram_off)
{
    int user = cpu->mmu_user;
    TLBEntry *e = x86_tlbe(cpu, la, user);
    if (e->code != (la & GUEST_PAGE_MASK)) {
        uint64_t gpa = xlate(cpu, la, ACC_EXEC, user);
        if (guest_ram_offset(cpu->ram, gpa) == UINT64_MAX) {
            return NULL;
        }
        e = x86_tlbe(cpu, la, user);
        if (e->code != (la & GUEST_PAGE_MASK)) {
            return NULL;
        }
    }
    uint8_t *p = (uint8_t *)(e->addend + la);
    *ram_off = p - cpu->ram->host;
    return p;
}

uint8_t *x86_code_probe(X86CPU *cpu, uint64_t la, uint64_t *ram_off)
{
    int user = cpu->mmu_user;
    TLBEntry *e = x86_tlbe(cpu, la, user);
    uint64_t off;
    if (e->code == (la & GUEST_PAGE_MASK)) {
        off = (uint8_t *)(e->addend + la) - cpu->ram->host;
    } else {
        Walk w;
        uint32_t err;
        if (!canonical(cpu, la) || !walk(cpu, la, ACC_EXEC, user, false, &w, &err) || !w.exec) {
            return NULL;
        }
        off = guest_ram_offset(cpu->ram, w.gpa & GUEST_PAGE_MASK);
        if (off == UINT64_MAX) {
            return NULL;
        }
        off += la & (GUEST_PAGE_SIZE - 1);
    }
    *ram_off = off;
    return cpu->ram->host + off;
}

void *x86_rmw_ptr(X86CPU *cpu, uint64_t la, int size)
{
    if ((la & (GUEST_PAGE_SIZE - 1)) + size > GUEST_PAGE_SIZE) {
        return NULL;
    }
    int user = cpu->mmu_user;
    TLBEntry *e = x86_tlbe(cpu, la, user);
    if (e->write != (la & GUEST_PAGE_MASK)) {
        uint64_t gpa = xlate(cpu, la, ACC_WRITE, user);
        if (guest_ram_offset(cpu->ram, gpa) == UINT64_MAX) {
            return NULL;
        }
        e = x86_tlbe(cpu, la, user);
        if (e->write != (la & GUEST_PAGE_MASK)) {
            return NULL;
        }
    }
    return (void *)(e->addend + la);
}
