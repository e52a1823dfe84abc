/* Entry point; the command line is handled in vl.c. */
#include "system/vl.h"

int main(int argc, char **argv)
{
    return qemu_main(argc, argv);
}
