/* ACPI tables for the pc machine (include/hw/acpi/acpi-tables.h). */
#include "hw/acpi/acpi-tables.h"
#include "hw/intc/apic.h"
#include "hw/timer/hpet.h"

#include <string.h>

#define HEADER_LEN 36

uint8_t acpi_checksum(const uint8_t *p, size_t len)
{
    uint8_t sum = 0;
    for (size_t i = 0; i < len; i++) {
        sum += p[i];
    }
    return sum;
}

static void put8(GByteArray *b, uint8_t v)
{
    g_byte_array_append(b, &v, 1);
}

static void put16(GByteArray *b, uint16_t v)
{
    put8(b, v);
    put8(b, v >> 8);
}

static void put32(GByteArray *b, uint32_t v)
{
    put16(b, v);
    put16(b, v >> 16);
}

static void put64(GByteArray *b, uint64_t v)
{
    put32(b, v);
    put32(b, v >> 32);
}

static void put_bytes(GByteArray *b, const char *s, size_t n)
{
    g_byte_array_append(b, (const guint8 *)s, n);
}

static void set32(GByteArray *b, size_t off, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        b->data[off + i] = v >> (8 * i);
    }
}

static void align(GByteArray *b, size_t a)
{
    while (b->len % a) {
        put8(b, 0);
    }
}

/* Starts a table: returns its offset in the blob; finish_table() fills length and checksum. */
static size_t start_table(GByteArray *b, const char *sig, uint8_t rev)
{
    align(b, 16);
    size_t off = b->len;
    put_bytes(b, sig, 4);
    put32(b, 0); /* length */
    put8(b, rev);
    put8(b, 0); /* checksum */
    put_bytes(b, "BOCHS ", 6);
    put_bytes(b, "BXPC    ", 8);
    put32(b, 1); /* OEM revision */
    put_bytes(b, "BXPC", 4);
    put32(b, 1); /* creator revision */
    return off;
}

static void finish_table(GByteArray *b, size_t off)
{
    uint32_t len = b->len - off;
    set32(b, off + 4, len);
    b->data[off + 9] = 0;
    b->data[off + 9] = -acpi_checksum(b->data + off, len);
}

/* Generic Address Structure: I/O space */
static void put_gas_io(GByteArray *b, uint16_t port, uint8_t bits, uint8_t access)
{
    put8(b, 1);
    put8(b, bits);
    put8(b, 0);
    put8(b, access);
    put64(b, port);
}

static void put_gas_none(GByteArray *b)
{
    for (int i = 0; i < 12; i++) {
        put8(b, 0);
    }
}

/* --- AML: just what the DSDT below needs ------------------------------------------------ */

/* op, then PkgLength (which counts its own bytes) and the body. */
static void aml_pkg(GByteArray *out, const uint8_t *op, size_t oplen, const GByteArray *body)
{
    g_byte_array_append(out, op, oplen);
    size_t len = body->len;
    if (len + 1 < 0x40) {
        put8(out, len + 1);
    } else if (len + 2 < 0x1000) {
        len += 2;
        put8(out, 0x40 | (len & 0xf));
        put8(out, len >> 4);
    } else {
        len += 3;
        put8(out, 0x80 | (len & 0xf));
        put8(out, len >> 4);
        put8(out, len >> 12);
    }
    g_byte_array_append(out, body->data, body->len);
}

static void aml_integer(GByteArray *b, uint32_t v)
{
    if (v == 0) {
        put8(b, 0x00); /* ZeroOp */
    } else if (v == 1) {
        put8(b, 0x01); /* OneOp */
    } else if (v <= 0xff) {
        put8(b, 0x0a); /* BytePrefix */
        put8(b, v);
    } else {
        put8(b, 0x0c); /* DWordPrefix */
        put32(b, v);
    }
}

static void aml_name(GByteArray *b, const char *seg)
{
    put8(b, 0x08); /* NameOp */
    put_bytes(b, seg, 4);
}

