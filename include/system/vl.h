/*
 * The command line: QEMU's grammar (-opt value, --opt value), options collected first and then
 * acted on in QEMU's order: logging, chardevs, early objects (iothreads), netdevs, monitors,
 * late objects (filters, colo-compare), the machine, then the main loop.
 */
#ifndef SYSTEM_VL_H
#define SYSTEM_VL_H

#include <glib.h>

int qemu_main(int argc, char **argv);
/* Asks the main loop to return (quit, signals). Callable from any thread. */
void qemu_main_loop_quit(void);

#endif
