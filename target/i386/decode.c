/*
 * The instruction decoder (include/target/i386/decode.h).
 */
#include "target/i386/decode.h"

#include <string.h>

#include "target/i386/cpu.h"
#include "target/i386/optab.h"

static uint64_t rd(const uint8_t *p, int n)
{
    uint64_t v = 0;
    memcpy(&v, p, n);
    return v;
}

static int64_t rds(const uint8_t *p, int n)
{
    switch (n) {
    case 1:
        return (int8_t)p[0];
    case 2:
        return (int16_t)rd(p, 2);
    case 4:
        return (int32_t)rd(p, 4);
    default:
        return (int64_t)rd(p, 8);
    }
}

#define NEED(n)                                                                                    \
    do {                                                                                           \
        if (pos + (n) > avail) {                                                                   \
            return pos + (n) > 15 ? -1 : 0;                                                        \
        }                                                                                          \
    } while (0)

int x86_decode(const uint8_t *buf, int avail, int mode, X86Insn *in)
{
    int pos = 0, seg = -1;
    uint8_t b;

    memset(in, 0, sizeof(*in));
    in->mode = mode;
    if (avail > 15) {
        avail = 15;
    }
    for (;;) {
        NEED(1);
        b = buf[pos];
        switch (b) {
        case 0xf3:
            in->prefix = (in->prefix & ~PFX_REPNZ) | PFX_REPZ;
            break;
        case 0xf2:
            in->prefix = (in->prefix & ~PFX_REPZ) | PFX_REPNZ;
            break;
        case 0xf0:
            in->prefix |= PFX_LOCK;
            break;
        case 0x66:
            in->prefix |= PFX_DATA;
            break;
        case 0x67:
            in->prefix |= PFX_ADDR;
            break;
        case 0x26:
            seg = R_ES;
            break;
        case 0x2e:
            seg = R_CS;
            break;
        case 0x36:
            seg = R_SS;
            break;
        case 0x3e:
            seg = R_DS;
            break;
        case 0x64:
            seg = R_FS;
            break;
        case 0x65:
            seg = R_GS;
            break;
        default:
            if (mode == X86_MODE64 && (b & 0xf0) == 0x40) {
                in->rex = b; /* only effective when it is the last prefix */
                pos++;
                continue;
            }
            goto prefixes_done;
        }
        pos++;
        in->rex = 0;
    }
prefixes_done:
    if (in->rex) {
        in->prefix |= PFX_REX;
    }
    if (mode == X86_MODE64) {
        in->opsize = (in->rex & REX_W) ? 8 : (in->prefix & PFX_DATA) ? 2 : 4;
        in->addrsize = (in->prefix & PFX_ADDR) ? 4 : 8;
    } else if (mode == X86_MODE32) {
        in->opsize = (in->prefix & PFX_DATA) ? 2 : 4;
        in->addrsize = (in->prefix & PFX_ADDR) ? 2 : 4;
    } else {
        in->opsize = (in->prefix & PFX_DATA) ? 4 : 2;
        in->addrsize = (in->prefix & PFX_ADDR) ? 4 : 2;
    }

    int op = b;
    pos++;
    if (b == 0x0f) {
        NEED(1);
        b = buf[pos++];
        if (b == 0x38 || b == 0x3a) {
            NEED(1);
            op = (b == 0x38 ? 0x200 : 0x300) | buf[pos++];
        } else {
            op = 0x100 | b;
        }
    }
    const X86OpInfo *row = &x86_optab[op];
    int has_modrm = row->flags & X86_OPF_MODRM, immk = row->imm;
    if (mode == X86_MODE64 && (row->flags & X86_OPF_INV64)) {
        in->bad = 1;
    }
    in->op = op;

    in->base = X86_NOREG;
    in->index = X86_NOREG;
    if (has_modrm) {
        NEED(1);
        uint8_t m = buf[pos++];
        in->mod = (row->flags & X86_OPF_REGRM) ? 3 : m >> 6;
        in->reg = ((m >> 3) & 7) | ((in->rex & REX_R) ? 8 : 0);
        in->rm = (m & 7) | ((in->rex & REX_B) ? 8 : 0);
        if (in->mod != 3) {
            int dispsz = 0;
            if (in->addrsize == 2) {
                static const uint8_t b16[8] = {R_EBX, R_EBX, R_EBP, R_EBP,
                                               R_ESI, R_EDI, R_EBP, R_EBX};
                static const uint8_t i16[8] = {R_ESI,     R_EDI,     R_ESI,     R_EDI,
                                               X86_NOREG, X86_NOREG, X86_NOREG, X86_NOREG};
                int rm = m & 7;
                in->base = b16[rm];
                in->index = i16[rm];
                if (in->mod == 0 && rm == 6) {
                    in->base = X86_NOREG;
                    dispsz = 2;
                } else {
                    dispsz = in->mod == 1 ? 1 : in->mod == 2 ? 2 : 0;
                }
            } else {
                int rm = m & 7;
                if (rm == 4) {
                    NEED(1);
                    uint8_t sib = buf[pos++];
                    int idx = ((sib >> 3) & 7) | ((in->rex & REX_X) ? 8 : 0);
                    in->index = idx == 4 ? X86_NOREG : idx;
                    in->scale = sib >> 6;
                    int base = sib & 7;
                    if (base == 5 && in->mod == 0) {
                        in->base = X86_NOREG;
                        dispsz = 4;
                    } else {
                        in->base = base | ((in->rex & REX_B) ? 8 : 0);
                    }
                } else if (rm == 5 && in->mod == 0) {
                    in->base = mode == X86_MODE64 ? X86_RIP : X86_NOREG;
                    dispsz = 4;
                } else {
                    in->base = in->rm;
                }
                if (in->mod == 1) {
                    dispsz = 1;
                } else if (in->mod == 2) {
                    dispsz = 4;
                }
            }
            if (dispsz) {
                NEED(dispsz);
                in->disp = (int32_t)rds(buf + pos, dispsz);
                pos += dispsz;
            }
        }
    }

    int isz = 0;
    switch (immk) {
    case X86_IMM_B:
        isz = 1;
        break;
    case X86_IMM_W:
        isz = 2;
        break;
    case X86_IMM_Z:
        isz = in->opsize == 2 ? 2 : 4;
        break;
    case X86_IMM_V:
        isz = in->opsize;
        break;
    case X86_IMM_GRP3:
        isz = ((in->reg & 7) < 2) ? (op == 0xf6 ? 1 : in->opsize == 2 ? 2 : 4) : 0;
        break;
    case X86_IMM_MOFFS:
        isz = in->addrsize;
        break;
    case X86_IMM_ENTER:
        NEED(3);
        in->imm = rd(buf + pos, 2);
        in->imm2 = buf[pos + 2];
        pos += 3;
        break;
    case X86_IMM_AP: {
        int osz = in->opsize == 2 ? 2 : 4;
        NEED(osz + 2);
        in->imm = rd(buf + pos, osz);
        in->imm2 = rd(buf + pos + osz, 2);
        pos += osz + 2;
        break;
    }
    }
    if (isz) {
        NEED(isz);
        /* Immediates sign-extend to the operand size; rel8/rel32 are used signed. */
        if (immk == X86_IMM_MOFFS || immk == X86_IMM_V || immk == X86_IMM_W) {
            in->imm = rd(buf + pos, isz);
        } else {
            in->imm = (uint64_t)rds(buf + pos, isz);
        }
        pos += isz;
    }

    /* Effective segment of the memory operand */
    int s = seg;
    if (s < 0) {
        s = (in->base == R_ESP || in->base == R_EBP) ? R_SS : R_DS;
    } else {
        in->prefix |= PFX_SEG;
    }
    if (mode == X86_MODE64 && s != R_FS && s != R_GS) {
        s = X86_SEG_NONE;
    }
    in->seg = s;
    /* lock is only valid on a read-modify-write of memory, as the row says per ModRM.reg */
    if ((in->prefix & PFX_LOCK) && (in->mod == 3 || !((row->lock >> (in->reg & 7)) & 1))) {
        in->bad = 1;
    }
    if (pos > 15) {
        return -1;
    }
    in->len = pos;
    return pos;
}