/* Name (seg, ResourceTemplate () {res}): the end tag is appended here. */
static void aml_name_resources(GByteArray *b, const char *seg, GByteArray *res)
{
    put8(res, 0x79); /* end tag, no checksum */
    put8(res, 0);
    g_autoptr(GByteArray) buf = g_byte_array_new();
    aml_integer(buf, res->len);
    g_byte_array_append(buf, res->data, res->len);
    aml_name(b, seg);
    aml_pkg(b, (const uint8_t[]){0x11}, 1, buf); /* BufferOp */
}

/* Name (_HID, EisaId ("PNPxxxx")): the compressed vendor "PNP", then the product id. */
static void aml_name_pnp_hid(GByteArray *b, uint16_t product)
{
    aml_name(b, "_HID");
    put8(b, 0x0c);
    put32(b, 0x0000d041 | (uint32_t)(product >> 8) << 16 | (uint32_t)(product & 0xff) << 24);
}

/* Device (seg) {body} appended to b. */
static void aml_device(GByteArray *b, const char *seg, const GByteArray *body)
{
    g_autoptr(GByteArray) dev = g_byte_array_new();
    put_bytes(dev, seg, 4);
    g_byte_array_append(dev, body->data, body->len);
    aml_pkg(b, (const uint8_t[]){0x5b, 0x82}, 2, dev); /* DeviceOp */
}

/* IO (Decode16, port, port, 1, 1) */
static void put_io_port(GByteArray *b, uint16_t port)
{
    put8(b, 0x47);
    put8(b, 0x01);
    put16(b, port);
    put16(b, port);
    put8(b, 1);
    put8(b, 1);
}

/* IRQNoFlags () {irq} */
static void put_irq(GByteArray *b, int irq)
{
    put8(b, 0x22);
    put16(b, 1u << irq);
}

/* The i8042's two functions as 7.2's pc declares them: present, with their resources. */
static void build_ps2(GByteArray *isa)
{
    g_autoptr(GByteArray) kbd = g_byte_array_new();
    g_autoptr(GByteArray) res = g_byte_array_new();
    aml_name_pnp_hid(kbd, 0x0303);
    aml_name(kbd, "_STA");
    aml_integer(kbd, 0x0f);
    put_io_port(res, 0x60);
    put_io_port(res, 0x64);
    put_irq(res, 1);
    aml_name_resources(kbd, "_CRS", res);
    aml_device(isa, "KBD_", kbd);

    g_autoptr(GByteArray) mou = g_byte_array_new();
    g_byte_array_set_size(res, 0);
    aml_name_pnp_hid(mou, 0x0f13);
    aml_name(mou, "_STA");
    aml_integer(mou, 0x0f);
    put_irq(res, 12);
    aml_name_resources(mou, "_CRS", res);
    aml_device(isa, "MOU_", mou);
}

/* The PIIX3 ISA bridge, function 00:01.0, and the ISA devices under it. */
static void build_isa(GByteArray *pci0)
{
    g_autoptr(GByteArray) isa = g_byte_array_new();
    aml_name(isa, "_ADR");
    put8(isa, 0x0c);
    put32(isa, 0x00010000);
    build_ps2(isa);
    aml_device(pci0, "ISA_", isa);
}

/* Address space descriptors for _CRS: Word (bus, I/O) and DWord (memory), fixed ranges. */
static void put_word_range(GByteArray *b, uint8_t type, uint8_t tflags, uint16_t min, uint16_t max)
{
    put8(b, 0x88);
    put16(b, 13);
    put8(b, type);
    put8(b, 0x0c); /* MinFixed, MaxFixed, producer */
    put8(b, tflags);
    put16(b, 0); /* granularity */
    put16(b, min);
    put16(b, max);
    put16(b, 0); /* translation */
    put16(b, max - min + 1);
}

static void put_dword_memory(GByteArray *b, uint32_t min, uint32_t max)
{
    put8(b, 0x87);
    put16(b, 23);
    put8(b, 0); /* memory */
    put8(b, 0x0c);
    put8(b, 0x03); /* read-write, cacheable */
    put32(b, 0);
    put32(b, min);
    put32(b, max);
    put32(b, 0);
    put32(b, max - min + 1);
}

