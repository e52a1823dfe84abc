/* The pc's ACPI tables: checksums, pointers, layout of RSDP, RSDT/XSDT, FADT, MADT, DSDT. */
#include "hw/acpi/acpi-tables.h"
#include "hw/i386/e820.h"
#include "hw/intc/apic.h"

#include <string.h>

#define BASE 0xe0000

static const uint8_t *at(AcpiTables *t, uint64_t gpa)
{
    g_assert_cmpuint(gpa, >=, t->base);
    g_assert_cmpuint(gpa - t->base, <, t->blob->len);
    return t->blob->data + (gpa - t->base);
}

static uint32_t le32(const uint8_t *p)
{
    return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
    return le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* A table at gpa with signature sig: returns its length after checking the checksum. */
static uint32_t check_table(AcpiTables *t, uint64_t gpa, const char *sig)
{
    const uint8_t *p = at(t, gpa);
    g_assert_cmpmem(p, 4, sig, 4);
    uint32_t len = le32(p + 4);
    g_assert_cmpuint(gpa - t->base + len, <=, t->blob->len);
    g_assert_cmpint(acpi_checksum(p, len), ==, 0);
    return len;
}

static void test_rsdp(void)
{
    AcpiTables *t = acpi_build_pc_tables(BASE, 512ull << 20, true);
    const uint8_t *r = at(t, t->rsdp);
    g_assert_cmpuint(t->rsdp % 16, ==, 0);
    g_assert_cmpmem(r, 8, "RSD PTR ", 8);
    g_assert_cmpint(acpi_checksum(r, 20), ==, 0);
    g_assert_cmpint(acpi_checksum(r, 36), ==, 0);
    g_assert_cmpint(r[15], ==, 2);
    g_assert_cmpuint(le32(r + 16), ==, t->rsdt);
    g_assert_cmpuint(le32(r + 20), ==, 36);
    g_assert_cmpuint(le64(r + 24), ==, t->xsdt);
    acpi_tables_free(t);
}

static void test_rsdt_xsdt(void)
{
    AcpiTables *t = acpi_build_pc_tables(BASE, 512ull << 20, true);
    uint32_t len = check_table(t, t->rsdt, "RSDT");
    g_assert_cmpuint(len, ==, 36 + 3 * 4);
    const uint8_t *p = at(t, t->rsdt);
    g_assert_cmpuint(le32(p + 36), ==, t->fadt);
    g_assert_cmpuint(le32(p + 40), ==, t->madt);
    g_assert_cmpuint(le32(p + 44), ==, t->hpet);
    len = check_table(t, t->xsdt, "XSDT");
    g_assert_cmpuint(len, ==, 36 + 3 * 8);
    p = at(t, t->xsdt);
    g_assert_cmpuint(le64(p + 36), ==, t->fadt);
    g_assert_cmpuint(le64(p + 44), ==, t->madt);
    g_assert_cmpuint(le64(p + 52), ==, t->hpet);
    acpi_tables_free(t);
}

/* Linux finds the HPET by this table: its id (the capabilities register) and its address. */
static void test_hpet(void)
{
    AcpiTables *t = acpi_build_pc_tables(BASE, 512ull << 20, true);
    uint32_t len = check_table(t, t->hpet, "HPET");
    g_assert_cmpuint(len, ==, 56);
    const uint8_t *h = at(t, t->hpet);
    g_assert_cmpuint(le32(h + 36), ==, 0x80862201);
    g_assert_cmpuint(h[40], ==, 0); /* system memory */
    g_assert_cmpuint(le64(h + 44), ==, 0xfed00000);
    acpi_tables_free(t);
}

/* hpet=off: no HPET table, the RSDT and XSDT list the FADT and the MADT alone. */
static void test_no_hpet(void)
{
    AcpiTables *t = acpi_build_pc_tables(BASE, 512ull << 20, false);
    g_assert_cmpuint(t->hpet, ==, 0);
    g_assert_cmpuint(check_table(t, t->rsdt, "RSDT"), ==, 36 + 2 * 4);
    g_assert_cmpuint(check_table(t, t->xsdt, "XSDT"), ==, 36 + 2 * 8);
    g_assert_cmpuint(le32(at(t, t->rsdt) + 40), ==, t->madt);
    g_assert_cmpuint(le64(at(t, t->xsdt) + 44), ==, t->madt);
    g_assert_null(memmem(t->blob->data, t->blob->len, "HPET", 4));
    acpi_tables_free(t);
}

static void test_fadt(void)
{
    AcpiTables *t = acpi_build_pc_tables(BASE, 512ull << 20, true);
    uint32_t len = check_table(t, t->fadt, "FACP");
    g_assert_cmpuint(len, ==, 244);
    const uint8_t *f = at(t, t->fadt);
    g_assert_cmpuint(le32(f + 36), ==, t->facs);
    g_assert_cmpuint(le32(f + 40), ==, t->dsdt);
    g_assert_cmpuint(f[46], ==, ACPI_SCI_IRQ);
    g_assert_cmpuint(le32(f + 56), ==, ACPI_PM1_EVT);
    g_assert_cmphex(ACPI_PM1_EVT, ==, 0x600); /* where SeaBIOS puts the block, as 7.2's FADT */
    g_assert_cmpuint(le32(f + 64), ==, ACPI_PM1_CNT);
    g_assert_cmpuint(le32(f + 76), ==, ACPI_PM_TMR);
    g_assert_cmphex(le32(f + 80), ==, 0xafe0); /* GPE0_BLK, 4 bytes, as 7.2 */
    g_assert_cmpuint(f[92], ==, 4);
    g_assert_cmpuint(f[220], ==, 1); /* X_GPE0_BLK in I/O space */
    g_assert_cmphex(le64(f + 224), ==, 0xafe0);
    g_assert_cmpuint(f[89], ==, 2);
    g_assert_cmpuint(f[91], ==, 4);
    g_assert_cmpuint(le32(f + 112) & (1u << 10), !=, 0); /* RESET_REG_SUP */
    g_assert_cmpuint(f[116], ==, 1);                     /* reset register in I/O space */
    g_assert_cmpuint(le64(f + 120), ==, ACPI_RESET_PORT);
    g_assert_cmpuint(f[128], ==, ACPI_RESET_VALUE);
    g_assert_cmpuint(le64(f + 140), ==, t->dsdt);
    g_assert_cmpuint(le64(f + 172 + 4), ==, ACPI_PM1_CNT); /* X_PM1a_CNT_BLK address */
    /* FACS: 64-byte aligned, no checksum, length 64 */
    g_assert_cmpuint(t->facs % 64, ==, 0);
    g_assert_cmpmem(at(t, t->facs), 4, "FACS", 4);
    g_assert_cmpuint(le32(at(t, t->facs) + 4), ==, 64);
    acpi_tables_free(t);
}

static void test_madt(void)
{
    AcpiTables *t = acpi_build_pc_tables(BASE, 512ull << 20, true);
    uint32_t len = check_table(t, t->madt, "APIC");
    const uint8_t *m = at(t, t->madt);
    g_assert_cmpuint(le32(m + 36), ==, LAPIC_BASE);
    g_assert_cmpuint(le32(m + 40), ==, 1);
    int lapics = 0, ioapics = 0, isos = 0, nmis = 0;
    bool irq0_to_2 = false;
    for (uint32_t off = 44; off < len;) {
        uint8_t type = m[off], elen = m[off + 1];
        g_assert_cmpuint(elen, >=, 2);
        g_assert_cmpuint(off + elen, <=, len);
        switch (type) {
        case 0:
            g_assert_cmpuint(elen, ==, 8);
            g_assert_cmpuint(le32(m + off + 4) & 1, ==, 1);
            lapics++;
            break;
        case 1:
            g_assert_cmpuint(elen, ==, 12);
            g_assert_cmpuint(le32(m + off + 4), ==, IOAPIC_BASE);
            g_assert_cmpuint(le32(m + off + 8), ==, 0);
            ioapics++;
            break;
        case 2:
            g_assert_cmpuint(elen, ==, 10);
            if (m[off + 3] == 0 && le32(m + off + 4) == 2) {
                irq0_to_2 = true;
            }
            isos++;
            break;
        case 4:
            g_assert_cmpuint(elen, ==, 6);
            g_assert_cmpuint(m[off + 5], ==, 1);
            nmis++;
            break;
        default:
            g_assert_not_reached();
        }
        off += elen;
    }
    g_assert_cmpint(lapics, ==, 1);
    g_assert_cmpint(ioapics, ==, 1);
    g_assert_cmpint(isos, ==, 5);
    g_assert_cmpint(nmis, ==, 1);
    g_assert_true(irq0_to_2);
    acpi_tables_free(t);
}

/* AML PkgLength at p: returns the encoded length and sets *nbytes to its size. */
static uint32_t pkg_length(const uint8_t *p, int *nbytes)
{
    int follow = p[0] >> 6;
    *nbytes = 1 + follow;
    if (!follow) {
        return p[0] & 0x3f;
    }
    uint32_t len = p[0] & 0x0f;
    for (int i = 0; i < follow; i++) {
        len |= (uint32_t)p[1 + i] << (4 + 8 * i);
    }
    return len;
}

static const uint8_t *find_name(const uint8_t *from, const uint8_t *to, const char *seg)
{
    for (const uint8_t *p = from; p + 5 <= to; p++) {
        if (p[0] == 0x08 && !memcmp(p + 1, seg, 4)) {
            return p + 5;
        }
    }
    return NULL;
}

static void test_dsdt(void)
{
    AcpiTables *t = acpi_build_pc_tables(BASE, 512ull << 20, true);
    uint32_t len = check_table(t, t->dsdt, "DSDT");
    const uint8_t *d = at(t, t->dsdt);
    const uint8_t *end = d + len;
    /* Scope (\_SB) { Device (PCI0) {...} } then Name (_S5, ...) ending the table */
    g_assert_cmpuint(d[36], ==, 0x10);
    int nb;
    uint32_t scope_len = pkg_length(d + 37, &nb);
    const uint8_t *scope_end = d + 37 + scope_len;
    g_assert_true(scope_end < end);
    const uint8_t *p = d + 37 + nb;
    g_assert_cmpmem(p, 5, "\\_SB_", 5);
    p += 5;
    g_assert_cmpuint(p[0], ==, 0x5b);
    g_assert_cmpuint(p[1], ==, 0x82);
    uint32_t dev_len = pkg_length(p + 2, &nb);
    g_assert_true(p + 2 + dev_len == scope_end); /* the device fills the scope exactly */
    const uint8_t *dev = p + 2 + nb;
    g_assert_cmpmem(dev, 4, "PCI0", 4);
    const uint8_t *hid = find_name(dev, scope_end, "_HID");
    g_assert_nonnull(hid);
    g_assert_cmpmem(hid, 5, "\x0c\x41\xd0\x0a\x03", 5);
    /* _CRS: a buffer of resource descriptors ending with the end tag */
    const uint8_t *crs = find_name(dev, scope_end, "_CRS");
    g_assert_nonnull(crs);
    g_assert_cmpuint(crs[0], ==, 0x11);
    uint32_t buf_len = pkg_length(crs + 1, &nb);
    const uint8_t *q = crs + 1 + nb;
    uint32_t size = q[0] == 0x0a ? q[1] : (q[0] == 0x0c ? q[1] | q[2] << 8 : 0);
    q += q[0] == 0x0a ? 2 : 5;
    g_assert_true(q + size == crs + 1 + buf_len);
    int descs = 0;
    bool saw_hole = false;
    const uint8_t *r = q;
    while (r < q + size && r[0] != 0x79) {
        if (r[0] & 0x80) {
            uint16_t l = r[1] | r[2] << 8;
            if (r[0] == 0x87 && le32(r + 10) == (512u << 20) && le32(r + 14) == 0xfebfffff) {
                saw_hole = true;
            }
            r += 3 + l;
        } else {
            r += 1 + (r[0] & 7);
        }
        descs++;
    }
    g_assert_cmpuint(r[0], ==, 0x79);
    g_assert_true(r + 2 == q + size);
    g_assert_cmpint(descs, ==, 6);
    g_assert_true(saw_hole);
    /* _PRT: 31 slots x 4 pins, slot 1 INTA on GSI 10 */
    const uint8_t *prt = find_name(dev, scope_end, "_PRT");
    g_assert_nonnull(prt);
    g_assert_cmpuint(prt[0], ==, 0x12);
    pkg_length(prt + 1, &nb);
    g_assert_cmpuint(prt[1 + nb], ==, 124);
    const uint8_t *e = prt + 2 + nb;
    g_assert_cmpuint(e[0], ==, 0x12);
    g_assert_cmpuint(e[2], ==, 4);
    g_assert_cmphex(e[3], ==, 0x0c);
    g_assert_cmphex(le32(e + 4), ==, 0x1ffff);
    g_assert_cmpuint(e[8], ==, 0x00); /* pin INTA */
    g_assert_cmpuint(e[9], ==, 0x00); /* no link device */
    g_assert_cmpuint(e[10], ==, 0x0a);
    g_assert_cmpuint(e[11], ==, 10);
    /* Name (_S5, Package (4) {...}) closes the table */
    g_assert_cmpuint(scope_end[0], ==, 0x08);
    g_assert_cmpmem(scope_end + 1, 4, "_S5_", 4);
    g_assert_cmpuint(scope_end[5], ==, 0x12);
    g_assert_true(scope_end + 12 == end);
    /* everything fits in the reserved BIOS area */
    g_assert_cmpuint(BASE + t->blob->len, <=, 0x100000);
    acpi_tables_free(t);
}

/* The body of Device (seg) between from and to (searched at any depth), or NULL. */
static const uint8_t *find_device(const uint8_t *from, const uint8_t *to, const char *seg,
                                  const uint8_t **body_end)
{
    for (const uint8_t *p = from; p + 7 <= to; p++) {
        if (p[0] != 0x5b || p[1] != 0x82) {
            continue;
        }
        int nb;
        uint32_t len = pkg_length(p + 2, &nb);
        if (p + 2 + len <= to && !memcmp(p + 2 + nb, seg, 4)) {
            *body_end = p + 2 + len;
            return p + 2 + nb + 4;
        }
    }
    return NULL;
}

/* The resource template of Name (_CRS, Buffer) in [dev, end): its bytes, end tag included. */
static GByteArray *crs_bytes(const uint8_t *dev, const uint8_t *end)
{
    const uint8_t *crs = find_name(dev, end, "_CRS");
    g_assert_nonnull(crs);
    g_assert_cmpuint(crs[0], ==, 0x11);
    int nb;
    uint32_t buf_len = pkg_length(crs + 1, &nb);
    const uint8_t *q = crs + 1 + nb;
    g_assert_cmpuint(q[0], ==, 0x0a); /* a short buffer: its size in a byte */
    g_assert_true(q + 2 + q[1] == crs + 1 + buf_len);
    GByteArray *b = g_byte_array_new();
    g_byte_array_append(b, q + 2, q[1]);
    return b;
}

/* PCI0 holds ISA (_ADR 0x00010000: 00:01.0), which holds the PS/2 keyboard and mouse as 7.2's:
 * KBD PNP0303 with ports 0x60 and 0x64 and IRQ 1, MOU PNP0F13 with IRQ 12, both _STA 0x0f. */
static void test_dsdt_ps2(void)
{
    AcpiTables *t = acpi_build_pc_tables(BASE, 512ull << 20, true);
    uint32_t len = check_table(t, t->dsdt, "DSDT");
    const uint8_t *d = at(t, t->dsdt), *end = d + len;
    const uint8_t *pci0_end, *isa_end, *kbd_end, *mou_end;
    const uint8_t *pci0 = find_device(d + 36, end, "PCI0", &pci0_end);
    g_assert_nonnull(pci0);
    const uint8_t *isa = find_device(pci0, pci0_end, "ISA_", &isa_end);
    g_assert_nonnull(isa);
    g_assert_true(isa_end <= pci0_end);
    const uint8_t *adr = find_name(isa, isa_end, "_ADR");
    g_assert_nonnull(adr);
    g_assert_cmpuint(adr[0], ==, 0x0c);
    g_assert_cmphex(le32(adr + 1), ==, 0x00010000);

    const uint8_t *kbd = find_device(isa, isa_end, "KBD_", &kbd_end);
    g_assert_nonnull(kbd);
    g_assert_true(kbd_end <= isa_end);
    g_assert_cmpmem(find_name(kbd, kbd_end, "_HID"), 5, "\x0c\x41\xd0\x03\x03", 5);
    g_assert_cmpmem(find_name(kbd, kbd_end, "_STA"), 2, "\x0a\x0f", 2);
    static const uint8_t kbd_res[] = {0x47, 0x01, 0x60, 0x00, 0x60, 0x00, 0x01, 0x01, /* IO */
                                      0x47, 0x01, 0x64, 0x00, 0x64, 0x00, 0x01, 0x01, /* IO */
                                      0x22, 0x02, 0x00, /* IRQNoFlags {1} */
                                      0x79, 0x00};
    g_autoptr(GByteArray) kr = crs_bytes(kbd, kbd_end);
    g_assert_cmpmem(kr->data, kr->len, kbd_res, sizeof(kbd_res));

    const uint8_t *mou = find_device(isa, isa_end, "MOU_", &mou_end);
    g_assert_nonnull(mou);
    g_assert_true(mou_end <= isa_end);
    g_assert_cmpmem(find_name(mou, mou_end, "_HID"), 5, "\x0c\x41\xd0\x0f\x13", 5);
    g_assert_cmpmem(find_name(mou, mou_end, "_STA"), 2, "\x0a\x0f", 2);
    static const uint8_t mou_res[] = {0x22, 0x00, 0x10, 0x79, 0x00}; /* IRQNoFlags {12} */
    g_autoptr(GByteArray) mr = crs_bytes(mou, mou_end);
    g_assert_cmpmem(mr->data, mr->len, mou_res, sizeof(mou_res));
    acpi_tables_free(t);
}

static void test_e820(void)
{
    E820Table t;
    e820_build_pc(&t, 512ull << 20, 0);
    uint64_t ram = 0;
    for (unsigned i = 0; i < t.count; i++) {
        if (t.entries[i].type == E820_RAM) {
            ram += t.entries[i].size;
        }
        /* sorted, not overlapping */
        if (i) {
            g_assert_cmpuint(t.entries[i - 1].addr + t.entries[i - 1].size, <=, t.entries[i].addr);
        }
    }
    g_assert_cmpuint(ram, ==, (512ull << 20) - 0x60400);
    e820_build_pc(&t, 3ull << 30, 1ull << 30);
    g_assert_cmpuint(t.entries[t.count - 1].addr, ==, 1ull << 32);
    g_assert_cmpuint(t.entries[t.count - 1].size, ==, 1ull << 30);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/acpi/rsdp", test_rsdp);
    g_test_add_func("/acpi/dsdt-ps2", test_dsdt_ps2);
    g_test_add_func("/acpi/rsdt-xsdt", test_rsdt_xsdt);
    g_test_add_func("/acpi/fadt", test_fadt);
    g_test_add_func("/acpi/madt", test_madt);
    g_test_add_func("/acpi/hpet", test_hpet);
    g_test_add_func("/acpi/no-hpet", test_no_hpet);
    g_test_add_func("/acpi/dsdt", test_dsdt);
    g_test_add_func("/acpi/e820", test_e820);
    return g_test_run();
}
