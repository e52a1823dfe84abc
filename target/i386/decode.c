/*
 * The instruction decoder (include/target/i386/decode.h).
 */
#include "target/i386/decode.h"

#include <string.h>

#include "target/i386/cpu.h"

/* Operand kinds for immediates */
enum { I_NONE, I_B, I_W, I_Z, I_V, I_AP, I_MOFFS, I_ENTER, I_GRP3 };

/* One-byte opcodes with a ModRM byte (one bit per opcode). */
static const uint32_t modrm1[8] = {
    /* 00-1f */ 0x0f0f0f0f,
    /* 20-3f */ 0x0f0f0f0f,
    /* 40-5f */ 0,
    /* 60-7f: 62 63 69 6b */ 0x00000a0c,
    /* 80-9f: 80-8f */ 0x0000ffff,
    /* a0-bf */ 0,
    /* c0-df: c0 c1 c4 c5 c6 c7 d0-d3 d8-df */ 0xff0f00f3,
    /* e0-ff: f6 f7 fe ff */ 0xc0c00000,
};

/* Two-byte (0F xx) opcodes WITHOUT a ModRM byte. */
static const uint32_t nomodrm2[8] = {
    /* 00-1f: 05 06 07 08 09 0b 0e */ 0x00004be0,
    /* 20-3f: 30-37 */ 0x00ff0000,
    /* 40-5f */ 0,
    /* 60-7f: 77 */ 0x00800000,
    /* 80-9f: 80-8f */ 0x0000ffff,
    /* a0-bf: a0 a1 a2 a8 a9 aa */ 0x00000707,
    /* c0-df: c8-cf */ 0x0000ff00,
    /* e0-ff */ 0,
};

static uint8_t imm1(int op)
{
    if (op < 0x40) {
        return (op & 7) == 4 ? I_B : (op & 7) == 5 ? I_Z : I_NONE;
    }
    if (op >= 0x70 && op <= 0x7f) {
        return I_B;
    }
    if (op >= 0xb0 && op <= 0xb7) {
        return I_B;
    }
    if (op >= 0xb8 && op <= 0xbf) {
        return I_V;
    }
    switch (op) {
    case 0x6a:
    case 0x6b:
    case 0x80:
    case 0x82:
    case 0x83:
    case 0xa8:
    case 0xc0:
    case 0xc1:
    case 0xc6:
    case 0xcd:
    case 0xd4:
    case 0xd5:
    case 0xe0:
    case 0xe1:
    case 0xe2:
    case 0xe3:
    case 0xe4:
    case 0xe5:
    case 0xe6:
    case 0xe7:
    case 0xeb:
        return I_B;
    case 0x68:
    case 0x69:
    case 0x81:
    case 0xa9:
    case 0xc7:
    case 0xe8:
    case 0xe9:
        return I_Z;
    case 0xc2:
    case 0xca:
        return I_W;
    case 0xc8:
        return I_ENTER;
    case 0x9a:
    case 0xea:
        return I_AP;
    case 0xa0:
    case 0xa1:
    case 0xa2:
    case 0xa3:
        return I_MOFFS;
    case 0xf6:
    case 0xf7:
        return I_GRP3;
    }
    return I_NONE;
}

static uint8_t imm2(int op)
{
    if (op >= 0x80 && op <= 0x8f) {
        return I_Z;
    }
    switch (op) {
    case 0x70:
    case 0x71:
    case 0x72:
    case 0x73:
    case 0xa4:
    case 0xac:
    case 0xba:
    case 0xc2:
    case 0xc4:
    case 0xc5:
    case 0xc6:
        return I_B;
    }
    return I_NONE;
}

/* Opcodes that do not exist in 64-bit mode. */
static int invalid64(int op)
{
    switch (op) {
    case 0x06:
    case 0x07:
    case 0x0e:
    case 0x16:
    case 0x17:
    case 0x1e:
    case 0x1f:
    case 0x27:
    case 0x2f:
    case 0x37:
    case 0x3f:
    case 0x60:
    case 0x61:
    case 0x62:
    case 0x82:
    case 0x9a:
    case 0xc4:
    case 0xc5:
    case 0xce:
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xea:
        return 1;
    }
    return 0;
}

/* lock is only valid on read-modify-write instructions with a memory destination */
static int lock_allowed(const X86Insn *in)
{
    int op = in->op, r = in->reg & 7;
    if (in->mod == 3) {
        return 0;
    }
    if (op < 0x40) {
        return (op & 7) < 2 && (op & 0x38) != 0x38;
    }
    switch (op) {
    case 0x80:
    case 0x81:
    case 0x82:
    case 0x83:
        return r != 7;
    case 0x86:
    case 0x87:
        return 1;
    case 0xf6:
    case 0xf7:
        return r == 2 || r == 3;
    case 0xfe:
    case 0xff:
        return r < 2;
    case 0x1ab:
    case 0x1b3:
    case 0x1bb:
    case 0x1b0:
    case 0x1b1:
    case 0x1c0:
    case 0x1c1:
        return 1;
    case 0x1ba:
        return r >= 5;
    case 0x1c7:
        return r == 1;
    }
    return 0;
}

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

    int op = b, has_modrm, immk;
    pos++;
    if (b == 0x0f) {
        NEED(1);
        b = buf[pos++];
        if (b == 0x38 || b == 0x3a) {
            NEED(1);
            op = (b == 0x38 ? 0x200 : 0x300) | buf[pos++];
            has_modrm = 1;
            immk = b == 0x3a ? I_B : I_NONE;
        } else {
            op = 0x100 | b;
            has_modrm = !(nomodrm2[b >> 5] & (1u << (b & 31)));
            immk = imm2(b);
        }
    } else {
        has_modrm = (modrm1[b >> 5] >> (b & 31)) & 1;
        immk = imm1(b);
        if (mode == X86_MODE64 && invalid64(b)) {
            in->bad = 1;
        }
    }
    in->op = op;

    in->base = X86_NOREG;
    in->index = X86_NOREG;
    if (has_modrm) {
        NEED(1);
        uint8_t m = buf[pos++];
        in->mod = m >> 6;
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
    case I_B:
        isz = 1;
        break;
    case I_W:
        isz = 2;
        break;
    case I_Z:
        isz = in->opsize == 2 ? 2 : 4;
        break;
    case I_V:
        isz = in->opsize;
        break;
    case I_GRP3:
        isz = ((in->reg & 7) < 2) ? (op == 0xf6 ? 1 : in->opsize == 2 ? 2 : 4) : 0;
        break;
    case I_MOFFS:
        isz = in->addrsize;
        break;
    case I_ENTER:
        NEED(3);
        in->imm = rd(buf + pos, 2);
        in->imm2 = buf[pos + 2];
        pos += 3;
        break;
    case I_AP: {
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
        if (immk == I_MOFFS || immk == I_V || immk == I_W) {
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
    if ((in->prefix & PFX_LOCK) && !lock_allowed(in)) {
        in->bad = 1;
    }
    if (pos > 15) {
        return -1;
    }
    in->len = pos;
    return pos;
}