static void build_crs(GByteArray *dev, uint64_t low_ram_end)
{
    g_autoptr(GByteArray) res = g_byte_array_new();
    put_word_range(res, 2, 0, 0x00, 0xff);        /* bus numbers */
    put_word_range(res, 1, 0x03, 0x0000, 0x0cf7); /* I/O below the config ports */
    static const uint8_t cf8[] = {0x47, 0x01, 0xf8, 0x0c, 0xf8, 0x0c, 0x01, 0x08};
    g_byte_array_append(res, cf8, sizeof(cf8)); /* IO (Decode16, 0xcf8, 8) */
    put_word_range(res, 1, 0x03, 0x0d00, 0xffff);
    put_dword_memory(res, 0x000a0000, 0x000bffff);       /* VGA window */
    put_dword_memory(res, low_ram_end, IOAPIC_BASE - 1); /* the PCI hole below the IOAPIC */
    aml_name_resources(dev, "_CRS", res);
}

/* _PRT: slot s pin p (0 = INTA) goes to PIRQ (s - 1 + p) & 3, PIRQ A-D to GSI 10, 10, 11, 11
 * (hw/pci's swizzle, the i440FX's). */
static void build_prt(GByteArray *dev)
{
    static const uint8_t pirq_gsi[4] = {10, 10, 11, 11};
    g_autoptr(GByteArray) list = g_byte_array_new();
    put8(list, 31 * 4); /* NumElements */
    for (int slot = 1; slot < 32; slot++) {
        for (int pin = 0; pin < 4; pin++) {
            g_autoptr(GByteArray) e = g_byte_array_new();
            put8(e, 4);
            aml_integer(e, ((uint32_t)slot << 16) | 0xffff);
            aml_integer(e, pin);
            aml_integer(e, 0); /* source: none, GSI follows */
            aml_integer(e, pirq_gsi[(slot - 1 + pin) & 3]);
            aml_pkg(list, (const uint8_t[]){0x12}, 1, e);
        }
    }
    aml_name(dev, "_PRT");
    aml_pkg(dev, (const uint8_t[]){0x12}, 1, list);
}

static size_t build_dsdt(GByteArray *b, uint64_t low_ram_end)
{
    size_t off = start_table(b, "DSDT", 1);
    /* Scope (\_SB) { Device (PCI0) { _HID PNP0A03, _UID 0, _CRS, _PRT, Device (ISA) } }:
     * with ACPI on, Linux scans PCI only below a PNP0A03 root bridge, takes its windows from
     * _CRS and the PCI interrupt lines from _PRT; ISA holds the PS/2 devices */
    g_autoptr(GByteArray) pci0 = g_byte_array_new();
    aml_name_pnp_hid(pci0, 0x0a03);
    aml_name(pci0, "_UID");
    aml_integer(pci0, 0);
    build_crs(pci0, low_ram_end);
    build_prt(pci0);
    build_isa(pci0);
    g_autoptr(GByteArray) scope = g_byte_array_new();
    put_bytes(scope, "\\_SB_", 5);
    aml_device(scope, "PCI0", pci0);
    aml_pkg(b, (const uint8_t[]){0x10}, 1, scope); /* ScopeOp */
    /* Name (_S5, Package (4) {0, 0, 0, 0}): SLP_TYP 0 is soft-off on the PIIX4 PM block */
    static const uint8_t s5[] = {0x08, '_', 'S', '5', '_', 0x12, 0x06, 0x04, 0, 0, 0, 0};
    g_byte_array_append(b, s5, sizeof(s5));
    finish_table(b, off);
    return off;
}

static size_t build_facs(GByteArray *b)
{
    align(b, 64);
    size_t off = b->len;
    put_bytes(b, "FACS", 4);
    put32(b, 64);
    for (int i = 8; i < 64; i++) {
        put8(b, 0); /* hardware signature, waking vectors, global lock, flags: all zero */
    }
    b->data[off + 32] = 1; /* version (byte at 32) */
    return off;
}

