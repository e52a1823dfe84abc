/*
 * A 16550A UART (COM1 at 0x3f8 on IRQ 4 in the pc machine) with 16-byte receive FIFO, the
 * registers Linux's 8250 driver probes (scratch, loopback through MCR/MSR, FIFO detection in
 * IIR bits 7:6) and interrupts for received data, THR empty, line status and modem status.
 *
 *   guest THR write ──► backend write (or the RX FIFO in loopback)   THRE set again at once
 *   backend bytes ──► serial_receive() ──► RX FIFO ──► RBR reads; FIFO full: counted overrun
 *
 * The device knows nothing of chardevs: the machine connects it to a front-end
 * (include/chardev/char.h) by giving a write callback and feeding serial_receive() from the
 * front-end's read handler, with serial_can_receive() as its can-read handler.
 */
#ifndef HW_CHAR_SERIAL_H
#define HW_CHAR_SERIAL_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "hw/core/device.h"
#include "hw/core/iospace.h"
#include "hw/core/irq.h"

#define SERIAL_FIFO_LEN 16

typedef struct SerialState SerialState;

typedef struct SerialBackend {
    /* Bytes the guest transmitted. */
    void (*write)(void *opaque, const uint8_t *buf, int len);
    /* The receive FIFO has room again (the chardev may resume reading). May be NULL. */
    void (*accept_input)(void *opaque);
    void *opaque;
} SerialBackend;

typedef struct SerialStats {
    uint64_t tx_bytes, rx_bytes;
    uint64_t rx_overruns; /* bytes dropped because the FIFO was full */
    uint64_t tx_dropped;  /* bytes transmitted with no backend (-serial none) */
} SerialStats;

SerialState *serial_new(IrqLine *irq);
void serial_free(SerialState *s);
void serial_reset(SerialState *s);
bool serial_register_ports(SerialState *s, IoSpace *io, uint16_t base, GError **errp);
/* A UART as a machine device; its map base is the port (COM1: 0x3f8). */
extern const DeviceContract serial_device;
/* backend NULL: transmitted bytes are dropped (and counted) */
void serial_set_backend(SerialState *s, const SerialBackend *backend);

/* How many bytes serial_receive() accepts now. */
int serial_can_receive(SerialState *s);
void serial_receive(SerialState *s, const uint8_t *buf, int len);
void serial_get_stats(SerialState *s, SerialStats *out);

#endif
