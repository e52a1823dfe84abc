/* Entry point; the command line is handled in vl.c. */
#include "config-host.h"
#include <stdio.h>

int main(int argc, char **argv)
{
    printf("QEMU emulator version %s %s\n", QEMU_VERSION, QEMU_PKGVERSION);
    return 0;
}