static size_t build_fadt(GByteArray *b, uint64_t facs, uint64_t dsdt)
{
    size_t off = start_table(b, "FACP", 3);
    put32(b, facs);
    put32(b, dsdt);
    put8(b, 0); /* reserved (INT_MODEL in 1.0) */
    put8(b, 0); /* preferred PM profile: unspecified */
    put16(b, ACPI_SCI_IRQ);
    put32(b, 0);             /* SMI_CMD: none, the machine is in ACPI mode from reset */
    put8(b, 0);              /* ACPI_ENABLE */
    put8(b, 0);              /* ACPI_DISABLE */
    put8(b, 0);              /* S4BIOS_REQ */
    put8(b, 0);              /* PSTATE_CNT */
    put32(b, ACPI_PM1_EVT);  /* PM1a_EVT_BLK */
    put32(b, 0);             /* PM1b_EVT_BLK */
    put32(b, ACPI_PM1_CNT);  /* PM1a_CNT_BLK */
    put32(b, 0);             /* PM1b_CNT_BLK */
    put32(b, 0);             /* PM2_CNT_BLK */
    put32(b, ACPI_PM_TMR);   /* PM_TMR_BLK */
    put32(b, ACPI_GPE0_BLK); /* GPE0_BLK */
    put32(b, 0);             /* GPE1_BLK */
    put8(b, 4);              /* PM1_EVT_LEN */
    put8(b, 2);              /* PM1_CNT_LEN */
    put8(b, 0);              /* PM2_CNT_LEN */
    put8(b, 4);              /* PM_TMR_LEN */
    put8(b, ACPI_GPE0_LEN);  /* GPE0_BLK_LEN */
    put8(b, 0);              /* GPE1_BLK_LEN */
    put8(b, 0);              /* GPE1_BASE */
    put8(b, 0);              /* CST_CNT */
    put16(b, 0xfff);         /* P_LVL2_LAT: no C2 */
    put16(b, 0xfff);         /* P_LVL3_LAT: no C3 */
    put16(b, 0);             /* FLUSH_SIZE */
    put16(b, 0);             /* FLUSH_STRIDE */
    put8(b, 0);              /* DUTY_OFFSET */
    put8(b, 0);              /* DUTY_WIDTH */
    put8(b, 0);              /* DAY_ALRM */
    put8(b, 0);              /* MON_ALRM */
    put8(b, 0x32);           /* CENTURY: the RTC's century register */
    put16(b, 0x0003);        /* IAPC_BOOT_ARCH: legacy devices, 8042 */
    put8(b, 0);              /* reserved */
    /* flags: WBINVD, PROC_C1, SLP_BUTTON, RTC_S4, TMR_VAL_EXT (32-bit PM timer), RESET_REG_SUP */
    put32(b, (1u << 0) | (1u << 2) | (1u << 5) | (1u << 7) | (1u << 8) | (1u << 10));
    put_gas_io(b, ACPI_RESET_PORT, 8, 1);
    put8(b, ACPI_RESET_VALUE);
    put8(b, 0); /* reserved */
    put8(b, 0);
    put8(b, 0);
    put64(b, facs);                                     /* X_FIRMWARE_CTRL */
    put64(b, dsdt);                                     /* X_DSDT */
    put_gas_io(b, ACPI_PM1_EVT, 32, 0);                 /* X_PM1a_EVT_BLK */
    put_gas_none(b);                                    /* X_PM1b_EVT_BLK */
    put_gas_io(b, ACPI_PM1_CNT, 16, 0);                 /* X_PM1a_CNT_BLK */
    put_gas_none(b);                                    /* X_PM1b_CNT_BLK */
    put_gas_none(b);                                    /* X_PM2_CNT_BLK */
    put_gas_io(b, ACPI_PM_TMR, 32, 0);                  /* X_PM_TMR_BLK */
    put_gas_io(b, ACPI_GPE0_BLK, ACPI_GPE0_LEN * 8, 0); /* X_GPE0_BLK */
    put_gas_none(b);                                    /* X_GPE1_BLK */
    finish_table(b, off);
    return off;
}

static void put_iso(GByteArray *b, uint8_t source, uint32_t gsi, uint16_t flags)
{
    put8(b, 2); /* interrupt source override */
    put8(b, 10);
    put8(b, 0); /* ISA */
    put8(b, source);
    put32(b, gsi);
    put16(b, flags);
}

