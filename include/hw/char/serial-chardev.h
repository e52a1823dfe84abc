/*
 * Connects a UART to a chardev front-end (include/chardev/char.h), and resolves -serial
 * arguments the way upstream does: "none", "chardev:ID", or a legacy spec ("stdio", "null",
 * "unix:...", ...) turned into a chardev named "serialN".
 *
 *   guest THR ──► char_fe_write_all ──► chardev          (blocking write: no byte is lost)
 *   chardev ──► can_read = FIFO room ──► serial_receive; RBR drained ──► char_fe_accept_input
 */
#ifndef HW_CHAR_SERIAL_CHARDEV_H
#define HW_CHAR_SERIAL_CHARDEV_H

#include "chardev/char.h"
#include "hw/char/serial.h"

typedef struct SerialChardev SerialChardev;

/* Attaches to chr (which must not be in use). */
SerialChardev *serial_chardev_connect(SerialState *s, Chardev *chr, GError **errp);
void serial_chardev_disconnect(SerialChardev *sc);

/* -serial ARG for COM<index+1>: NULL result without error for "none". */
SerialChardev *serial_chardev_from_arg(SerialState *s, int index, const char *arg, GError **errp);

#endif