static size_t build_madt(GByteArray *b)
{
    size_t off = start_table(b, "APIC", 1);
    put32(b, LAPIC_BASE);
    put32(b, 1); /* PCAT_COMPAT: there are 8259s to disable */
    /* processor local APIC: ACPI id 0, APIC id 0, enabled */
    put8(b, 0);
    put8(b, 8);
    put8(b, 0);
    put8(b, 0);
    put32(b, 1);
    /* IOAPIC id 0 at 0xfec00000, GSI base 0 */
    put8(b, 1);
    put8(b, 12);
    put8(b, 0);
    put8(b, 0);
    put32(b, IOAPIC_BASE);
    put32(b, 0);
    /* the PIT is wired to IOAPIC pin 2; the PCI and SCI lines are level, active high */
    put_iso(b, 0, 2, 0);
    put_iso(b, 5, 5, 0x000d);
    put_iso(b, 9, 9, 0x000d);
    put_iso(b, 10, 10, 0x000d);
    put_iso(b, 11, 11, 0x000d);
    /* local APIC NMI: all processors, LINT1 */
    put8(b, 4);
    put8(b, 6);
    put8(b, 0xff);
    put16(b, 0);
    put8(b, 1);
    finish_table(b, off);
    return off;
}

/* The HPET's block (include/hw/timer/hpet.h): its id, its registers in memory space. */
static size_t build_hpet(GByteArray *b)
{
    size_t off = start_table(b, "HPET", 1);
    put32(b, HPET_BLOCK_ID);
    put8(b, 0); /* system memory */
    put8(b, 64);
    put8(b, 0);
    put8(b, 0);
    put64(b, HPET_BASE);
    put8(b, 0);  /* HPET number */
    put16(b, 0); /* minimum periodic tick */
    put8(b, 0);  /* no page protection */
    finish_table(b, off);
    return off;
}

AcpiTables *acpi_build_pc_tables(uint64_t base, uint64_t low_ram_end, bool has_hpet)
{
    AcpiTables *t = g_new0(AcpiTables, 1);
    GByteArray *b = g_byte_array_new();
    t->base = base;
    /* RSDP first (it must sit on a 16-byte boundary in the BIOS area); addresses later */
    size_t rsdp = b->len;
    put_bytes(b, "RSD PTR ", 8);
    put8(b, 0); /* checksum of the first 20 bytes */
    put_bytes(b, "BOCHS ", 6);
    put8(b, 2);   /* revision: ACPI 2.0+ (has the XSDT) */
    put32(b, 0);  /* RSDT address */
    put32(b, 36); /* length */
    put64(b, 0);  /* XSDT address */
    put8(b, 0);   /* extended checksum */
    put8(b, 0);
    put8(b, 0);
    put8(b, 0);

    size_t dsdt = build_dsdt(b, low_ram_end);
    size_t facs = build_facs(b);
    size_t fadt = build_fadt(b, base + facs, base + dsdt);
    size_t madt = build_madt(b);
    size_t hpet = has_hpet ? build_hpet(b) : 0;

    size_t rsdt = start_table(b, "RSDT", 1);
    put32(b, base + fadt);
    put32(b, base + madt);
    if (has_hpet) {
        put32(b, base + hpet);
    }
    finish_table(b, rsdt);
    size_t xsdt = start_table(b, "XSDT", 1);
    put64(b, base + fadt);
    put64(b, base + madt);
    if (has_hpet) {
        put64(b, base + hpet);
    }
    finish_table(b, xsdt);

    set32(b, rsdp + 16, base + rsdt);
    for (int i = 0; i < 8; i++) {
        b->data[rsdp + 24 + i] = (uint64_t)(base + xsdt) >> (8 * i);
    }
    b->data[rsdp + 8] = -acpi_checksum(b->data + rsdp, 20);
    b->data[rsdp + 32] = -acpi_checksum(b->data + rsdp, 36);

    t->blob = b;
    t->rsdp = base + rsdp;
    t->rsdt = base + rsdt;
    t->xsdt = base + xsdt;
    t->fadt = base + fadt;
    t->facs = base + facs;
    t->dsdt = base + dsdt;
    t->madt = base + madt;
    t->hpet = has_hpet ? base + hpet : 0;
    return t;
}

void acpi_tables_free(AcpiTables *t)
{
    if (t) {
        g_byte_array_unref(t->blob);
        g_free(t);
    }
}
